// URL and URLSearchParams of the WHATWG URL standard. The `url` crate
// parses, runs the setters and reads and writes the
// application/x-www-form-urlencoded format, behind the natives of url.rs.
// This file has the objects, and the link between a URL and its
// searchParams.
(function (native, internal) {
  "use strict";

  const { toUsvString } = internal;

  // Indexes of the components that native.urlParse and native.urlSet
  // return.
  const HREF = 0;
  const ORIGIN = 1;
  const PROTOCOL = 2;
  const USERNAME = 3;
  const PASSWORD = 4;
  const HOST = 5;
  const HOSTNAME = 6;
  const PORT = 7;
  const PATHNAME = 8;
  const SEARCH = 9;
  const HASH = 10;

  // Parses a query string (without "?") into [name, value] pairs.
  function parseQuery(query) {
    const flat = native.formParse(query);
    const pairs = [];
    for (let i = 0; i < flat.length; i += 2) {
      pairs.push([flat[i], flat[i + 1]]);
    }
    return pairs;
  }

  function invalidUrl(input, base) {
    const against = base === undefined ? "" : ` against the base "${base}"`;
    const error = new TypeError(`invalid URL "${input}"${against}`);
    error.code = "ERR_INVALID_URL";
    return error;
  }

  // Functions that reach into the private state of the other class, set by
  // the classes' static blocks.
  let linkParams;
  let replaceParams;
  let setQuery;

  class URLSearchParams {
    // [name, value] pairs, in order.
    #list = [];
    // The URL whose query this object reflects, or null.
    #url = null;

    constructor(init = "") {
      if (init instanceof URLSearchParams) {
        this.#list = init.#list.map(([name, value]) => [name, value]);
      } else if (
        (typeof init === "object" && init !== null) ||
        typeof init === "function"
      ) {
        this.#list =
          typeof init[Symbol.iterator] === "function"
            ? pairsOf(init)
            : Object.keys(init).map((name) => [
                toUsvString(name),
                toUsvString(init[name]),
              ]);
      } else {
        const query = toUsvString(init);
        this.#list = parseQuery(query.startsWith("?") ? query.slice(1) : query);
      }
    }

    get size() {
      return this.#list.length;
    }

    append(name, value) {
      this.#list.push([toUsvString(name), toUsvString(value)]);
      this.#update();
    }

    delete(name, value) {
      const key = toUsvString(name);
      if (value === undefined) {
        this.#list = this.#list.filter(([n]) => n !== key);
      } else {
        const text = toUsvString(value);
        this.#list = this.#list.filter(([n, v]) => n !== key || v !== text);
      }
      this.#update();
    }

    get(name) {
      const key = toUsvString(name);
      const entry = this.#list.find(([n]) => n === key);
      return entry === undefined ? null : entry[1];
    }

    getAll(name) {
      const key = toUsvString(name);
      return this.#list.filter(([n]) => n === key).map(([, v]) => v);
    }

    has(name, value) {
      const key = toUsvString(name);
      if (value === undefined) {
        return this.#list.some(([n]) => n === key);
      }
      const text = toUsvString(value);
      return this.#list.some(([n, v]) => n === key && v === text);
    }

    set(name, value) {
      const key = toUsvString(name);
      const text = toUsvString(value);
      const index = this.#list.findIndex(([n]) => n === key);
      if (index === -1) {
        this.#list.push([key, text]);
      } else {
        this.#list[index] = [key, text];
        this.#list = this.#list.filter(([n], i) => i <= index || n !== key);
      }
      this.#update();
    }

    // Sorts by name in UTF-16 code unit order, keeping the order of equal
    // names (Array.prototype.sort is stable).
    sort() {
      this.#list.sort(([a], [b]) => compareCodeUnits(a, b));
      this.#update();
    }

    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") {
        throw new TypeError("URLSearchParams.forEach: the callback must be a function");
      }
      for (let i = 0; i < this.#list.length; i++) {
        const [name, value] = this.#list[i];
        callback.call(thisArg, value, name, this);
      }
    }

    *entries() {
      for (let i = 0; i < this.#list.length; i++) {
        const [name, value] = this.#list[i];
        yield [name, value];
      }
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
      return "URLSearchParams";
    }

    toString() {
      return native.formSerialize(this.#list.flat());
    }

    // Writes the new query into the linked URL.
    #update() {
      if (this.#url !== null) {
        setQuery(this.#url, this.toString());
      }
    }

    static {
      linkParams = (params, url) => {
        params.#url = url;
      };
      replaceParams = (params, query) => {
        params.#list = parseQuery(query);
      };
    }
  }

  // Orders strings by UTF-16 code units, as `<` does.
  function compareCodeUnits(a, b) {
    if (a < b) {
      return -1;
    }
    return a > b ? 1 : 0;
  }

  // Reads a sequence of [name, value] pairs.
  function pairsOf(iterable) {
    const pairs = [];
    for (const pair of iterable) {
      const items = [...pair];
      if (items.length !== 2) {
        throw new TypeError(
          `URLSearchParams: each pair must have 2 items, a name and a value, not ${items.length}`,
        );
      }
      pairs.push([toUsvString(items[0]), toUsvString(items[1])]);
    }
    return pairs;
  }

  class URL {
    // The components that native.urlParse returned.
    #parts;
    // The searchParams object, created at its first use.
    #searchParams = null;

    constructor(url, base = undefined) {
      const input = toUsvString(url);
      const parts =
        base === undefined
          ? native.urlParse(input)
          : native.urlParse(input, toUsvString(base));
      if (!parts) {
        throw invalidUrl(input, base);
      }
      this.#parts = parts;
    }

    static canParse(url, base = undefined) {
      const input = toUsvString(url);
      const parts =
        base === undefined
          ? native.urlParse(input)
          : native.urlParse(input, toUsvString(base));
      return Boolean(parts);
    }

    static parse(url, base = undefined) {
      return URL.canParse(url, base) ? new URL(url, base) : null;
    }

    get href() {
      return this.#parts[HREF];
    }

    set href(value) {
      const input = toUsvString(value);
      const parts = native.urlParse(input);
      if (!parts) {
        throw invalidUrl(input);
      }
      this.#parts = parts;
      this.#queryChanged();
    }

    get origin() {
      return this.#parts[ORIGIN];
    }

    get protocol() {
      return this.#parts[PROTOCOL];
    }

    set protocol(value) {
      this.#set("protocol", value);
    }

    get username() {
      return this.#parts[USERNAME];
    }

    set username(value) {
      this.#set("username", value);
    }

    get password() {
      return this.#parts[PASSWORD];
    }

    set password(value) {
      this.#set("password", value);
    }

    get host() {
      return this.#parts[HOST];
    }

    set host(value) {
      this.#set("host", value);
    }

    get hostname() {
      return this.#parts[HOSTNAME];
    }

    set hostname(value) {
      this.#set("hostname", value);
    }

    get port() {
      return this.#parts[PORT];
    }

    set port(value) {
      this.#set("port", value);
    }

    get pathname() {
      return this.#parts[PATHNAME];
    }

    set pathname(value) {
      this.#set("pathname", value);
    }

    get search() {
      return this.#parts[SEARCH];
    }

    set search(value) {
      this.#set("search", value);
      this.#queryChanged();
    }

    get searchParams() {
      if (this.#searchParams === null) {
        this.#searchParams = new URLSearchParams(this.#parts[SEARCH]);
        linkParams(this.#searchParams, this);
      }
      return this.#searchParams;
    }

    get hash() {
      return this.#parts[HASH];
    }

    set hash(value) {
      this.#set("hash", value);
    }

    get [Symbol.toStringTag]() {
      return "URL";
    }

    toString() {
      return this.#parts[HREF];
    }

    toJSON() {
      return this.#parts[HREF];
    }

    // Runs a setter of the URL standard. A value it rejects leaves the URL
    // unchanged, as in browsers.
    #set(name, value) {
      const parts = native.urlSet(this.#parts[HREF], name, toUsvString(value));
      if (parts) {
        this.#parts = parts;
      }
    }

    // Makes the searchParams object reflect a new query.
    #queryChanged() {
      if (this.#searchParams !== null) {
        replaceParams(this.#searchParams, this.#parts[SEARCH].slice(1));
      }
    }

    static {
      setQuery = (url, query) => {
        url.#set("search", query);
      };
    }
  }

  internal.defineGlobal("URL", URL);
  internal.defineGlobal("URLSearchParams", URLSearchParams);
});
