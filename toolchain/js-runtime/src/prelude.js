// The first file of the built-in JavaScript environment of the konnector
// runtime, evaluated once at pre-initialisation: console, atob, btoa and
// Math.random. Like every file of prelude/, it is one function expression
// that gets the native functions (`native`) and the object the files share
// (`internal`), so that both stay out of the global object.
(function (native, internal) {
  "use strict";

  // Defines a global the way built-ins are: writable, configurable and not
  // enumerable.
  function defineGlobal(name, value) {
    Object.defineProperty(globalThis, name, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }

  internal.defineGlobal = defineGlobal;

  function formatValue(value) {
    if (typeof value === "string") {
      return value;
    }
    if (value instanceof Error) {
      const header = `${value.name}: ${value.message}`;
      return typeof value.stack === "string" && value.stack !== ""
        ? `${header}\n${value.stack.replace(/\n$/, "")}`
        : header;
    }
    if (typeof value === "function") {
      return `[Function: ${value.name || "(anonymous)"}]`;
    }
    if (typeof value === "object" && value !== null) {
      try {
        const json = JSON.stringify(value);
        if (json !== undefined) {
          return json;
        }
      } catch {
        // A cycle or a throwing toJSON: fall back to String() below.
      }
    }
    try {
      return String(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }

  internal.formatValue = formatValue;

  // Levels of konnector_v1::log.
  const DEBUG = 0;
  const INFO = 1;
  const WARNING = 2;
  const ERROR = 3;

  function logger(level) {
    return function (...values) {
      native.log(level, values.map(formatValue).join(" "));
    };
  }

  const console = {
    debug: logger(DEBUG),
    log: logger(INFO),
    info: logger(INFO),
    warn: logger(WARNING),
    error: logger(ERROR),
  };
  defineGlobal("console", console);

  function invalidCharacter(message) {
    // The HTML standard throws a DOMException named InvalidCharacterError,
    // and QuickJS has no DOMException: an Error with that name is what code
    // that checks `error.name` sees.
    const error = new Error(message);
    error.name = "InvalidCharacterError";
    return error;
  }

  defineGlobal("atob", function atob(data) {
    if (arguments.length === 0) {
      throw new TypeError("atob: 1 argument required, but none given");
    }
    const decoded = native.decodeBase64(String(data));
    if (typeof decoded !== "string") {
      throw invalidCharacter("atob: the string is not valid base64");
    }
    return decoded;
  });

  defineGlobal("btoa", function btoa(data) {
    if (arguments.length === 0) {
      throw new TypeError("btoa: 1 argument required, but none given");
    }
    const encoded = native.encodeBase64(String(data));
    if (typeof encoded !== "string") {
      throw invalidCharacter(
        "btoa: the string contains a character outside Latin-1",
      );
    }
    return encoded;
  });

  Object.defineProperty(Math, "random", {
    value: native.random,
    writable: true,
    configurable: true,
    enumerable: false,
  });
});
