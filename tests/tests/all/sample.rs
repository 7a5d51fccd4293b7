//! The sample Rust konnector, built from source, writes its documents into
//! the SQLite store, and a second run adds nothing.

use std::sync::Arc;

use konnector_engine::manifest::Manifest;
use konnector_engine::{Job, JobReport, LimitRequest, Outcome};
use konnector_host_api::JobInput;
use konnector_tests::samples;
use serde_json::{Value, json};

use crate::support::{self, TempStore};

/// Fuel the sample used when it was pinned, and the drift allowed either
/// way before a test fails: a change that makes the sample or the SDK
/// cheaper or dearer than that is worth a look (and a new pin).
const PINNED_FUEL: u64 = 270_289;
const FUEL_TOLERANCE_PERCENT: u64 = 10;

fn manifest() -> Manifest {
    Manifest::load(&samples::dir("rust-bills").join("manifest.konnector")).expect("sample manifest")
}

async fn run_sample(store: &TempStore, password: &str) -> JobReport {
    let wasm = std::fs::read(samples::RUST_BILLS_WASM).expect("sample module is built");
    let job = Job {
        id: "sample-job".into(),
        wasm: Arc::from(wasm),
        manifest: Arc::new(manifest()),
        input: JobInput {
            account: Some("sample-account".into()),
            fields: json!({"login": "demo@example.com", "password": password, "folder_path": "/Administrative/Rust bills"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..JobInput::default()
        },
        limits: LimitRequest::default(),
        sink: store.sink(),
        log_observer: None,
    };
    support::engine().run(job).await.expect("job starts")
}

#[tokio::test]
async fn sample_writes_bills_and_files() {
    let store = TempStore::new();
    let report = run_sample(&store, "secret").await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}: {:?}", report.outcome, report.logs);

    let bills = store.store.documents(Some("io.cozy.bills")).expect("bills");
    assert_eq!(bills.len(), 3);
    let files: Vec<Value> = store
        .store
        .documents(Some("io.cozy.files"))
        .expect("files")
        .into_iter()
        .filter(|doc| doc["type"] == "file")
        .collect();
    assert_eq!(files.len(), 3);
    // 3 files and 3 bills.
    assert_eq!(report.counters.documents_written, 6);

    let bill = &bills[0];
    assert_eq!(bill["vendor"], "rust-bills");
    assert_eq!(bill["cozyMetadata"]["createdByApp"], "rust-bills");
    assert_eq!(bill["cozyMetadata"]["createdByAppVersion"], "1.0.0");
    assert_eq!(bill["cozyMetadata"]["sourceAccount"], "sample-account");
    assert_eq!(bill["cozyMetadata"]["sourceAccountIdentifier"], "demo@example.com");
    let invoice = bill["invoice"].as_str().expect("invoice link");
    let file_id = invoice.strip_prefix("io.cozy.files:").expect("file link");
    assert!(files.iter().any(|file| file["_id"] == file_id), "{invoice} points to no file");

    let file = &files[0];
    let folders = store.store.documents(Some("io.cozy.files")).expect("folders");
    let folder = folders.iter().find(|doc| doc["_id"] == file["dir_id"]).expect("file's folder");
    assert_eq!(folder["path"], "/Administrative/Rust bills");
    let on_disk = store.dir.path().join("store-files/Administrative/Rust bills").join(file["name"].as_str().expect("name"));
    let contents = std::fs::read_to_string(&on_disk).expect("file contents on disk");
    assert!(contents.starts_with("Invoice F2025-"), "{contents}");

    let account = store.store.documents(Some("io.cozy.accounts")).expect("accounts");
    assert_eq!(account.len(), 1);
    assert!(account[0]["data"]["lastSync"].is_string(), "{}", account[0]);
}

#[tokio::test]
async fn second_run_adds_nothing() {
    let store = TempStore::new();
    let first = run_sample(&store, "secret").await;
    assert_eq!(first.outcome, Outcome::Succeeded);
    let second = run_sample(&store, "secret").await;
    assert_eq!(second.outcome, Outcome::Succeeded);
    assert_eq!(second.counters.documents_written, 0);
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 3);
    let bills = store.store.documents(Some("io.cozy.bills")).expect("bills");
    for bill in bills {
        assert!(bill["_rev"].as_str().is_some_and(|rev| rev.starts_with("1-")), "{bill}");
    }
}

#[tokio::test]
async fn wrong_password_is_login_failed() {
    let store = TempStore::new();
    let report = run_sample(&store, "wrong").await;
    assert_eq!(report.outcome.error_code(), Some("LOGIN_FAILED"), "{}", report.outcome);
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 0);
}

#[tokio::test]
async fn sample_fuel_is_pinned() {
    let store = TempStore::new();
    let report = run_sample(&store, "secret").await;
    let used = report.counters.fuel_used;
    let tolerance = PINNED_FUEL * FUEL_TOLERANCE_PERCENT / 100;
    assert!(
        used.abs_diff(PINNED_FUEL) <= tolerance,
        "the sample used {used} fuel, pinned at {PINNED_FUEL} ± {FUEL_TOLERANCE_PERCENT}%"
    );
}
