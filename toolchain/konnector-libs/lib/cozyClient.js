// cozyClient: what konnectors use of the cozy-client instance that
// cozy-konnector-libs exports, which is its document qualifications:
//
//   const { Qualification } = cozyClient.new.models.document
//   const qualification = Qualification.getByLabel("energy_invoice")
//
// The host keeps the Cozy token, so everything else of the client, which
// reads and writes the person's data directly, throws an Error that names
// the property and the functions to use instead.
"use strict";

const ROWS = require("./qualifications");
const { unsupportedObject } = require("./unsupported");

const NO_TOKEN =
  "the host holds the Cozy token, so write documents with saveBills, saveFiles, addData or updateOrCreate";

const ATTRIBUTES = ["purpose", "sourceCategory", "sourceSubCategory", "subjects"];

// The attributes of each qualification, by label.
const BY_LABEL = new Map(
  ROWS.map(([label, purpose, sourceCategory, sourceSubCategory, subjects]) => [
    label,
    { purpose, sourceCategory, sourceSubCategory, subjects },
  ]),
);

// A document qualification: a label and its attributes, which a konnector
// puts in a file's `metadata.qualification`. The attributes given replace
// the label's own.
class Qualification {
  constructor(label, attributes = {}) {
    const known = BY_LABEL.get(label);
    if (known === undefined) {
      throw new Error(`Qualification: no qualification has the label ${JSON.stringify(label)}`);
    }
    this.label = label;
    for (const name of ATTRIBUTES) {
      const value = attributes[name] ?? known[name];
      if (value !== null && value !== undefined) {
        this[name] = Array.isArray(value) ? [...value] : value;
      }
    }
  }

  static getByLabel(label) {
    return new Qualification(label);
  }

  toQualification() {
    const result = { label: this.label };
    for (const name of ATTRIBUTES) {
      result[name] = this[name];
    }
    return result;
  }

  setPurpose(purpose) {
    return new Qualification(this.label, { ...this.toQualification(), purpose });
  }

  setSourceCategory(sourceCategory) {
    return new Qualification(this.label, { ...this.toQualification(), sourceCategory });
  }

  setSourceSubCategory(sourceSubCategory) {
    return new Qualification(this.label, { ...this.toQualification(), sourceSubCategory });
  }

  setSubjects(subjects) {
    return new Qualification(this.label, { ...this.toQualification(), subjects });
  }
}

// Sets `document.metadata.qualification`, as cozy-client's
// setQualification does, after checking the label.
function setQualification(document, qualification) {
  if (!qualification?.label) {
    throw new Error("setQualification: the qualification has no label");
  }
  const checked = new Qualification(qualification.label, qualification);
  document.metadata = { ...document.metadata, qualification: checked.toQualification() };
  return document;
}

const models = Object.freeze({
  document: Object.freeze({ Qualification, setQualification }),
});

// The cozy-client instance (`cozyClient.new`): its models, and nothing
// that reaches the stack.
const newClient = unsupportedObject("cozyClient.new", NO_TOKEN, { models });

const cozyClient = unsupportedObject("cozyClient", NO_TOKEN, { new: newClient });

module.exports = { cozyClient, Qualification, setQualification };
