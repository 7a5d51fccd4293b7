// fetch, Headers, Request and Response of the WHATWG Fetch standard, over
// the host's http_fetch and http_body_read (http.rs).
//
// Where this fetch differs from a browser's or Node.js's:
// - The host follows redirects and keeps the job's cookies itself, so
//   `credentials: "omit"`, `signal` and `integrity` throw a TypeError that
//   names the option. `redirect: "manual"` returns the redirect itself, as
//   Node.js does (status 3xx and its `location` header, not a browser's
//   opaque response), and `redirect: "error"` rejects on a redirect.
// - Bodies are read whole: `body` streams, Blob and FormData do not exist,
//   and the `body` getter throws for a response that has a body.
// - `statusText` is "" because the host does not pass the reason phrase.
// - `redirected` is true when the final URL differs from the request's,
//   so a redirect back to the same URL is missed.
// - Each fetch waits in the host call until the response is complete, so
//   requests run one after the other.
(function (native, internal) {
  "use strict";

  const { toUsvString, bufferSourceBytes } = internal;

  // Header names and methods are tokens (RFC 9110, section 5.6.2).
  const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
  // HTTP whitespace, which header values lose at both ends.
  const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
  // What a header value must not contain: NUL, CR, LF, or a character that
  // is not a byte.
  const INVALID_VALUE = /[\0\r\n]|[^\x00-\xff]/;

  const FORBIDDEN_METHODS = ["CONNECT", "TRACE", "TRACK"];
  // Methods whose name is upper-cased, as the Fetch standard does.
  const NORMALIZED_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];
  // Statuses whose responses have no body.
  const NULL_BODY_STATUSES = [101, 103, 204, 205, 304];
  const REDIRECT_STATUSES = [301, 302, 303, 307, 308];
  const EMPTY = new Uint8Array(0);

  function headerName(name) {
    const text = String(name);
    if (!TOKEN.test(text)) {
      throw new TypeError(`invalid header name "${text}"`);
    }
    return text.toLowerCase();
  }

  function headerValue(name, value) {
    const text = String(value).replace(EDGE_WHITESPACE, "");
    if (INVALID_VALUE.test(text)) {
      throw new TypeError(
        `invalid value for the header "${name}": it contains NUL, CR, LF or a character above U+00FF`,
      );
    }
    return text;
  }

  // The "sort and combine" of the Fetch standard: each name once, in
  // order, with its values joined by ", ", except set-cookie, whose values
  // stay apart.
  function sortAndCombine(list) {
    const names = [...new Set(list.map(([name]) => name))].sort();
    const combined = [];
    for (const name of names) {
      const values = list.filter(([n]) => n === name).map(([, value]) => value);
      if (name === "set-cookie") {
        for (const value of values) {
          combined.push([name, value]);
        }
      } else {
        combined.push([name, values.join(", ")]);
      }
    }
    return combined;
  }

  // Functions that reach into private state, set by the static blocks.
  let headerList;
  let headersFrom;
  let copyHeaders;
  let cloneSource;
  let takeBody;

  class Headers {
    // [lower-case name, value] pairs, in order.
    #list = [];
    // Whether the headers belong to a response from fetch, which cannot be
    // changed.
    #immutable = false;

    constructor(init = undefined) {
      if (init === undefined || init === null) {
        return;
      }
      if (init instanceof Headers) {
        this.#list = init.#list.map(([name, value]) => [name, value]);
      } else if (typeof init === "object" || typeof init === "function") {
        if (typeof init[Symbol.iterator] === "function") {
          for (const pair of init) {
            const items = [...pair];
            if (items.length !== 2) {
              throw new TypeError(
                `Headers: each pair must have 2 items, a name and a value, not ${items.length}`,
              );
            }
            this.append(items[0], items[1]);
          }
        } else {
          for (const name of Object.keys(init)) {
            this.append(name, init[name]);
          }
        }
      } else {
        throw new TypeError(
          "Headers: expected an object, an array of [name, value] pairs or a Headers",
        );
      }
    }

    append(name, value) {
      this.#checkMutable();
      const key = headerName(name);
      this.#list.push([key, headerValue(key, value)]);
    }

    delete(name) {
      this.#checkMutable();
      const key = headerName(name);
      this.#list = this.#list.filter(([n]) => n !== key);
    }

    get(name) {
      const key = headerName(name);
      const values = this.#list.filter(([n]) => n === key).map(([, v]) => v);
      return values.length === 0 ? null : values.join(", ");
    }

    getSetCookie() {
      return this.#list.filter(([n]) => n === "set-cookie").map(([, v]) => v);
    }

    has(name) {
      const key = headerName(name);
      return this.#list.some(([n]) => n === key);
    }

    set(name, value) {
      this.#checkMutable();
      const key = headerName(name);
      const text = headerValue(key, value);
      const index = this.#list.findIndex(([n]) => n === key);
      if (index === -1) {
        this.#list.push([key, text]);
      } else {
        this.#list[index] = [key, text];
        this.#list = this.#list.filter(([n], i) => i <= index || n !== key);
      }
    }

    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") {
        throw new TypeError("Headers.forEach: the callback must be a function");
      }
      for (const [name, value] of this) {
        callback.call(thisArg, value, name, this);
      }
    }

    *entries() {
      yield* sortAndCombine(this.#list);
    }

    *keys() {
      for (const [name] of this.entries()) {
        yield name;
      }
    }

    *values() {
      for (const [, value] of this.entries()) {
        yield value;
      }
    }

    [Symbol.iterator]() {
      return this.entries();
    }

    get [Symbol.toStringTag]() {
      return "Headers";
    }

    #checkMutable() {
      if (this.#immutable) {
        throw new TypeError(
          "Headers: the headers of a response from fetch cannot be changed",
        );
      }
    }

    static {
      headerList = (headers) => headers.#list;
      // Builds headers from trusted pairs (the host's, or a copy), with no
      // check of names and values.
      headersFrom = (pairs, immutable) => {
        const headers = new Headers();
        headers.#list = pairs.map(([name, value]) => [name, value]);
        headers.#immutable = immutable;
        return headers;
      };
      copyHeaders = (headers) => headersFrom(headers.#list, headers.#immutable);
    }
  }

  // The bytes of a body, shared by a response and its clones. The body of
  // a response from fetch stays in the host until the first read.
  class BodySource {
    constructor(bytes, handle = 0, url = "", size = 0) {
      this.bytes = bytes;
      this.handle = handle;
      this.url = url;
      this.size = size;
      // Objects that may still read these bytes: the response and its
      // clones.
      this.readers = 1;
    }

    // Returns the bytes for one reader: a copy while other readers remain,
    // else the bytes themselves.
    take() {
      if (this.bytes === null) {
        this.bytes = new Uint8Array(
          native.httpBodyRead(this.url, this.handle, this.size),
        );
      }
      const bytes = this.bytes;
      this.readers -= 1;
      if (this.readers > 0) {
        return bytes.slice();
      }
      this.bytes = EMPTY;
      return bytes;
    }
  }

  // Converts a body given to Request or Response into bytes and the
  // content type it implies.
  function extractBody(body, context) {
    if (typeof body === "string") {
      return { bytes: native.utf8Encode(toUsvString(body)), type: "text/plain;charset=UTF-8" };
    }
    if (body instanceof URLSearchParams) {
      return {
        bytes: native.utf8Encode(body.toString()),
        type: "application/x-www-form-urlencoded;charset=UTF-8",
      };
    }
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
      return { bytes: bufferSourceBytes(body, context).slice(), type: null };
    }
    const kind = Object.prototype.toString.call(body).slice(8, -1);
    const isStream =
      typeof body?.getReader === "function" ||
      typeof body?.[Symbol.asyncIterator] === "function";
    if (isStream || ["Blob", "File", "FormData", "ReadableStream"].includes(kind)) {
      throw new TypeError(
        `${context}: ${isStream ? "stream" : kind} bodies are not supported, so pass a string, URLSearchParams, ArrayBuffer or typed array`,
      );
    }
    // Any other value becomes its string, as WebIDL converts it.
    return { bytes: native.utf8Encode(toUsvString(body)), type: "text/plain;charset=UTF-8" };
  }

  // The body that Request and Response share, which can be read once.
  class Body {
    // The BodySource, or null for no body.
    #source;
    #used = false;

    constructor(source) {
      this.#source = source;
    }

    get body() {
      if (this.#source === null) {
        return null;
      }
      throw new TypeError(
        "body streams are not supported, so read the body with text(), json(), arrayBuffer() or bytes()",
      );
    }

    get bodyUsed() {
      return this.#used;
    }

    async arrayBuffer() {
      return this.#consume().buffer;
    }

    async bytes() {
      return this.#consume();
    }

    async text() {
      return native.utf8Decode(this.#consume(), false, false);
    }

    async json() {
      return JSON.parse(native.utf8Decode(this.#consume(), false, false));
    }

    #consume() {
      if (this.#source === null) {
        return new Uint8Array(0);
      }
      if (this.#used) {
        throw new TypeError("the body has already been read");
      }
      this.#used = true;
      return this.#source.take();
    }

    static {
      // Returns the source for a clone, which becomes one more reader.
      cloneSource = (body) => {
        if (body.#used) {
          throw new TypeError("cannot clone a body that has already been read");
        }
        if (body.#source !== null) {
          body.#source.readers += 1;
        }
        return body.#source;
      };
      // Reads the body for fetch: null when there is none.
      takeBody = (body) => (body.#source === null ? null : body.#consume());
    }
  }

  const REDIRECT_MODES = ["follow", "manual", "error"];

  // Ends in a TypeError for the options the host cannot honour.
  function checkUnsupportedOptions(init) {
    const redirect = init.redirect;
    if (redirect !== undefined && !REDIRECT_MODES.includes(String(redirect))) {
      throw new TypeError(
        `Request: redirect "${redirect}" is not one of ${REDIRECT_MODES.join(", ")}`,
      );
    }
    if (init.signal !== undefined && init.signal !== null) {
      throw new TypeError(
        "fetch: the signal option is not supported, because requests cannot be aborted",
      );
    }
    if (init.credentials === "omit") {
      throw new TypeError(
        `fetch: credentials "omit" is not supported, because the host always sends the job's cookies`,
      );
    }
    if (init.integrity !== undefined && init.integrity !== "") {
      throw new TypeError("fetch: the integrity option is not supported");
    }
  }

  function normalizeMethod(method) {
    const text = String(method);
    if (!TOKEN.test(text)) {
      throw new TypeError(`Request: invalid method "${text}"`);
    }
    const upper = text.toUpperCase();
    if (FORBIDDEN_METHODS.includes(upper)) {
      throw new TypeError(`Request: the method ${upper} is forbidden`);
    }
    return NORMALIZED_METHODS.includes(upper) ? upper : text;
  }

  // Parses the URL of a request, which must be absolute because there is
  // no document to resolve it against.
  function requestUrl(input) {
    const text = toUsvString(input);
    const parts = native.urlParse(text);
    if (!parts) {
      throw new TypeError(`Request: invalid URL "${text}", which must be absolute`);
    }
    // Components of native.urlParse: href, origin, protocol, username,
    // password, ...
    if (parts[3] !== "" || parts[4] !== "") {
      throw new TypeError(
        `Request: the URL "${text}" must not contain a user name or password`,
      );
    }
    return parts[0];
  }

  // A private token: `new Request(INTERNAL, parts)` and
  // `new Response(INTERNAL, parts)` build an object from its parts.
  const INTERNAL = Symbol("internal");

  class Request extends Body {
    #method;
    #url;
    #headers;
    #redirect = "follow";

    constructor(input, init = undefined) {
      if (input === INTERNAL) {
        super(init.source);
        this.#method = init.method;
        this.#url = init.url;
        this.#headers = init.headers;
        this.#redirect = init.redirect;
        return;
      }
      const options = init ?? {};
      checkUnsupportedOptions(options);

      let url;
      let method = "GET";
      let headers;
      let source = null;
      let redirect = "follow";
      if (input instanceof Request) {
        url = input.url;
        method = input.method;
        headers = input.headers;
        redirect = input.redirect;
        if (options.body === undefined) {
          source = cloneSource(input);
        }
      } else {
        url = requestUrl(input);
      }
      if (options.method !== undefined) {
        method = normalizeMethod(options.method);
      }
      headers = new Headers(options.headers !== undefined ? options.headers : headers);

      if (options.body !== undefined && options.body !== null) {
        if (method === "GET" || method === "HEAD") {
          throw new TypeError(`Request: a ${method} request cannot have a body`);
        }
        const extracted = extractBody(options.body, "Request");
        source = new BodySource(extracted.bytes);
        if (extracted.type !== null && !headers.has("content-type")) {
          headers.append("content-type", extracted.type);
        }
      } else if (options.body === null) {
        source = null;
      }

      super(source);
      this.#method = method;
      this.#url = url;
      this.#headers = headers;
      this.#redirect = options.redirect === undefined ? redirect : String(options.redirect);
    }

    get method() {
      return this.#method;
    }

    get url() {
      return this.#url;
    }

    get headers() {
      return this.#headers;
    }

    get redirect() {
      return this.#redirect;
    }

    get [Symbol.toStringTag]() {
      return "Request";
    }

    clone() {
      return new Request(INTERNAL, {
        source: cloneSource(this),
        method: this.#method,
        url: this.#url,
        headers: new Headers(this.#headers),
        redirect: this.#redirect,
      });
    }
  }

  class Response extends Body {
    #status;
    #statusText;
    #headers;
    #url = "";
    #redirected = false;
    #type = "default";

    constructor(body = null, init = undefined) {
      if (body === INTERNAL) {
        super(init.source);
        this.#status = init.status;
        this.#statusText = init.statusText;
        this.#headers = init.headers;
        this.#url = init.url;
        this.#redirected = init.redirected;
        this.#type = init.type;
        return;
      }
      const options = init ?? {};
      const status = options.status === undefined ? 200 : Number(options.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) {
        throw new RangeError(
          `Response: the status must be an integer from 200 to 599, not ${options.status}`,
        );
      }
      const statusText = options.statusText === undefined ? "" : String(options.statusText);
      if (/[\r\n]/.test(statusText)) {
        throw new TypeError("Response: the status text must not contain CR or LF");
      }
      const headers = new Headers(options.headers);

      let source = null;
      if (body !== null && body !== undefined) {
        if (NULL_BODY_STATUSES.includes(status)) {
          throw new TypeError(`Response: a response with status ${status} cannot have a body`);
        }
        const extracted = extractBody(body, "Response");
        source = new BodySource(extracted.bytes);
        if (extracted.type !== null && !headers.has("content-type")) {
          headers.append("content-type", extracted.type);
        }
      }

      super(source);
      this.#status = status;
      this.#statusText = statusText;
      this.#headers = headers;
    }

    static error() {
      return new Response(INTERNAL, {
        source: null,
        status: 0,
        statusText: "",
        headers: headersFrom([], true),
        url: "",
        redirected: false,
        type: "error",
      });
    }

    static json(data, init = undefined) {
      const text = JSON.stringify(data);
      if (text === undefined) {
        throw new TypeError("Response.json: the data has no JSON form");
      }
      const options = init ?? {};
      const headers = new Headers(options.headers);
      if (!headers.has("content-type")) {
        headers.set("content-type", "application/json");
      }
      return new Response(text, { ...options, headers });
    }

    static redirect(url, status = 302) {
      if (!REDIRECT_STATUSES.includes(status)) {
        throw new RangeError(
          `Response.redirect: the status must be one of ${REDIRECT_STATUSES.join(", ")}, not ${status}`,
        );
      }
      return new Response(INTERNAL, {
        source: null,
        status,
        statusText: "",
        headers: headersFrom([["location", new URL(url).href]], true),
        url: "",
        redirected: false,
        type: "default",
      });
    }

    get type() {
      return this.#type;
    }

    get url() {
      return this.#url;
    }

    get redirected() {
      return this.#redirected;
    }

    get status() {
      return this.#status;
    }

    get ok() {
      return this.#status >= 200 && this.#status <= 299;
    }

    get statusText() {
      return this.#statusText;
    }

    get headers() {
      return this.#headers;
    }

    get [Symbol.toStringTag]() {
      return "Response";
    }

    clone() {
      return new Response(INTERNAL, {
        source: cloneSource(this),
        status: this.#status,
        statusText: this.#statusText,
        headers: copyHeaders(this.#headers),
        url: this.#url,
        redirected: this.#redirected,
        type: this.#type,
      });
    }
  }

  async function fetch(input, init = undefined) {
    const request = new Request(input, init);
    const body = takeBody(request);
    // The fragment is not sent, and a response's URL has none.
    const url = request.url.replace(/#.*$/s, "");
    const follow = request.redirect === "follow";
    const message = JSON.stringify({
      method: request.method,
      url,
      headers: headerList(request.headers),
      ...(follow ? {} : { redirect: "manual" }),
    });
    const head = JSON.parse(native.httpFetch(url, message, body ?? EMPTY));
    const isRedirect =
      REDIRECT_STATUSES.includes(head.status) &&
      head.headers.some(([name]) => name === "location");
    if (request.redirect === "error" && isRedirect) {
      // The body is left in the host, which frees it when the job ends.
      throw new TypeError(`fetch: ${url} responded with a redirect, and the request's redirect is "error"`);
    }

    const hasBody = request.method !== "HEAD" && !NULL_BODY_STATUSES.includes(head.status);
    return new Response(INTERNAL, {
      source: hasBody ? new BodySource(null, head.body_handle, head.url, head.body_size) : null,
      status: head.status,
      statusText: "",
      headers: headersFrom(head.headers, true),
      url: head.url,
      redirected: head.url !== url,
      type: "basic",
    });
  }

  // Downloads `input` (with `init`, as fetch takes them) straight into
  // the file store as `file` ({name, dir_path, content_type, metadata}):
  // the body never enters the konnector's memory. Resolves to the file's
  // write result, {id, rev, status}.
  // With `keepExisting`, a file of that name already in the folder is
  // kept and nothing is sent.
  internal.downloadFile = async function downloadFile(file, input, init, keepExisting) {
    const request = new Request(input, init);
    const body = takeBody(request);
    const url = request.url.replace(/#.*$/s, "");
    const message = JSON.stringify({
      request: { method: request.method, url, headers: headerList(request.headers) },
      file,
      keep_existing: keepExisting,
    });
    return JSON.parse(native.downloadFile(url, message, body ?? EMPTY));
  };

  const { defineGlobal } = internal;
  defineGlobal("fetch", fetch);
  defineGlobal("Headers", Headers);
  defineGlobal("Request", Request);
  defineGlobal("Response", Response);
});
