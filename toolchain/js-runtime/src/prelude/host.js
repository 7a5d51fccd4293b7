// The built-in module "konnector:host": the konnector_v1 host API for
// JavaScript konnectors (natives of host_api.rs).
//
//   import { input, log, upsert, errors } from "konnector:host";
//   const { saveFile } = require("konnector:host");
//
// Writes return promises of {id, rev, status}, where status is "created",
// "updated" or "unchanged". A refused or failed call throws (or rejects
// with) an Error whose message is the host's and whose `code` is the host
// status's name, such as "permission_denied".
(function (native, internal) {
  "use strict";

  const { bufferSourceBytes, formatValue, toUsvString } = internal;

  // Levels of konnector_v1::log by name. "warning" and "critical" are the
  // stack's names.
  const LOG_LEVELS = {
    debug: 0,
    info: 1,
    warn: 2,
    warning: 2,
    error: 3,
    critical: 4,
  };

  // The job input, read from the host at the first operation on it rather
  // than at pre-initialisation: a proxy that fills its target once, then
  // forwards every operation to it.
  const inputTarget = {};
  let inputLoaded = false;

  function loadInput() {
    if (!inputLoaded) {
      Object.assign(inputTarget, JSON.parse(native.jobInput()));
      inputLoaded = true;
    }
    return inputTarget;
  }

  const inputHandler = {};
  for (const trap of Object.getOwnPropertyNames(Reflect)) {
    inputHandler[trap] = (target, ...args) => Reflect[trap](loadInput(), ...args);
  }
  const input = new Proxy(inputTarget, inputHandler);

  function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
  }

  function kindOf(value) {
    if (value === null) {
      return "null";
    }
    return Array.isArray(value) ? "an array" : typeof value;
  }

  function checkObject(value, subject) {
    if (!isObject(value)) {
      throw new TypeError(`${subject} must be an object, not ${kindOf(value)}`);
    }
  }

  function checkString(value, subject) {
    if (typeof value !== "string") {
      throw new TypeError(`${subject} must be a string, not ${typeof value}`);
    }
  }

  function log(level, message) {
    if (!Object.hasOwn(LOG_LEVELS, level)) {
      throw new TypeError(
        `log: invalid level "${level}", expected "debug", "info", "warn" or "error"`,
      );
    }
    native.log(LOG_LEVELS[level], formatValue(message));
  }

  // Records the job's error code. The konnector still has to return or
  // throw afterwards.
  function fail(code, message = "") {
    checkString(code, "fail: the error code");
    native.fail(code, formatValue(message));
  }

  async function create(doctype, doc) {
    checkString(doctype, "create: the doctype");
    checkObject(doc, "create: the document");
    return native.createDocument(doctype, JSON.stringify(doc));
  }

  async function update(doctype, id, doc, rev = undefined) {
    checkString(doctype, "update: the doctype");
    checkString(id, "update: the document id");
    checkObject(doc, "update: the document");
    if (rev !== undefined && rev !== null) {
      checkString(rev, "update: the revision");
      return native.updateDocument(doctype, id, JSON.stringify(doc), rev);
    }
    return native.updateDocument(doctype, id, JSON.stringify(doc));
  }

  async function upsert(doctype, keys, doc) {
    checkString(doctype, "upsert: the doctype");
    if (!Array.isArray(keys) || !keys.every((key) => typeof key === "string")) {
      throw new TypeError("upsert: the keys must be an array of field names");
    }
    checkObject(doc, "upsert: the document");
    return native.upsertDocument(doctype, keys, JSON.stringify(doc));
  }

  // Saves a file described by {name, dir_path, content_type, metadata},
  // with contents given as a string (saved as UTF-8), an ArrayBuffer or a
  // typed array.
  async function saveFile(file, contents) {
    checkObject(file, "saveFile: the file description");
    checkString(file.name, "saveFile: the file name");
    const description = JSON.stringify({
      name: file.name,
      dir_path: file.dir_path ?? undefined,
      content_type: file.content_type ?? undefined,
      metadata: file.metadata ?? undefined,
    });
    let bytes;
    if (typeof contents === "string") {
      bytes = native.utf8Encode(contents.toWellFormed());
    } else if (contents instanceof ArrayBuffer || ArrayBuffer.isView(contents)) {
      bytes = bufferSourceBytes(contents, "saveFile: the contents");
    } else {
      throw new TypeError(
        "saveFile: the contents must be a string, an ArrayBuffer or a typed array",
      );
    }
    return native.saveFile(description, bytes);
  }

  // Downloads a URL into the file store as the file {name, dir_path,
  // content_type, metadata, keep_existing}; `input` and `init` are those
  // of fetch. The contents go from the network to the store without
  // entering the konnector's memory. With `keep_existing: true`, a file of
  // that name already in the folder is kept and nothing is downloaded.
  async function downloadFile(file, input, init = undefined) {
    checkObject(file, "downloadFile: the file description");
    checkString(file.name, "downloadFile: the file name");
    const description = {
      name: file.name,
      dir_path: file.dir_path ?? undefined,
      content_type: file.content_type ?? undefined,
      metadata: file.metadata ?? undefined,
    };
    return internal.downloadFile(description, input, init, file.keep_existing === true);
  }

  // Returns the job's cookies that a request to `url` would carry, or all
  // of them without `url`: objects {name, value, domain, host_only, path,
  // secure, http_only, expires}, with `expires` in seconds since 1970 or
  // null. The jar belongs to the job and starts empty.
  function cookies(url = undefined) {
    if (url !== undefined && url !== null) {
      return JSON.parse(native.cookieList(toUsvString(url)));
    }
    return JSON.parse(native.cookieList(""));
  }

  // Stores a Set-Cookie header value in the job's jar, as if a response
  // from `url` had carried it.
  function setCookie(url, text) {
    checkString(text, "setCookie: the cookie");
    native.cookieSet(toUsvString(url), text);
  }

  async function accountData() {
    return JSON.parse(native.accountData());
  }

  async function setAccountData(data) {
    checkObject(data, "setAccountData: the data");
    native.setAccountData(JSON.stringify(data));
  }

  // The Cozy error codes by name, such as LOGIN_FAILED or
  // USER_ACTION_NEEDED_OAUTH_OUTDATED (dots become underscores, as in
  // cozy-konnector-libs), each with the code itself as value.
  const errors = Object.freeze(
    Object.fromEntries(
      native.errorCodes().map((code) => [code.replaceAll(".", "_"), code]),
    ),
  );

  internal.defineModule(
    "konnector:host",
    Object.freeze({
      input,
      log,
      fail,
      create,
      update,
      upsert,
      saveFile,
      downloadFile,
      cookies,
      setCookie,
      accountData,
      setAccountData,
      errors,
    }),
  );
});
