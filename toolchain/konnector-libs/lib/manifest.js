// The `manifest` of cozy-konnector-libs: `manifest.data` contains what the
// job input has of the konnector's manifest, which is its slug. Each
// document's cozyMetadata is written by the host, so getCozyMetadata adds
// nothing of its own.
"use strict";

const host = require("konnector:host");

const manifest = {
  // Read at the first use, because the job input exists only at run time.
  get data() {
    return { slug: host.input.konnector };
  },

  getCozyMetadata(data = {}) {
    return { ...data };
  },
};

module.exports = manifest;
