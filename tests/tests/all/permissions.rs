//! Writes the manifest does not grant are refused before the store, and the
//! guest gets a status it can handle.

use konnector_engine::manifest::Manifest;
use konnector_engine::{LimitRequest, Outcome, TrapKind};

use crate::support::{self, TempStore};
use crate::wat;

const BILL: &str =
    r#"{"doctype":"io.cozy.bills","doc":{"vendor":"acme","amount":12.5,"date":"2026-11-01"}}"#;
const BILL_UPSERT: &str = r#"{"doctype":"io.cozy.bills","keys":["vendor","date"],"doc":{"vendor":"acme","amount":12.5,"date":"2026-11-01"}}"#;

/// Status codes of the ABI, as the guest receives them.
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

#[tokio::test]
async fn permission_checked_before_copy() {
    // The contents' range is far outside memory: a host that copied before
    // checking the permission would return invalid_argument.
    let store = TempStore::new();
    let meta = r#"{"name":"bill.pdf"}"#;
    let guest = format!(
        r#"(module
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (import "konnector_v1" "file_save" (func $save (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) {})
            (func (export "_start")
              (call $exit (call $save (i32.const 0) (i32.const {}) (i32.const 0) (i32.const 2000000000)))))"#,
        wat::string(meta.as_bytes()),
        meta.len()
    );
    let report = run(
        &guest,
        Manifest::unprivileged("plain"),
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(exit_status(&report.outcome), PERMISSION_DENIED);
}

#[tokio::test]
async fn file_bytes_cap_stops_saves() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.files", None)]);
    let guest = wat::save_file(r#"{"name":"big.pdf","dir_path":"/Bills"}"#, &[b'x'; 20]);
    let limits = LimitRequest {
        file_bytes: Some(10),
        ..Default::default()
    };
    let report = run(&guest, manifest, &store, limits).await;
    assert_eq!(exit_status(&report.outcome), LIMIT_EXCEEDED);
    assert_eq!(store.store.count("io.cozy.files").expect("count"), 0);
}

#[tokio::test]
async fn deep_folder_path_is_refused() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.files", None)]);
    let dir_path = "/a".repeat(40);
    let meta = format!(r#"{{"name":"bill.pdf","dir_path":"{dir_path}"}}"#);
    let report = run(
        &wat::save_file(&meta, b"x"),
        manifest,
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(exit_status(&report.outcome), 1);
    assert_eq!(store.store.count("io.cozy.files").expect("count"), 0);
}

#[tokio::test]
async fn account_data_counts_as_write() {
    let store = TempStore::new();
    let data = r#"{"lastSync":"2026-01-01"}"#;
    let limits = LimitRequest {
        documents: Some(1),
        ..Default::default()
    };
    let report = run(
        &wat::call_each("account_data_set", &[data, data]),
        Manifest::unprivileged("plain"),
        &store,
        limits,
    )
    .await;
    assert_eq!(exit_status(&report.outcome), LIMIT_EXCEEDED);
}

#[tokio::test]
async fn upsert_key_count_is_capped() {
    let store = TempStore::new();
    let manifest = support::manifest(&[("io.cozy.bills", None)]);
    let keys: Vec<String> = (0..17).map(|index| format!("k{index}")).collect();
    let mut doc = serde_json::Map::new();
    for key in &keys {
        doc.insert(key.clone(), serde_json::json!(1));
    }
    let request =
        serde_json::json!({"doctype": "io.cozy.bills", "keys": keys, "doc": doc}).to_string();
    let report = run(
        &wat::call_each("doc_upsert", &[&request]),
        manifest,
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(exit_status(&report.outcome), 1);
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 0);
}
