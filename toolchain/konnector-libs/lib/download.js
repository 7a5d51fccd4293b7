// Downloads one file of an entry and saves it in the file store.
//
// The host downloads the file straight into the store (downloadFile of
// konnector:host), so its contents never enter the konnector's memory.
// Only when the konnector gives a validateFile function, which must see
// the file before it is saved, do the contents pass through here.
"use strict";

const host = require("konnector:host");
const { send, defaultsOf, requestUrl, requestInit } = require("./request");

// Content types by file extension, for `contentType: true` and for
// responses that name none.
const CONTENT_TYPES = {
  pdf: "application/pdf",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  gif: "image/gif",
  svg: "image/svg+xml",
  html: "text/html",
  htm: "text/html",
  txt: "text/plain",
  csv: "text/csv",
  json: "application/json",
  xml: "application/xml",
  zip: "application/zip",
};

function contentTypeOfName(name) {
  const dot = name.lastIndexOf(".");
  return dot === -1 ? undefined : CONTENT_TYPES[name.slice(dot + 1).toLowerCase()];
}

// An Error with a `code` naming what went wrong with a file, such as
// "download_failed".
function fileError(code, message) {
  const error = new Error(message);
  error.code = code;
  return error;
}

// Downloads the entry's file (its `fileurl`, with its `requestOptions`,
// through `options.requestInstance`'s defaults when given), lets
// `validate({name, size, mime})` reject it, and saves it as `file`
// ({name, dir_path, content_type, metadata}). Returns the saved file's
// {id, rev, status, size, mime}. With `options.keepExisting`, a file of
// that name already in the folder is kept, and the host sends no request
// (unless `validate` is given, which must see the contents).
async function downloadToFile(entry, file, options = {}) {
  const request = {
    ...defaultsOf(options.requestInstance),
    uri: entry.fileurl,
    method: "GET",
    ...entry.requestOptions,
    encoding: null,
    json: false,
    cheerio: false,
  };
  if (typeof options.validate !== "function") {
    return downloadInHost(request, file, options.keepExisting === true);
  }
  let response;
  try {
    response = await send(request);
  } catch (error) {
    const target = request.uri ?? request.url;
    throw fileError("download_failed", `failed to download ${target}: ${error.message}`);
  }
  if (response.statusCode < 200 || response.statusCode >= 300) {
    const message = `failed to download ${response.request.href}: status ${response.statusCode}`;
    throw fileError("download_failed", message);
  }
  const headerType = String(response.headers["content-type"] ?? "").split(";")[0].trim();
  const mime = file.content_type ?? (headerType || contentTypeOfName(file.name));
  return saveContents(response.body, { ...file, content_type: mime }, options.validate);
}

// Has the host download `request` (request options) into the store as
// `file`, or keep the file of that name when `keepExisting`. The size is
// not known here. The type is the file's, or the one its name implies,
// and the host uses the response's when neither is.
async function downloadInHost(request, file, keepExisting) {
  const target = requestUrl(request);
  let saved;
  try {
    saved = await host.downloadFile({ ...file, keep_existing: keepExisting }, target, requestInit(request));
  } catch (error) {
    if (error.code === "permission_denied" || error.code === "limit_exceeded") {
      throw error;
    }
    throw fileError("download_failed", `failed to download ${target}: ${error.message}`);
  }
  return { ...saved, size: undefined, mime: file.content_type ?? contentTypeOfName(file.name) };
}

// Saves contents already in memory, such as an entry's `filestream`.
async function saveContents(contents, file, validate = undefined) {
  const bytes = typeof contents === "string" ? Buffer.from(contents) : contents;
  const mime = file.content_type ?? contentTypeOfName(file.name);
  if (bytes.length === 0) {
    throw fileError("empty_file", `the file ${file.name} is empty`);
  }
  const description = { name: file.name, size: bytes.length, mime };
  if (typeof validate === "function" && (await validate(description)) === false) {
    throw fileError("invalid_file", `the file ${file.name} was rejected by validateFile`);
  }
  const saved = await host.saveFile({ ...file, content_type: mime }, bytes);
  return { ...saved, size: bytes.length, mime };
}

module.exports = { downloadToFile, saveContents, contentTypeOfName };
