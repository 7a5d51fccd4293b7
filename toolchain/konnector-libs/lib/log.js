// log(type, message, label, namespace): cozy-logger's call, over the host's
// log lines.
"use strict";

const host = require("konnector:host");

// cozy-logger's types by the host level they map to. "secret" has none:
// cozy-logger prints secrets only in development, and the host never does.
const LEVELS = {
  debug: "debug",
  info: "info",
  ok: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
  critical: "critical",
};

// Writes one log line. An unknown type logs at level info, with the type
// in front of the message.
function log(type, message, label = undefined, namespace = undefined) {
  if (type === "secret") {
    return;
  }
  let text = typeof message === "string" ? message : formatMessage(message);
  if (label !== undefined && label !== null) {
    text = `${label}: ${text}`;
  }
  if (namespace !== undefined && namespace !== null) {
    text = `${namespace}: ${text}`;
  }
  const level = LEVELS[type];
  if (level === undefined) {
    host.log("info", `${type}: ${text}`);
  } else {
    host.log(level, text);
  }
}

function formatMessage(message) {
  if (message instanceof Error) {
    return typeof message.stack === "string" && message.stack !== ""
      ? `${message.name}: ${message.message}\n${message.stack.replace(/\n$/, "")}`
      : `${message.name}: ${message.message}`;
  }
  try {
    return JSON.stringify(message) ?? String(message);
  } catch {
    return String(message);
  }
}

// Returns a log function that names `namespace` in each line, as
// cozy-logger's namespace() does.
log.namespace = (namespace) => (type, message, label) => log(type, message, label, namespace);

module.exports = log;
