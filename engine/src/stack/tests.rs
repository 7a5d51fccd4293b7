//! Tests of the stack sink against the in-memory stack of
//! `samples/stack-server`, on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use konnector_host_api::WriteStatus;
use serde_json::{Map, Value, json};
use stack_server::{StackServer, TokenSpec, Verb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::sink::{DocumentSink, FileWrite, SinkError, WriteContext};

const BILLS: &str = "io.cozy.bills";
const ACCOUNTS: &str = "io.cozy.accounts";

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        other => panic!("not an object: {other}"),
    }
}

fn token_spec() -> TokenSpec {
    TokenSpec::konnector("vendor")
        .allow(BILLS, Verb::ALL)
        .allow("io.cozy.files", Verb::ALL)
        .allow(ACCOUNTS, Verb::ALL)
}

async fn start_server() -> StackServer {
    StackServer::start(stack_server::StackConfig::default())
        .await
        .expect("start the stack server")
}

/// Settings with short waits, so that retries do not slow the tests down.
fn config_for(server: &StackServer, token: &str) -> StackConfig {
    let mut config = StackConfig::new(server.url(), StackToken::new(token));
    config.retry.backoff_base_ms = 5;
    config.retry.request_timeout_ms = 5_000;
    config
}

fn sink_for(server: &StackServer) -> StackSink {
    let token = server.issue_token(token_spec());
    StackSink::new(config_for(server, &token)).expect("sink")
}

async fn setup() -> (StackServer, StackSink) {
    let server = start_server().await;
    let sink = sink_for(&server);
    (server, sink)
}

fn ctx() -> WriteContext {
    WriteContext {
        slug: "vendor".into(),
        konnector_version: "1.2.0".into(),
        account_id: Some("account-1".into()),
        source_account_identifier: Some("alice@example.org".into()),
        deadline: Some(Instant::now() + Duration::from_secs(60)),
    }
}

fn bill(amount: f64) -> Map<String, Value> {
    object(json!({"vendor": "acme", "date": "2024-05-01", "amount": amount}))
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
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

fn count_requests(server: &StackServer, method: &str, path_start: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|request| request.method == method && request.path.starts_with(path_start))
        .count()
}

#[tokio::test]
async fn create_writes_body_and_cozy_metadata() {
    let (server, sink) = setup().await;
    let result = sink
        .create(&ctx(), BILLS, bill(12.5))
        .await
        .expect("create");
    assert_eq!(result.status, WriteStatus::Created);
    assert_eq!(result.id.len(), 32, "{}", result.id);

    let stored = server.document(BILLS, &result.id).expect("stored");
    assert_eq!(stored["_rev"], json!(result.rev));
    assert_eq!(stored["amount"], json!(12.5));
    let metadata = &stored["cozyMetadata"];
    let created_at = metadata["createdAt"].as_str().expect("createdAt");
    let expected = json!({
        "doctypeVersion": 1,
        "metadataVersion": 1,
        "createdAt": created_at,
        "createdByApp": "vendor",
        "createdByAppVersion": "1.2.0",
        "updatedAt": created_at,
        "updatedByApps": [{"slug": "vendor", "date": created_at, "version": "1.2.0"}],
        "sourceAccount": "account-1",
        "sourceAccountIdentifier": "alice@example.org"
    });
    assert_eq!(metadata, &expected);
    // The id is the host's: the creation is a PUT, so a retry cannot add a
    // second document.
    assert_eq!(count_requests(&server, "PUT", "/data/io.cozy.bills/"), 1);
    assert_eq!(count_requests(&server, "POST", "/data/io.cozy.bills/"), 0);
}

#[tokio::test]
async fn create_rejects_reserved_fields_and_files() {
    let (server, sink) = setup().await;
    let err = sink
        .create(&ctx(), BILLS, object(json!({"_id": "mine"})))
        .await
        .expect_err("reserved field");
    assert!(matches!(err, SinkError::Invalid(_)), "{err:?}");
    let err = sink
        .create(&ctx(), "io.cozy.files", bill(1.0))
        .await
        .expect_err("files doctype");
    assert!(matches!(err, SinkError::Invalid(_)), "{err:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn update_keeps_creation_metadata() {
    let (server, sink) = setup().await;
    let created = sink.create(&ctx(), BILLS, bill(1.0)).await.expect("create");
    // Times have millisecond resolution: without a pause, the update may
    // fall in the creation's millisecond and the two times be equal.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let updated = sink
        .update(&ctx(), BILLS, &created.id, Some(&created.rev), bill(2.0))
        .await
        .expect("update with rev");
    assert_eq!(updated.status, WriteStatus::Updated);
    assert_ne!(updated.rev, created.rev);

    let without_rev = sink
        .update(&ctx(), BILLS, &created.id, None, bill(3.0))
        .await
        .expect("update without rev");
    assert_eq!(without_rev.status, WriteStatus::Updated);

    let stored = server.document(BILLS, &created.id).expect("stored");
    assert_eq!(stored["amount"], json!(3.0));
    assert_eq!(stored["_rev"], json!(without_rev.rev));
    let metadata = &stored["cozyMetadata"];
    assert_ne!(metadata["createdAt"], metadata["updatedAt"]);
    assert_eq!(metadata["updatedByApps"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn update_stale_rev_is_conflict() {
    let (server, sink) = setup().await;
    let created = sink.create(&ctx(), BILLS, bill(1.0)).await.expect("create");
    let current = sink
        .update(&ctx(), BILLS, &created.id, None, bill(2.0))
        .await
        .expect("update");

    let err = sink
        .update(&ctx(), BILLS, &created.id, Some(&created.rev), bill(9.0))
        .await
        .expect_err("stale rev");
    match err {
        SinkError::Conflict {
            given,
            current: now,
            ..
        } => {
            assert_eq!(given, created.rev);
            assert_eq!(now, current.rev);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let stored = server.document(BILLS, &created.id).expect("stored");
    assert_eq!(stored["amount"], json!(2.0));
}

#[tokio::test]
async fn update_missing_is_not_found() {
    let (_server, sink) = setup().await;
    let err = sink
        .update(
            &ctx(),
            BILLS,
            "0123456789abcdef0123456789abcdef",
            None,
            bill(1.0),
        )
        .await
        .expect_err("missing");
    assert!(matches!(err, SinkError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn upsert_creates_then_unchanged_then_updated() {
    let (server, sink) = setup().await;
    let keys = keys(&["vendor", "date"]);

    let first = sink
        .upsert(&ctx(), BILLS, &keys, bill(5.0))
        .await
        .expect("first");
    assert_eq!(first.status, WriteStatus::Created);
    let second = sink
        .upsert(&ctx(), BILLS, &keys, bill(5.0))
        .await
        .expect("second");
    assert_eq!(second.status, WriteStatus::Unchanged);
    assert_eq!(second.id, first.id);
    assert_eq!(second.rev, first.rev);
    let third = sink
        .upsert(&ctx(), BILLS, &keys, bill(6.0))
        .await
        .expect("third");
    assert_eq!(third.status, WriteStatus::Updated);
    assert_eq!(third.id, first.id);

    let docs = server.documents(BILLS);
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["amount"], json!(6.0));
    // One index, created once for the sink.
    assert_eq!(server.indexes(BILLS).len(), 1);
    assert_eq!(server.indexes(BILLS)[0].fields, ["date", "vendor"]);
    assert_eq!(
        count_requests(&server, "POST", "/data/io.cozy.bills/_index"),
        1
    );
    // The unchanged upsert wrote nothing.
    assert_eq!(count_requests(&server, "PUT", "/data/io.cozy.bills/"), 2);
}

#[tokio::test]
async fn upsert_matches_numbers_by_value_and_nested_keys() {
    let (server, sink) = setup().await;
    let keys = keys(&["vendorRef.id", "amount"]);
    let doc = object(json!({"vendorRef": {"id": 7}, "amount": 3, "note": "a"}));
    sink.upsert(&ctx(), BILLS, &keys, doc).await.expect("first");
    let same = object(json!({"vendorRef": {"id": 7}, "amount": 3.0, "note": "b"}));
    let result = sink
        .upsert(&ctx(), BILLS, &keys, same)
        .await
        .expect("second");
    assert_eq!(result.status, WriteStatus::Updated);
    assert_eq!(server.documents(BILLS).len(), 1);
}

#[tokio::test]
async fn upsert_merges_into_oldest_match() {
    let (server, sink) = setup().await;
    let old = json!({"vendor": "acme", "date": "2024-05-01", "amount": 1,
        "cozyMetadata": {"createdAt": "2020-01-01T00:00:00.000Z"}});
    let new = json!({"vendor": "acme", "date": "2024-05-01", "amount": 2,
        "cozyMetadata": {"createdAt": "2023-01-01T00:00:00.000Z"}});
    server.add_document(BILLS, "b-new", new).expect("seed");
    server.add_document(BILLS, "a-old", old).expect("seed");

    let result = sink
        .upsert(&ctx(), BILLS, &keys(&["vendor", "date"]), bill(3.0))
        .await
        .expect("upsert");
    assert_eq!(result.id, "a-old");
    assert_eq!(result.status, WriteStatus::Updated);
    let stored = server.document(BILLS, "a-old").expect("stored");
    assert_eq!(stored["amount"], json!(3.0));
    assert_eq!(
        stored["cozyMetadata"]["createdAt"],
        "2020-01-01T00:00:00.000Z"
    );
}

#[tokio::test]
async fn concurrent_upserts_make_one_document() {
    let server = start_server().await;
    let (first_sink, second_sink) = (sink_for(&server), sink_for(&server));
    let keys = keys(&["vendor", "date"]);
    // Every response waits, so both upserts find nothing before either
    // creates, and both try to create the document.
    server.set_latency(Duration::from_millis(50));
    let first_doc = object(json!({"vendor": "acme", "date": "2024-05-01", "first": true}));
    let second_doc = object(json!({"vendor": "acme", "date": "2024-05-01", "second": true}));
    let context = ctx();
    let (first, second) = tokio::join!(
        first_sink.upsert(&context, BILLS, &keys, first_doc),
        second_sink.upsert(&context, BILLS, &keys, second_doc),
    );
    let (first, second) = (first.expect("first"), second.expect("second"));

    let docs = server.documents(BILLS);
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["first"], json!(true));
    assert_eq!(docs[0]["second"], json!(true));
    let mut statuses = [first.status, second.status];
    statuses.sort_by_key(|status| format!("{status:?}"));
    assert_eq!(statuses, [WriteStatus::Created, WriteStatus::Updated]);
    // The loser met a 409, read the document again and merged into it.
    let conflicts = server
        .requests()
        .iter()
        .filter(|request| request.method == "PUT" && request.status == 409)
        .count();
    assert!(conflicts >= 1, "{:?}", server.requests());
}

#[tokio::test]
async fn concurrent_updates_through_upsert_merge_both() {
    let server = start_server().await;
    let keys = keys(&["vendor", "date"]);
    let seed = sink_for(&server);
    seed.upsert(&ctx(), BILLS, &keys, bill(1.0))
        .await
        .expect("seed");

    let (first_sink, second_sink) = (sink_for(&server), sink_for(&server));
    server.set_latency(Duration::from_millis(50));
    let first_doc = object(json!({"vendor": "acme", "date": "2024-05-01", "paid": true}));
    let second_doc = object(json!({"vendor": "acme", "date": "2024-05-01", "label": "may"}));
    let context = ctx();
    let (first, second) = tokio::join!(
        first_sink.upsert(&context, BILLS, &keys, first_doc),
        second_sink.upsert(&context, BILLS, &keys, second_doc),
    );
    assert_eq!(first.expect("first").status, WriteStatus::Updated);
    assert_eq!(second.expect("second").status, WriteStatus::Updated);

    let docs = server.documents(BILLS);
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["paid"], json!(true));
    assert_eq!(docs[0]["label"], json!("may"));
    assert_eq!(docs[0]["amount"], json!(1.0));
}

#[tokio::test]
async fn save_file_creates_folders_and_file() {
    let (server, sink) = setup().await;
    let result = sink
        .save_file(
            &ctx(),
            pdf("/Administrative/Acme", "bill.pdf", b"%PDF-1 first"),
        )
        .await
        .expect("save");
    assert_eq!(result.status, WriteStatus::Created);

    let file = server
        .file_at("/Administrative/Acme/bill.pdf")
        .expect("file stored");
    assert_eq!(file.id, result.id);
    assert_eq!(file.rev, result.rev);
    assert_eq!(file.contents, b"%PDF-1 first");
    assert_eq!(file.mime, "application/pdf");
    assert_eq!(file.metadata["qualification"], json!({"label": "bill"}));
    assert_eq!(file.cozy_metadata["sourceAccount"], "account-1");
    assert_eq!(
        file.cozy_metadata["sourceAccountIdentifier"],
        "alice@example.org"
    );
    let paths: Vec<String> = server
        .folders()
        .into_iter()
        .map(|folder| folder.path)
        .collect();
    assert!(paths.contains(&"/Administrative".to_owned()), "{paths:?}");
    assert!(
        paths.contains(&"/Administrative/Acme".to_owned()),
        "{paths:?}"
    );
}

#[tokio::test]
async fn save_file_same_contents_unchanged_new_contents_updated() {
    let (server, sink) = setup().await;
    let created = sink
        .save_file(&ctx(), pdf("/Bills", "may.pdf", b"one"))
        .await
        .expect("first");
    let same = sink
        .save_file(&ctx(), pdf("/Bills", "may.pdf", b"one"))
        .await
        .expect("second");
    assert_eq!(same.status, WriteStatus::Unchanged);
    assert_eq!(same.id, created.id);
    assert_eq!(same.rev, created.rev);

    let uploads =
        count_requests(&server, "POST", "/files/") + count_requests(&server, "PUT", "/files/");
    let changed = sink
        .save_file(&ctx(), pdf("/Bills", "may.pdf", b"two"))
        .await
        .expect("third");
    assert_eq!(changed.status, WriteStatus::Updated);
    assert_eq!(changed.id, created.id);
    assert_ne!(changed.rev, created.rev);
    let after =
        count_requests(&server, "POST", "/files/") + count_requests(&server, "PUT", "/files/");
    // The metadata object and the new contents.
    assert_eq!(after - uploads, 2, "{:?}", server.requests());

    let file = server.file_at("/Bills/may.pdf").expect("stored");
    assert_eq!(file.contents, b"two");
    assert_eq!(server.files().len(), 1);
}

#[tokio::test]
async fn save_file_folder_created_concurrently() {
    let server = start_server().await;
    let (first_sink, second_sink) = (sink_for(&server), sink_for(&server));
    server.set_latency(Duration::from_millis(30));
    let context = ctx();
    let (first, second) = tokio::join!(
        first_sink.save_file(&context, pdf("/Shared/Acme", "a.pdf", b"a")),
        second_sink.save_file(&context, pdf("/Shared/Acme", "b.pdf", b"b")),
    );
    assert_eq!(first.expect("first").status, WriteStatus::Created);
    assert_eq!(second.expect("second").status, WriteStatus::Created);
    let acme: Vec<_> = server
        .folders()
        .into_iter()
        .filter(|folder| folder.path == "/Shared/Acme")
        .collect();
    assert_eq!(acme.len(), 1);
    assert_eq!(server.files().len(), 2);
    let folder_conflicts = server
        .requests()
        .iter()
        .filter(|request| request.path.contains("Type=directory") && request.status == 409)
        .count();
    assert!(folder_conflicts >= 1, "{:?}", server.requests());
}

#[tokio::test]
async fn save_file_over_a_folder_is_invalid() {
    let (_server, sink) = setup().await;
    sink.save_file(&ctx(), pdf("/Bills/2024", "x.pdf", b"x"))
        .await
        .expect("save");
    let err = sink
        .save_file(&ctx(), pdf("/Bills", "2024", b"y"))
        .await
        .expect_err("folder");
    assert!(matches!(err, SinkError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("/Bills/2024"), "{err}");
}

#[tokio::test]
async fn save_file_over_quota_is_quota_exceeded() {
    let (server, sink) = setup().await;
    server.set_quota_bytes(Some(10));
    let err = sink
        .save_file(&ctx(), pdf("/Bills", "big.pdf", &[7u8; 100]))
        .await
        .expect_err("quota");
    assert!(matches!(err, SinkError::QuotaExceeded(_)), "{err:?}");
    assert!(err.to_string().contains("/Bills/big.pdf"), "{err}");
    assert!(server.files().is_empty());
}

#[tokio::test]
async fn save_file_rejects_bad_names() {
    let (server, sink) = setup().await;
    for (dir, name) in [
        ("/Bills", "a/b.pdf"),
        ("Bills", "a.pdf"),
        ("/Bills/..", "a.pdf"),
    ] {
        let err = sink
            .save_file(&ctx(), pdf(dir, name, b"x"))
            .await
            .expect_err("invalid");
        assert!(
            matches!(err, SinkError::Invalid(_)),
            "{dir} {name}: {err:?}"
        );
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn account_data_round_trip() {
    let (server, sink) = setup().await;
    server
        .add_account(
            "account-1",
            json!({"account_type": "vendor", "auth": {"login": "alice", "password": "pw"}}),
        )
        .expect("seed");

    assert!(
        sink.account_data(&ctx(), "account-1")
            .await
            .expect("read")
            .is_empty()
    );
    let data = object(json!({"lastBill": "2024-05-01", "pages": [1, 2]}));
    sink.set_account_data(&ctx(), "account-1", data.clone())
        .await
        .expect("write");
    assert_eq!(
        sink.account_data(&ctx(), "account-1").await.expect("read"),
        data
    );

    let stored = server.document(ACCOUNTS, "account-1").expect("stored");
    assert_eq!(stored["auth"]["login"], "alice");
    assert_eq!(stored["account_type"], "vendor");
    assert_eq!(stored["cozyMetadata"]["updatedByApps"][0]["slug"], "vendor");

    // The same data again writes nothing.
    let puts = count_requests(&server, "PUT", "/data/io.cozy.accounts/");
    sink.set_account_data(&ctx(), "account-1", data)
        .await
        .expect("write again");
    assert_eq!(
        count_requests(&server, "PUT", "/data/io.cozy.accounts/"),
        puts
    );
}

#[tokio::test]
async fn account_data_creates_missing_account() {
    let (server, sink) = setup().await;
    assert!(
        sink.account_data(&ctx(), "account-2")
            .await
            .expect("read")
            .is_empty()
    );
    let data = object(json!({"cursor": 3}));
    sink.set_account_data(&ctx(), "account-2", data.clone())
        .await
        .expect("write");
    let stored = server.document(ACCOUNTS, "account-2").expect("created");
    assert_eq!(stored["data"], Value::Object(data));
}

#[tokio::test]
async fn read_account_and_folder_path() {
    let (server, sink) = setup().await;
    server
        .add_account(
            "account-1",
            json!({"auth": {"login": "alice", "password": "hunter2"}, "data": {"k": 1}}),
        )
        .expect("seed");
    let account = sink.read_account("account-1").await.expect("account");
    assert_eq!(account.id, "account-1");
    assert_eq!(account.auth["password"], "hunter2");
    assert_eq!(account.data["k"], 1);
    let debug = format!("{account:?}");
    assert!(!debug.contains("hunter2"), "{debug}");

    let missing = sink.read_account("nobody").await.expect_err("missing");
    assert!(missing.is_not_found(), "{missing:?}");

    let saved = sink
        .save_file(&ctx(), pdf("/Administrative/Acme", "a.pdf", b"a"))
        .await
        .expect("save");
    let file = server.file_at("/Administrative/Acme/a.pdf").expect("file");
    assert_eq!(file.id, saved.id);
    let path = sink.folder_path(&file.dir_id).await.expect("path");
    assert_eq!(path, "/Administrative/Acme");
    let err = sink.folder_path(&file.id).await.expect_err("a file");
    assert!(err.to_string().contains(&file.id), "{err}");
    let gone = sink
        .folder_path("no-such-folder")
        .await
        .expect_err("missing");
    assert!(gone.is_not_found(), "{gone:?}");

    let token = server.issue_token(token_spec());
    let mut config = config_for(&server, &token);
    config.default_dir_id = Some(file.dir_id.clone());
    let with_default = StackSink::new(config).expect("sink");
    assert_eq!(
        with_default.default_folder_path().await.expect("default"),
        Some("/Administrative/Acme".to_owned())
    );
    assert_eq!(sink.default_folder_path().await.expect("none"), None);
}

#[tokio::test]
async fn server_errors_then_success_lose_nothing() {
    let (server, sink) = setup().await;
    let keys = keys(&["vendor", "date"]);

    server.fail_next(2, 500);
    let created = sink.create(&ctx(), BILLS, bill(1.0)).await.expect("create");
    server.fail_next(3, 503);
    let upserted = sink
        .upsert(
            &ctx(),
            BILLS,
            &keys,
            object(json!({"vendor": "b", "date": "d"})),
        )
        .await
        .expect("upsert");
    server.fail_next(2, 502);
    let updated = sink
        .update(&ctx(), BILLS, &created.id, None, bill(2.0))
        .await
        .expect("update");
    server.fail_next(3, 500);
    let saved = sink
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"contents"))
        .await
        .expect("save");
    server.fail_next(2, 500);
    sink.set_account_data(&ctx(), "account-1", object(json!({"n": 1})))
        .await
        .expect("account data");

    assert_eq!(created.status, WriteStatus::Created);
    assert_eq!(upserted.status, WriteStatus::Created);
    assert_eq!(updated.status, WriteStatus::Updated);
    assert_eq!(saved.status, WriteStatus::Created);
    assert_eq!(server.documents(BILLS).len(), 2);
    assert_eq!(server.files().len(), 1);
    assert_eq!(
        server.file_at("/Bills/a.pdf").expect("file").contents,
        b"contents"
    );
    let account = server.document(ACCOUNTS, "account-1").expect("account");
    assert_eq!(account["data"], json!({"n": 1}));
    let failed = server
        .requests()
        .iter()
        .filter(|request| request.status >= 500)
        .count();
    assert_eq!(failed, 12);
}

#[tokio::test]
async fn server_errors_past_retries_fail_and_write_nothing() {
    let (server, sink) = setup().await;
    server.fail_next(DEFAULT_MAX_ATTEMPTS as usize, 503);
    let err = sink
        .create(&ctx(), BILLS, bill(1.0))
        .await
        .expect_err("503s");
    assert!(matches!(err, SinkError::Storage(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("503"), "{message}");
    assert!(message.contains("/data/io.cozy.bills/"), "{message}");
    assert!(message.contains("4 attempt"), "{message}");
    assert!(server.documents(BILLS).is_empty());
    assert_eq!(server.requests().len(), DEFAULT_MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (server, sink) = setup().await;
    server.fail_next(1, 403);
    let err = sink
        .create(&ctx(), BILLS, bill(1.0))
        .await
        .expect_err("403");
    assert!(err.to_string().contains("403"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn retries_stop_at_the_deadline() {
    let (server, sink) = setup().await;
    server.fail_next(1000, 500);
    let mut context = ctx();
    context.deadline = Some(Instant::now() + Duration::from_millis(20));
    let mut config = config_for(&server, &server.issue_token(token_spec()));
    config.retry.max_attempts = MAX_ATTEMPTS_CEILING;
    config.retry.backoff_base_ms = 50;
    let slow = StackSink::new(config).expect("sink");

    let started = Instant::now();
    let err = slow
        .create(&context, BILLS, bill(1.0))
        .await
        .expect_err("deadline");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(server.requests().len() < MAX_ATTEMPTS_CEILING as usize);

    // A deadline already past sends nothing.
    let before = server.requests().len();
    context.deadline = Some(Instant::now());
    let err = sink
        .create(&context, BILLS, bill(1.0))
        .await
        .expect_err("past");
    assert!(err.to_string().contains("deadline"), "{err}");
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn expired_token_gives_clear_error_without_the_token() {
    let server = start_server().await;
    let expired =
        server.issue_token(token_spec().expires_at(SystemTime::now() - Duration::from_secs(1)));
    let sink = StackSink::new(config_for(&server, &expired)).expect("sink");
    server
        .add_account("account-1", json!({"auth": {"login": "alice"}}))
        .expect("seed");

    let err = sink
        .create(&ctx(), BILLS, bill(1.0))
        .await
        .expect_err("expired");
    let message = err.to_string();
    assert!(message.contains("rejected the token"), "{message}");
    assert!(message.contains("expired"), "{message}");
    assert!(!message.contains(&expired), "{message}");
    assert_eq!(
        server.requests().len(),
        1,
        "a rejected token is not retried"
    );

    let read = sink.read_account("account-1").await.expect_err("expired");
    assert!(matches!(read, StackError::Unauthorized { .. }), "{read:?}");
    for text in [
        format!("{read}"),
        format!("{read:?}"),
        format!("{err:?}"),
        format!("{sink:?}"),
    ] {
        assert!(!text.contains(&expired), "{text}");
    }

    let unknown = StackSink::new(config_for(&server, "not-issued")).expect("sink");
    let err = unknown
        .account_data(&ctx(), "account-1")
        .await
        .expect_err("invalid");
    assert!(err.to_string().contains("rejected the token"), "{err}");
    assert!(!err.to_string().contains("not-issued"), "{err}");
}

#[tokio::test]
async fn missing_permission_is_a_storage_error() {
    let server = start_server().await;
    let token = server.issue_token(TokenSpec::konnector("vendor").allow(BILLS, [Verb::Get]));
    let sink = StackSink::new(config_for(&server, &token)).expect("sink");
    let err = sink
        .create(&ctx(), BILLS, bill(1.0))
        .await
        .expect_err("403");
    assert!(matches!(err, SinkError::Storage(_)), "{err:?}");
    assert!(err.to_string().contains("403"), "{err}");
}

#[tokio::test]
async fn unreachable_stack_fails_after_retries() {
    // A port that was just free: nothing listens there.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let mut config = StackConfig::new(format!("http://{addr}/"), StackToken::new("t"));
    config.retry.backoff_base_ms = 1;
    let sink = StackSink::new(config).expect("sink");
    let err = sink
        .account_data(&ctx(), "account-1")
        .await
        .expect_err("no stack");
    let message = err.to_string();
    assert!(
        message.contains("failed to send GET /data/io.cozy.accounts/account-1"),
        "{message}"
    );
    assert!(message.contains("4 attempt"), "{message}");
}

/// A TCP proxy in front of the stack server that imitates responses lost on
/// the way back. It forwards everything, except that after a request whose
/// first line matches a rule, it lets the stack handle the request and then
/// closes the client's connection without the response.
struct LossyProxy {
    addr: SocketAddr,
    /// Pending rules: the request line must start with the first string and
    /// contain the second. Each rule drops one response.
    rules: Arc<Mutex<Vec<(String, String)>>>,
}

impl LossyProxy {
    async fn start(upstream: SocketAddr) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let rules: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let shared = Arc::clone(&rules);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, Arc::clone(&shared)));
            }
        });
        LossyProxy { addr, rules }
    }

    fn lose_response(&self, line_start: &str, containing: &str) {
        let mut rules = self.rules.lock().expect("rules");
        rules.push((line_start.to_owned(), containing.to_owned()));
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, rules: Arc<Mutex<Vec<(String, String)>>>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let losing = Arc::new(AtomicBool::new(false));

    let up_losing = Arc::clone(&losing);
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let chunk = &buffer[..read];
            let first_line =
                String::from_utf8_lossy(chunk.split(|&b| b == b'\n').next().unwrap_or_default())
                    .into_owned();
            {
                let mut rules = rules.lock().expect("rules");
                if let Some(index) = rules.iter().position(|(start, within)| {
                    first_line.starts_with(start.as_str()) && first_line.contains(within.as_str())
                }) {
                    rules.remove(index);
                    up_losing.store(true, Ordering::SeqCst);
                }
            }
            if server_write.write_all(chunk).await.is_err() {
                break;
            }
        }
    });

    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match server_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        // The stack has handled the request: close the client's connection
        // without its response.
        if losing.load(Ordering::SeqCst) {
            break;
        }
        if client_write.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = client_write.shutdown().await;
}

async fn lossy_setup() -> (StackServer, LossyProxy, StackSink) {
    let server = start_server().await;
    let proxy = LossyProxy::start(server.addr()).await;
    let token = server.issue_token(token_spec());
    let mut config = config_for(&server, &token);
    // The URL stays the stack's; connections go to the proxy.
    config.connect_to = Some(proxy.addr);
    let sink = StackSink::new(config).expect("sink");
    (server, proxy, sink)
}

#[tokio::test]
async fn lost_create_response_is_not_duplicated() {
    let (server, proxy, sink) = lossy_setup().await;
    proxy.lose_response("PUT /data/io.cozy.bills/", "");
    let result = sink.create(&ctx(), BILLS, bill(1.0)).await.expect("create");
    assert_eq!(result.status, WriteStatus::Created);
    let docs = server.documents(BILLS);
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["_rev"], json!(result.rev));
    // The second PUT met the first one's document.
    let statuses: Vec<u16> = server
        .requests()
        .iter()
        .filter(|request| request.method == "PUT")
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [200, 409]);
}

#[tokio::test]
async fn lost_update_response_is_reported_as_update() {
    let (server, proxy, sink) = lossy_setup().await;
    let created = sink.create(&ctx(), BILLS, bill(1.0)).await.expect("create");
    proxy.lose_response("PUT /data/io.cozy.bills/", "");
    let updated = sink
        .update(&ctx(), BILLS, &created.id, Some(&created.rev), bill(2.0))
        .await
        .expect("update");
    assert_eq!(updated.status, WriteStatus::Updated);
    let stored = server.document(BILLS, &created.id).expect("stored");
    assert_eq!(stored["_rev"], json!(updated.rev));
    assert_eq!(stored["amount"], json!(2.0));
}

#[tokio::test]
async fn lost_file_upload_response_is_not_duplicated() {
    let (server, proxy, sink) = lossy_setup().await;
    proxy.lose_response("POST /files/", "Type=file");
    let result = sink
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"first"))
        .await
        .expect("save");
    assert_eq!(result.status, WriteStatus::Created);
    assert_eq!(server.files().len(), 1);

    proxy.lose_response("PUT /files/", "");
    let replaced = sink
        .save_file(&ctx(), pdf("/Bills", "a.pdf", b"second"))
        .await
        .expect("replace");
    assert_eq!(replaced.status, WriteStatus::Updated);
    let file = server.file_at("/Bills/a.pdf").expect("file");
    assert_eq!(file.contents, b"second");
    assert_eq!(file.rev, replaced.rev);
}

#[tokio::test]
async fn lost_upsert_response_is_not_duplicated() {
    let (server, proxy, sink) = lossy_setup().await;
    let keys = keys(&["vendor", "date"]);
    proxy.lose_response("PUT /data/io.cozy.bills/", "");
    let result = sink
        .upsert(&ctx(), BILLS, &keys, bill(1.0))
        .await
        .expect("upsert");
    assert_eq!(result.status, WriteStatus::Created);
    assert_eq!(server.documents(BILLS).len(), 1);
}

/// Generates a CA and a certificate for `name` signed by it, and returns the
/// CA's PEM with a TLS acceptor that presents the certificate.
fn test_pki(name: &str) -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "stack sink tests CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca_params
        .self_signed(&ca_key)
        .expect("CA certificate")
        .pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().expect("server key");
    let server_cert = CertificateParams::new(vec![name.to_owned()])
        .expect("server name")
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key)
        .expect("server TLS configuration");
    (ca_pem, tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Starts a TLS endpoint on 127.0.0.1 that forwards the decrypted bytes to
/// `upstream`, and returns its address.
async fn start_tls_front(upstream: SocketAddr, acceptor: tokio_rustls::TlsAcceptor) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind TLS front");
    let addr = listener.local_addr().expect("TLS front addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_stack_with_private_ca() {
    let server = start_server().await;
    let (ca_pem, acceptor) = test_pki("alice.cozy.test");
    let front = start_tls_front(server.addr(), acceptor).await;
    let folder = tempfile::tempdir().expect("temporary folder");
    let ca_file = folder.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write CA file");
    let token = server.issue_token(token_spec());

    let mut config = StackConfig::new("https://alice.cozy.test/", StackToken::new(token.as_str()));
    config.retry.backoff_base_ms = 1;
    config.connect_to = Some(front);
    config.ca_files = vec![ca_file];
    let sink = StackSink::new(config.clone()).expect("sink");
    let result = sink
        .create(&ctx(), BILLS, bill(1.0))
        .await
        .expect("create over TLS");
    assert_eq!(result.status, WriteStatus::Created);
    assert_eq!(server.documents(BILLS).len(), 1);

    // Without the CA, the stack's certificate is not trusted.
    config.ca_files.clear();
    let untrusted = StackSink::new(config).expect("sink");
    let err = untrusted
        .create(&ctx(), BILLS, bill(2.0))
        .await
        .expect_err("untrusted");
    assert!(err.to_string().contains("TLS handshake"), "{err}");
    assert_eq!(server.documents(BILLS).len(), 1);
}

#[tokio::test]
async fn invalid_ca_file_rejected() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let ca_file = folder.path().join("empty.pem");
    std::fs::write(&ca_file, "not a certificate").expect("write CA file");
    let mut config = StackConfig::new("https://alice.cozy.test/", StackToken::new("t"));
    config.ca_files = vec![ca_file.clone()];
    let err = StackSink::new(config).expect_err("no certificate");
    assert!(matches!(err, StackConfigError::CaFile { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&ca_file.display().to_string()),
        "{err}"
    );
}
