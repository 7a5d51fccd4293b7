// The Node.js module "util" (also "node:util"): format, inspect (a
// one-line subset), promisify, callbackify, inherits, deprecate, debuglog,
// isDeepStrictEqual, types, and TextEncoder and TextDecoder.
//
// inspect writes every value on one line. It has Node.js's notation for
// primitives, arrays, plain objects, class instances, Map, Set, Date,
// RegExp, Error, functions, Buffer and typed arrays. It follows `depth` (2
// by default) and marks circular references, but has no colors, line
// breaking or getters.
(function (native, internal) {
  "use strict";

  const CUSTOM_INSPECT = Symbol.for("nodejs.util.inspect.custom");
  const CUSTOM_PROMISIFY = Symbol.for("nodejs.util.promisify.custom");
  // Array items and map or set entries shown before "... N more items".
  const MAX_ITEMS = 100;
  // Characters of a nested string shown before "... N more characters".
  const MAX_STRING_LENGTH = 10000;

  function quote(text) {
    const visible = text.length > MAX_STRING_LENGTH ? text.slice(0, MAX_STRING_LENGTH) : text;
    const escaped = visible
      .replaceAll("\\", "\\\\")
      .replaceAll("\n", "\\n")
      .replaceAll("\t", "\\t")
      .replaceAll("\r", "\\r")
      .replaceAll("'", "\\'");
    const more = text.length - visible.length;
    return more > 0 ? `'${escaped}'... ${more} more characters` : `'${escaped}'`;
  }

  function propertyKey(key) {
    if (typeof key === "symbol") {
      return `[${key.toString()}]`;
    }
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : quote(key);
  }

  function functionText(fn) {
    const isClass = Function.prototype.toString.call(fn).startsWith("class");
    if (isClass) {
      return fn.name ? `[class ${fn.name}]` : "[class (anonymous)]";
    }
    return fn.name ? `[Function: ${fn.name}]` : "[Function (anonymous)]";
  }

  function constructorName(value) {
    const proto = Object.getPrototypeOf(value);
    if (proto === null) {
      return "[Object: null prototype]";
    }
    const name = proto.constructor?.name;
    return typeof name === "string" ? name : "Object";
  }

  function primitiveText(value, quoted) {
    switch (typeof value) {
      case "string":
        return quoted ? quote(value) : value;
      case "number":
        return Object.is(value, -0) ? "-0" : String(value);
      case "bigint":
        return `${value}n`;
      case "symbol":
        return value.toString();
      case "undefined":
        return "undefined";
      default:
        return String(value);
    }
  }

  // Formats the items of a list, with "... N more items" past MAX_ITEMS.
  function listText(items, count, format) {
    const parts = items.slice(0, MAX_ITEMS).map(format);
    if (count > MAX_ITEMS) {
      parts.push(`... ${count - MAX_ITEMS} more item${count - MAX_ITEMS === 1 ? "" : "s"}`);
    }
    return parts;
  }

  function braces(prefix, open, parts, close) {
    const head = prefix === "" ? "" : `${prefix} `;
    return parts.length === 0 ? `${head}${open}${close}` : `${head}${open} ${parts.join(", ")} ${close}`;
  }

  function ownEntries(value, skipIndexes) {
    const keys = Reflect.ownKeys(value).filter((key) => {
      if (skipIndexes && typeof key === "string" && /^(0|[1-9][0-9]*)$/.test(key)) {
        return false;
      }
      return Object.getOwnPropertyDescriptor(value, key)?.enumerable;
    });
    return keys.map((key) => [key, value[key]]);
  }

  function inspectValue(value, options, depth, seen) {
    if ((typeof value !== "object" || value === null) && typeof value !== "function") {
      return primitiveText(value, true);
    }
    const customInspect = value[CUSTOM_INSPECT];
    if (options.customInspect !== false && typeof customInspect === "function" && customInspect !== inspect) {
      const custom = customInspect.call(value, options.depth - depth, options, inspect);
      return typeof custom === "string" ? custom : inspectValue(custom, options, depth, seen);
    }
    if (seen.includes(value)) {
      return "[Circular *1]";
    }
    const nested = (item) => inspectValue(item, options, depth + 1, [...seen, value]);
    const properties = (skipIndexes) =>
      ownEntries(value, skipIndexes).map(([key, item]) => `${propertyKey(key)}: ${nested(item)}`);
    const tooDeep = options.depth !== null && options.depth !== Infinity && depth > options.depth;

    if (typeof value === "function") {
      const extra = properties(false);
      return extra.length === 0 ? functionText(value) : braces(functionText(value), "{", extra, "}");
    }
    if (value instanceof Error) {
      const hasStack = typeof value.stack === "string" && value.stack !== "";
      const stack = hasStack ? `\n${value.stack.replace(/\n$/, "")}` : "";
      const header = `${value.name}: ${value.message}${stack}`;
      const extra = properties(false).filter((part) => !part.startsWith("stack:"));
      return extra.length === 0 ? header : braces(header, "{", extra, "}");
    }
    if (value instanceof Date) {
      return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
    }
    if (value instanceof RegExp) {
      return value.toString();
    }
    if (value instanceof Promise) {
      return "Promise { <unknown> }";
    }
    if (typeof Buffer === "function" && value instanceof Buffer) {
      const bytes = Array.from(value.subarray(0, 50), (byte) => byte.toString(16).padStart(2, "0"));
      const more = value.length > 50 ? ` ... ${value.length - 50} more bytes` : "";
      return `<Buffer${bytes.length === 0 ? "" : " "}${bytes.join(" ")}${more}>`;
    }
    if (value instanceof ArrayBuffer) {
      return `ArrayBuffer { byteLength: ${value.byteLength} }`;
    }

    const name = constructorName(value);
    if (tooDeep) {
      return Array.isArray(value) ? "[Array]" : `[${name === "[Object: null prototype]" ? "Object" : name}]`;
    }
    if (Array.isArray(value)) {
      const items = listText(Array.from(value), value.length, nested);
      const arrayPrefix = name === "Array" ? "" : `${name}(${value.length})`;
      return braces(arrayPrefix, "[", [...items, ...properties(true)], "]");
    }
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const items = listText(Array.from(value), value.length, (item) => primitiveText(item, true));
      return braces(`${name}(${value.length})`, "[", items, "]");
    }
    if (value instanceof Map) {
      const items = listText([...value], value.size, ([key, item]) => `${nested(key)} => ${nested(item)}`);
      return braces(`${name}(${value.size})`, "{", items, "}");
    }
    if (value instanceof Set) {
      const items = listText([...value], value.size, nested);
      return braces(`${name}(${value.size})`, "{", items, "}");
    }
    const prefix = name === "Object" ? "" : name;
    return braces(prefix, "{", properties(false), "}");
  }

  function inspect(value, options = undefined) {
    const settings = { depth: 2, customInspect: true };
    if (typeof options === "object" && options !== null) {
      Object.assign(settings, options);
    } else if (typeof options === "boolean") {
      // The legacy form inspect(value, showHidden, depth).
      if (arguments.length > 2) {
        settings.depth = arguments[2];
      }
    }
    return inspectValue(value, settings, 0, []);
  }
  inspect.custom = CUSTOM_INSPECT;
  inspect.defaultOptions = { depth: 2 };

  // Formats the argument of %d or %i: a BigInt keeps its digits, a symbol
  // is NaN, and anything else goes through `convert`.
  function numberText(arg, convert) {
    if (typeof arg === "bigint") {
      return `${arg}n`;
    }
    if (typeof arg === "symbol") {
      return "NaN";
    }
    return convert(arg);
  }

  // Formats `first` with printf-like directives, as console.log does in
  // Node.js: %s, %d, %i, %f, %j, %o, %O, %c and %%.
  function format(first, ...args) {
    if (typeof first !== "string") {
      return [first, ...args]
        .map((value) => (typeof value === "string" ? value : inspect(value)))
        .join(" ");
    }
    let index = 0;
    const text = first.replace(/%([sdifjoOc%])/g, (directive, letter) => {
      if (letter === "%") {
        return "%";
      }
      if (index >= args.length) {
        return directive;
      }
      const arg = args[index++];
      switch (letter) {
        case "s":
          if (typeof arg === "bigint") {
            return `${arg}n`;
          }
          if (typeof arg === "object" && arg !== null) {
            return inspect(arg, { depth: 0 });
          }
          return primitiveText(arg, false);
        case "d":
          return numberText(arg, (value) => primitiveText(Number(value), false));
        case "i":
          return numberText(arg, (value) => String(parseInt(value, 10)));
        case "f":
          return typeof arg === "symbol" ? "NaN" : String(parseFloat(arg));
        case "j":
          try {
            return JSON.stringify(arg);
          } catch (error) {
            if (error instanceof TypeError && /circular|cycle/i.test(error.message)) {
              return "[Circular]";
            }
            throw error;
          }
        case "o":
          return inspect(arg, { depth: 4 });
        case "O":
          return inspect(arg);
        default:
          // %c takes a CSS style, which has no meaning here.
          return "";
      }
    });
    const rest = args.slice(index).map((value) => (typeof value === "string" ? value : inspect(value)));
    return [text, ...rest].join(" ");
  }

  function formatWithOptions(options, ...args) {
    return format(...args);
  }

  function promisify(original) {
    if (typeof original !== "function") {
      throw new TypeError("util.promisify: the argument must be a function");
    }
    if (typeof original[CUSTOM_PROMISIFY] === "function") {
      return original[CUSTOM_PROMISIFY];
    }
    function promisified(...args) {
      return new Promise((resolve, reject) => {
        Reflect.apply(original, this, [
          ...args,
          (error, ...values) => {
            if (error) {
              reject(error);
            } else {
              resolve(values.length > 1 ? values : values[0]);
            }
          },
        ]);
      });
    }
    Object.setPrototypeOf(promisified, Object.getPrototypeOf(original));
    return Object.defineProperties(promisified, Object.getOwnPropertyDescriptors(original));
  }
  promisify.custom = CUSTOM_PROMISIFY;

  function callbackify(original) {
    if (typeof original !== "function") {
      throw new TypeError("util.callbackify: the argument must be a function");
    }
    return function callbackified(...args) {
      const callback = args.pop();
      if (typeof callback !== "function") {
        throw new TypeError("util.callbackify: the last argument must be a callback");
      }
      Reflect.apply(original, this, args).then(
        (value) => queueMicrotask(() => callback(null, value)),
        (reason) => {
          const falsy = new Error("the promise was rejected with a falsy value");
          const error = reason || Object.assign(falsy, { reason });
          queueMicrotask(() => callback(error));
        },
      );
    };
  }

  function inherits(constructor, superConstructor) {
    if (typeof constructor !== "function" || typeof superConstructor !== "function") {
      throw new TypeError("util.inherits: both arguments must be constructors");
    }
    Object.defineProperty(constructor, "super_", {
      value: superConstructor,
      writable: true,
      configurable: true,
    });
    Object.setPrototypeOf(constructor.prototype, superConstructor.prototype);
  }

  // Wraps `fn` so that its first call logs a warning with `message`.
  function deprecate(fn, message, code = undefined) {
    if (typeof fn !== "function") {
      throw new TypeError("util.deprecate: the first argument must be a function");
    }
    let warned = false;
    return function deprecated(...args) {
      if (!warned) {
        warned = true;
        console.warn(`DeprecationWarning${code ? ` [${code}]` : ""}: ${message}`);
      }
      return new.target ? Reflect.construct(fn, args, new.target) : Reflect.apply(fn, this, args);
    };
  }

  // NODE_DEBUG does not exist in the sandbox, so every debug log is off.
  function debuglog() {
    const log = () => {};
    log.enabled = false;
    return log;
  }

  function isDeepStrictEqual(a, b, seen = []) {
    if (Object.is(a, b)) {
      return true;
    }
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
      return false;
    }
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) {
      return false;
    }
    if (seen.some(([x, y]) => x === a && y === b)) {
      return true;
    }
    const pairs = [...seen, [a, b]];

    if (a instanceof Date) {
      return a.getTime() === b.getTime();
    }
    if (a instanceof RegExp) {
      return a.toString() === b.toString();
    }
    if (a instanceof Map || a instanceof Set) {
      const left = [...a];
      const right = [...b];
      const same = (item, i) => isDeepStrictEqual(item, right[i], pairs);
      return left.length === right.length && left.every(same);
    }

    const keysA = Reflect.ownKeys(a).filter((key) => Object.getOwnPropertyDescriptor(a, key).enumerable);
    const keysB = Reflect.ownKeys(b).filter((key) => Object.getOwnPropertyDescriptor(b, key).enumerable);
    if (keysA.length !== keysB.length) {
      return false;
    }
    return keysA.every((key) => Object.hasOwn(b, key) && isDeepStrictEqual(a[key], b[key], pairs));
  }

  const types = {
    isDate: (value) => value instanceof Date,
    isRegExp: (value) => value instanceof RegExp,
    isPromise: (value) => value instanceof Promise,
    isMap: (value) => value instanceof Map,
    isSet: (value) => value instanceof Set,
    isTypedArray: (value) => ArrayBuffer.isView(value) && !(value instanceof DataView),
    isUint8Array: (value) => value instanceof Uint8Array,
    isArrayBuffer: (value) => value instanceof ArrayBuffer,
    isAnyArrayBuffer: (value) => value instanceof ArrayBuffer,
    isNativeError: (value) => value instanceof Error,
    isAsyncFunction: (value) => typeof value === "function" && value.constructor?.name === "AsyncFunction",
    isGeneratorFunction: (value) =>
      typeof value === "function" && /GeneratorFunction$/.test(value.constructor?.name ?? ""),
  };

  // A sleep that `promisify(setTimeout)` returns, as Node.js's setTimeout
  // carries one: `await promisify(setTimeout)(ms, value)`.
  if (!Object.hasOwn(globalThis.setTimeout, CUSTOM_PROMISIFY)) {
    Object.defineProperty(globalThis.setTimeout, CUSTOM_PROMISIFY, {
      value: (delay, value) => new Promise((resolve) => setTimeout(resolve, delay, value)),
      configurable: true,
    });
  }

  const util = {
    format,
    formatWithOptions,
    inspect,
    promisify,
    callbackify,
    inherits,
    deprecate,
    debuglog,
    debug: debuglog,
    isDeepStrictEqual,
    types,
    isArray: Array.isArray,
    isBuffer: (value) => typeof Buffer === "function" && value instanceof Buffer,
    isDate: types.isDate,
    isError: types.isNativeError,
    isFunction: (value) => typeof value === "function",
    isRegExp: types.isRegExp,
    isPrimitive: (value) => value === null || (typeof value !== "object" && typeof value !== "function"),
    TextEncoder,
    TextDecoder,
  };

  internal.defineModule("util", util);
});
