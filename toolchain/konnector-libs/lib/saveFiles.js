// saveFiles(entries, fields, options): downloads the file of each entry
// and saves it in the account's folder.
//
// An entry names its file with `fileurl` (and optional `requestOptions`),
// or gives the contents in `filestream` (a string, a Buffer or a typed
// array, not a stream), and its name with `filename` (else the last
// segment of the URL's path). Each of these may be a function of the
// entry. Files go to `fields.folderPath` (or the account's `folder_path`),
// plus `subPath` when the entry or the options set one.
//
// A file is saved once per folder and name, as in cozy-konnector-libs: when
// the folder already has a file of that name, from an earlier job or an
// earlier entry, the host keeps it and downloads nothing. Konnector code
// cannot read the store, so `shouldReplaceFile` cannot be given the file
// found: with a `shouldReplaceFile` option or entry field, every file is
// downloaded, and the host replaces a file whose contents changed.
// `shouldReplaceName` has no effect, and `fileIdAttributes` is recorded in
// the file's metadata but does not find a file under another name. A file
// that fails to download or to save is logged and its entry is returned
// without `fileDocument`.
"use strict";

const host = require("konnector:host");
const log = require("./log");
const { downloadToFile, saveContents, contentTypeOfName } = require("./download");

// Files saved by this job, by folder and name: {_id, _rev, ...}.
const savedInJob = new Map();

// Characters that saveFiles removes from names taken from URLs.
const UNSAFE_NAME_CHARACTERS = /[/?<>\\:*|"]/g;

// Returns a value, or the result of calling it with the entry when it is a
// function.
function resolveValue(value, entry, options) {
  return typeof value === "function" ? value.call(value, entry, options) : value;
}

function folderOf(fields) {
  if (typeof fields === "string") {
    return fields;
  }
  return fields?.folderPath ?? fields?.folder_path ?? host.input.fields?.folder_path;
}

function fileName(entry) {
  let name = entry.filename;
  if (!name && entry.fileurl) {
    try {
      const path = new URL(String(entry.fileurl)).pathname;
      name = decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
    } catch {
      name = undefined;
    }
  }
  if (!name) {
    return undefined;
  }
  return String(name).replace(/^\.+$/, "").replace(UNSAFE_NAME_CHARACTERS, "");
}

// The value that `fileIdAttributes` records, as cozy-konnector-libs
// computes it: the attributes' values in the attributes' sorted order,
// joined with "####".
function fileKey(entry, attributes) {
  return [...attributes]
    .sort()
    .map((attribute) => entry[attribute])
    .join("####");
}

function contentTypeOption(options, name) {
  if (options.contentType === true) {
    return contentTypeOfName(name);
  }
  return typeof options.contentType === "string" ? options.contentType : undefined;
}

// Saves the file of one entry, and returns its file document, or
// undefined when it could not be saved.
// The host's write status of each file document saveEntryFile returned:
// "created", "updated" or "unchanged" (a file kept as it was).
const statusOf = new WeakMap();

async function saveEntryFile(entry, folder, options) {
  const name = fileName(entry);
  if (!name) {
    log("error", "saveFiles: an entry has neither a filename nor a fileurl to take one from");
    return undefined;
  }
  const subPath = entry.subPath ?? options.subPath;
  const dirPath = subPath ? `${folder ?? ""}/${subPath}`.replace(/\/+/g, "/") : folder;
  const key = `${dirPath ?? ""}/${name}`;
  if (savedInJob.has(key)) {
    return savedInJob.get(key);
  }

  const metadata = { ...entry.fileAttributes?.metadata };
  if (Array.isArray(options.fileIdAttributes)) {
    metadata.fileIdAttributes = fileKey(entry, options.fileIdAttributes);
  }
  const file = {
    name,
    dir_path: dirPath,
    content_type: contentTypeOption(options, name),
    metadata: Object.keys(metadata).length === 0 ? undefined : metadata,
  };
  let saved;
  try {
    if (entry.filestream !== undefined) {
      const contents = resolveValue(entry.filestream, entry, options);
      if (typeof contents !== "string" && !(contents instanceof Uint8Array)) {
        throw new TypeError("filestream must be a string, a Buffer or a typed array, not a stream");
      }
      saved = await saveContents(contents, file, options.validateFile);
    } else {
      const replace = entry.shouldReplaceFile ?? options.shouldReplaceFile;
      saved = await downloadToFile(entry, file, {
        requestInstance: options.requestInstance,
        validate: options.validateFile,
        keepExisting: typeof replace !== "function",
      });
    }
  } catch (error) {
    // A write the manifest does not permit would fail for every file.
    if (error.code === "permission_denied") {
      throw error;
    }
    log("warn", `saveFiles: failed to save ${key}: ${error.message}`);
    return undefined;
  }
  log("debug", `saveFiles: ${key} ${saved.status}`);
  const document = {
    _id: saved.id,
    _rev: saved.rev,
    name,
    dir_path: dirPath,
    mime: saved.mime,
    size: saved.size,
    metadata: file.metadata,
  };
  document.attributes = { name, mime: saved.mime, size: saved.size, metadata: file.metadata };
  savedInJob.set(key, document);
  statusOf.set(document, saved.status);
  return document;
}

async function saveFiles(entries, fields, options = {}) {
  if (!Array.isArray(entries) || entries.length === 0) {
    log("warn", "saveFiles: no file to save");
    return [];
  }
  const folder = folderOf(fields);
  const savedEntries = [];
  let filesSaved = 0;
  let filesKept = 0;
  for (const entry of entries) {
    for (const key of ["fileurl", "filename", "requestOptions"]) {
      if (entry[key] !== undefined) {
        entry[key] = resolveValue(entry[key], entry, options);
      }
    }
    const hasFile = entry.fileurl || entry.requestOptions || entry.filestream !== undefined;
    if (hasFile) {
      if (options.timeout && Date.now() > options.timeout) {
        const left = entries.length - savedEntries.length;
        log("warn", `saveFiles: the timeout passed with ${left} entries left`);
        break;
      }
      const document = await saveEntryFile(entry, folder, options);
      if (document !== undefined) {
        entry.fileDocument = document;
        if (statusOf.get(document) === "unchanged") {
          filesKept += 1;
        } else {
          filesSaved += 1;
        }
      }
      delete entry.requestOptions;
      delete entry.filestream;
      delete entry.shouldReplaceFile;
      if (typeof options.postProcess === "function") {
        await options.postProcess(entry);
      }
    }
    savedEntries.push(entry);
  }
  log(
    "info",
    `saveFiles: ${filesSaved} files saved and ${filesKept} kept as they were, for ${savedEntries.length} entries`,
  );
  return savedEntries;
}

module.exports = saveFiles;
