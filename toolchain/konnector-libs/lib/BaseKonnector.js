// BaseKonnector: the class konnectors extend or construct with their fetch
// function, which runs the job and turns a thrown error into its Cozy
// error code.
//
//   module.exports = new BaseKonnector(async function fetch(fields) { ... })
//
// run() reads `fields` and `parameters` from the job input (`fields` also
// gets `folderPath`, the account's `folder_path`), then the account's saved
// data, calls `fetch(fields, parameters)` with `this` bound to the
// konnector, then `end()`. When anything throws, the job ends with the
// error's message as code if it is a Cozy error code (such as
// LOGIN_FAILED), else with UNKNOWN_ERROR; run() logs the error and
// resolves.
//
// The account's state belongs to the stack, which the konnector cannot
// write: notifySuccessfulLogin and deactivateAutoSuccessfulLogin only log,
// and updateAccountAttributes writes its `data` attribute alone.
"use strict";

const host = require("konnector:host");
const log = require("./log");
const { errors, errorCode, isErrorCode } = require("./errors");
const saveBills = require("./saveBills");
const saveFiles = require("./saveFiles");
const saveIdentity = require("./saveIdentity");
const signin = require("./signin");
const { updateOrCreate } = require("./data");
const manifest = require("./manifest");

// The reason that notifySuccessfulLogin and deactivateAutoSuccessfulLogin
// do nothing.
const OUTCOME_REASON = "because the engine reports the job's outcome";

// Thrown by terminate() to leave the konnector's code after the job's
// error code is recorded.
class Terminated extends Error {
  constructor(code) {
    super(code);
    this.name = "Terminated";
  }
}

class BaseKonnector {
  // With a fetch function, starts the job at once and, as in
  // cozy-konnector-libs, evaluates to run()'s promise. Without, a
  // subclass provides fetch() and the konnector calls run() itself.
  constructor(fetch = undefined) {
    this.failed = false;
    if (typeof fetch === "function") {
      this.fetch = fetch.bind(this);
      return this.run();
    }
  }

  async run() {
    try {
      await this.initAttributes();
      log("debug", "BaseKonnector: running the konnector's fetch");
      await this.main(this.fields, this.parameters);
      await this.end();
    } catch (error) {
      await this.fail(error);
    }
  }

  main(fields, parameters) {
    if (typeof this.fetch !== "function") {
      throw new TypeError("BaseKonnector: the konnector has no fetch function");
    }
    return this.fetch(fields, parameters);
  }

  end() {
    log("debug", "BaseKonnector: the konnector ended");
  }

  // Ends the job with the Cozy code of `error`.
  fail(error) {
    if (error instanceof Terminated) {
      return;
    }
    const code = errorCode(error);
    if (code === errors.UNKNOWN_ERROR) {
      log("error", error instanceof Error ? error : `the konnector failed: ${String(error)}`);
    }
    this.recordFailure(code, error instanceof Error ? error.message : String(error));
  }

  // Ends the job with `code` now: records the code and throws, so that the
  // konnector's code stops, as the process exits in cozy-konnector-libs.
  terminate(code) {
    const message = typeof code === "string" ? code : (code?.message ?? String(code));
    this.recordFailure(isErrorCode(message) ? message : errors.UNKNOWN_ERROR, message);
    throw new Terminated(message);
  }

  recordFailure(code, message) {
    if (this.failed) {
      return;
    }
    this.failed = true;
    log("critical", message === code ? code : `${code}: ${message}`);
    host.fail(code, message);
  }

  async initAttributes() {
    const input = host.input;
    this.parameters = { ...input.parameters };
    this.fields = { ...input.fields };
    if (this.fields.folderPath === undefined && typeof this.fields.folder_path === "string") {
      this.fields.folderPath = this.fields.folder_path;
    }
    this.accountId = input.account ?? undefined;
    let data = {};
    try {
      data = await host.accountData();
    } catch (error) {
      log("debug", `BaseKonnector: the account's data cannot be read: ${error.message}`);
    }
    this._account = { _id: this.accountId, data };
  }

  getAccountData() {
    return { ...this._account?.data };
  }

  // Saves `data` into the account's data, merged with what is there unless
  // `options.merge` is false, and returns the new data.
  async saveAccountData(data, options = {}) {
    const merge = options.merge ?? true;
    const newData = merge ? { ...this.getAccountData(), ...data } : { ...data };
    await host.setAccountData(newData);
    this._account = { ...this._account, data: newData };
    return newData;
  }

  // Writes the `data` attribute; the account's other attributes belong to
  // the stack and are logged and ignored.
  async updateAccountAttributes(attributes = {}) {
    const ignored = Object.keys(attributes).filter((name) => name !== "data");
    if (ignored.length > 0) {
      const names = ignored.join(", ");
      log("debug", `BaseKonnector: the account attributes ${names} cannot be written, only data`);
    }
    if (attributes.data !== undefined) {
      await this.saveAccountData(attributes.data, { merge: false });
    }
    return this._account;
  }

  async notifySuccessfulLogin() {
    log("debug", `BaseKonnector: notifySuccessfulLogin has no effect, ${OUTCOME_REASON}`);
  }

  async deactivateAutoSuccessfulLogin() {
    log("debug", `BaseKonnector: deactivateAutoSuccessfulLogin has no effect, ${OUTCOME_REASON}`);
  }

  // A code typed by the person cannot reach a running job, so a konnector
  // that needs one ends in USER_ACTION_NEEDED.TWOFA_EXPIRED.
  async waitForTwoFaCode() {
    log("warn", "BaseKonnector: waitForTwoFaCode cannot receive a code in the sandbox");
    throw new Error(errors.USER_ACTION_NEEDED_TWOFA_EXPIRED);
  }

  async signin(options = {}) {
    await this.deactivateAutoSuccessfulLogin();
    const result = await signin(options);
    await this.notifySuccessfulLogin();
    return result;
  }

  saveBills(entries, fields, options = {}) {
    return saveBills(entries, fields, this.sourceOptions(fields, options));
  }

  saveFiles(entries, fields, options = {}) {
    return saveFiles(entries, fields, this.sourceOptions(fields, options));
  }

  saveIdentity(contact, accountIdentifier, options = {}) {
    return saveIdentity(contact, accountIdentifier, { sourceAccount: this.accountId, ...options });
  }

  updateOrCreate(entries, doctype, matchingAttributes, options = {}) {
    return updateOrCreate(entries, doctype, matchingAttributes, options);
  }

  getCozyMetadata(data = {}) {
    return manifest.getCozyMetadata({ ...data, sourceAccount: this.accountId });
  }

  sourceOptions(fields, options) {
    return {
      sourceAccount: this.accountId,
      sourceAccountIdentifier: typeof fields === "object" ? fields?.login : undefined,
      ...options,
    };
  }
}

module.exports = BaseKonnector;
