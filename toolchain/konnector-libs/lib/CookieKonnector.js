// CookieKonnector: a BaseKonnector whose requests share one cookie
// session, `this.request`.
//
// In cozy-konnector-libs it saves the session's cookies in the account and
// restores them in the next job. Here the host keeps each job's cookies
// itself, for that job only, and konnector code cannot read them. So every
// job starts with no cookie, and initSession() returns false.
// saveSession() and resetSession() only log. A konnector's testSession()
// then finds no session, and the konnector logs in again. A subclass must
// define fetch() and testSession(), and call run().
"use strict";

const BaseKonnector = require("./BaseKonnector");
const log = require("./log");
const { requestFactory } = require("./request");

const ONE_JOB_REASON = "because the host keeps cookies for one job only";

class CookieKonnector extends BaseKonnector {
  constructor(requestFactoryOptions = {}) {
    super();
    if (typeof this.testSession !== "function") {
      throw new TypeError("CookieKonnector: the konnector must define a testSession method");
    }
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
    return requestFactory({ ...options, jar: true });
  }

  async initSession() {
    log("debug", `CookieKonnector: no saved session, ${ONE_JOB_REASON}`);
    return false;
  }

  async saveSession() {
    log("debug", `CookieKonnector: the session is not saved, ${ONE_JOB_REASON}`);
  }

  async resetSession() {
    log("debug", "CookieKonnector: the session cannot be reset, because the host keeps cookies");
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
