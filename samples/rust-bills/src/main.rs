//! A sample konnector written in Rust.
//!
//! It checks the account's fields, then imports three bills of a fictional
//! vendor into `io.cozy.bills`, each linked to its invoice saved as a text
//! file, and records the time of this synchronisation in the account's data.
//! Bills are upserted on their vendor, date and amount, and files are kept
//! when their contents are the same, so a second run writes no new document.

use chrono::{SecondsFormat, Utc};
use konnector_host_api::guest::{self, KonnectorError};
use konnector_host_api::{FileRequest, JobInput, WriteStatus};
use serde_json::json;

/// The vendor's name, stored in each bill's `vendor` field.
const VENDOR: &str = "rust-bills";

/// The fields that identify a bill, so that a later run updates the bill an
/// earlier run saved instead of adding a copy.
const BILL_KEYS: &[&str] = &["vendor", "date", "amount"];

/// A bill as the vendor lists it.
struct VendorBill {
    /// The vendor's invoice number.
    number: &'static str,
    /// Issue date, `YYYY-MM-DD`.
    day: &'static str,
    /// Amount in euros.
    amount: f64,
}

/// The bills the vendor lists for every account.
const VENDOR_BILLS: [VendorBill; 3] = [
    VendorBill {
        number: "F2025-001",
        day: "2025-01-15",
        amount: 12.5,
    },
    VendorBill {
        number: "F2025-002",
        day: "2025-02-15",
        amount: 30.0,
    },
    VendorBill {
        number: "F2025-003",
        day: "2025-03-15",
        amount: 7.99,
    },
];

fn main() {
    guest::run(konnector);
}

fn konnector(input: JobInput) -> Result<(), KonnectorError> {
    log_in(&input)?;
    guest::info(&format!(
        "logged in, {} bills to import",
        VENDOR_BILLS.len()
    ));

    let mut unchanged = 0;
    for bill in &VENDOR_BILLS {
        if save_bill(bill)? == WriteStatus::Unchanged {
            unchanged += 1;
        }
    }
    let written = VENDOR_BILLS.len() - unchanged;
    guest::info(&format!(
        "{written} bills created or updated, {unchanged} unchanged"
    ));

    let last_sync = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    guest::set_account_data(&guest::to_object(&json!({ "lastSync": last_sync }))?)?;
    Ok(())
}

/// Checks the account's fields, in place of logging in to the vendor.
fn log_in(input: &JobInput) -> Result<(), KonnectorError> {
    let field = |name: &str| input.fields.get(name).and_then(|value| value.as_str());
    let Some(_login) = field("login") else {
        return Err(KonnectorError::new(
            "LOGIN_FAILED",
            "the login field is missing",
        ));
    };

    // NOTE: the vendor is not contacted yet. Logging in to the fixture
    // vendor site over HTTP goes here, and the bills should then come from
    // its pages instead of `VENDOR_BILLS`. Until then only the password
    // "wrong" is rejected, so that tests can exercise LOGIN_FAILED.
    if field("password") == Some("wrong") {
        return Err(KonnectorError::new(
            "LOGIN_FAILED",
            "the vendor rejected the password",
        ));
    }
    Ok(())
}

/// Saves a bill's invoice file, then the bill linked to it, and returns what
/// happened to the bill.
fn save_bill(bill: &VendorBill) -> Result<WriteStatus, KonnectorError> {
    // Same contents on every run, so that the store keeps the file as it is.
    let file_name = format!("{}_{VENDOR}_{:.2}EUR.txt", bill.day, bill.amount);
    let contents = format!(
        "Invoice {}\nDate: {}\nAmount: {:.2} EUR\n",
        bill.number, bill.day, bill.amount
    );
    let file = FileRequest {
        name: file_name.clone(),
        // The account's destination folder.
        dir_path: None,
        content_type: Some("text/plain".to_owned()),
        metadata: guest::to_object(&json!({
            "invoiceNumber": bill.number,
            "issueDate": bill.day,
        }))?,
    };
    let saved_file = guest::save_file(&file, contents.as_bytes())?;

    let doc = json!({
        "vendor": VENDOR,
        "date": format!("{}T00:00:00.000Z", bill.day),
        "amount": bill.amount,
        "currency": "EUR",
        "vendorRef": bill.number,
        "filename": file_name,
        "invoice": format!("io.cozy.files:{}", saved_file.id),
    });
    let saved_bill = guest::upsert("io.cozy.bills", BILL_KEYS, guest::to_object(&doc)?)?;
    guest::debug(&format!(
        "bill {}: {:?}, its file {:?}",
        bill.number, saved_bill.status, saved_file.status
    ));
    Ok(saved_bill.status)
}
