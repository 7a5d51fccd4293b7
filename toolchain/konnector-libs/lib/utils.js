// Small helpers of cozy-konnector-libs: utils.formatDate, normalizeFilename
// and mkdirp.
"use strict";

const log = require("./log");

// Characters that file systems or the stack reject in names, and
// whitespace, which normalizeFilename replaces with "_".
const UNSAFE_FILENAME_CHARACTERS = /[<>:"/\\|?*\0\s]+/g;

// Formats a date as YYYY-MM-DD, in the runtime's time zone (UTC).
function formatDate(date) {
  const value = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(value.getTime())) {
    throw new RangeError(`utils.formatDate: invalid date ${String(date)}`);
  }
  const year = String(value.getFullYear()).padStart(4, "0");
  const month = String(value.getMonth() + 1).padStart(2, "0");
  const day = String(value.getDate()).padStart(2, "0");
  return `${year}-${month}-${day}`;
}

// Turns `basename` into a safe file name, with the extension `ext` (with
// or without its dot) when given.
function normalizeFilename(basename, ext = undefined) {
  const name = String(basename).replace(UNSAFE_FILENAME_CHARACTERS, "_").replace(/^_+|_+$/g, "");
  if (name === "") {
    throw new Error(`normalizeFilename: ${JSON.stringify(basename)} has no character usable in a file name`);
  }
  if (ext === undefined || ext === null || ext === "") {
    return name;
  }
  return ext.startsWith(".") ? `${name}${ext}` : `${name}.${ext}`;
}

// Folders are created by the host when a file is saved in them, so mkdirp
// only logs.
async function mkdirp(...paths) {
  log("debug", `mkdirp: ${paths.join(", ")} will be created when a file is saved there`);
}

module.exports = { formatDate, normalizeFilename, mkdirp };
