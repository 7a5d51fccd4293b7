// The functions of cozy-konnector-libs that the sandbox cannot offer. Each
// throws an Error that names the function and the reason.
"use strict";

// Returns a function that always throws `name: reason`.
function unsupportedFunction(name, reason) {
  const unsupported = function () {
    throw new Error(`${name} is not available in the konnector sandbox: ${reason}`);
  };
  Object.defineProperty(unsupported, "name", { value: name });
  return unsupported;
}

const NO_BROWSER = "it needs a web browser, and a konnector has only fetch";

const PROBED_PROPERTIES = ["then", "toJSON", "constructor", "__esModule", "prototype"];

// An object whose every property access throws, but for the properties of
// `available`: for modules whose API is mostly unsupported, such as
// cozyClient.
function unsupportedObject(name, reason, available = {}) {
  return new Proxy(Object.freeze({ ...available }), {
    get(target, property) {
      if (Object.hasOwn(target, property)) {
        return target[property];
      }
      // Properties that code reads to check what a value is, such as
      // `then` when a promise resolves with it.
      if (typeof property === "symbol" || PROBED_PROPERTIES.includes(property)) {
        return undefined;
      }
      throw new Error(`${name}.${property} is not available in the konnector sandbox: ${reason}`);
    },
  });
}

// The exports of cozy-konnector-libs that throw, by name.
const functions = {
  solveCaptcha: unsupportedFunction(
    "solveCaptcha",
    "it sends the page to a captcha-solving service with a secret key, which konnectors cannot reach",
  ),
  htmlToPDF: unsupportedFunction("htmlToPDF", NO_BROWSER),
  createCozyPDFDocument: unsupportedFunction("createCozyPDFDocument", NO_BROWSER),
  CozyBrowser: unsupportedFunction("CozyBrowser", NO_BROWSER),
  categorize: unsupportedFunction(
    "categorize",
    "it reads the person's bank operations and the stack's categorization model, which konnectors cannot reach",
  ),
  Document: unsupportedFunction(
    "Document",
    "it reads and writes the person's documents directly; write them with addData or updateOrCreate",
  ),
};

module.exports = { functions, unsupportedObject, unsupportedFunction };
