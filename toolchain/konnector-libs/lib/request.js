// requestFactory: the `request-promise` client of cozy-konnector-libs, over
// the runtime's fetch.
//
// `requestFactory(defaults)` returns `rq`, a function that sends one
// request and returns a promise: `rq(uri)`, `rq(uri, options)` or
// `rq(options)`, plus `rq.get`, `rq.post`, `rq.put`, `rq.patch`,
// `rq.delete`, `rq.head` and `rq.defaults(options)`. The promise resolves
// with the body (a cheerio `$` with `cheerio: true`, parsed JSON with
// `json: true`, a Buffer with `encoding: null`, else a string), or with the
// full response `{statusCode, headers, body, request: {uri: {href}}}` with
// `resolveWithFullResponse: true`. A status outside 2xx rejects with a
// StatusCodeError unless `simple: false`, and a request that fails rejects
// with a RequestError.
//
// The host follows redirects unless `followRedirect` is false, and then
// the redirect itself is the response (a StatusCodeError unless
// `simple: false`, as in request-promise). The host keeps the job's
// cookies in one jar: `jar` and `gzip` are accepted and change nothing,
// and `rq.jar()` returns that jar, whose cookies konnector code can read
// and set (see cookies.js). `timeout` is ignored: the job's deadline
// bounds every request.
"use strict";

const querystring = require("querystring");
const url = require("url");
const { loadCheerio } = require("./cheerio");
const { jar, parseCookie } = require("./cookies");

// The User-Agent header sent unless the request names one or sets
// `userAgent: false`: a desktop Firefox, as vendor sites expect a browser.
const DEFAULT_USER_AGENT =
  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

// Characters of a body kept in a StatusCodeError's message.
const MESSAGE_BODY_CHARACTERS = 200;

// The key under which an `rq` function keeps its defaults, read by
// signin and saveFiles when they get a `requestInstance`.
const DEFAULTS = Symbol("requestFactory defaults");

class StatusCodeError extends Error {
  constructor(statusCode, body, options, response) {
    super(`${statusCode} - ${bodyPreview(body)}`);
    this.name = "StatusCodeError";
    this.statusCode = statusCode;
    this.error = body;
    this.options = options;
    this.response = response;
  }
}

class RequestError extends Error {
  constructor(cause, options) {
    super(String(cause));
    this.name = "RequestError";
    this.cause = cause;
    this.error = cause;
    this.options = options;
  }
}

function bodyPreview(body) {
  let text;
  if (typeof body === "string") {
    text = body;
  } else if (body instanceof Uint8Array) {
    text = `<${body.length} bytes>`;
  } else if (typeof body === "function") {
    text = "<parsed HTML>";
  } else {
    text = JSON.stringify(body) ?? String(body);
  }
  return text.length > MESSAGE_BODY_CHARACTERS ? `${text.slice(0, MESSAGE_BODY_CHARACTERS)}...` : text;
}

function mergeOptions(base, extra) {
  return {
    ...base,
    ...extra,
    headers: { ...base.headers, ...extra?.headers },
  };
}

// Reads the arguments of rq(uri[, options][, callback]) or
// rq(options[, callback]).
function callArguments(args) {
  const [first, second, third] = args;
  if (typeof first === "string" || first instanceof URL) {
    const options = typeof second === "object" && second !== null ? second : {};
    const callback = typeof second === "function" ? second : third;
    return { options: { ...options, uri: first }, callback };
  }
  if (typeof first === "object" && first !== null) {
    return { options: first, callback: second };
  }
  throw new TypeError(
    `requestFactory: expected a URL or an options object, not ${first === null ? "null" : typeof first}`,
  );
}

function requestUrl(options) {
  let target = options.uri ?? options.url;
  if (target instanceof URL) {
    target = target.href;
  } else if (typeof target === "object" && target !== null && typeof target.href === "string") {
    target = target.href;
  }
  if (typeof target !== "string" || target === "") {
    throw new TypeError("requestFactory: the request has no uri or url option");
  }
  if (options.baseUrl) {
    target = `${String(options.baseUrl).replace(/\/$/, "")}/${target.replace(/^\//, "")}`;
  }
  if (options.qs && typeof options.qs === "object") {
    const query = querystring.stringify(options.qs);
    if (query !== "") {
      const hashAt = target.indexOf("#");
      const hash = hashAt === -1 ? "" : target.slice(hashAt);
      const base = hashAt === -1 ? target : target.slice(0, hashAt);
      target = `${base}${base.includes("?") ? "&" : "?"}${query}${hash}`;
    }
  }
  return target;
}

// Builds the headers and body that fetch sends.
function requestInit(options) {
  if (options.formData !== undefined || options.multipart !== undefined) {
    throw new TypeError(
      "requestFactory: multipart bodies (formData, multipart) are not supported; send form or body",
    );
  }
  const method = String(options.method ?? "GET").toUpperCase();
  const headers = new Headers();
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value !== undefined && value !== null) {
      headers.set(name, String(value));
    }
  }
  if (!headers.has("user-agent") && options.userAgent !== false) {
    headers.set("user-agent", DEFAULT_USER_AGENT);
  }
  if (options.json && !headers.has("accept")) {
    headers.set("accept", "application/json");
  }
  const auth = options.auth;
  if (auth && !headers.has("authorization")) {
    if (auth.bearer) {
      headers.set("authorization", `Bearer ${auth.bearer}`);
    } else {
      const user = auth.user ?? auth.username ?? "";
      const pass = auth.pass ?? auth.password ?? "";
      headers.set("authorization", `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`);
    }
  }

  let body;
  if (options.form !== undefined) {
    body = typeof options.form === "string" ? options.form : querystring.stringify(options.form);
    if (!headers.has("content-type")) {
      headers.set("content-type", "application/x-www-form-urlencoded");
    }
  } else if (options.body !== undefined) {
    const isBytes = options.body instanceof Uint8Array || options.body instanceof ArrayBuffer;
    if (options.json && typeof options.body === "object" && !isBytes) {
      body = JSON.stringify(options.body);
      if (!headers.has("content-type")) {
        headers.set("content-type", "application/json");
      }
    } else {
      body = isBytes ? options.body : String(options.body);
    }
  }
  const redirect = options.followRedirect === false ? "manual" : "follow";
  return { method, headers, body, redirect };
}

function plainHeaders(headers) {
  const result = {};
  for (const [name, value] of headers) {
    if (name === "set-cookie") {
      result[name] = headers.getSetCookie();
    } else {
      result[name] = value;
    }
  }
  return result;
}

function decodeBody(bytes, options) {
  if (options.encoding === null) {
    return bytes;
  }
  const text = bytes.toString(options.encoding ?? "utf8");
  if (options.json && text.trim() !== "") {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

// Sends one request with the merged options, and returns the full
// response, before any transform.
async function send(options) {
  const target = requestUrl(options);
  const init = requestInit(options);
  let response;
  let bytes;
  try {
    response = await fetch(target, init);
    bytes = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    throw new RequestError(error, options);
  }
  return {
    statusCode: response.status,
    statusMessage: response.statusText,
    headers: plainHeaders(response.headers),
    body: decodeBody(bytes, options),
    url: response.url,
    request: {
      uri: url.parse(response.url),
      href: response.url,
      method: init.method,
      headers: plainHeaders(init.headers),
    },
  };
}

// Sends a request as `rq` does: the response checked, transformed and
// reduced to what the options ask for.
async function perform(options) {
  const response = await send(options);
  const success = response.statusCode >= 200 && response.statusCode < 300;
  if (options.simple !== false && !success) {
    throw new StatusCodeError(response.statusCode, response.body, options, response);
  }
  const full = options.resolveWithFullResponse === true;
  if (typeof options.transform === "function") {
    return options.transform(response.body, response, full);
  }
  if (options.cheerio) {
    const load = loadCheerio("requestFactory");
    const $ = load(typeof response.body === "string" ? response.body : String(response.body));
    return full ? { ...response, body: $ } : $;
  }
  return full ? response : response.body;
}

// Returns an `rq` function whose requests start from `defaults`.
function makeRequest(defaults) {
  if (defaults.cheerio) {
    // Fails now rather than at the first request when cheerio is missing.
    loadCheerio("requestFactory");
  }
  function rq(...args) {
    const { options, callback } = callArguments(args);
    const merged = mergeOptions(defaults, options);
    // A transform given with this call replaces the factory's cheerio one.
    if (options.transform !== undefined) {
      merged.cheerio = false;
    }
    const promise = perform(merged);
    if (typeof callback === "function") {
      promise.then(
        (result) => callback(null, result, result?.body ?? result),
        (error) => callback(error),
      );
    }
    return promise;
  }
  const withMethod = (method) => (uri, options) => {
    const call = typeof uri === "object" && !(uri instanceof URL) ? uri : { ...options, uri };
    return rq({ ...call, method });
  };
  rq.get = withMethod("GET");
  rq.post = withMethod("POST");
  rq.put = withMethod("PUT");
  rq.patch = withMethod("PATCH");
  rq.delete = withMethod("DELETE");
  rq.del = rq.delete;
  rq.head = withMethod("HEAD");
  rq.defaults = (options) => makeRequest(normalizeDefaults(mergeOptions(defaults, options)));
  rq.jar = jar;
  rq.cookie = parseCookie;
  rq[DEFAULTS] = defaults;
  return rq;
}

// Applies cozy-konnector-libs's defaults: JSON unless `cheerio` is set.
function normalizeDefaults(options) {
  const defaults = { json: true, cheerio: false, followAllRedirects: true, ...options };
  if (defaults.cheerio === true) {
    defaults.json = false;
  }
  defaults.headers = { ...options.headers };
  return defaults;
}

function requestFactory(options = {}) {
  const { debug, ...rest } = options ?? {};
  return makeRequest(normalizeDefaults(rest));
}

// Returns the defaults of an `rq` made by requestFactory, or {} for any
// other function.
function defaultsOf(rq) {
  return rq?.[DEFAULTS] ?? {};
}

module.exports = {
  requestFactory,
  send,
  requestUrl,
  requestInit,
  defaultsOf,
  StatusCodeError,
  RequestError,
  DEFAULT_USER_AGENT,
};
