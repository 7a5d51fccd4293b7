// crypto.getRandomValues and crypto.randomUUID of the Web Crypto API, with
// bytes from WASI's random_get read at each call (random.rs), never from
// the pre-initialisation snapshot. crypto.subtle is not provided.
(function (native, internal) {
  "use strict";

  // Typed arrays that getRandomValues fills: the integer ones.
  const INTEGER_ARRAYS = [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    BigInt64Array,
    BigUint64Array,
  ];

  // Largest array getRandomValues fills, in bytes, as in the Web Crypto API.
  const MAX_RANDOM_BYTES = 65536;

  function getRandomValues(array) {
    if (!INTEGER_ARRAYS.some((type) => array instanceof type)) {
      throw new DOMException(
        "crypto.getRandomValues: the argument must be an integer typed array",
        "TypeMismatchError",
      );
    }
    if (array.byteLength > MAX_RANDOM_BYTES) {
      throw new DOMException(
        `crypto.getRandomValues: ${array.byteLength} bytes requested, more than the maximum of ${MAX_RANDOM_BYTES}`,
        "QuotaExceededError",
      );
    }
    const bytes = native.randomBytes(array.byteLength);
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
    return array;
  }

  // Returns a version 4 UUID (RFC 9562) in lower-case hexadecimal.
  function randomUUID() {
    const bytes = native.randomBytes(16);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0"));
    return [
      hex.slice(0, 4).join(""),
      hex.slice(4, 6).join(""),
      hex.slice(6, 8).join(""),
      hex.slice(8, 10).join(""),
      hex.slice(10).join(""),
    ].join("-");
  }

  const crypto = {};
  for (const method of [getRandomValues, randomUUID]) {
    Object.defineProperty(crypto, method.name, {
      value: method,
      writable: true,
      configurable: true,
      enumerable: true,
    });
  }
  internal.defineGlobal("crypto", crypto);
});
