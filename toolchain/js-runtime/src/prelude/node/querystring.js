// The Node.js module "querystring" (also "node:querystring"): parse
// (decode), stringify (encode), escape and unescape.
(function (native, internal) {
  "use strict";

  function escape(text) {
    return encodeURIComponent(text);
  }

  // Decodes percent escapes as UTF-8. Where decodeURIComponent rejects the
  // text (a "%" not followed by two hexadecimal digits, or bytes that are
  // not UTF-8), each valid escape becomes its byte and the bytes are
  // decoded with U+FFFD for invalid sequences, as Node.js does.
  function unescape(text) {
    try {
      return decodeURIComponent(text);
    } catch {
      const bytes = [];
      for (let i = 0; i < text.length; i += 1) {
        const escaped = /^%[0-9a-fA-F]{2}/.exec(text.slice(i, i + 3));
        if (escaped !== null) {
          bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
          i += 2;
        } else {
          const character = String.fromCodePoint(text.codePointAt(i));
          bytes.push(...native.utf8Encode(character.toWellFormed()));
          i += character.length - 1;
        }
      }
      return native.utf8Decode(new Uint8Array(bytes), false, true);
    }
  }

  function valueText(value) {
    switch (typeof value) {
      case "string":
        return value;
      case "number":
        return Number.isFinite(value) ? String(value) : "";
      case "bigint":
      case "boolean":
        return String(value);
      default:
        return "";
    }
  }

  // Returns an object with no prototype, as Node.js does, whose values are
  // strings, or arrays of strings for repeated names.
  function parse(text, sep = "&", eq = "=", options = undefined) {
    const result = Object.create(null);
    if (typeof text !== "string" || text === "") {
      return result;
    }
    const separator = sep || "&";
    const equals = eq || "=";
    const maxKeys = options?.maxKeys ?? 1000;
    const decode = typeof options?.decodeURIComponent === "function" ? options.decodeURIComponent : unescape;

    let pairs = text.split(separator);
    if (maxKeys > 0) {
      pairs = pairs.slice(0, maxKeys);
    }
    for (const pair of pairs) {
      if (pair === "") {
        continue;
      }
      const at = pair.indexOf(equals);
      const rawName = at === -1 ? pair : pair.slice(0, at);
      const rawValue = at === -1 ? "" : pair.slice(at + equals.length);
      const name = decode(rawName.replaceAll("+", " "));
      const value = decode(rawValue.replaceAll("+", " "));
      if (!Object.hasOwn(result, name)) {
        result[name] = value;
      } else if (Array.isArray(result[name])) {
        result[name].push(value);
      } else {
        result[name] = [result[name], value];
      }
    }
    return result;
  }

  function stringify(object, sep = "&", eq = "=", options = undefined) {
    if (typeof object !== "object" || object === null) {
      return "";
    }
    const separator = sep || "&";
    const equals = eq || "=";
    const encode = typeof options?.encodeURIComponent === "function" ? options.encodeURIComponent : escape;
    const parts = [];
    for (const name of Object.keys(object)) {
      const value = object[name];
      const key = encode(valueText(name));
      if (Array.isArray(value)) {
        for (const item of value) {
          parts.push(`${key}${equals}${encode(valueText(item))}`);
        }
      } else {
        parts.push(`${key}${equals}${encode(valueText(value))}`);
      }
    }
    return parts.join(separator);
  }

  const querystring = {
    parse,
    decode: parse,
    stringify,
    encode: stringify,
    escape,
    unescape,
  };

  internal.defineModule("querystring", querystring);
});
