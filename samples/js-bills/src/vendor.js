// The vendor's customer site: logging in, listing bills, downloading PDFs.
//
// The pages are small and regular, so a few regular expressions read them.
// A konnector for a less regular site would bundle an HTML parser such as
// cheerio.

import { errors, log } from "konnector:host";

// The vendor's site, hard-coded as real konnectors do.
const BASE_URL = "https://vendor.example";

// Pages walked at most, in case the site links pages in a loop.
const MAX_PAGES = 100;

// Errors whose message is a Cozy error code end the job with that code.
function fail(code, detail) {
  log("error", detail);
  return new Error(code);
}

export class Vendor {
  // Logs in with the site's form: reads the form's CSRF token, posts the
  // credentials, and checks where the site sent us. The session lives in
  // the host's cookie jar, which belongs to the job.
  async logIn(login, password) {
    const form = await (await get(`${BASE_URL}/login`)).text();
    const csrf = attributeAfter(form, 'name="csrf"', "value");
    if (csrf === undefined) {
      throw fail(errors.VENDOR_DOWN, "the login page has no csrf field");
    }
    const response = await send(`${BASE_URL}/login`, {
      method: "POST",
      body: new URLSearchParams({ login, password, csrf }),
    });
    // The site returns the form again for a wrong password, and a right
    // one with a redirect to the bills.
    if (new URL(response.url).pathname !== "/bills") {
      throw fail(errors.LOGIN_FAILED, "the vendor rejected the credentials");
    }
  }

  // Walks the pages of bills from the first one.
  async bills() {
    const bills = [];
    let next = new URL("/bills?page=1", BASE_URL);
    for (let page = 0; next !== undefined && page < MAX_PAGES; page += 1) {
      const html = await (await get(next.href)).text();
      for (const item of html.split('<li class="bill"').slice(1)) {
        const bill = parseBill(item);
        if (bill !== undefined) {
          bills.push(bill);
        }
      }
      const href = attributeAfter(html, 'class="next"', "href");
      next = href === undefined ? undefined : new URL(href, next);
    }
    return bills;
  }

  // Downloads a file of the site, as bytes.
  async download(path) {
    const response = await get(new URL(path, BASE_URL).href);
    if (response.status !== 200) {
      throw fail(errors.FILE_DOWNLOAD_FAILED, `${path} returned status ${response.status}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  }
}

function get(url) {
  return send(url, { method: "GET" });
}

// Sends a request; a refused or failed request, or a 5xx status, means the
// vendor is down for this job.
async function send(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw fail(errors.VENDOR_DOWN, `${init.method} ${url} failed: ${error.message}`);
  }
  if (response.status >= 500) {
    throw fail(errors.VENDOR_DOWN, `${url} returned status ${response.status}`);
  }
  log("debug", `${init.method} ${url} -> ${response.status}`);
  return response;
}

// Reads one `<li class="bill" ...>` item, from just after its class.
function parseBill(item) {
  const amountText = attribute(item, "data-amount");
  const label = /<span class="label">([^<]*)</.exec(item);
  const bill = {
    id: attribute(item, "data-id"),
    date: attribute(item, "data-date"),
    amount: Number(amountText),
    amountText,
    label: label === null ? undefined : decodeEntities(label[1]),
    pdfPath: attributeAfter(item, 'class="pdf"', "href"),
  };
  const complete = Object.values(bill).every((value) => value !== undefined);
  return complete && Number.isFinite(bill.amount) ? bill : undefined;
}

// Returns the value of `name="..."` in `html`, at its first occurrence.
function attribute(html, name) {
  const match = new RegExp(`${name}="([^"]*)"`).exec(html);
  return match === null ? undefined : decodeEntities(match[1]);
}

// Returns the value of attribute `name` in the tag that contains `marker`.
function attributeAfter(html, marker, name) {
  const at = html.indexOf(marker);
  if (at < 0) {
    return undefined;
  }
  const start = html.lastIndexOf("<", at);
  const end = html.indexOf(">", at);
  return attribute(html.slice(start, end), name);
}

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" };

function decodeEntities(text) {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, name) => ENTITIES[name]);
}
