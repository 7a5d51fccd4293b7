// CookieKonnector: a BaseKonnector whose requests share one cookie
// session, `this.request`, saved in the account's data between jobs.
//
// The host keeps the job's cookies in one jar (see cookies.js). As in
// cozy-konnector-libs, initSession() restores the cookies saved in the
// account's data (`auth.session`, tough-cookie's JSON form as text) into
// that jar, and returns whether there were any. saveSession() saves the
// jar there, and resetSession() empties the jar and saves it empty. A
// subclass must define fetch() and testSession(), and call run().
"use strict";

const BaseKonnector = require("./BaseKonnector");
const log = require("./log");
const { requestFactory } = require("./request");
const { jar, serializeJar, restoreJar, clearJar } = require("./cookies");

// The field of the account data's `auth` object that keeps the session.
const SESSION_KEY = "session";

class CookieKonnector extends BaseKonnector {
  constructor(requestFactoryOptions = {}) {
    super();
    if (typeof this.testSession !== "function") {
      throw new TypeError("CookieKonnector: the konnector must define a testSession method");
    }
    this._jar = jar();
    this.request = this.requestFactory(requestFactoryOptions);
  }

  async initAttributes() {
    await super.initAttributes();
    await this.initSession();
  }

  async end() {
    await this.saveSession();
    return super.end();
  }

  requestFactory(options = {}) {
    return requestFactory({ ...options, jar: this._jar });
  }

  // Restores the saved session into the job's jar. Returns true when it
  // had cookies.
  async initSession() {
    const saved = this.getAccountData().auth?.[SESSION_KEY];
    if (saved === undefined || saved === null) {
      log("debug", "CookieKonnector: found no saved session");
      return false;
    }
    let restored;
    try {
      restored = restoreJar(saved);
    } catch (error) {
      log("debug", `CookieKonnector: the saved session cannot be read: ${error.message}`);
      return false;
    }
    log("debug", `CookieKonnector: restored a saved session of ${restored} cookies`);
    return restored > 0;
  }

  // Saves the job's cookies in the account's data.
  async saveSession() {
    const data = { ...this.getAccountData(), auth: { [SESSION_KEY]: JSON.stringify(serializeJar()) } };
    await this.saveAccountData(data, { merge: false });
    log("debug", "CookieKonnector: saved the session");
  }

  // Empties the job's jar and saves the empty session.
  async resetSession() {
    log("debug", "CookieKonnector: resetting the session");
    clearJar();
    return this.saveSession();
  }

  async signin(options = {}) {
    const result = await super.signin({ ...options, requestInstance: this.request });
    await this.saveSession();
    return result;
  }

  saveFiles(entries, fields, options = {}) {
    return super.saveFiles(entries, fields, { ...options, requestInstance: this.request });
  }

  saveBills(entries, fields, options = {}) {
    return super.saveBills(entries, fields, { ...options, requestInstance: this.request });
  }
}

module.exports = CookieKonnector;
