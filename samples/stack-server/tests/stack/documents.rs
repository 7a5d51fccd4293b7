//! Documents: create, read, update with revisions, and accounts.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{Fixture, SLUG};

fn rev_generation(rev: &Value) -> u64 {
    rev.as_str()
        .and_then(|rev| rev.split_once('-'))
        .and_then(|(generation, _)| generation.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn create_get_update_with_revisions() {
    let fixture = Fixture::start().await;

    let bill = json!({"vendor": "acme", "amount": 12.5});
    let (status, created) = fixture
        .send_json(Method::POST, "/data/io.cozy.bills/", &bill)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["ok"], true);
    assert_eq!(created["type"], "io.cozy.bills");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(rev_generation(&created["rev"]), 1);
    assert_eq!(created["data"]["_id"], id.as_str());
    assert_eq!(created["data"]["_rev"], created["rev"]);
    assert_eq!(created["data"]["_type"], "io.cozy.bills");
    assert_eq!(created["data"]["vendor"], "acme");

    let (status, read) = fixture.get_json(&format!("/data/io.cozy.bills/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created["data"]);

    let mut update = read.clone();
    update["amount"] = json!(13);
    let path = format!("/data/io.cozy.bills/{id}");
    let (status, updated) = fixture.send_json(Method::PUT, &path, &update).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rev_generation(&updated["rev"]), 2);
    assert_eq!(updated["data"]["amount"], 13);

    // The first revision is stale now.
    let (status, conflict) = fixture.send_json(Method::PUT, &path, &update).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        conflict,
        json!({"ok": false, "status": "409", "error": "conflict", "reason": "Document update conflict."})
    );

    let stored = fixture
        .server
        .document("io.cozy.bills", &id)
        .expect("stored");
    assert_eq!(stored["amount"], 13);
    assert_eq!(stored["_rev"], updated["rev"]);
    assert!(stored.get("_type").is_none(), "_type is not stored");
    assert_eq!(fixture.server.documents("io.cozy.bills").len(), 1);

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn create_rejects_special_fields() {
    let fixture = Fixture::start().await;

    let cases = [
        (
            json!({"_id": "mine", "a": 1}),
            StatusCode::BAD_REQUEST,
            "defined_id",
        ),
        (
            json!({"_foo": 1}),
            StatusCode::BAD_REQUEST,
            "doc_validation",
        ),
        (
            json!({"_type": "x"}),
            StatusCode::BAD_REQUEST,
            "doc_validation",
        ),
        (json!({"_rev": "1-abc"}), StatusCode::CONFLICT, "conflict"),
    ];
    for (body, expected_status, expected_error) in cases {
        let (status, error) = fixture
            .send_json(Method::POST, "/data/io.cozy.bills/", &body)
            .await;
        assert_eq!(status, expected_status, "{body}");
        assert_eq!(error["error"], expected_error, "{body}");
    }
    let not_object = fixture
        .request(Method::POST, "/data/io.cozy.bills/")
        .body("[1]")
        .send()
        .await
        .expect("POST");
    assert_eq!(not_object.status(), StatusCode::BAD_REQUEST);
    let nested = json!({"meta": {"_private": 1}});
    let (status, _) = fixture
        .send_json(Method::POST, "/data/io.cozy.bills/", &nested)
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "only top-level fields are special"
    );
    assert_eq!(fixture.server.documents("io.cozy.bills").len(), 1);

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn missing_documents_and_doctypes() {
    let fixture = Fixture::start().await;

    let (status, body) = fixture.get_json("/data/io.cozy.bills/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["reason"], "wrong_doctype");

    fixture
        .server
        .add_document("io.cozy.bills", "b1", json!({"a": 1}))
        .expect("seeded");
    let (status, body) = fixture.get_json("/data/io.cozy.bills/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"ok": false, "status": "404", "error": "not_found", "reason": "missing"})
    );

    let (status, body) = fixture.get_json("/data/io.cozy.bills/_weird").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_id");

    let update = json!({"_id": "nope", "_rev": "1-abc"});
    let (status, _) = fixture
        .send_json(Method::PUT, "/data/io.cozy.bills/nope", &update)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn put_creates_with_chosen_id() {
    let fixture = Fixture::start().await;

    let path = "/data/io.cozy.bills/chosen%2Fid";
    let (status, created) = fixture.send_json(Method::PUT, path, &json!({"a": 1})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(created["id"], "chosen/id");
    assert_eq!(rev_generation(&created["rev"]), 1);

    let (status, again) = fixture.send_json(Method::PUT, path, &json!({"a": 2})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(again["error"], "conflict");

    let (status, read) = fixture.get_json(path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["a"], 1);

    let only_rev = json!({"_rev": created["rev"], "a": 3});
    let (status, error) = fixture.send_json(Method::PUT, path, &only_rev).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = error["error"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Bad Request(400): You must either provide"),
        "{message}"
    );

    let wrong_id = json!({"_id": "other", "_rev": created["rev"]});
    let (status, error) = fixture.send_json(Method::PUT, path, &wrong_id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["error"],
        "Bad Request(400): document _id doesnt match url"
    );

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn reserved_doctypes_are_forbidden() {
    let fixture = Fixture::start().await;

    let (status, body) = fixture
        .send_json(Method::POST, "/data/io.cozy.files/", &json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"],
        "code=403, message=reserved doctype io.cozy.files unwritable"
    );

    let (status, _) = fixture
        .send_json(Method::POST, "/data/Bad.Doctype/", &json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Files are readable through /data, as CouchDB documents.
    let (status, root) = fixture
        .get_json("/data/io.cozy.files/io.cozy.files.root-dir")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(root["path"], "/");
    assert_eq!(root["type"], "directory");

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn accounts_served_in_clear_and_updated() {
    let fixture = Fixture::start().await;
    let account = json!({
        "account_type": "vendor",
        "auth": {"login": "me@example.com", "password": "secret"},
    });
    let rev = fixture
        .server
        .add_account("account-1", account)
        .expect("seeded");
    assert!(rev.starts_with("1-"), "{rev}");
    assert!(fixture.server.add_account("account-1", json!({})).is_err());

    let (status, read) = fixture.get_json("/data/io.cozy.accounts/account-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["auth"]["password"], "secret");
    assert_eq!(read["_type"], "io.cozy.accounts");
    assert_eq!(read["_rev"], rev.as_str());

    let mut update = read.clone();
    update["data"] = json!({"last_bill": "2024-01"});
    let path = "/data/io.cozy.accounts/account-1";
    let (status, updated) = fixture.send_json(Method::PUT, path, &update).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["data"]["auth"]["login"], "me@example.com");
    assert_eq!(updated["data"]["cozyMetadata"]["createdByApp"], SLUG);

    let stored = fixture
        .server
        .document("io.cozy.accounts", "account-1")
        .expect("stored");
    assert_eq!(stored["data"]["last_bill"], "2024-01");

    // The stack reports a missing account before it looks at the token.
    let anonymous = fixture
        .client
        .get(fixture.url("/data/io.cozy.accounts/nope"))
        .send()
        .await
        .expect("GET");
    assert_eq!(anonymous.status(), StatusCode::NOT_FOUND);

    fixture.server.shutdown().await;
}
