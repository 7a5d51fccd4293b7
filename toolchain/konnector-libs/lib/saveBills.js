// saveBills(bills, fields, options): saves each bill's file with
// saveFiles, then the bills into io.cozy.bills, each linked to its file.
//
// Each bill needs `date` (a Date or a date string), `amount` (a number) and
// `vendor` (a string), and a file (`fileurl`, `requestOptions` or
// `filestream`): as in cozy-konnector-libs, a bill whose file could not be
// saved is left out. `currency` is normalised to a code ("€" is EUR, "$"
// USD, "£" GBP, none EUR), and `invoice` is set to "io.cozy.files:<id>".
// Bills are upserted on `options.keys` (default date, amount and vendor,
// plus contractId when bills have one), so a later job updates or keeps
// the bills an earlier one saved. `fields` is the konnector's fields or a
// folder path.
//
// Options: those of saveFiles (contentType, fileIdAttributes, subPath,
// validateFile, requestInstance), keys, contractId and contractLabel.
// Linking bills to bank operations (`linkBankOperations`, which also uses
// `identifiers`) is not supported: it is logged and skipped.
"use strict";

const log = require("./log");
const saveFiles = require("./saveFiles");
const { hydrateAndFilter, addData } = require("./data");

const DOCTYPE = "io.cozy.bills";
const DEFAULT_KEYS = ["date", "amount", "vendor"];

// Currency codes by the symbol that a bill's currency contains.
const CURRENCY_SYMBOLS = [
  ["€", "EUR"],
  ["$", "USD"],
  ["£", "GBP"],
];

function normalizeCurrency(currency) {
  if (currency === undefined || currency === null || currency === "") {
    return "EUR";
  }
  const text = String(currency);
  for (const [symbol, code] of CURRENCY_SYMBOLS) {
    if (text.includes(symbol)) {
      return code;
    }
  }
  return text;
}

function checkBill(bill, index) {
  const problem = (field, expected) => {
    const what = bill[field] === undefined ? "no" : "an invalid";
    return new TypeError(`saveBills: bill ${index} has ${what} ${field}; expected ${expected}`);
  };
  const date = bill.date instanceof Date ? bill.date : new Date(bill.date);
  if (bill.date === undefined || bill.date === null || Number.isNaN(date.getTime())) {
    throw problem("date", "a Date or a date string");
  }
  if (typeof bill.amount !== "number" || !Number.isFinite(bill.amount)) {
    throw problem("amount", "a number");
  }
  if (typeof bill.vendor !== "string" || bill.vendor === "") {
    throw problem("vendor", "a string");
  }
}

// Applies the contract options: each bill gets the contract, contractId
// becomes one of the keys, and files go to a folder per contract.
function applyContracts(bills, options) {
  if (options.contractId) {
    const contractLabel = options.contractLabel ?? options.contractId;
    for (const bill of bills) {
      bill.contractId = options.contractId;
      bill.contractLabel = contractLabel;
    }
    return { keys: [...options.keys, "contractId"], subPath: options.subPath ?? contractLabel };
  }
  if (bills.some((bill) => bill.contractId)) {
    for (const bill of bills) {
      if (bill.contractId) {
        bill.contractLabel = bill.contractLabel ?? bill.contractId;
        bill.subPath = bill.subPath ?? bill.contractLabel;
      }
    }
    return { keys: [...options.keys, "contractId"], subPath: options.subPath };
  }
  return { keys: options.keys, subPath: options.subPath };
}

async function saveBills(bills, fields, options = {}) {
  if (!Array.isArray(bills) || bills.length === 0) {
    log("warn", "saveBills: no bills to save");
    return [];
  }
  const settings = { ...options, keys: options.keys ?? DEFAULT_KEYS };
  if (settings.linkBankOperations !== false) {
    log("info", "saveBills: linking bills to bank operations is not supported, so it is skipped");
  }
  // The caller's bills stay as they are.
  const entries = bills.map((bill) => ({ ...bill }));
  Object.assign(settings, applyContracts(entries, settings));

  const withFiles = await saveFiles(entries, fields, settings);
  const saved = withFiles.filter((bill) => bill.fileDocument);
  if (saved.length < entries.length) {
    log("warn", `saveBills: ${entries.length - saved.length} bills have no saved file and are left out`);
  }
  saved.forEach(checkBill);
  for (const bill of saved) {
    bill.currency = normalizeCurrency(bill.currency);
    bill.invoice = `io.cozy.files:${bill.fileDocument._id}`;
    delete bill.fileDocument;
    delete bill.fileAttributes;
    delete bill.subPath;
  }

  const unique = await hydrateAndFilter(saved, DOCTYPE, settings);
  return addData(unique, DOCTYPE, settings);
}

module.exports = saveBills;
module.exports.normalizeCurrency = normalizeCurrency;
