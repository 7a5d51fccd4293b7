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

// An object whose every property access throws, for modules whose whole
// API is unsupported, such as cozyClient.
function unsupportedObject(name, reason) {
  return new Proxy(
    {},
    {
      get(target, property) {
        // Properties that code reads to check what a value is, such as
        // `then` when a promise resolves with it.
        if (typeof property === "symbol" || PROBED_PROPERTIES.includes(property)) {
          return undefined;
        }
        throw new Error(`${name}.${property} is not available in the konnector sandbox: ${reason}`);
      },
    },
  );
}

module.exports = {
  solveCaptcha: unsupportedFunction(
    "solveCaptcha",
    "it sends the page to a captcha-solving service with a secret key, which konnectors cannot reach",
  ),
  htmlToPDF: unsupportedFunction("htmlToPDF", NO_BROWSER),
  createCozyPDFDocument: unsupportedFunction("createCozyPDFDocument", NO_BROWSER),
  CozyBrowser: unsupportedFunction("CozyBrowser", NO_BROWSER),
  cozyClient: unsupportedObject(
    "cozyClient",
    "the host holds the Cozy token, so write documents with saveBills, saveFiles, addData or updateOrCreate",
  ),
};
