// The Cozy error codes, as cozy-konnector-libs exports them: names with
// underscores, values with dots (errors.USER_ACTION_NEEDED_OAUTH_OUTDATED
// is "USER_ACTION_NEEDED.OAUTH_OUTDATED"). They come from the host, which
// lists every code the stack accepts.
"use strict";

const { errors } = require("konnector:host");

const CODES = new Set(Object.values(errors));

// Returns the Cozy code of a thrown value: its message (or the value
// itself, for a thrown string) when that is a known code, else
// UNKNOWN_ERROR.
function errorCode(thrown) {
  const message = typeof thrown === "string" ? thrown : thrown?.message;
  return CODES.has(message) ? message : errors.UNKNOWN_ERROR;
}

module.exports = { errors, errorCode, isErrorCode: (value) => CODES.has(value) };
