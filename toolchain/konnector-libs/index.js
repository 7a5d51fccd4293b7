// The konnector engine's cozy-konnector-libs: what konnectors get from
// `require("cozy-konnector-libs")`, which `konnector build` resolves here.
// Everything is built over the runtime's fetch and the `konnector:host`
// module. docs/porting.md lists what is supported and what is not.
"use strict";

const BaseKonnector = require("./lib/BaseKonnector");
const CookieKonnector = require("./lib/CookieKonnector");
const log = require("./lib/log");
const { errors } = require("./lib/errors");
const { requestFactory } = require("./lib/request");
const signin = require("./lib/signin");
const scrape = require("./lib/scrape");
const saveBills = require("./lib/saveBills");
const saveFiles = require("./lib/saveFiles");
const { hydrateAndFilter, addData, updateOrCreate } = require("./lib/data");
const { formatDate, normalizeFilename, mkdirp } = require("./lib/utils");
const manifest = require("./lib/manifest");
const saveIdentity = require("./lib/saveIdentity");
const retry = require("./lib/retry");
const { cozyClient } = require("./lib/cozyClient");
const unsupported = require("./lib/unsupported");

// Logs that bills are not linked to bank operations, and resolves with
// nothing linked.
async function linkBankOperations() {
  log("info", "linkBankOperations: linking bills to bank operations is not supported, so it is skipped");
  return {};
}

// Wraps an old name of a function, logging a warning at its first call.
function renamed(fn, oldName, newName) {
  let warned = false;
  return function (...args) {
    if (!warned) {
      warned = true;
      log("warn", `${oldName} is deprecated; use ${newName}`);
    }
    return fn.apply(this, args);
  };
}

module.exports = {
  BaseKonnector,
  CookieKonnector,
  log,
  errors,
  requestFactory,
  request: renamed(requestFactory, "request", "requestFactory"),
  signin,
  scrape,
  saveBills,
  saveFiles,
  saveIdentity,
  hydrateAndFilter,
  filterData: renamed(hydrateAndFilter, "filterData", "hydrateAndFilter"),
  addData,
  updateOrCreate,
  linkBankOperations,
  mkdirp,
  normalizeFilename,
  utils: { formatDate },
  manifest,
  retry,
  cozyClient,
  // Sentry reporting is the host's business: functions stay as they are.
  wrapIfSentrySetUp: (object) => object,
  ...unsupported.functions,
};
