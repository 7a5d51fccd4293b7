// saveIdentity(contact, accountIdentifier, options): saves the person's
// identity at the vendor (an io.cozy.contacts-like object) as an
// io.cozy.identities document, one per account identifier and konnector.
//
// As in cozy-konnector-libs, phone numbers keep only digits, "+" and ".",
// and addresses lose HTML tags and line breaks in `formattedAddress`. The
// document is upserted on its `identifier` and the konnector's slug
// (`cozyMetadata.createdByApp`, which the host writes), so a later job
// updates it rather than adding another.
"use strict";

const log = require("./log");
const manifest = require("./manifest");
const { updateOrCreate } = require("./data");

const DOCTYPE = "io.cozy.identities";

function formatPhones(phones) {
  if (!Array.isArray(phones)) {
    return phones;
  }
  return phones.map((phone) =>
    phone && typeof phone.number === "string"
      ? { ...phone, number: phone.number.replace(/[^\d.+]/g, "") }
      : phone,
  );
}

function formatAddresses(addresses) {
  if (!Array.isArray(addresses)) {
    return addresses;
  }
  return addresses.map((address) =>
    address && typeof address.formattedAddress === "string"
      ? {
          ...address,
          formattedAddress: address.formattedAddress
            .replace(/<[^>]*>/g, "")
            .replace(/\r\n|[\n\r]/g, " "),
        }
      : address,
  );
}

async function saveIdentity(contact, accountIdentifier, options = {}) {
  if (accountIdentifier === undefined || accountIdentifier === null) {
    log("warn", "saveIdentity: no account identifier was given, so the identity is not saved");
    return;
  }
  if (contact === undefined || contact === null) {
    log("warn", "saveIdentity: no contact was given, so the identity is not saved");
    return;
  }
  const formatted = { ...contact };
  if (formatted.phone) {
    formatted.phone = formatPhones(formatted.phone);
  }
  if (formatted.address) {
    formatted.address = formatAddresses(formatted.address);
  }
  const identity = {
    identifier: accountIdentifier,
    contact: formatted,
    cozyMetadata: { createdByApp: manifest.data.slug },
  };
  await updateOrCreate([identity], DOCTYPE, ["identifier", "cozyMetadata.createdByApp"], options);
}

module.exports = saveIdentity;
