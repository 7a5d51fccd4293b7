// The job's cookie jar, as request's `rq.jar()` and tough-cookie show it.
//
// The host keeps one jar per job and sends its cookies with every request,
// so every jar a konnector makes is that same jar. Its methods work as
// request's jar methods do, synchronously: getCookieString(url),
// getCookies(url) and setCookie(cookie, url). A callback given as last
// argument, as tough-cookie takes one, is called too.
//
// serializeJar() and restoreJar() write and read the jar in the JSON form
// of tough-cookie's CookieJar.toJSON(), which CookieKonnector keeps in the
// account's data, so a session saved by the Node.js konnector is found
// again here.
"use strict";

const host = require("konnector:host");

// The version that serializeJar names, as tough-cookie names its own.
const SERIALIZED_VERSION = "tough-cookie@4.1.3";

// The date of an expired cookie, which removes the cookie of the same name.
const EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT";

// A cookie with tough-cookie's property names. `expires` is a Date, or
// "Infinity" for a cookie that lasts as long as the job.
class Cookie {
  constructor(fields = {}) {
    this.key = "";
    this.value = "";
    this.expires = "Infinity";
    this.domain = null;
    this.path = null;
    this.secure = false;
    this.httpOnly = false;
    this.hostOnly = null;
    Object.assign(this, fields);
  }

  // The `name=value` pair a request sends.
  cookieString() {
    return `${this.key}=${this.value}`;
  }

  // The cookie as a Set-Cookie header value.
  toString() {
    let text = this.cookieString();
    if (this.expires instanceof Date) {
      text += `; Expires=${this.expires.toUTCString()}`;
    }
    if (this.domain && this.hostOnly !== true) {
      text += `; Domain=${this.domain}`;
    }
    if (this.path) {
      text += `; Path=${this.path}`;
    }
    if (this.secure) {
      text += "; Secure";
    }
    if (this.httpOnly) {
      text += "; HttpOnly";
    }
    return text;
  }

  // The cookie in tough-cookie's JSON form.
  toJSON() {
    const json = { key: this.key, value: this.value };
    if (this.expires instanceof Date) {
      json.expires = this.expires.toISOString();
    }
    for (const name of ["domain", "path", "secure", "httpOnly", "hostOnly"]) {
      if (this[name] !== null && this[name] !== false) {
        json[name] = this[name];
      }
    }
    return json;
  }
}

// Converts a cookie of the host's jar.
function fromHost(cookie) {
  return new Cookie({
    key: cookie.name,
    value: cookie.value,
    expires: cookie.expires === null ? "Infinity" : new Date(cookie.expires * 1000),
    domain: cookie.domain,
    path: cookie.path,
    secure: cookie.secure,
    httpOnly: cookie.http_only,
    hostOnly: cookie.host_only,
  });
}

// Parses a Set-Cookie header value into a Cookie, as request.cookie()
// does; undefined when it has no name=value pair.
function parseCookie(text) {
  const [pair, ...attributes] = String(text).split(";");
  const equals = pair.indexOf("=");
  if (equals <= 0) {
    return undefined;
  }
  const cookie = new Cookie({ key: pair.slice(0, equals).trim(), value: pair.slice(equals + 1).trim() });
  for (const attribute of attributes) {
    const [name, ...rest] = attribute.split("=");
    const value = rest.join("=").trim();
    switch (name.trim().toLowerCase()) {
      case "expires": {
        const date = new Date(value);
        if (!Number.isNaN(date.getTime())) {
          cookie.expires = date;
        }
        break;
      }
      case "max-age":
        if (/^-?\d+$/.test(value)) {
          cookie.expires = new Date(Date.now() + Number(value) * 1000);
        }
        break;
      case "domain":
        cookie.domain = value.replace(/^\./, "").toLowerCase();
        cookie.hostOnly = false;
        break;
      case "path":
        cookie.path = value;
        break;
      case "secure":
        cookie.secure = true;
        break;
      case "httponly":
        cookie.httpOnly = true;
        break;
    }
  }
  return cookie;
}

function urlText(url) {
  if (typeof url === "string") {
    return url;
  }
  if (url && typeof url.href === "string") {
    return url.href;
  }
  throw new TypeError(`cookie jar: expected a URL, not ${url === null ? "null" : typeof url}`);
}

// Calls a tough-cookie style callback, the last argument when it is a
// function, and returns the result.
function answer(args, result) {
  const callback = args[args.length - 1];
  if (typeof callback === "function") {
    callback(null, result);
  }
  return result;
}

function getCookies(url, ...rest) {
  return answer(rest, host.cookies(urlText(url)).map(fromHost));
}

function getCookieString(url, ...rest) {
  const pairs = host.cookies(urlText(url)).map((cookie) => `${cookie.name}=${cookie.value}`);
  return answer(rest, pairs.join("; "));
}

// Stores a cookie (a Cookie or a Set-Cookie string) as if `url` had sent
// it, and returns it.
function setCookie(cookie, url, ...rest) {
  const text = typeof cookie === "string" ? cookie : String(cookie);
  host.setCookie(urlText(url), text);
  return answer(rest, typeof cookie === "string" ? parseCookie(cookie) : cookie);
}

// The jar in tough-cookie's JSON form.
function serializeJar() {
  return {
    version: SERIALIZED_VERSION,
    storeType: "MemoryCookieStore",
    rejectPublicSuffixes: true,
    cookies: host.cookies().map((cookie) => fromHost(cookie).toJSON()),
  };
}

// Adds the cookies of `serialized` (tough-cookie's JSON form, or its text)
// to the jar, leaving out expired ones and those the host refuses. Returns
// the number of cookies added.
function restoreJar(serialized) {
  const data = typeof serialized === "string" ? JSON.parse(serialized) : serialized;
  if (!data || !Array.isArray(data.cookies)) {
    throw new TypeError("cookie jar: the saved session has no cookies array");
  }
  let restored = 0;
  for (const fields of data.cookies) {
    if (!fields || typeof fields.key !== "string" || typeof fields.domain !== "string") {
      continue;
    }
    const expires = fields.expires === undefined || fields.expires === "Infinity"
      ? "Infinity"
      : new Date(fields.expires);
    if (expires instanceof Date && !(expires.getTime() > Date.now())) {
      continue;
    }
    const cookie = new Cookie({ ...fields, expires, domain: fields.domain.replace(/^\./, "") });
    const scheme = cookie.secure ? "https" : "http";
    try {
      host.setCookie(`${scheme}://${cookie.domain}${cookie.path ?? "/"}`, cookie.toString());
      restored += 1;
    } catch {
      // A cookie the host refuses, such as one for a malformed domain, is
      // left out.
    }
  }
  return restored;
}

// Removes every cookie of the jar, each by an expired cookie of the same
// name, domain and path.
function clearJar() {
  for (const cookie of host.cookies().map(fromHost)) {
    const expired = new Cookie({ ...cookie, value: "", expires: new Date(EPOCH) });
    const scheme = cookie.secure ? "https" : "http";
    host.setCookie(`${scheme}://${cookie.domain}${cookie.path}`, expired.toString());
  }
}

// The one jar of the job. `_jar` stands for the tough-cookie CookieJar
// that request's jar wraps, which some konnectors reach for.
const JOB_JAR = Object.freeze({
  getCookies,
  getCookieString,
  setCookie,
  _jar: Object.freeze({
    getCookiesSync: (url) => getCookies(url),
    getCookieStringSync: (url) => getCookieString(url),
    setCookieSync: (cookie, url) => setCookie(cookie, url),
    toJSON: serializeJar,
  }),
});

// Returns the job's jar, as request.jar() and requestFactory().jar() do.
function jar() {
  return JOB_JAR;
}

module.exports = { Cookie, jar, parseCookie, serializeJar, restoreJar, clearJar };
