// hydrateAndFilter, addData and updateOrCreate: deduplicated writes of
// documents, over the host's create and upsert.
//
// Konnector code cannot read the store, so these functions cannot see the
// documents that earlier jobs saved. Duplicates across jobs are prevented by
// the host instead: an upsert on the same key values updates the document
// already saved, or leaves it unchanged.
"use strict";

const host = require("konnector:host");
const log = require("./log");

// Reads a field by name or by dotted path, such as "metadata.number".
function fieldValue(document, key) {
  let value = document;
  for (const part of String(key).split(".")) {
    value = value === null || value === undefined ? undefined : value[part];
  }
  return value;
}

// Returns what identifies a document for `keys`, or undefined when it has
// none of them (a document without `_id` for the default keys). Dates
// compare by time, so a Date and its ISO string are the same key.
function keyOf(document, keys) {
  const values = keys.map((key) => {
    const value = fieldValue(document, key);
    if (key === "date" && value !== undefined && value !== null) {
      const time = new Date(value).getTime();
      return Number.isNaN(time) ? String(value) : time;
    }
    return value;
  });
  return values.every((value) => value === undefined) ? undefined : JSON.stringify(values);
}

// Returns the documents to save: each once for its `keys` (default
// ["_id"]), the first one kept, and only those that `shouldSave` (a
// function of the entry, or the entry's own) accepts. A document that has
// none of the keys is always kept. `shouldUpdate` is
// never called, because no document from an earlier job can be read.
async function hydrateAndFilter(documents, doctype, options = {}) {
  if (!doctype) {
    throw new TypeError("hydrateAndFilter: the doctype is required");
  }
  if (!Array.isArray(documents)) {
    throw new TypeError("hydrateAndFilter: the documents must be an array");
  }
  const keys = options.keys ?? ["_id"];
  const seen = new Set();
  const toSave = [];
  for (const document of documents) {
    if (document === null || typeof document !== "object") {
      continue;
    }
    const key = keyOf(document, keys);
    if (key !== undefined && seen.has(key)) {
      continue;
    }
    seen.add(key);
    const shouldSave = document.shouldSave ?? options.shouldSave;
    if (typeof shouldSave === "function" && !(await shouldSave(document))) {
      continue;
    }
    toSave.push(document);
  }
  log("debug", `hydrateAndFilter: ${toSave.length} of ${documents.length} ${doctype} documents to save`);
  return toSave;
}

// Returns the fields of `entry` that the host accepts: no field starting
// with "_" (as the stack requires), and no function.
function documentBody(entry) {
  const body = {};
  for (const [name, value] of Object.entries(entry)) {
    if (!name.startsWith("_") && typeof value !== "function") {
      body[name] = value;
    }
  }
  return body;
}

// Saves each entry in order: an upsert on `options.keys` when given, else
// a creation. Each entry gets the saved document's `_id` and `_rev`.
async function addData(entries, doctype, options = {}) {
  if (!doctype) {
    throw new TypeError("addData: the doctype is required");
  }
  const keys = options.keys;
  for (const entry of entries) {
    const body = documentBody(entry);
    const saved = Array.isArray(keys) && keys.length > 0
      ? await host.upsert(doctype, keys, body)
      : await host.create(doctype, body);
    entry._id = saved.id;
    entry._rev = saved.rev;
  }
  return entries;
}

// Upserts each entry on `matchingAttributes`, and returns the entries with
// their `_id` and `_rev`.
async function updateOrCreate(entries, doctype, matchingAttributes, options = {}) {
  if (!Array.isArray(matchingAttributes) || matchingAttributes.length === 0) {
    throw new TypeError("updateOrCreate: the matching attributes must be a non-empty array of field names");
  }
  const saved = [];
  for (const entry of entries) {
    const result = await host.upsert(doctype, matchingAttributes, documentBody(entry));
    saved.push({ ...entry, _id: result.id, _rev: result.rev });
  }
  return saved;
}

module.exports = { hydrateAndFilter, addData, updateOrCreate, documentBody, keyOf };
