// A sample konnector written in JavaScript.
//
// It logs in to its vendor's customer site with the account's fields, walks
// the pages of bills, downloads each bill's PDF into the account's folder
// and saves the bills into io.cozy.bills, each linked to its file. Bills are
// upserted on their vendor and vendor reference, and files are kept when
// their contents are the same, so a second run writes no new document.
//
// Like real konnectors it hard-codes its vendor's URL (see vendor.js). To
// run it against the local fixture site, `konnector demo` maps that name to
// the site; by hand, give `konnector run` the flags --connect-to,
// --allow-private and --ca-file (see the README).

import { errors, input, log, saveFile, setAccountData, upsert } from "konnector:host";
import { Vendor } from "./vendor.js";

// The vendor's name, stored in each bill's `vendor` field.
const VENDOR = "js-bills";

// The fields that identify a bill, so that a later run updates the bill an
// earlier run saved instead of adding a copy.
const BILL_KEYS = ["vendor", "vendorRef"];

const { login, password } = input.fields;
if (typeof login !== "string" || typeof password !== "string") {
  log("error", "the login and password fields are required");
  throw new Error(errors.LOGIN_FAILED);
}

const vendor = new Vendor();
await vendor.logIn(login, password);
log("info", "logged in");

const bills = await vendor.bills();
log("info", `${bills.length} bills listed`);

let unchanged = 0;
for (const bill of bills) {
  if ((await saveBill(bill)) === "unchanged") {
    unchanged += 1;
  }
}
log("info", `${bills.length - unchanged} bills created or updated, ${unchanged} unchanged`);

await setAccountData({ lastSync: new Date().toISOString() });

// Downloads a bill's PDF, saves it, then saves the bill linked to it, and
// returns what happened to the bill.
async function saveBill(bill) {
  const pdf = await vendor.download(bill.pdfPath);
  const filename = `${bill.date}_${VENDOR}_${bill.amountText}EUR.pdf`;
  const file = await saveFile(
    {
      name: filename,
      content_type: "application/pdf",
      metadata: { invoiceNumber: bill.id, issueDate: bill.date },
    },
    pdf,
  );
  const saved = await upsert("io.cozy.bills", BILL_KEYS, {
    vendor: VENDOR,
    date: `${bill.date}T00:00:00.000Z`,
    amount: bill.amount,
    currency: "EUR",
    vendorRef: bill.id,
    label: bill.label,
    filename,
    invoice: `io.cozy.files:${file.id}`,
  });
  log("debug", `bill ${bill.id}: ${saved.status}, its file ${file.status}`);
  return saved.status;
}
