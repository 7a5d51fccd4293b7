// The Node.js module "buffer" (also "node:buffer") and the global Buffer: a
// Uint8Array subclass with the encodings utf8, latin1 (binary), ascii,
// base64, base64url, hex and utf16le (ucs2).
//
// It covers what npm packages commonly call. The static functions are
// Buffer.from, alloc, allocUnsafe, concat, isBuffer, isEncoding, byteLength
// and compare. The methods are toString, toJSON, equals, compare, copy,
// write, fill, indexOf, includes, slice (a view, as in Node.js), and the
// integer and float readers and writers. Buffers are never pooled, so
// allocUnsafe returns zeroed memory.
(function (native, internal) {
  "use strict";

  const ENCODINGS = {
    utf8: "utf8",
    "utf-8": "utf8",
    latin1: "latin1",
    binary: "latin1",
    ascii: "ascii",
    base64: "base64",
    base64url: "base64url",
    hex: "hex",
    utf16le: "utf16le",
    "utf-16le": "utf16le",
    ucs2: "utf16le",
    "ucs-2": "utf16le",
  };

  // Characters outside the base64 and base64url alphabets, which decoding
  // accepts mixed, as Node.js does.
  const NOT_BASE64 = /[^A-Za-z0-9+/\-_]+/g;

  // Number of characters String.fromCharCode gets at once, below QuickJS's
  // limit on the number of arguments.
  const CHUNK = 8192;

  // Returns the canonical name of an encoding, or throws a TypeError.
  function encodingOf(encoding, context) {
    if (encoding === undefined || encoding === null) {
      return "utf8";
    }
    const name = ENCODINGS[String(encoding).toLowerCase()];
    if (name === undefined) {
      const error = new TypeError(`${context}: unknown encoding "${encoding}"`);
      error.code = "ERR_UNKNOWN_ENCODING";
      throw error;
    }
    return name;
  }

  // Returns the characters U+0000 to U+00FF whose codes are `bytes`.
  function bytesToBinary(bytes, mask = 0xff) {
    let text = "";
    for (let start = 0; start < bytes.length; start += CHUNK) {
      const chunk = bytes.subarray(start, start + CHUNK);
      text += String.fromCharCode(...(mask === 0xff ? chunk : chunk.map((b) => b & mask)));
    }
    return text;
  }

  function binaryToBytes(text) {
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i += 1) {
      bytes[i] = text.charCodeAt(i) & 0xff;
    }
    return bytes;
  }

  // Decodes base64 or base64url as leniently as Node.js: characters outside
  // both alphabets are skipped, and decoding stops at the first "=".
  function decodeBase64(text) {
    let symbols = text.split("=", 1)[0].replace(NOT_BASE64, "");
    symbols = symbols.replaceAll("-", "+").replaceAll("_", "/");
    // A lone last symbol carries fewer than 8 bits: it is dropped.
    if (symbols.length % 4 === 1) {
      symbols = symbols.slice(0, -1);
    }
    return binaryToBytes(native.decodeBase64(symbols) ?? "");
  }

  function encodeBase64(bytes) {
    return native.encodeBase64(bytesToBinary(bytes));
  }

  // Decodes pairs of hexadecimal digits until the first invalid pair.
  function decodeHex(text) {
    const bytes = new Uint8Array(text.length >> 1);
    let count = 0;
    for (; count < bytes.length; count += 1) {
      const pair = text.slice(count * 2, count * 2 + 2);
      if (!/^[0-9a-fA-F]{2}$/.test(pair)) {
        break;
      }
      bytes[count] = parseInt(pair, 16);
    }
    return bytes.subarray(0, count);
  }

  function encodeHex(bytes) {
    let text = "";
    for (const byte of bytes) {
      text += byte.toString(16).padStart(2, "0");
    }
    return text;
  }

  function encodeUtf16(text) {
    const bytes = new Uint8Array(text.length * 2);
    for (let i = 0; i < text.length; i += 1) {
      const code = text.charCodeAt(i);
      bytes[i * 2] = code & 0xff;
      bytes[i * 2 + 1] = code >> 8;
    }
    return bytes;
  }

  function decodeUtf16(bytes) {
    let text = "";
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      text += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8));
    }
    return text;
  }

  // Converts a string to bytes in the given canonical encoding.
  function encode(text, encoding) {
    switch (encoding) {
      case "utf8":
        return native.utf8Encode(text.toWellFormed());
      case "latin1":
      case "ascii":
        return binaryToBytes(text);
      case "base64":
      case "base64url":
        return decodeBase64(text);
      case "hex":
        return decodeHex(text);
      default:
        return encodeUtf16(text);
    }
  }

  // Converts bytes to a string in the given canonical encoding.
  function decode(bytes, encoding) {
    switch (encoding) {
      case "utf8":
        // Node.js keeps a leading byte order mark.
        return native.utf8Decode(bytes, false, true);
      case "latin1":
        return bytesToBinary(bytes);
      case "ascii":
        return bytesToBinary(bytes, 0x7f);
      case "base64":
        return encodeBase64(bytes);
      case "base64url":
        return encodeBase64(bytes).replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
      case "hex":
        return encodeHex(bytes);
      default:
        return decodeUtf16(bytes);
    }
  }

  // Clamps an index the way Buffer methods read their start and end.
  function clampIndex(value, length, fallback) {
    if (value === undefined) {
      return fallback;
    }
    const number = Math.trunc(Number(value)) || 0;
    if (number < 0) {
      return Math.max(length + number, 0);
    }
    return Math.min(number, length);
  }

  function checkOffset(buffer, offset, size, context) {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > buffer.length) {
      const error = new RangeError(
        `${context}: the offset ${offset} is out of range for a buffer of ${buffer.length} bytes`,
      );
      error.code = "ERR_OUT_OF_RANGE";
      throw error;
    }
  }

  function viewOf(buffer) {
    return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  class Buffer extends Uint8Array {
    // `new Buffer(string, encoding)`, deprecated in Node.js, still works;
    // the other forms are those of Uint8Array, which methods such as
    // subarray and map call.
    constructor(value, encodingOrOffset, length) {
      if (typeof value === "string") {
        const bytes = encode(value, encodingOf(encodingOrOffset, "Buffer"));
        super(bytes.length);
        this.set(bytes);
        return;
      }
      if (value instanceof ArrayBuffer) {
        super(value, encodingOrOffset ?? 0, length ?? value.byteLength - (encodingOrOffset ?? 0));
        return;
      }
      super(value ?? 0);
    }

    static from(value, encodingOrOffset, length) {
      if (typeof value === "string") {
        return new Buffer(value, encodingOrOffset);
      }
      if (value instanceof ArrayBuffer) {
        const offset = encodingOrOffset === undefined ? 0 : Number(encodingOrOffset);
        const size = length === undefined ? value.byteLength - offset : Number(length);
        if (offset < 0 || size < 0 || offset + size > value.byteLength) {
          throw new RangeError("Buffer.from: the offset and length are outside the ArrayBuffer");
        }
        return new Buffer(value, offset, size);
      }
      if (value instanceof Uint8Array || value instanceof DataView) {
        const copy = new Buffer(value.byteLength);
        copy.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
        return copy;
      }
      if (typeof value === "object" && value !== null) {
        if (value.type === "Buffer" && Array.isArray(value.data)) {
          return Buffer.from(value.data);
        }
        const primitive =
          typeof value[Symbol.toPrimitive] === "function"
            ? value[Symbol.toPrimitive]("string")
            : value.valueOf();
        if (primitive !== value && (typeof primitive === "string" || typeof primitive === "object")) {
          return Buffer.from(primitive, encodingOrOffset, length);
        }
        if (typeof value.length === "number" || Symbol.iterator in value) {
          const bytes = Array.from(value, (item) => Number(item) & 0xff);
          const buffer = new Buffer(bytes.length);
          buffer.set(bytes);
          return buffer;
        }
      }
      const kind = value === null ? "null" : typeof value;
      throw new TypeError(
        `Buffer.from: expected a string, an array, an ArrayBuffer, a typed array or a Buffer, not ${kind}`,
      );
    }

    static alloc(size, fill, encoding) {
      checkSize(size, "Buffer.alloc");
      const buffer = new Buffer(size);
      if (fill !== undefined && fill !== 0) {
        buffer.fill(fill, 0, size, encoding);
      }
      return buffer;
    }

    static allocUnsafe(size) {
      checkSize(size, "Buffer.allocUnsafe");
      return new Buffer(size);
    }

    static allocUnsafeSlow(size) {
      checkSize(size, "Buffer.allocUnsafeSlow");
      return new Buffer(size);
    }

    static isBuffer(value) {
      return value instanceof Buffer;
    }

    static isEncoding(encoding) {
      return typeof encoding === "string" && Object.hasOwn(ENCODINGS, encoding.toLowerCase());
    }

    static byteLength(value, encoding) {
      if (typeof value === "string") {
        return encode(value, encodingOf(encoding, "Buffer.byteLength")).length;
      }
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
        return value.byteLength;
      }
      throw new TypeError("Buffer.byteLength: expected a string, a Buffer, a typed array or an ArrayBuffer");
    }

    static concat(list, totalLength) {
      if (!Array.isArray(list)) {
        throw new TypeError("Buffer.concat: the list must be an array of Buffers or Uint8Arrays");
      }
      for (const item of list) {
        if (!(item instanceof Uint8Array)) {
          throw new TypeError("Buffer.concat: each item of the list must be a Buffer or a Uint8Array");
        }
      }
      const length =
        totalLength === undefined ? list.reduce((sum, item) => sum + item.length, 0) : totalLength;
      const result = Buffer.alloc(length);
      let offset = 0;
      for (const item of list) {
        if (offset >= length) {
          break;
        }
        const part = item.subarray(0, length - offset);
        result.set(part, offset);
        offset += part.length;
      }
      return result;
    }

    static compare(a, b) {
      if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) {
        throw new TypeError("Buffer.compare: both arguments must be Buffers or Uint8Arrays");
      }
      const length = Math.min(a.length, b.length);
      for (let i = 0; i < length; i += 1) {
        if (a[i] !== b[i]) {
          return a[i] < b[i] ? -1 : 1;
        }
      }
      return Math.sign(a.length - b.length);
    }

    toString(encoding, start, end) {
      const from = clampIndex(start, this.length, 0);
      const to = clampIndex(end, this.length, this.length);
      const bytes = to > from ? this.subarray(from, to) : new Uint8Array(0);
      const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
      return decode(view, encodingOf(encoding, "Buffer.toString"));
    }

    toLocaleString(encoding, start, end) {
      return this.toString(encoding, start, end);
    }

    toJSON() {
      return { type: "Buffer", data: Array.from(this) };
    }

    equals(other) {
      if (!(other instanceof Uint8Array)) {
        throw new TypeError("Buffer.equals: the argument must be a Buffer or a Uint8Array");
      }
      return Buffer.compare(this, other) === 0;
    }

    compare(target, targetStart = 0, targetEnd = target.length, sourceStart = 0, sourceEnd = this.length) {
      return Buffer.compare(
        this.subarray(sourceStart, sourceEnd),
        target.subarray(targetStart, targetEnd),
      );
    }

    copy(target, targetStart = 0, sourceStart = 0, sourceEnd = this.length) {
      const part = this.subarray(sourceStart, sourceEnd);
      const count = Math.max(Math.min(part.length, target.length - targetStart), 0);
      target.set(part.subarray(0, count), targetStart);
      return count;
    }

    // write(string[, offset[, length]][, encoding])
    write(text, offset, length, encoding) {
      if (typeof offset === "string") {
        [offset, length, encoding] = [0, undefined, offset];
      } else if (typeof length === "string") {
        [length, encoding] = [undefined, length];
      }
      const start = offset ?? 0;
      const bytes = encode(String(text), encodingOf(encoding, "Buffer.write"));
      const count = Math.max(Math.min(bytes.length, length ?? Infinity, this.length - start), 0);
      this.set(bytes.subarray(0, count), start);
      return count;
    }

    fill(value, offset, end, encoding) {
      if (typeof offset === "string") {
        [offset, end, encoding] = [0, this.length, offset];
      } else if (typeof end === "string") {
        [end, encoding] = [this.length, end];
      }
      const from = offset ?? 0;
      const to = end ?? this.length;
      if (typeof value === "number" || typeof value === "boolean") {
        return super.fill(Number(value) & 0xff, from, to);
      }
      const pattern =
        typeof value === "string" ? encode(value, encodingOf(encoding, "Buffer.fill")) : value;
      if (pattern.length === 0) {
        return super.fill(0, from, to);
      }
      for (let i = from; i < to; i += 1) {
        this[i] = pattern[(i - from) % pattern.length];
      }
      return this;
    }

    indexOf(value, byteOffset = 0, encoding = undefined) {
      if (typeof value === "number") {
        return super.indexOf(value & 0xff, clampIndex(byteOffset, this.length, 0));
      }
      const needle =
        typeof value === "string" ? encode(value, encodingOf(encoding, "Buffer.indexOf")) : value;
      const start = clampIndex(byteOffset, this.length, 0);
      for (let i = start; i + needle.length <= this.length; i += 1) {
        let found = true;
        for (let j = 0; j < needle.length; j += 1) {
          if (this[i + j] !== needle[j]) {
            found = false;
            break;
          }
        }
        if (found) {
          return i;
        }
      }
      return -1;
    }

    includes(value, byteOffset = 0, encoding = undefined) {
      return this.indexOf(value, byteOffset, encoding) !== -1;
    }

    // Node.js's slice returns a view of the same memory, unlike
    // Uint8Array's.
    slice(start, end) {
      return this.subarray(start, end);
    }

    get parent() {
      return this.buffer;
    }

    get offset() {
      return this.byteOffset;
    }
  }

  function checkSize(size, context) {
    if (typeof size !== "number" || !(size >= 0) || size > 2 ** 32) {
      const error = new RangeError(`${context}: the size must be a number from 0 to 2^32, not ${size}`);
      error.code = "ERR_OUT_OF_RANGE";
      throw error;
    }
  }

  // The readers and writers of integers and floats, such as readUInt32LE
  // and writeDoubleBE, over a DataView.
  const NUMBER_TYPES = [
    ["UInt8", "Uint8", 1],
    ["Int8", "Int8", 1],
    ["UInt16", "Uint16", 2],
    ["Int16", "Int16", 2],
    ["UInt32", "Uint32", 4],
    ["Int32", "Int32", 4],
    ["Float", "Float32", 4],
    ["Double", "Float64", 8],
    ["BigUInt64", "BigUint64", 8],
    ["BigInt64", "BigInt64", 8],
  ];
  for (const [name, viewName, size] of NUMBER_TYPES) {
    const endians = size === 1 ? [["", true]] : [["LE", true], ["BE", false]];
    for (const [suffix, littleEndian] of endians) {
      const read = `read${name}${suffix}`;
      const write = `write${name}${suffix}`;
      Buffer.prototype[read] = function (offset = 0) {
        checkOffset(this, offset, size, `Buffer.${read}`);
        return viewOf(this)[`get${viewName}`](offset, littleEndian);
      };
      Buffer.prototype[write] = function (value, offset = 0) {
        checkOffset(this, offset, size, `Buffer.${write}`);
        viewOf(this)[`set${viewName}`](offset, value, littleEndian);
        return offset + size;
      };
      // Node.js also spells the unsigned ones Uint.
      if (name.startsWith("UInt") || name.startsWith("BigUInt")) {
        const alias = name.replace("UInt", "Uint");
        Buffer.prototype[`read${alias}${suffix}`] = Buffer.prototype[read];
        Buffer.prototype[`write${alias}${suffix}`] = Buffer.prototype[write];
      }
    }
  }

  const exports = {
    Buffer,
    constants: { MAX_LENGTH: 2 ** 32, MAX_STRING_LENGTH: 2 ** 30 - 1 },
    kMaxLength: 2 ** 32,
    atob: globalThis.atob,
    btoa: globalThis.btoa,
  };

  // The size of Node.js's pool, which some packages read.
  Buffer.poolSize = 8192;

  internal.defineGlobal("Buffer", Buffer);
  internal.defineModule("buffer", exports);
});
