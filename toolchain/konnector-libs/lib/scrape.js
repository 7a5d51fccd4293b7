// scrape($, spec, childSelector): declarative extraction from a cheerio
// selection.
//
// `spec` is a selector string, one field spec, or an object of field
// specs. A field spec is a selector string or {sel, attr, parse, fn,
// index}: `sel` selects within the element (none means the element
// itself), `index` keeps the element at that position among the matches,
// `fn` receives the cheerio selection, `attr` reads an attribute, and
// otherwise the value is the trimmed text. `parse` then converts the
// value. With `childSelector`, scrape returns one object per element that
// it matches; without, one object (or one value, for a single spec).
"use strict";

const log = require("./log");

function isFieldSpec(spec) {
  if (typeof spec === "string") {
    return true;
  }
  return typeof spec === "object" && spec !== null && typeof spec.sel === "string";
}

// Selects within `$`, which is either cheerio's root function or a
// selection.
function select($, selector) {
  return typeof $.find === "function" ? $.find(selector) : $(selector);
}

function scrapeField($, spec) {
  const field = typeof spec === "string" ? { sel: spec } : spec;
  let selection = field.sel ? select($, field.sel) : $;
  if (field.index !== undefined) {
    selection = selection.eq(field.index);
  }
  let value;
  if (typeof field.fn === "function") {
    value = field.fn(selection);
  } else if (field.attr) {
    value = selection.attr(field.attr);
  } else {
    value = selection.text().trim();
  }
  return typeof field.parse === "function" ? field.parse(value) : value;
}

function scrape($, spec, childSelector = undefined) {
  if (typeof $ !== "function" && (typeof $ !== "object" || $ === null)) {
    throw new TypeError("scrape: the first argument must be a cheerio selection or cheerio's $");
  }
  if (childSelector !== undefined) {
    const children = select($, childSelector);
    return children.toArray().map((_, index) => scrape(children.eq(index), spec));
  }
  if (isFieldSpec(spec)) {
    return scrapeField($, spec);
  }
  const result = {};
  for (const [name, field] of Object.entries(spec)) {
    try {
      result[name] = scrapeField($, field);
    } catch (error) {
      log("warn", `scrape: failed to read the field ${name}: ${error.message}`);
    }
  }
  return result;
}

module.exports = scrape;
