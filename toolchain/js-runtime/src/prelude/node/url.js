// The Node.js module "url" (also "node:url"): the WHATWG URL and
// URLSearchParams, fileURLToPath and pathToFileURL, and a subset of the
// legacy API that older packages use: parse, format and resolve.
//
// The legacy parse splits a URL into Node.js's fields (protocol, slashes,
// auth, host, port, hostname, hash, search, query, pathname, path, href)
// without validating it. Unlike Node.js it does not convert international
// host names to punycode or escape characters such as spaces in the path.
(function (native, internal) {
  "use strict";

  const querystring = internal.requireModule("querystring");
  const path = internal.requireModule("path");

  // Protocols whose URLs always have "//" and a host.
  const SLASHED_PROTOCOLS = ["http:", "https:", "ftp:", "gopher:", "file:", "ws:", "wss:"];
  // Protocols that never have a host.
  const HOSTLESS_PROTOCOLS = ["javascript:"];

  // The result of the legacy parse.
  class Url {
    constructor() {
      this.protocol = null;
      this.slashes = null;
      this.auth = null;
      this.host = null;
      this.port = null;
      this.hostname = null;
      this.hash = null;
      this.search = null;
      this.query = null;
      this.pathname = null;
      this.path = null;
      this.href = null;
    }

    format() {
      return format(this);
    }

    resolve(relative) {
      return resolve(this.href, relative);
    }
  }

  // Reads the authority, such as "user:pass@Example.com:8080", into `url`.
  function parseAuthority(url, authority) {
    const at = authority.lastIndexOf("@");
    if (at !== -1) {
      url.auth = decodeURIComponent(authority.slice(0, at));
    }
    const host = authority.slice(at + 1);
    const port = /:([0-9]*)$/.exec(host);
    let hostname = host;
    if (port !== null && !/^\[[^\]]*$/.test(host.slice(0, port.index))) {
      if (port[1] !== "") {
        url.port = port[1];
      }
      hostname = host.slice(0, port.index);
    }
    hostname = hostname.toLowerCase();
    url.hostname = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
    url.host = url.port === null ? hostname : `${hostname}:${url.port}`;
  }

  function parse(input, parseQueryString = false, slashesDenoteHost = false) {
    if (input instanceof Url) {
      return input;
    }
    if (typeof input !== "string") {
      const error = new TypeError(
        `url.parse: the URL must be a string, not ${input === null ? "null" : typeof input}`,
      );
      error.code = "ERR_INVALID_ARG_TYPE";
      throw error;
    }
    const url = new Url();
    let rest = input.trim().replaceAll("\\", "/");

    const hashAt = rest.indexOf("#");
    if (hashAt !== -1) {
      url.hash = rest.slice(hashAt);
      rest = rest.slice(0, hashAt);
    }
    const searchAt = rest.indexOf("?");
    if (searchAt !== -1) {
      url.search = rest.slice(searchAt);
      url.query = rest.slice(searchAt + 1);
      rest = rest.slice(0, searchAt);
    } else if (parseQueryString) {
      url.search = "";
      url.query = "";
    }
    if (parseQueryString) {
      url.query = querystring.parse(url.query);
    }

    const protocol = /^[a-z][a-z0-9.+-]*:/i.exec(rest);
    if (protocol !== null) {
      url.protocol = protocol[0].toLowerCase();
      rest = rest.slice(protocol[0].length);
    }

    const hostless = HOSTLESS_PROTOCOLS.includes(url.protocol);
    const slashes = rest.startsWith("//") && !hostless && (url.protocol !== null || slashesDenoteHost);
    if (slashes) {
      url.slashes = true;
      rest = rest.slice(2);
    }
    // As in Node.js, a protocol such as "mailto:" has a host even without
    // "//", and "http:" has none without it.
    const unslashed = url.protocol !== null && !SLASHED_PROTOCOLS.includes(url.protocol);
    if (!hostless && (slashes || unslashed)) {
      const end = rest.indexOf("/");
      parseAuthority(url, end === -1 ? rest : rest.slice(0, end));
      rest = end === -1 ? "" : rest.slice(end);
    }

    if (rest !== "") {
      url.pathname = rest;
    } else if (url.hostname !== null && SLASHED_PROTOCOLS.includes(url.protocol)) {
      url.pathname = "/";
    }
    if (url.pathname !== null || url.search !== null) {
      url.path = `${url.pathname ?? ""}${url.search ?? ""}`;
    }
    url.href = format(url);
    return url;
  }

  function format(value, options = undefined) {
    if (typeof value === "string") {
      return parse(value).format();
    }
    if (value instanceof URL) {
      let href = value.href;
      if (options?.fragment === false) {
        href = href.replace(/#.*$/s, "");
      }
      if (options?.search === false) {
        href = href.replace(/\?[^#]*/, "");
      }
      return href;
    }
    if (typeof value !== "object" || value === null) {
      throw new TypeError("url.format: the argument must be a string, a URL or an object");
    }

    let protocol = value.protocol ?? "";
    if (protocol !== "" && !protocol.endsWith(":")) {
      protocol += ":";
    }
    const auth = value.auth ? `${encodeURIComponent(value.auth).replace("%3A", ":")}@` : "";
    let host = "";
    if (value.host) {
      host = auth + value.host;
    } else if (value.hostname) {
      const hostname = value.hostname.includes(":") ? `[${value.hostname}]` : value.hostname;
      host = auth + hostname + (value.port ? `:${value.port}` : "");
    }

    let pathname = value.pathname ?? "";
    let search = value.search ?? "";
    if (search === "" && value.query !== null && typeof value.query === "object") {
      const query = querystring.stringify(value.query);
      search = query === "" ? "" : `?${query}`;
    }
    if (search !== "" && !search.startsWith("?")) {
      search = `?${search}`;
    }
    let hash = value.hash ?? "";
    if (hash !== "" && !hash.startsWith("#")) {
      hash = `#${hash}`;
    }

    const slashed = value.slashes || SLASHED_PROTOCOLS.includes(protocol);
    if (slashed && (host !== "" || protocol === "file:")) {
      host = `//${host}`;
      if (pathname !== "" && !pathname.startsWith("/")) {
        pathname = `/${pathname}`;
      }
    }
    pathname = pathname.replaceAll("?", "%3F").replaceAll("#", "%23");
    search = search.replaceAll("#", "%23");
    return `${protocol}${host}${pathname}${search}${hash}`;
  }

  // The base that lets WHATWG URL resolve a relative `from`, removed from
  // the result.
  const RELATIVE_BASE = "relative-base://base";

  function resolve(from, to) {
    const base = new URL(String(from), RELATIVE_BASE);
    const resolved = new URL(String(to), base);
    if (resolved.href.startsWith(RELATIVE_BASE)) {
      const relative = resolved.href.slice(RELATIVE_BASE.length);
      // A relative `from` without a leading "/" keeps it relative.
      return String(from).startsWith("/") ? relative : relative.replace(/^\//, "");
    }
    return resolved.href;
  }

  function fileURLToPath(value) {
    const url = typeof value === "string" ? new URL(value) : value;
    if (!(url instanceof URL) || url.protocol !== "file:") {
      const error = new TypeError("url.fileURLToPath: the URL must use the file: scheme");
      error.code = "ERR_INVALID_URL_SCHEME";
      throw error;
    }
    if (url.hostname !== "") {
      throw new TypeError(`url.fileURLToPath: the host "${url.hostname}" must be empty`);
    }
    return decodeURIComponent(url.pathname);
  }

  function pathToFileURL(filePath) {
    const absolute = path.resolve(filePath);
    const trailing = filePath.endsWith("/") && !absolute.endsWith("/") ? "/" : "";
    const encoded = (absolute + trailing)
      .split("/")
      .map((segment) => encodeURIComponent(segment))
      .join("/");
    return new URL(`file://${encoded}`);
  }

  const url = {
    URL,
    URLSearchParams,
    Url,
    parse,
    format,
    resolve,
    fileURLToPath,
    pathToFileURL,
  };

  internal.defineModule("url", url);
});
