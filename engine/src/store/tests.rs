//! Behaviour of [`SqliteStore`] through the [`DocumentSink`] trait, on
//! stores in temporary folders.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use konnector_host_api::{WriteResult, WriteStatus};
use serde_json::{Map, Value, json};
use tempfile::TempDir;

use super::*;

/// A store at `<tempdir>/store/konnector.sqlite`, files in
/// `<tempdir>/store/konnector-files`.
struct Fixture {
    _dir: TempDir,
    store_dir: PathBuf,
    db_path: PathBuf,
    files_dir: PathBuf,
    store: SqliteStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let db_path = store_dir.join("konnector.sqlite");
    let files_dir = SqliteStore::default_files_dir(&db_path);
    let store = SqliteStore::open(&db_path, &files_dir).expect("open store");
    Fixture {
        _dir: dir,
        store_dir,
        db_path,
        files_dir,
        store,
    }
}

fn ctx() -> WriteContext {
    WriteContext {
        slug: "vendor".into(),
        konnector_version: "1.2.0".into(),
        account_id: Some("account-1".into()),
        source_account_identifier: Some("alice".into()),
        deadline: None,
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        other => panic!("not an object: {other}"),
    }
}

fn bill(vendor_id: &str, amount: f64) -> Map<String, Value> {
    object(json!({"vendor": "acme", "vendorRef": {"id": vendor_id}, "amount": amount}))
}

fn pdf(dir_path: &str, name: &str, bytes: &[u8]) -> FileWrite {
    FileWrite {
        dir_path: dir_path.into(),
        name: name.into(),
        content_type: "application/pdf".into(),
        metadata: object(json!({"qualification": {"label": "bill"}})),
        bytes: bytes.to_vec(),
    }
}

fn stored(store: &SqliteStore, doctype: &str, id: &str) -> Value {
    store
        .documents(Some(doctype))
        .expect("documents")
        .into_iter()
        .find(|doc| doc["_id"] == id)
        .unwrap_or_else(|| panic!("no document {doctype}/{id}"))
}

/// Names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Lists every file under `dir`, recursively, relative to it.
fn all_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            let nested = all_files(&path);
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            found.extend(nested.into_iter().map(|file| format!("{name}/{file}")));
        } else {
            found.push(
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    found.sort();
    found
}

fn is_invalid(err: &SinkError, needle: &str) -> bool {
    matches!(err, SinkError::Invalid(message) if message.contains(needle))
}

// Documents.

#[tokio::test]
async fn create_returns_new_id_and_rev() {
    let f = fixture();
    let result = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("b1", 10.0))
        .await
        .expect("create");
    assert_eq!(result.status, WriteStatus::Created);
    assert_eq!(result.id.len(), 32);
    assert!(
        result.id.chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        result.id
    );
    assert!(result.rev.starts_with("1-"), "{}", result.rev);
    assert_eq!(result.rev.len(), 2 + 32);

    let other = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("b1", 10.0))
        .await
        .expect("create");
    assert_ne!(other.id, result.id);
    assert_eq!(f.store.count("io.cozy.bills").expect("count"), 2);
}

#[tokio::test]
async fn create_rejects_reserved_fields() {
    let f = fixture();
    for field in ["_id", "_rev", "_deleted"] {
        let mut doc = bill("b1", 1.0);
        doc.insert(field.into(), json!("x"));
        let err = f
            .store
            .create(&ctx(), "io.cozy.bills", doc)
            .await
            .expect_err("reserved field");
        assert!(is_invalid(&err, &format!("'{field}'")), "{err}");
    }
    assert_eq!(f.store.count("io.cozy.bills").expect("count"), 0);
}

#[tokio::test]
async fn create_rejects_files_doctype() {
    let f = fixture();
    let err = f
        .store
        .create(
            &ctx(),
            "io.cozy.files",
            object(json!({"type": "file", "name": "x"})),
        )
        .await
        .expect_err("files doctype");
    assert!(is_invalid(&err, "io.cozy.files"), "{err}");
}

#[tokio::test]
async fn create_rejects_oversized_document() {
    let f = fixture();
    let doc = object(json!({"blob": "x".repeat(MAX_DOCUMENT_BYTES)}));
    let err = f
        .store
        .create(&ctx(), "io.cozy.bills", doc)
        .await
        .expect_err("too large");
    assert!(is_invalid(&err, "limit"), "{err}");
    assert_eq!(f.store.count("io.cozy.bills").expect("count"), 0);
}

#[tokio::test]
async fn update_replaces_body() {
    let f = fixture();
    let created = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("b1", 10.0))
        .await
        .expect("create");
    let before = stored(&f.store, "io.cozy.bills", &created.id);

    let new_body = object(json!({"vendor": "acme", "amount": 11}));
    let updated = f
        .store
        .update(
            &ctx(),
            "io.cozy.bills",
            &created.id,
            Some(&created.rev),
            new_body,
        )
        .await
        .expect("update");
    assert_eq!(updated.status, WriteStatus::Updated);
    assert_eq!(updated.id, created.id);
    assert!(updated.rev.starts_with("2-"), "{}", updated.rev);

    let after = stored(&f.store, "io.cozy.bills", &created.id);
    assert_eq!(after["_rev"], updated.rev);
    assert_eq!(after["amount"], 11);
    assert!(after.get("vendorRef").is_none(), "{after}");
    assert_eq!(
        after["cozyMetadata"]["createdAt"],
        before["cozyMetadata"]["createdAt"]
    );

    // Without a revision the update is unconditional.
    let again = f
        .store
        .update(&ctx(), "io.cozy.bills", &created.id, None, bill("b1", 12.0))
        .await
        .expect("update without rev");
    assert!(again.rev.starts_with("3-"), "{}", again.rev);
}

#[tokio::test]
async fn update_stale_rev_conflicts() {
    let f = fixture();
    let created = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("b1", 10.0))
        .await
        .expect("create");
    let err = f
        .store
        .update(
            &ctx(),
            "io.cozy.bills",
            &created.id,
            Some("1-stale"),
            bill("b1", 11.0),
        )
        .await
        .expect_err("stale rev");
    match err {
        SinkError::Conflict {
            given, current, id, ..
        } => {
            assert_eq!(given, "1-stale");
            assert_eq!(current, created.rev);
            assert_eq!(id, created.id);
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(
        stored(&f.store, "io.cozy.bills", &created.id)["amount"],
        10.0
    );
}

#[tokio::test]
async fn update_missing_not_found() {
    let f = fixture();
    let err = f
        .store
        .update(&ctx(), "io.cozy.bills", "missing", None, bill("b1", 1.0))
        .await
        .expect_err("missing");
    assert!(
        matches!(&err, SinkError::NotFound { doctype, id } if doctype == "io.cozy.bills" && id == "missing"),
        "{err}"
    );
}

#[tokio::test]
async fn update_rejects_reserved_fields() {
    let f = fixture();
    let created = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("b1", 10.0))
        .await
        .expect("create");
    let mut body = bill("b1", 11.0);
    body.insert("_id".into(), json!("other"));
    let err = f
        .store
        .update(&ctx(), "io.cozy.bills", &created.id, None, body)
        .await
        .expect_err("reserved field");
    assert!(is_invalid(&err, "'_id'"), "{err}");
}

// Upsert.

async fn upsert(f: &Fixture, keys: &[&str], doc: Value) -> Result<WriteResult, SinkError> {
    let keys: Vec<String> = keys.iter().map(|key| key.to_string()).collect();
    f.store
        .upsert(&ctx(), "io.cozy.bills", &keys, object(doc))
        .await
}

#[tokio::test]
async fn upsert_created_unchanged_updated() {
    let f = fixture();
    let doc = json!({"vendor": "acme", "date": "2024-05-01", "amount": 10});
    let created = upsert(&f, &["vendor", "date"], doc.clone())
        .await
        .expect("create");
    assert_eq!(created.status, WriteStatus::Created);

    let unchanged = upsert(&f, &["vendor", "date"], doc)
        .await
        .expect("unchanged");
    assert_eq!(unchanged.status, WriteStatus::Unchanged);
    assert_eq!(unchanged.id, created.id);
    assert_eq!(unchanged.rev, created.rev);
    assert_eq!(
        stored(&f.store, "io.cozy.bills", &created.id)["_rev"],
        created.rev
    );

    let changed = json!({"vendor": "acme", "date": "2024-05-01", "amount": 11});
    let updated = upsert(&f, &["vendor", "date"], changed)
        .await
        .expect("update");
    assert_eq!(updated.status, WriteStatus::Updated);
    assert_eq!(updated.id, created.id);
    assert!(updated.rev.starts_with("2-"), "{}", updated.rev);
    assert_eq!(f.store.count("io.cozy.bills").expect("count"), 1);
}

#[tokio::test]
async fn upsert_matches_number_key() {
    let f = fixture();
    let created = upsert(&f, &["amount"], json!({"amount": 12.5, "label": "a"}))
        .await
        .expect("create");
    let same = upsert(&f, &["amount"], json!({"amount": 12.5, "label": "a"}))
        .await
        .expect("same");
    assert_eq!(same.status, WriteStatus::Unchanged);
    assert_eq!(same.id, created.id);

    // 12.5 and "12.5" are different values.
    let string = upsert(&f, &["amount"], json!({"amount": "12.5"}))
        .await
        .expect("string");
    assert_eq!(string.status, WriteStatus::Created);

    // An integer matches the equal float, as in JavaScript.
    let whole = upsert(&f, &["amount"], json!({"amount": 3.0}))
        .await
        .expect("float");
    let integer = upsert(&f, &["amount"], json!({"amount": 3}))
        .await
        .expect("integer");
    assert_eq!(integer.id, whole.id);
    assert_eq!(f.store.count("io.cozy.bills").expect("count"), 3);
}

#[tokio::test]
async fn upsert_matches_string_key() {
    let f = fixture();
    let first = upsert(&f, &["ref"], json!({"ref": "A-1", "n": 1}))
        .await
        .expect("create");
    let other = upsert(&f, &["ref"], json!({"ref": "A-2", "n": 1}))
        .await
        .expect("create other");
    assert_eq!(other.status, WriteStatus::Created);
    let again = upsert(&f, &["ref"], json!({"ref": "A-1", "n": 2}))
        .await
        .expect("update");
    assert_eq!(again.status, WriteStatus::Updated);
    assert_eq!(again.id, first.id);
}

#[tokio::test]
async fn upsert_matches_nested_key() {
    let f = fixture();
    let created = upsert(&f, &["vendorRef.id"], Value::Object(bill("v-1", 5.0)))
        .await
        .expect("create");
    let other = upsert(&f, &["vendorRef.id"], Value::Object(bill("v-2", 5.0)))
        .await
        .expect("other");
    assert_ne!(other.id, created.id);
    let updated = upsert(&f, &["vendorRef.id"], Value::Object(bill("v-1", 6.0)))
        .await
        .expect("update");
    assert_eq!(updated.status, WriteStatus::Updated);
    assert_eq!(updated.id, created.id);
    assert_eq!(
        stored(&f.store, "io.cozy.bills", &created.id)["amount"],
        6.0
    );
}

#[tokio::test]
async fn upsert_matches_bool_null_object_keys() {
    let f = fixture();
    let cases = [
        (json!(true), json!(1)),
        (json!(null), json!("null")),
        (json!({"a": 1, "b": [1, 2]}), json!("{\"a\":1,\"b\":[1,2]}")),
    ];
    for (value, look_alike) in cases {
        let created = upsert(&f, &["k"], json!({"k": value, "x": 1}))
            .await
            .expect("create");
        let same = upsert(&f, &["k"], json!({"k": value, "x": 1}))
            .await
            .expect("same");
        assert_eq!(same.status, WriteStatus::Unchanged, "{value}");
        assert_eq!(same.id, created.id, "{value}");
        let different = upsert(&f, &["k"], json!({"k": look_alike, "x": 1}))
            .await
            .expect("other");
        assert_eq!(
            different.status,
            WriteStatus::Created,
            "{value} vs {look_alike}"
        );
    }
}

#[tokio::test]
async fn upsert_missing_key_invalid() {
    let f = fixture();
    let err = upsert(&f, &["vendorRef.id"], json!({"vendor": "acme"}))
        .await
        .expect_err("missing");
    assert!(is_invalid(&err, "'vendorRef.id'"), "{err}");
    let err = upsert(&f, &[], json!({"vendor": "acme"}))
        .await
        .expect_err("no keys");
    assert!(is_invalid(&err, "at least one key"), "{err}");
    let err = upsert(&f, &["a..b"], json!({"a": 1}))
        .await
        .expect_err("bad key");
    assert!(is_invalid(&err, "'a..b'"), "{err}");
    assert_eq!(f.store.count("io.cozy.bills").expect("count"), 0);
}

#[tokio::test]
async fn upsert_merges_shallowly() {
    let f = fixture();
    let created = upsert(
        &f,
        &["k"],
        json!({"k": 1, "keep": "yes", "nested": {"a": 1, "b": 2}}),
    )
    .await
    .expect("create");
    upsert(&f, &["k"], json!({"k": 1, "nested": {"a": 1}}))
        .await
        .expect("merge");
    let merged = stored(&f.store, "io.cozy.bills", &created.id);
    assert_eq!(merged["keep"], "yes");
    assert_eq!(merged["nested"], json!({"a": 1}));
}

#[tokio::test]
async fn upsert_several_matches_updates_oldest() {
    let f = fixture();
    let oldest = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("dup", 1.0))
        .await
        .expect("first");
    let newest = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("dup", 1.0))
        .await
        .expect("second");
    let updated = upsert(&f, &["vendorRef.id"], Value::Object(bill("dup", 2.0)))
        .await
        .expect("upsert");
    assert_eq!(updated.id, oldest.id);
    assert_eq!(
        stored(&f.store, "io.cozy.bills", &newest.id)["_rev"],
        newest.rev
    );
}

#[tokio::test]
async fn upsert_ignores_metadata_changes() {
    let f = fixture();
    let created = upsert(&f, &["k"], json!({"k": 1})).await.expect("create");
    let same = upsert(
        &f,
        &["k"],
        json!({"k": 1, "cozyMetadata": {"doctypeVersion": 9}}),
    )
    .await
    .expect("same");
    assert_eq!(same.status, WriteStatus::Unchanged);
    assert_eq!(same.rev, created.rev);
}

// cozyMetadata.

#[tokio::test]
async fn metadata_written_on_create() {
    let f = fixture();
    let mut body = bill("b1", 1.0);
    body.insert(
        "cozyMetadata".into(),
        json!({"createdByApp": "bank", "sourceAccount": "other", "doctypeVersion": 3}),
    );
    let created = f
        .store
        .create(&ctx(), "io.cozy.bills", body)
        .await
        .expect("create");
    let metadata = stored(&f.store, "io.cozy.bills", &created.id)["cozyMetadata"].clone();

    assert_eq!(metadata["createdByApp"], "vendor");
    assert_eq!(metadata["createdByAppVersion"], "1.2.0");
    assert_eq!(metadata["sourceAccount"], "account-1");
    assert_eq!(metadata["sourceAccountIdentifier"], "alice");
    assert_eq!(metadata["doctypeVersion"], 3);
    assert_eq!(metadata["metadataVersion"], 1);
    let created_at = metadata["createdAt"].as_str().expect("createdAt");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok(),
        "{created_at}"
    );
    assert!(created_at.ends_with('Z'), "{created_at}");
    assert_eq!(metadata["updatedAt"], created_at);
    assert_eq!(
        metadata["updatedByApps"],
        json!([{"slug": "vendor", "date": created_at, "version": "1.2.0"}])
    );
}

#[tokio::test]
async fn metadata_updated_on_update() {
    let f = fixture();
    let created = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("b1", 1.0))
        .await
        .expect("create");
    let before = stored(&f.store, "io.cozy.bills", &created.id)["cozyMetadata"].clone();
    std::thread::sleep(std::time::Duration::from_millis(5));

    let newer = WriteContext {
        konnector_version: "1.3.0".into(),
        ..ctx()
    };
    let mut body = bill("b1", 2.0);
    body.insert(
        "cozyMetadata".into(),
        json!({"createdByApp": "bank", "createdAt": "2000-01-01"}),
    );
    f.store
        .update(&newer, "io.cozy.bills", &created.id, None, body)
        .await
        .expect("update");
    let after = stored(&f.store, "io.cozy.bills", &created.id)["cozyMetadata"].clone();

    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_eq!(after["createdByApp"], "vendor");
    assert_eq!(after["createdByAppVersion"], "1.2.0");
    assert_ne!(after["updatedAt"], before["updatedAt"]);
    let apps = after["updatedByApps"].as_array().expect("updatedByApps");
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["version"], "1.3.0");
    assert_eq!(apps[0]["date"], after["updatedAt"]);
}

// Files.

#[tokio::test]
async fn save_file_writes_contents_and_docs() {
    let f = fixture();
    let result = f
        .store
        .save_file(&ctx(), pdf("/Administrative/Acme", "bill.pdf", b"%PDF-1"))
        .await
        .expect("save");
    assert_eq!(result.status, WriteStatus::Created);

    let path = f
        .store
        .file_path(&result.id)
        .expect("file path")
        .expect("a file");
    assert_eq!(path, f.files_dir.join("Administrative/Acme/bill.pdf"));
    assert_eq!(fs::read(&path).expect("contents"), b"%PDF-1");
    assert_eq!(all_files(&f.files_dir), ["Administrative/Acme/bill.pdf"]);

    let file = stored(&f.store, "io.cozy.files", &result.id);
    assert_eq!(file["_type"], "io.cozy.files");
    assert_eq!(file["_rev"], result.rev);
    assert_eq!(file["type"], "file");
    assert_eq!(file["name"], "bill.pdf");
    assert_eq!(file["size"], "6");
    // `printf '%%PDF-1' | openssl dgst -md5 -binary | base64`
    assert_eq!(file["md5sum"], revision::md5_base64(b"%PDF-1"));
    assert_eq!(file["mime"], "application/pdf");
    assert_eq!(file["class"], "pdf");
    assert_eq!(file["trashed"], false);
    assert_eq!(
        file["metadata"],
        json!({"qualification": {"label": "bill"}})
    );
    assert_eq!(file["cozyMetadata"]["createdByApp"], "vendor");
    assert_eq!(
        file["cozyMetadata"]["uploadedBy"],
        json!({"slug": "vendor", "version": "1.2.0"})
    );
    assert_eq!(file["created_at"], file["cozyMetadata"]["createdAt"]);

    let folder = stored(
        &f.store,
        "io.cozy.files",
        file["dir_id"].as_str().expect("dir_id"),
    );
    assert_eq!(folder["type"], "directory");
    assert_eq!(folder["name"], "Acme");
    assert_eq!(folder["path"], "/Administrative/Acme");
    let parent = stored(
        &f.store,
        "io.cozy.files",
        folder["dir_id"].as_str().expect("dir_id"),
    );
    assert_eq!(parent["path"], "/Administrative");
    assert_eq!(parent["dir_id"], files::ROOT_DIR_ID);
    let root = stored(&f.store, "io.cozy.files", files::ROOT_DIR_ID);
    assert_eq!(root["path"], "/");
    assert_eq!(f.store.count("io.cozy.files").expect("count"), 4);
}

#[tokio::test]
async fn save_file_in_root_folder() {
    let f = fixture();
    let result = f
        .store
        .save_file(&ctx(), pdf("/", "a.pdf", b"a"))
        .await
        .expect("save");
    let file = stored(&f.store, "io.cozy.files", &result.id);
    assert_eq!(file["dir_id"], files::ROOT_DIR_ID);
    assert_eq!(all_files(&f.files_dir), ["a.pdf"]);
}

#[tokio::test]
async fn save_file_dedups_by_contents() {
    let f = fixture();
    let first = f
        .store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"one"))
        .await
        .expect("first");

    let same = f
        .store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"one"))
        .await
        .expect("same");
    assert_eq!(same.status, WriteStatus::Unchanged);
    assert_eq!(same.id, first.id);
    assert_eq!(same.rev, first.rev);

    let changed = f
        .store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"two!"))
        .await
        .expect("changed");
    assert_eq!(changed.status, WriteStatus::Updated);
    assert_eq!(changed.id, first.id);
    assert!(changed.rev.starts_with("2-"), "{}", changed.rev);
    assert_eq!(
        fs::read(f.files_dir.join("Bills/a.pdf")).expect("contents"),
        b"two!"
    );
    let file = stored(&f.store, "io.cozy.files", &first.id);
    assert_eq!(file["size"], "4");
    assert_eq!(file["md5sum"], revision::md5_base64(b"two!"));

    // No temporary or backup file is left behind.
    assert_eq!(all_files(&f.files_dir), ["Bills/a.pdf"]);
    assert_eq!(f.store.count("io.cozy.files").expect("count"), 3);
}

#[tokio::test]
async fn save_file_restores_missing_contents() {
    let f = fixture();
    let first = f
        .store
        .save_file(&ctx(), pdf("/", "a.pdf", b"one"))
        .await
        .expect("first");
    fs::remove_file(f.files_dir.join("a.pdf")).expect("remove contents");
    let again = f
        .store
        .save_file(&ctx(), pdf("/", "a.pdf", b"one"))
        .await
        .expect("again");
    assert_eq!(again.status, WriteStatus::Updated);
    assert_eq!(again.id, first.id);
    assert_eq!(
        fs::read(f.files_dir.join("a.pdf")).expect("contents"),
        b"one"
    );
}

#[tokio::test]
async fn save_file_rejects_bad_names() {
    let f = fixture();
    let parent_before = entries(&f.store_dir);
    let long = "x".repeat(256);
    let bad_names = [
        "../evil",
        "/etc/passwd",
        "a/b",
        "",
        ".",
        "..",
        "a\0b",
        long.as_str(),
    ];
    for name in bad_names {
        let err = f
            .store
            .save_file(&ctx(), pdf("/", name, b"x"))
            .await
            .expect_err(name);
        assert!(is_invalid(&err, &format!("{name:?}")), "{name:?}: {err}");
    }
    let bad_paths = ["/../x", "relative", "/a/../b", "/./a", "/a//b", "/a\0", ""];
    for dir_path in bad_paths {
        let err = f
            .store
            .save_file(&ctx(), pdf(dir_path, "a.pdf", b"x"))
            .await
            .expect_err(dir_path);
        assert!(
            is_invalid(&err, &format!("{dir_path:?}")),
            "{dir_path:?}: {err}"
        );
    }

    assert_eq!(entries(&f.store_dir), parent_before);
    assert!(
        entries(&f.files_dir).is_empty(),
        "{:?}",
        entries(&f.files_dir)
    );
    assert_eq!(f.store.count("io.cozy.files").expect("count"), 0);
}

#[tokio::test]
async fn save_file_rejects_symlink_escape() {
    let f = fixture();
    let outside = f.store_dir.join("outside");
    fs::create_dir(&outside).expect("outside folder");
    std::os::unix::fs::symlink(&outside, f.files_dir.join("link")).expect("symlink");

    let err = f
        .store
        .save_file(&ctx(), pdf("/link", "a.pdf", b"x"))
        .await
        .expect_err("escape");
    assert!(
        matches!(&err, SinkError::Storage(message) if message.contains("symbolic link")),
        "{err}"
    );
    assert!(entries(&outside).is_empty(), "{:?}", entries(&outside));
    assert_eq!(f.store.count("io.cozy.files").expect("count"), 0);
}

#[tokio::test]
async fn save_file_name_of_folder_invalid() {
    let f = fixture();
    f.store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"x"))
        .await
        .expect("save");
    let err = f
        .store
        .save_file(&ctx(), pdf("/", "Bills", b"x"))
        .await
        .expect_err("folder");
    assert!(is_invalid(&err, "/Bills is a folder"), "{err}");
    let err = f
        .store
        .save_file(&ctx(), pdf("/Bills/a.pdf", "b.pdf", b"x"))
        .await
        .expect_err("file");
    assert!(is_invalid(&err, "/Bills/a.pdf"), "{err}");
}

#[tokio::test]
async fn failed_rename_leaves_nothing() {
    let f = fixture();
    // A folder on disk where the file goes makes the rename fail.
    fs::create_dir_all(f.files_dir.join("Bills/a.pdf")).expect("blocking folder");

    let err = f
        .store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"x"))
        .await
        .expect_err("rename");
    assert!(
        matches!(&err, SinkError::Storage(message) if message.contains("a.pdf")),
        "{err}"
    );
    assert_eq!(f.store.count("io.cozy.files").expect("count"), 0);
    assert_eq!(
        entries(&f.files_dir.join("Bills")),
        BTreeSet::from(["a.pdf".to_owned()])
    );
    assert!(entries(&f.files_dir.join("Bills/a.pdf")).is_empty());
}

/// Makes every write of a file document fail inside the transaction.
fn fail_file_doc_writes(db_path: &Path) {
    let conn = rusqlite::Connection::open(db_path).expect("second connection");
    conn.execute_batch(
        "CREATE TRIGGER fail_insert BEFORE INSERT ON documents
           WHEN json_extract(NEW.body, '$.type') = 'file'
           BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;
         CREATE TRIGGER fail_update BEFORE UPDATE ON documents
           WHEN json_extract(NEW.body, '$.type') = 'file'
           BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
    )
    .expect("create triggers");
}

#[tokio::test]
async fn failed_insert_leaves_nothing() {
    let f = fixture();
    fail_file_doc_writes(&f.db_path);
    let err = f
        .store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"x"))
        .await
        .expect_err("insert");
    assert!(err.to_string().contains("simulated failure"), "{err}");

    // The folder documents written earlier in the transaction are gone too.
    assert_eq!(f.store.count("io.cozy.files").expect("count"), 0);
    assert!(
        entries(&f.files_dir.join("Bills")).is_empty(),
        "{:?}",
        entries(&f.files_dir.join("Bills"))
    );
}

#[tokio::test]
async fn failed_replace_keeps_old_contents() {
    let f = fixture();
    let first = f
        .store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"old"))
        .await
        .expect("first");
    fail_file_doc_writes(&f.db_path);
    f.store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"new"))
        .await
        .expect_err("update");

    assert_eq!(
        fs::read(f.files_dir.join("Bills/a.pdf")).expect("contents"),
        b"old"
    );
    assert_eq!(
        stored(&f.store, "io.cozy.files", &first.id)["_rev"],
        first.rev
    );
    assert_eq!(all_files(&f.files_dir), ["Bills/a.pdf"]);
}

// Accounts.

#[tokio::test]
async fn account_data_round_trip() {
    let f = fixture();
    assert_eq!(
        f.store
            .account_data(&ctx(), "account-1")
            .await
            .expect("empty"),
        Map::new()
    );

    let data = object(json!({"lastBillDate": "2024-05-01", "seen": [1, 2]}));
    f.store
        .set_account_data(&ctx(), "account-1", data.clone())
        .await
        .expect("set");
    assert_eq!(
        f.store
            .account_data(&ctx(), "account-1")
            .await
            .expect("get"),
        data
    );

    let replaced = object(json!({"other": true}));
    f.store
        .set_account_data(&ctx(), "account-1", replaced.clone())
        .await
        .expect("replace");
    assert_eq!(
        f.store
            .account_data(&ctx(), "account-1")
            .await
            .expect("get"),
        replaced
    );
    assert_eq!(
        f.store
            .account_data(&ctx(), "account-2")
            .await
            .expect("other account"),
        Map::new()
    );

    let account = stored(&f.store, "io.cozy.accounts", "account-1");
    assert_eq!(account["data"], json!({"other": true}));
    assert!(
        account["_rev"].as_str().expect("rev").starts_with("2-"),
        "{account}"
    );
    assert_eq!(account["cozyMetadata"]["createdByApp"], "vendor");
}

#[tokio::test]
async fn account_data_keeps_other_fields() {
    let f = fixture();
    f.store
        .set_account_data(&ctx(), "account-1", object(json!({"a": 1})))
        .await
        .expect("create");
    let account = stored(&f.store, "io.cozy.accounts", "account-1");
    let mut body = object(account);
    body.retain(|key, _| !key.starts_with('_'));
    body.insert("auth".into(), json!({"login": "alice"}));
    f.store
        .update(&ctx(), "io.cozy.accounts", "account-1", None, body)
        .await
        .expect("update account");

    f.store
        .set_account_data(&ctx(), "account-1", object(json!({"a": 2})))
        .await
        .expect("set");
    let account = stored(&f.store, "io.cozy.accounts", "account-1");
    assert_eq!(account["auth"], json!({"login": "alice"}));
    assert_eq!(account["data"], json!({"a": 2}));
}

// The store as a whole.

#[tokio::test]
async fn documents_output_shape() {
    let f = fixture();
    let second = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("b", 2.0))
        .await
        .expect("b");
    let first = f
        .store
        .create(&ctx(), "io.cozy.bank", bill("a", 1.0))
        .await
        .expect("a");
    let third = f
        .store
        .create(&ctx(), "io.cozy.bills", bill("c", 3.0))
        .await
        .expect("c");

    let all = f.store.documents(None).expect("all");
    let ids: Vec<&str> = all
        .iter()
        .map(|doc| doc["_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [first.id.as_str(), second.id.as_str(), third.id.as_str()]
    );

    let bills = f.store.documents(Some("io.cozy.bills")).expect("bills");
    assert_eq!(bills.len(), 2);
    let bill_doc = bills[0].as_object().expect("object");
    let keys: BTreeSet<&str> = bill_doc.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "_id",
            "_rev",
            "_type",
            "amount",
            "cozyMetadata",
            "vendor",
            "vendorRef"
        ])
    );
    assert_eq!(bill_doc["_type"], "io.cozy.bills");
    assert_eq!(bill_doc["_rev"], second.rev);
    assert_eq!(bill_doc["vendorRef"], json!({"id": "b"}));
    assert!(
        f.store
            .documents(Some("io.cozy.none"))
            .expect("none")
            .is_empty()
    );
}

#[tokio::test]
async fn reopen_keeps_everything() {
    let f = fixture();
    f.store
        .create(&ctx(), "io.cozy.bills", bill("b", 2.0))
        .await
        .expect("create");
    let file = f
        .store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"x"))
        .await
        .expect("file");
    f.store
        .set_account_data(&ctx(), "account-1", object(json!({"a": 1})))
        .await
        .expect("data");
    let before = f.store.documents(None).expect("documents");

    let Fixture {
        _dir,
        db_path,
        files_dir,
        store,
        ..
    } = f;
    drop(store);
    let reopened = SqliteStore::open(&db_path, &files_dir).expect("reopen");
    assert_eq!(reopened.documents(None).expect("documents"), before);
    let path = reopened.file_path(&file.id).expect("path").expect("file");
    assert_eq!(fs::read(path).expect("contents"), b"x");
    assert_eq!(
        reopened
            .account_data(&ctx(), "account-1")
            .await
            .expect("data"),
        object(json!({"a": 1}))
    );
}

#[tokio::test]
async fn file_path_of_unknown_or_folder() {
    let f = fixture();
    assert_eq!(f.store.file_path("missing").expect("lookup"), None);
    let file = f
        .store
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"x"))
        .await
        .expect("file");
    let dir_id = stored(&f.store, "io.cozy.files", &file.id)["dir_id"].clone();
    assert_eq!(
        f.store
            .file_path(dir_id.as_str().expect("dir_id"))
            .expect("lookup"),
        None
    );
}

#[test]
fn default_files_dir_drops_extension() {
    assert_eq!(
        SqliteStore::default_files_dir(Path::new("data/konnector.sqlite")),
        Path::new("data/konnector-files")
    );
    assert_eq!(
        SqliteStore::default_files_dir(Path::new("db")),
        Path::new("db-files")
    );
}

#[test]
fn open_creates_folders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("a/b/k.sqlite");
    let files_dir = dir.path().join("c/files");
    SqliteStore::open(&db_path, &files_dir).expect("open");
    assert!(db_path.is_file());
    assert!(files_dir.is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_create_one_document() {
    let f = fixture();
    // A second store on the same files plays the part of another process.
    let other = SqliteStore::open(&f.db_path, &f.files_dir).expect("second store");
    let stores = Arc::new([f.store.clone(), other]);

    let mut tasks = Vec::new();
    for i in 0..16 {
        let stores = Arc::clone(&stores);
        tasks.push(tokio::spawn(async move {
            let store = &stores[i % 2];
            let keys = ["vendorRef.id".to_owned()];
            let upserted = store
                .upsert(&ctx(), "io.cozy.bills", &keys, bill("same", 1.0))
                .await;
            let saved = store
                .save_file(&ctx(), pdf("/Bills", "same.pdf", b"same"))
                .await;
            (upserted.expect("upsert"), saved.expect("save"))
        }));
    }
    let mut created = (0, 0);
    for task in tasks {
        let (upserted, saved) = task.await.expect("task");
        created.0 += usize::from(upserted.status == WriteStatus::Created);
        created.1 += usize::from(saved.status == WriteStatus::Created);
    }
    assert_eq!(created, (1, 1));
    assert_eq!(f.store.count("io.cozy.bills").expect("bills"), 1);
    assert_eq!(f.store.count("io.cozy.files").expect("files"), 3);
    assert_eq!(all_files(&f.files_dir), ["Bills/same.pdf"]);
}

#[tokio::test]
async fn write_after_deadline_writes_nothing() {
    let fixture = fixture();
    let store = &fixture.store;
    let late = WriteContext {
        deadline: Some(std::time::Instant::now()),
        ..ctx()
    };
    let error = store
        .create(&late, "io.cozy.bills", bill("b1", 1.0))
        .await
        .expect_err("deadline passed");
    assert!(matches!(error, SinkError::Storage(_)), "{error}");
    assert_eq!(store.count("io.cozy.bills").expect("count"), 0);
}

#[tokio::test]
async fn upsert_with_repeated_keys_works() {
    let fixture = fixture();
    let store = &fixture.store;
    let keys = vec!["vendorRef".to_owned(), "vendorRef".to_owned()];
    let first = store
        .upsert(&ctx(), "io.cozy.bills", &keys, bill("b1", 1.0))
        .await
        .expect("created");
    let second = store
        .upsert(&ctx(), "io.cozy.bills", &keys, bill("b1", 1.0))
        .await
        .expect("unchanged");
    assert_eq!(first.status, WriteStatus::Created);
    assert_eq!(second.status, WriteStatus::Unchanged);
}
