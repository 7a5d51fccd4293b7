// A stand-in for the engine's `konnector:host` module under Node.js, so that
// a benchmark can run the same konnector bundle in Node.js and in the
// engine. It implements the exports listed in toolchain/js-runtime/README.md
// in the simplest way that gives the same results, and replaces the global
// `fetch` with one that follows redirects itself and keeps the job's
// cookies, as the engine's host does. `build.mjs` bundles it in place of
// `konnector:host`.
//
// Environment variables:
//
//   KONNECTOR_FIELDS, KONNECTOR_PARAMETERS  JSON objects of the job input
//   KONNECTOR_CONNECT_TO  HOST:PORT:ADDRESS:PORT2 pairs as curl's
//       --connect-to spells them, separated by commas. Requests go only to
//       the HOST:PORT pairs listed, and only to loopback addresses, so no
//       host name is ever looked up in DNS.
//   KONNECTOR_CA_FILE  a PEM file of a CA trusted besides Node.js's roots
//   KONNECTOR_OUTPUT  a folder for the saved files (`files/`) and for
//       `result.json` (documents, account data, error code), written when
//       the event loop empties. Without it nothing is written to disk.
//
// NOTE: there are no permissions from the manifest, no limits (fuel,
// memory, requests, sizes, deadline) and no request timeouts. Documents,
// files and account data live in memory for one process, so every run
// starts from an empty store.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const https = require("node:https");
const net = require("node:net");
const path = require("node:path");
const tls = require("node:tls");
const util = require("node:util");

// The Cozy error codes that the stack accepts, from KNOWN_ERROR_CODES in
// host-api/src/lib.rs.
const KNOWN_ERROR_CODES = [
  "LOGIN_FAILED",
  "LOGIN_FAILED.NEEDS_SECRET",
  "LOGIN_FAILED.TOO_MANY_ATTEMPTS",
  "NOT_EXISTING_DIRECTORY",
  "FILE_DOWNLOAD_FAILED",
  "SAVE_FILE_FAILED",
  "DISK_QUOTA_EXCEEDED",
  "CHALLENGE_ASKED",
  "USER_ACTION_NEEDED",
  "USER_ACTION_NEEDED.OAUTH_OUTDATED",
  "USER_ACTION_NEEDED.ACCOUNT_REMOVED",
  "USER_ACTION_NEEDED.CHANGE_PASSWORD",
  "USER_ACTION_NEEDED.PERMISSIONS_CHANGED",
  "USER_ACTION_NEEDED.CGU_FORM",
  "USER_ACTION_NEEDED.SCA_REQUIRED",
  "USER_ACTION_NEEDED.TWOFA_EXPIRED",
  "USER_ACTION_NEEDED.WEBAUTH_REQUIRED",
  "USER_ACTION_NEEDED.WRONG_TWOFA_CODE",
  "CAPTCHA_RESOLUTION_FAILED",
  "MAINTENANCE",
  "TERMS_VERSION_MISMATCH",
  "UNKNOWN_ERROR",
  "UNKNOWN_ERROR.PARTIAL_SYNC",
  "VENDOR_DOWN",
  "VENDOR_DOWN.BANK_DOWN",
  "VENDOR_DOWN.LINXO_DOWN",
];

// The shape of a Cozy error code, as is_valid_error_code in
// host-api/src/lib.rs checks it.
const ERROR_CODE = /^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*$/;

// Log levels by name, with the name `konnector run` prints for each.
const LOG_LEVELS = {
  debug: "debug",
  info: "info",
  warn: "warning",
  warning: "warning",
  error: "error",
  critical: "critical",
};

// Redirects one fetch follows, as DEFAULT_MAX_REDIRECTS in
// engine/src/net/limits.rs.
const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = [301, 302, 303, 307, 308];
const NULL_BODY_STATUSES = [101, 103, 204, 205, 304];
// Headers that a redirect to another origin drops, and those that a
// redirect turning the request into a GET drops, as the engine does.
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];
const BODY_HEADERS = ["content-type", "content-encoding", "content-language", "content-location"];
const DEFAULT_USER_AGENT = "konnector-node-shim";

// The slug comes from the manifest: build.mjs defines it.
const SLUG = process.env.KONNECTOR_SLUG || "konnector";
const OUTPUT = process.env.KONNECTOR_OUTPUT || null;

// An Error whose `code` is a host status name, as the engine's host
// functions reject with.
function hostError(code, message, ErrorType = Error) {
  const error = new ErrorType(message);
  error.code = code;
  return error;
}

function readJsonObject(variable) {
  const text = process.env[variable];
  if (text === undefined || text === "") {
    return {};
  }
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${variable} must be a JSON object`);
  }
  return value;
}

const input = Object.freeze({
  job_id: `node-${process.pid}-${Date.now().toString(16)}`,
  konnector: SLUG,
  account: `local-${SLUG}`,
  fields: readJsonObject("KONNECTOR_FIELDS"),
  parameters: readJsonObject("KONNECTOR_PARAMETERS"),
  locale: "en",
  manual_execution: true,
  trigger_id: null,
});

const errors = Object.freeze(
  Object.fromEntries(KNOWN_ERROR_CODES.map((code) => [code.replaceAll(".", "_"), code])),
);

// What the job did, written to result.json and summed up on standard error.
const job = {
  error: null,
  errorMessage: null,
  requests: 0,
  writes: 0,
  accountData: {},
  // Documents by doctype, then by id: {doc, rev}.
  documents: new Map(),
  // Saved files by "dir_path/name": {id, rev, digest}.
  files: new Map(),
};

// ---- Logs and the job's error code ----

function formatMessage(message) {
  return typeof message === "string" ? message : util.inspect(message, { breakLength: Infinity });
}

function log(level, message) {
  if (!Object.hasOwn(LOG_LEVELS, level)) {
    throw new TypeError(
      `log: invalid level "${level}", expected "debug", "info", "warn" or "error"`,
    );
  }
  process.stderr.write(`[${LOG_LEVELS[level]}] ${formatMessage(message)}\n`);
}

function fail(code, message = "") {
  if (typeof code !== "string" || !ERROR_CODE.test(code) || code.length > 128) {
    const message = `fail: invalid error code ${util.inspect(code)}`;
    throw hostError("invalid_argument", message, TypeError);
  }
  if (job.error === null) {
    job.error = code;
    job.errorMessage = formatMessage(message);
  }
}

// ---- Network: the connect-to map, the cookie jar and fetch ----

// Where each "host:port" connects: {address, port}.
function readConnectTo() {
  const map = new Map();
  const text = process.env.KONNECTOR_CONNECT_TO ?? "";
  for (const entry of text.split(",").filter((part) => part.trim() !== "")) {
    const match = /^([^:]+):(\d+):(.+):(\d+)$/.exec(entry.trim());
    const address = match?.[3].replace(/^\[(.*)\]$/, "$1");
    if (!match || net.isIP(address) === 0) {
      throw new TypeError(
        `KONNECTOR_CONNECT_TO: invalid entry "${entry}"; expected HOST:PORT:ADDRESS:PORT2 with an IP address`,
      );
    }
    if (!isLoopback(address)) {
      throw new TypeError(`KONNECTOR_CONNECT_TO: ${address} is not a loopback address`);
    }
    map.set(`${match[1].toLowerCase()}:${match[2]}`, { address, port: Number(match[4]) });
  }
  return map;
}

function isLoopback(address) {
  return address === "::1" || (net.isIPv4(address) && address.startsWith("127."));
}

const connectTo = readConnectTo();

function readCaFile() {
  const file = process.env.KONNECTOR_CA_FILE;
  return file ? [...tls.rootCertificates, fs.readFileSync(file, "utf8")] : undefined;
}

// Keep-alive agents, so that requests reuse connections as the engine's
// client does. Their idle sockets do not keep the process alive.
const agents = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true, ca: readCaFile() }),
};

// A minimal RFC 6265 jar: Domain, Path, Expires, Max-Age, Secure and
// HttpOnly, with no public-suffix list and no SameSite.
class CookieJar {
  constructor() {
    this.cookies = [];
  }

  // Stores one Set-Cookie value received from `url`. Returns false when
  // the cookie's Domain does not match the URL's host.
  store(url, text) {
    const [pair, ...attributes] = text.split(";");
    const equals = pair.indexOf("=");
    if (equals <= 0) {
      return true;
    }
    const cookie = {
      name: pair.slice(0, equals).trim(),
      value: pair.slice(equals + 1).trim(),
      domain: url.hostname,
      host_only: true,
      path: defaultPath(url),
      secure: false,
      http_only: false,
      expires: null,
    };
    let maxAge = null;
    for (const attribute of attributes) {
      const at = attribute.indexOf("=");
      const name = (at === -1 ? attribute : attribute.slice(0, at)).trim().toLowerCase();
      const value = at === -1 ? "" : attribute.slice(at + 1).trim();
      if (name === "domain" && value !== "") {
        cookie.domain = value.replace(/^\./, "").toLowerCase();
        cookie.host_only = false;
      } else if (name === "path" && value.startsWith("/")) {
        cookie.path = value;
      } else if (name === "expires" && !Number.isNaN(Date.parse(value))) {
        cookie.expires = Math.floor(Date.parse(value) / 1000);
      } else if (name === "max-age" && /^-?\d+$/.test(value)) {
        maxAge = Number(value);
      } else if (name === "secure") {
        cookie.secure = true;
      } else if (name === "httponly") {
        cookie.http_only = true;
      }
    }
    if (maxAge !== null) {
      cookie.expires = Math.floor(Date.now() / 1000) + maxAge;
    }
    if (!domainMatches(url.hostname, cookie.domain)) {
      return false;
    }
    this.cookies = this.cookies.filter(
      (old) =>
        !(old.name === cookie.name && old.domain === cookie.domain && old.path === cookie.path),
    );
    if (cookie.expires === null || cookie.expires > Date.now() / 1000) {
      this.cookies.push(cookie);
    }
    return true;
  }

  // Returns the cookies a request to `url` carries, longest paths first.
  matching(url) {
    const now = Date.now() / 1000;
    return this.cookies
      .filter((cookie) => cookie.expires === null || cookie.expires > now)
      .filter((cookie) =>
        cookie.host_only
          ? url.hostname === cookie.domain
          : domainMatches(url.hostname, cookie.domain),
      )
      .filter((cookie) => pathMatches(url.pathname, cookie.path))
      .filter((cookie) => !cookie.secure || url.protocol === "https:")
      .sort((a, b) => b.path.length - a.path.length);
  }

  header(url) {
    return this.matching(url)
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join("; ");
  }
}

function defaultPath(url) {
  const slash = url.pathname.lastIndexOf("/");
  return slash <= 0 ? "/" : url.pathname.slice(0, slash);
}

function domainMatches(host, domain) {
  return host === domain || (host.endsWith(`.${domain}`) && net.isIP(host) === 0);
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) {
    return true;
  }
  return (
    requestPath.startsWith(cookiePath) &&
    (cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/")
  );
}

const jar = new CookieJar();

// Sends one request and reads its whole response:
// {status, headers: [[name, value]], body: Buffer}.
function sendHop(url, method, headers, body) {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const target = connectTo.get(`${url.hostname}:${port}`);
  if (target === undefined) {
    const message = `fetch: ${url.hostname}:${port} is not mapped by KONNECTOR_CONNECT_TO, and this shim sends requests only to mapped hosts`;
    return Promise.reject(hostError("network", message, TypeError));
  }
  const cookie = jar.header(url);
  const sent = { ...headers, host: url.host };
  if (cookie !== "") {
    sent.cookie = sent.cookie ? `${sent.cookie}; ${cookie}` : cookie;
  }
  if (body !== null) {
    sent["content-length"] = String(body.length);
  }
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      {
        host: target.address,
        port: target.port,
        servername: url.hostname,
        method,
        path: `${url.pathname}${url.search}`,
        headers: sent,
        agent: agents[url.protocol],
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const pairs = [];
          for (let i = 0; i < response.rawHeaders.length; i += 2) {
            pairs.push([response.rawHeaders[i].toLowerCase(), response.rawHeaders[i + 1]]);
          }
          resolve({ status: response.statusCode, headers: pairs, body: Buffer.concat(chunks) });
        });
      },
    );
    request.on("error", (error) => {
      reject(hostError("network", `fetch: ${url.href}: ${error.message}`, TypeError));
    });
    request.end(body ?? undefined);
  });
}

// Replaces Node.js's fetch: the same Request and Response classes, with
// redirects followed and cookies kept here.
async function shimFetch(resource, init = undefined) {
  const request = new Request(resource, init);
  const headers = Object.fromEntries(request.headers);
  if (headers["user-agent"] === undefined) {
    headers["user-agent"] = DEFAULT_USER_AGENT;
  }
  let method = request.method;
  let body = request.body === null ? null : Buffer.from(await request.arrayBuffer());
  let url = new URL(request.url);

  for (let redirects = 0; ; redirects++) {
    if (!["http:", "https:"].includes(url.protocol)) {
      throw hostError("network", `fetch: unsupported scheme in ${url.href}`, TypeError);
    }
    job.requests += 1;
    const response = await sendHop(url, method, headers, body);
    for (const [name, value] of response.headers) {
      if (name === "set-cookie") {
        jar.store(url, value);
      }
    }
    const location = response.headers.find(([name]) => name === "location")?.[1];
    const isRedirect = REDIRECT_STATUSES.includes(response.status) && location !== undefined;
    if (!isRedirect || request.redirect === "manual") {
      return toResponse(response, url, new URL(request.url), method);
    }
    if (request.redirect === "error") {
      const message = `fetch: ${url.href} redirected, and redirect is "error"`;
      throw hostError("network", message, TypeError);
    }
    if (redirects === MAX_REDIRECTS) {
      const message = `fetch: more than ${MAX_REDIRECTS} redirects from ${request.url}`;
      throw hostError("limit_exceeded", message, TypeError);
    }

    const next = new URL(location, url);
    if (next.origin !== url.origin) {
      CREDENTIAL_HEADERS.forEach((name) => delete headers[name]);
    }
    if ([301, 302, 303].includes(response.status) && method !== "HEAD") {
      method = "GET";
      body = null;
      BODY_HEADERS.forEach((name) => delete headers[name]);
    }
    url = next;
  }
}

function toResponse(hop, url, requested, method) {
  const headers = new Headers();
  for (const [name, value] of hop.headers) {
    headers.append(name, value);
  }
  const empty = NULL_BODY_STATUSES.includes(hop.status) || method === "HEAD";
  const response = new Response(empty ? null : hop.body, { status: hop.status, headers });
  // A constructed Response has no URL, so these shadow the prototype's
  // getters.
  Object.defineProperty(response, "url", { value: url.href });
  Object.defineProperty(response, "redirected", { value: url.href !== requested.href });
  return response;
}

globalThis.fetch = shimFetch;

function cookies(url = undefined) {
  if (url === undefined || url === null) {
    return jar.cookies.map((cookie) => ({ ...cookie }));
  }
  return jar.matching(new URL(String(url))).map((cookie) => ({ ...cookie }));
}

function setCookie(url, text) {
  if (typeof text !== "string") {
    throw new TypeError(`setCookie: the cookie must be a string, not ${typeof text}`);
  }
  const target = new URL(String(url));
  if (!jar.store(target, text)) {
    const message = `setCookie: the cookie's domain does not match ${target.hostname}`;
    throw hostError("invalid_argument", message, TypeError);
  }
}

// ---- Documents ----

function checkObject(value, subject) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${subject} must be an object`);
  }
}

function newRevision(previous = undefined) {
  const generation = previous === undefined ? 1 : Number.parseInt(previous, 10) + 1;
  return `${generation}-${crypto.randomBytes(16).toString("hex")}`;
}

function documentsOf(doctype) {
  if (!job.documents.has(doctype)) {
    job.documents.set(doctype, new Map());
  }
  return job.documents.get(doctype);
}

// Stores a document as JSON would carry it to the host (Dates become
// strings, undefined fields go).
function storeDocument(doctype, id, doc, previous = undefined) {
  const rev = newRevision(previous);
  documentsOf(doctype).set(id, { doc: JSON.parse(JSON.stringify(doc)), rev });
  job.writes += 1;
  return rev;
}

async function create(doctype, doc) {
  checkObject(doc, "create: the document");
  const id = crypto.randomUUID().replaceAll("-", "");
  return { id, rev: storeDocument(doctype, id, doc), status: "created" };
}

async function update(doctype, id, doc, rev = undefined) {
  checkObject(doc, "update: the document");
  const current = documentsOf(doctype).get(id);
  if (current === undefined) {
    throw hostError("not_found", `update: document ${doctype}/${id} not found`);
  }
  if (rev !== undefined && rev !== null && rev !== current.rev) {
    const message = `update: ${doctype}/${id} is at revision ${current.rev}, not ${rev}`;
    throw hostError("conflict", message);
  }
  return { id, rev: storeDocument(doctype, id, doc, current.rev), status: "updated" };
}

// Reads a field by name or by dotted path, such as "metadata.number".
function valueAt(doc, key) {
  let value = doc;
  for (const part of key.split(".")) {
    value = value === null || value === undefined ? undefined : value[part];
  }
  return value;
}

// Creates `doc`, or merges it into the first document whose values at
// `keys` equal its own.
async function upsert(doctype, keys, doc) {
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === "string")) {
    throw new TypeError("upsert: the keys must be an array of field names");
  }
  checkObject(doc, "upsert: the document");
  const body = JSON.parse(JSON.stringify(doc));
  const expected = JSON.stringify(keys.map((key) => valueAt(body, key)));
  for (const [id, current] of documentsOf(doctype)) {
    if (JSON.stringify(keys.map((key) => valueAt(current.doc, key))) !== expected) {
      continue;
    }
    const merged = { ...current.doc, ...body };
    if (JSON.stringify(merged) === JSON.stringify(current.doc)) {
      return { id, rev: current.rev, status: "unchanged" };
    }
    return { id, rev: storeDocument(doctype, id, merged, current.rev), status: "updated" };
  }
  return create(doctype, body);
}

async function accountData() {
  return structuredClone(job.accountData);
}

async function setAccountData(data) {
  checkObject(data, "setAccountData: the data");
  job.accountData = JSON.parse(JSON.stringify(data));
}

// ---- Files ----

const CONTENT_TYPES = {
  pdf: "application/pdf",
  html: "text/html",
  txt: "text/plain",
  json: "application/json",
};

function guessContentType(name) {
  const extension = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return CONTENT_TYPES[extension] ?? "application/octet-stream";
}

// Returns the folder of a file: its own, else the account's folder_path,
// else "/", as the engine does.
function folderOf(file) {
  return file.dir_path ?? input.fields.folder_path ?? "/";
}

function checkFile(file, call) {
  checkObject(file, `${call}: the file description`);
  const name = file.name;
  const special = name === "" || name === "." || name === "..";
  if (typeof name !== "string" || special || /[/\0]/.test(name)) {
    const message = `${call}: invalid file name ${util.inspect(name)}`;
    throw hostError("invalid_argument", message, TypeError);
  }
  const folder = folderOf(file);
  if (folder.split("/").some((part) => part === "..")) {
    const message = `${call}: invalid folder ${util.inspect(folder)}`;
    throw hostError("invalid_argument", message, TypeError);
  }
}

// Saves bytes as a file and its io.cozy.files document, and returns the
// write's {id, rev, status}.
function storeFile(file, bytes, contentType) {
  const folder = folderOf(file);
  const key = path.posix.join(folder, file.name);
  const digest = crypto.createHash("sha256").update(bytes).digest("hex");
  const existing = job.files.get(key);
  if (existing?.digest === digest) {
    return { id: existing.id, rev: existing.rev, status: "unchanged" };
  }
  if (OUTPUT !== null) {
    const target = path.join(OUTPUT, "files", folder, file.name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, bytes);
  }
  const id = existing?.id ?? crypto.randomUUID().replaceAll("-", "");
  const doc = {
    type: "file",
    name: file.name,
    dir_path: folder,
    mime: contentType,
    size: bytes.length,
    md5sum: crypto.createHash("md5").update(bytes).digest("base64"),
    metadata: file.metadata,
  };
  const rev = storeDocument("io.cozy.files", id, doc, existing?.rev);
  job.files.set(key, { id, rev, digest });
  return { id, rev, status: existing === undefined ? "created" : "updated" };
}

async function saveFile(file, contents) {
  checkFile(file, "saveFile");
  let bytes;
  if (typeof contents === "string") {
    bytes = Buffer.from(contents, "utf8");
  } else if (contents instanceof ArrayBuffer) {
    bytes = Buffer.from(contents);
  } else if (ArrayBuffer.isView(contents)) {
    bytes = Buffer.from(contents.buffer, contents.byteOffset, contents.byteLength);
  } else {
    throw new TypeError("saveFile: the contents must be a string, an ArrayBuffer or a typed array");
  }
  return storeFile(file, bytes, file.content_type ?? guessContentType(file.name));
}

async function downloadFile(file, resource, init = undefined) {
  checkFile(file, "downloadFile");
  if (file.keep_existing === true) {
    const existing = job.files.get(path.posix.join(folderOf(file), file.name));
    if (existing !== undefined) {
      return { id: existing.id, rev: existing.rev, status: "unchanged" };
    }
  }
  const response = await shimFetch(resource, init);
  if (!response.ok) {
    const message = `downloadFile: download of ${response.url} failed: the server answered status ${response.status}, so file ${file.name} was not saved`;
    throw hostError("network", message);
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  const header = response.headers.get("content-type") ?? "";
  const headerType = header.split(";")[0].trim().toLowerCase();
  return storeFile(file, bytes, file.content_type ?? (headerType || guessContentType(file.name)));
}

// ---- The end of the job ----

// Writes result.json and prints a summary line once the event loop is
// empty, which is when the engine's job ends too. An uncaught exception
// ends Node.js before this, with its own message and status 1.
process.once("beforeExit", () => {
  const documents = Object.fromEntries(
    [...job.documents].map(([doctype, byId]) => [
      doctype,
      [...byId].map(([id, { doc, rev }]) => ({ _id: id, _rev: rev, ...doc })),
    ]),
  );
  const counts = Object.entries(documents).map(([doctype, list]) => `${list.length} ${doctype}`);
  if (OUTPUT !== null) {
    fs.mkdirSync(OUTPUT, { recursive: true });
    const result = {
      error: job.error,
      message: job.errorMessage,
      account_data: job.accountData,
      documents,
    };
    fs.writeFileSync(path.join(OUTPUT, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
  }
  const outcome = job.error === null ? "done" : `errored with ${job.error}`;
  const saved = counts.length === 0 ? "no documents" : counts.join(", ");
  const counters = `${job.writes} writes, ${job.requests} HTTP requests`;
  process.stderr.write(`node: ${outcome} (${saved}, ${counters})\n`);
  if (job.error !== null) {
    process.exitCode = 1;
  }
});

module.exports = Object.freeze({
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
});
