//! Tokens: missing, unknown, expired, and permissions not granted.

use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use stack_server::{TokenSpec, Verb};

use crate::client::{Fixture, status_and_json};

#[tokio::test]
async fn missing_token_is_401() {
    let fixture = Fixture::start().await;

    let response = fixture
        .client
        .post(fixture.url("/data/io.cozy.bills/"))
        .json(&json!({"amount": 1}))
        .send()
        .await
        .expect("POST");
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error": "code=401, message=No token in request"})
    );

    let files = fixture
        .client
        .get(fixture.url("/files/io.cozy.files.root-dir"))
        .send()
        .await
        .expect("GET");
    assert_eq!(files.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(files.text().await.expect("text"), "No token in request");

    let files_json = fixture
        .client
        .get(fixture.url("/files/io.cozy.files.root-dir"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .expect("GET");
    let (status, body) = status_and_json(files_json).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"error": "No token in request"}));

    assert!(fixture.server.documents("io.cozy.bills").is_empty());
    fixture.server.shutdown().await;
}

#[tokio::test]
async fn unknown_token_is_400_like_the_stack() {
    let fixture = Fixture::start().await;

    let response = fixture
        .client
        .get(fixture.url("/data/io.cozy.bills/some-id"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let header = response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ASCII");
    assert_eq!(header, r#"Bearer error="invalid_token""#);
    let (_, body) = status_and_json(response).await;
    assert_eq!(
        body,
        json!({"error": "code=400, message=Invalid JWT token"})
    );

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn expired_token_is_400_like_the_stack() {
    let fixture = Fixture::start().await;
    let expired = fixture.server.issue_token(
        TokenSpec::konnector("vendor")
            .allow("io.cozy.bills", Verb::ALL)
            .expires_at(SystemTime::now() - Duration::from_secs(1)),
    );
    let short = fixture.server.issue_token(
        TokenSpec::konnector("vendor")
            .allow("io.cozy.bills", Verb::ALL)
            .valid_for(Duration::from_millis(200)),
    );

    let response = fixture
        .client
        .post(fixture.url("/data/io.cozy.bills/"))
        .bearer_auth(&expired)
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let header = response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .expect("ASCII");
    assert!(header.contains("The access token expired"), "{header}");
    let (_, body) = status_and_json(response).await;
    assert_eq!(body, json!({"error": "code=400, message=Expired token"}));

    let before = fixture
        .client
        .post(fixture.url("/data/io.cozy.bills/"))
        .bearer_auth(&short)
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(before.status(), StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = fixture
        .client
        .post(fixture.url("/data/io.cozy.bills/"))
        .bearer_auth(&short)
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(after.status(), StatusCode::BAD_REQUEST);

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn ungranted_doctype_or_verb_is_403() {
    let fixture = Fixture::start().await;
    let read_only = fixture
        .server
        .issue_token(TokenSpec::konnector("vendor").allow("io.cozy.bills", [Verb::Get]));

    let other_doctype = fixture
        .send_json(
            Method::POST,
            "/data/io.cozy.contacts/",
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(other_doctype.0, StatusCode::FORBIDDEN);
    assert_eq!(
        other_doctype.1,
        json!({"error": "code=403, message=Forbidden"})
    );

    let post = fixture
        .client
        .post(fixture.url("/data/io.cozy.bills/"))
        .bearer_auth(&read_only)
        .json(&json!({"amount": 1}))
        .send()
        .await
        .expect("POST");
    assert_eq!(post.status(), StatusCode::FORBIDDEN);

    // A missing document still needs the permission before it is reported.
    let get = fixture
        .client
        .get(fixture.url("/data/io.cozy.bills/missing"))
        .bearer_auth(&read_only)
        .send()
        .await
        .expect("GET");
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    let files = fixture
        .client
        .post(fixture.url("/files/?Type=directory&Name=x"))
        .bearer_auth(&read_only)
        .send()
        .await
        .expect("POST");
    assert_eq!(files.status(), StatusCode::FORBIDDEN);
    assert!(
        fixture
            .server
            .folders()
            .iter()
            .all(|folder| folder.name != "x")
    );

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn records_never_hold_the_token() {
    let fixture = Fixture::start().await;
    fixture.get_json("/data/io.cozy.bills/nothing").await;
    let anonymous = fixture.client.get(fixture.url("/files/x")).send().await;
    assert_eq!(anonymous.expect("GET").status(), StatusCode::UNAUTHORIZED);

    let records = fixture.server.requests();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].method, "GET");
    assert_eq!(records[0].path, "/data/io.cozy.bills/nothing");
    assert!(records[0].has_bearer);
    assert_eq!(records[0].status, 404);
    assert!(!records[1].has_bearer);
    assert_eq!(records[1].status, 401);
    let printed = format!("{records:?}");
    assert!(!printed.contains(&fixture.token), "{printed}");

    fixture.server.shutdown().await;
}
