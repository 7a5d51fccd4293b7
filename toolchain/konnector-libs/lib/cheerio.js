// Loads the konnector's own cheerio, the HTML parser behind the `cheerio`
// option of requestFactory and behind signin.
//
// `konnector build` resolves `require("cheerio")` here to the cheerio that
// the konnector installed. When the konnector has none, it resolves it to
// a stand-in module whose exports carry MISSING_MARKER (see
// toolchain/bundler/bundle.mjs), and loadCheerio throws.
"use strict";

// Own property of the stand-in module's exports.
const MISSING_MARKER = "konnectorLibsMissingModule";

// Returns cheerio's `load`, or throws an Error that names the package to
// add.
// `caller` names the function that needs it, such as "requestFactory".
function loadCheerio(caller) {
  // Required only here, so that cheerio is evaluated by the jobs that use
  // it and no others.
  const cheerio = require("cheerio");
  const isModule =
    (typeof cheerio === "object" && cheerio !== null) || typeof cheerio === "function";
  if (!isModule || Object.hasOwn(cheerio, MISSING_MARKER)) {
    throw new Error(
      `${caller}: parsing HTML needs the npm package cheerio, which the konnector does not ` +
        "depend on; add cheerio to the dependencies in its package.json",
    );
  }
  const load = cheerio.load ?? cheerio.default?.load;
  if (typeof load !== "function") {
    throw new Error(`${caller}: the installed cheerio package has no load function`);
  }
  return load;
}

module.exports = { loadCheerio, MISSING_MARKER };
