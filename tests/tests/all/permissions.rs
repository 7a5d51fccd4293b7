//! Writes the manifest does not grant are refused before the store, and the
//! guest gets a status it can handle.

use konnector_engine::manifest::Manifest;
use konnector_engine::{LimitRequest, Outcome, TrapKind};

use crate::support::{self, TempStore};
use crate::wat;

const BILL: &str =
    r#"{"doctype":"io.cozy.bills","doc":{"vendor":"acme","amount":12.5,"date":"2026-11-01"}}"#;
const BILL_UPSERT: &str = r#"{"doctype":"io.cozy.bills","keys":["vendor","date"],"doc":{"vendor":"acme","amount":12.5,"date":"2026-11-01"}}"#;

/// Status codes of the ABI, as the guest sees them.
const PERMISSION_DENIED: i32 = 2;
const LIMIT_EXCEEDED: i32 = 5;

fn exit_status(outcome: &Outcome) -> i32 {
    match outcome {
        Outcome::Succeeded => 0,
        Outcome::Trap {
            trap: TrapKind::Exit(status),
            ..
        } => *status,
        other => panic!("expected an exit status, got {other}"),
    }
}

async fn run(
    guest: &str,
    manifest: Manifest,
    store: &TempStore,
    limits: LimitRequest,
) -> konnector_engine::JobReport {
    let job = support::job(guest.as_bytes(), manifest, store.sink(), limits);
    support::engine().run(job).await.expect("job starts")
}

#[tokio::test]
async fn granted_create_is_written() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.bills", None)]);
    let report = run(
        &wat::call_each("doc_create", &[BILL]),
        manifest,
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(report.counters.documents_written, 1);
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 1);
}

#[tokio::test]
async fn plain_module_cannot_write() {
    let store = TempStore::new();
    let report = run(
        &wat::call_each("doc_create", &[BILL]),
        Manifest::unprivileged("plain"),
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(exit_status(&report.outcome), PERMISSION_DENIED);
    assert_eq!(report.counters.writes_refused, 1);
    assert_eq!(report.counters.documents_written, 0);
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 0);
}

#[tokio::test]
async fn other_doctype_is_refused() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.files", None)]);
    let report = run(
        &wat::call_each("doc_create", &[BILL]),
        manifest,
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(exit_status(&report.outcome), PERMISSION_DENIED);
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 0);
}

#[tokio::test]
async fn verb_not_granted_is_refused() {
    let store = TempStore::new();
    let read_only = support::manifest(&[("io.cozy.bills", Some(&["GET"]))]);
    let report = run(
        &wat::call_each("doc_create", &[BILL]),
        read_only,
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(exit_status(&report.outcome), PERMISSION_DENIED);

    // An upsert may update, so POST alone is not enough.
    let post_only = support::manifest(&[("io.cozy.bills", Some(&["POST"]))]);
    let report = run(
        &wat::call_each("doc_upsert", &[BILL_UPSERT]),
        post_only,
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(exit_status(&report.outcome), PERMISSION_DENIED);
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 0);
}

#[tokio::test]
async fn accounts_doctype_is_reserved() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.accounts", None)]);
    let request = r#"{"doctype":"io.cozy.accounts","doc":{"auth":{"login":"someone-else"}}}"#;
    let report = run(
        &wat::call_each("doc_create", &[request]),
        manifest,
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(exit_status(&report.outcome), PERMISSION_DENIED);
    assert_eq!(store.store.count("io.cozy.accounts").expect("count"), 0);
}

#[tokio::test]
async fn file_without_permission_is_refused() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.bills", None)]);
    let guest = wat::save_file(r#"{"name":"bill.pdf","dir_path":"/Bills"}"#, b"%PDF-1.4");
    let report = run(&guest, manifest, &store, LimitRequest::default()).await;
    assert_eq!(exit_status(&report.outcome), PERMISSION_DENIED);
    assert_eq!(store.store.count("io.cozy.files").expect("count"), 0);
    let files_dir = store.dir.path().join("store-files");
    let entries = std::fs::read_dir(&files_dir)
        .map(|dir| dir.count())
        .unwrap_or(0);
    assert_eq!(entries, 0, "files written under {}", files_dir.display());
}

#[tokio::test]
async fn granted_file_is_saved() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.files", None)]);
    let guest = wat::save_file(
        r#"{"name":"bill.pdf","dir_path":"/Bills"}"#,
        b"%PDF-1.4 test",
    );
    let report = run(&guest, manifest, &store, LimitRequest::default()).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.outcome);
    let saved = store
        .dir
        .path()
        .join("store-files")
        .join("Bills")
        .join("bill.pdf");
    assert_eq!(std::fs::read(&saved).expect("saved file"), b"%PDF-1.4 test");
}

#[tokio::test]
async fn escaping_file_name_is_refused() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.files", None)]);
    for meta in [
        r#"{"name":"../../escaped.txt","dir_path":"/"}"#,
        r#"{"name":"escaped.txt","dir_path":"/../.."}"#,
        r#"{"name":"a/b.txt","dir_path":"/"}"#,
    ] {
        let report = run(
            &wat::save_file(meta, b"x"),
            manifest.clone(),
            &store,
            LimitRequest::default(),
        )
        .await;
        assert_eq!(
            exit_status(&report.outcome),
            1,
            "{meta} was not refused as invalid"
        );
    }
    let outside = store
        .dir
        .path()
        .parent()
        .expect("parent")
        .join("escaped.txt");
    assert!(!outside.exists());
    assert!(!store.dir.path().join("escaped.txt").exists());
    assert_eq!(store.store.count("io.cozy.files").expect("count"), 0);
}

#[tokio::test]
async fn write_cap_stops_writes() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.bills", None)]);
    let bills = [
        r#"{"doctype":"io.cozy.bills","doc":{"n":1}}"#,
        r#"{"doctype":"io.cozy.bills","doc":{"n":2}}"#,
        r#"{"doctype":"io.cozy.bills","doc":{"n":3}}"#,
    ];
    let limits = LimitRequest {
        documents: Some(2),
        ..Default::default()
    };
    let report = run(
        &wat::call_each("doc_create", &bills),
        manifest,
        &store,
        limits,
    )
    .await;
    assert_eq!(exit_status(&report.outcome), LIMIT_EXCEEDED);
    assert_eq!(report.counters.documents_written, 2);
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 2);
}
