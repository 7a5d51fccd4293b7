// TextEncoder and TextDecoder of the WHATWG Encoding standard, for UTF-8
// only, over the natives of text.rs.
(function (native, internal) {
  "use strict";

  // The labels of UTF-8 in the Encoding standard.
  const UTF8_LABELS = [
    "unicode-1-1-utf-8",
    "unicode11utf8",
    "unicode20utf8",
    "utf-8",
    "utf8",
    "x-unicode20utf8",
  ];

  // Converts a value to a string without lone surrogates, as WebIDL's
  // USVString conversion does: each lone surrogate becomes U+FFFD.
  function toUsvString(value) {
    return String(value).toWellFormed();
  }

  // Returns a Uint8Array over the bytes of an ArrayBuffer or a view of
  // one (a typed array or a DataView), without copying them.
  function bufferSourceBytes(value, context) {
    if (value instanceof ArrayBuffer) {
      return new Uint8Array(value);
    }
    if (ArrayBuffer.isView(value)) {
      return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    }
    throw new TypeError(
      `${context}: expected an ArrayBuffer, a typed array or a DataView`,
    );
  }

  internal.toUsvString = toUsvString;
  internal.bufferSourceBytes = bufferSourceBytes;

  class TextEncoder {
    get encoding() {
      return "utf-8";
    }

    encode(input = "") {
      return native.utf8Encode(toUsvString(input));
    }

    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) {
        throw new TypeError(
          "TextEncoder.encodeInto: the destination must be a Uint8Array",
        );
      }
      const [read, written] = native.utf8EncodeInto(
        toUsvString(source),
        destination,
      );
      return { read, written };
    }
  }

  class TextDecoder {
    #fatal;
    #ignoreBOM;

    constructor(label = "utf-8", options = {}) {
      const name = String(label).trim().toLowerCase();
      if (!UTF8_LABELS.includes(name)) {
        throw new RangeError(
          `TextDecoder: the encoding "${label}" is not supported, only utf-8 is`,
        );
      }
      this.#fatal = Boolean(options?.fatal);
      this.#ignoreBOM = Boolean(options?.ignoreBOM);
    }

    get encoding() {
      return "utf-8";
    }

    get fatal() {
      return this.#fatal;
    }

    get ignoreBOM() {
      return this.#ignoreBOM;
    }

    decode(input, options) {
      if (options?.stream) {
        throw new TypeError(
          "TextDecoder.decode: the stream option is not supported, so decode the whole input in one call",
        );
      }
      const bytes =
        input === undefined
          ? new Uint8Array(0)
          : bufferSourceBytes(input, "TextDecoder.decode");
      return native.utf8Decode(bytes, this.#fatal, this.#ignoreBOM);
    }
  }

  internal.defineGlobal("TextEncoder", TextEncoder);
  internal.defineGlobal("TextDecoder", TextDecoder);
});
