//! A sample konnector written in Rust.
//!
//! It logs in to its vendor's customer site with the account's fields, walks
//! the pages of bills, downloads each bill's PDF into the account's folder and
//! saves the bills into `io.cozy.bills`, each linked to its file. Bills are
//! upserted on their vendor and vendor reference, and files are kept when
//! their contents are the same, so a second run writes no new document.
//!
//! Like real konnectors it hard-codes its vendor's URL. To run it against the
//! local fixture site, the operator maps that name to the site with
//! `--connect-to`, allows the loopback address with `--allow-private` and
//! trusts the site's test CA with `--ca-file` (see the README).

mod vendor;

use chrono::{SecondsFormat, Utc};
use konnector_host_api::guest::{self, KonnectorError};
use konnector_host_api::{FileRequest, JobInput, WriteStatus};
use serde_json::json;

use crate::vendor::{Bill, Vendor};

/// The vendor's name, stored in each bill's `vendor` field.
const VENDOR: &str = "rust-bills";

/// The fields that identify a bill, so that a later run updates the bill an
/// earlier run saved instead of adding a copy.
const BILL_KEYS: &[&str] = &["vendor", "vendorRef"];

fn main() {
    guest::run(konnector);
}

fn konnector(input: JobInput) -> Result<(), KonnectorError> {
    let field = |name: &str| input.fields.get(name).and_then(|value| value.as_str());
    let (Some(login), Some(password)) = (field("login"), field("password")) else {
        return Err(KonnectorError::new(
            "LOGIN_FAILED",
            "the login and password fields are required",
        ));
    };

    let vendor = Vendor;
    vendor.log_in(login, password)?;
    guest::info("logged in");

    let bills = vendor.bills()?;
    guest::info(&format!("{} bills listed", bills.len()));

    let mut unchanged = 0;
    for bill in &bills {
        if save_bill(&vendor, bill)? == WriteStatus::Unchanged {
            unchanged += 1;
        }
    }
    let written = bills.len() - unchanged;
    guest::info(&format!(
        "{written} bills created or updated, {unchanged} unchanged"
    ));

    let last_sync = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    guest::set_account_data(&guest::to_object(&json!({ "lastSync": last_sync }))?)?;
    Ok(())
}

/// Downloads a bill's PDF, saves it, then saves the bill linked to it, and
/// returns what happened to the bill.
fn save_bill(vendor: &Vendor, bill: &Bill) -> Result<WriteStatus, KonnectorError> {
    let pdf = vendor.download(&bill.pdf_path)?;
    let file_name = format!("{}_{VENDOR}_{}EUR.pdf", bill.date, bill.amount_text);
    let file = FileRequest {
        name: file_name.clone(),
        // The account's destination folder.
        dir_path: None,
        content_type: Some("application/pdf".to_owned()),
        metadata: guest::to_object(&json!({
            "invoiceNumber": bill.id,
            "issueDate": bill.date,
        }))?,
    };
    let saved_file = guest::save_file(&file, &pdf)?;

    let doc = json!({
        "vendor": VENDOR,
        "date": format!("{}T00:00:00.000Z", bill.date),
        "amount": bill.amount,
        "currency": "EUR",
        "vendorRef": bill.id,
        "label": bill.label,
        "filename": file_name,
        "invoice": format!("io.cozy.files:{}", saved_file.id),
    });
    let saved_bill = guest::upsert("io.cozy.bills", BILL_KEYS, guest::to_object(&doc)?)?;
    guest::debug(&format!(
        "bill {}: {:?}, its file {:?}",
        bill.id, saved_bill.status, saved_file.status
    ));
    Ok(saved_bill.status)
}
