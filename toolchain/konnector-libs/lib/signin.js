// signin: logs in through a vendor's HTML form.
//
// It fetches the page at `url`, reads the form that `formSelector` matches
// with all its fields (hidden ones included, such as a CSRF token),
// replaces or adds the fields of `formData`, and posts them to the form's
// action. Then `validate(statusCode, parsedBody, fullResponse)` decides:
// false ends in LOGIN_FAILED. A request that fails, or a status outside
// 2xx (unless `simple: false` is among the request options), ends in
// VENDOR_DOWN. signin resolves with the parsed body of the response to the
// form:
// a cheerio `$` (parse "cheerio", the default), JSON ("json") or the text
// ("raw").
"use strict";

const { errors } = require("./errors");
const log = require("./log");
const { loadCheerio } = require("./cheerio");
const { send, defaultsOf } = require("./request");

const PARSERS = ["cheerio", "json", "raw"];

function defaultValidate(statusCode) {
  return statusCode === 200;
}

async function signin(options = {}) {
  const {
    url,
    formSelector,
    formData = {},
    parse = "cheerio",
    validate = defaultValidate,
    requestInstance,
    requestOpts = {},
    ...otherRequestOptions
  } = options;
  if (typeof url !== "string" || url === "") {
    throw new TypeError("signin: the url option is required");
  }
  if (typeof formSelector !== "string" || formSelector === "") {
    throw new TypeError("signin: the formSelector option is required");
  }
  if (!PARSERS.includes(parse)) {
    throw new TypeError(`signin: unknown parse strategy "${parse}"; use "cheerio", "json" or "raw"`);
  }
  const load = loadCheerio("signin");
  const requestOptions = {
    ...defaultsOf(requestInstance),
    ...otherRequestOptions,
    ...requestOpts,
    json: false,
    cheerio: false,
  };
  // Pages are parsed as text, in the encoding the options name if any.
  if (requestOptions.encoding === null) {
    delete requestOptions.encoding;
  }
  requestOptions.headers = {
    ...defaultsOf(requestInstance).headers,
    ...otherRequestOptions.headers,
    ...requestOpts.headers,
  };

  const page = await sendOrVendorDown({ ...requestOptions, uri: url, method: "GET" });
  const $ = load(page.body);
  const form = $(formSelector).first();
  if (form.length === 0 || !form.is("form")) {
    throw new Error(`signin: no form matches the selector "${formSelector}" on ${url}`);
  }
  const fields = {};
  for (const { name, value } of form.serializeArray()) {
    fields[name] = value;
  }
  Object.assign(fields, typeof formData === "function" ? formData($) : formData);
  const action = new URL(form.attr("action") || url, page.request.href).href;

  const response = await sendOrVendorDown({
    ...requestOptions,
    uri: action,
    method: "POST",
    form: fields,
  });
  const parsed = parseBody(response.body, parse, load);
  if (!(await validate(response.statusCode, parsed, response))) {
    const where = `status ${response.statusCode} from ${response.request.href}`;
    log("error", `signin: the vendor rejected the credentials (${where})`);
    throw new Error(errors.LOGIN_FAILED);
  }
  return parsed;
}

// Sends a request; a failure or an unexpected status is VENDOR_DOWN.
async function sendOrVendorDown(options) {
  let response;
  try {
    response = await send(options);
  } catch (error) {
    log("error", `signin: ${options.method} ${options.uri} failed: ${error.message}`);
    throw new Error(errors.VENDOR_DOWN);
  }
  const success = response.statusCode >= 200 && response.statusCode < 300;
  if (!success && options.simple !== false) {
    log("error", `signin: ${options.method} ${options.uri} answered status ${response.statusCode}`);
    throw new Error(errors.VENDOR_DOWN);
  }
  return response;
}

function parseBody(body, parse, load) {
  switch (parse) {
    case "cheerio":
      return load(body);
    case "json":
      return JSON.parse(body);
    default:
      return body;
  }
}

module.exports = signin;
