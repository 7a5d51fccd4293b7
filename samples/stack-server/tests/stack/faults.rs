//! Injected failures and latency.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use stack_server::ROOT_DIR_ID;

use crate::client::Fixture;

#[tokio::test]
async fn fail_next_then_recover() {
    let fixture = Fixture::start().await;
    fixture.server.fail_next(2, 500);

    let (status, body) = fixture
        .send_json(Method::POST, "/data/io.cozy.bills/", &json!({"a": 1}))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"error": "Internal Server Error(500): fault injected by the test server"})
    );

    let (status, body) = fixture.get_json(&format!("/files/{ROOT_DIR_ID}")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["errors"][0]["status"], "500");
    assert!(fixture.server.documents("io.cozy.bills").is_empty());

    let (status, _) = fixture
        .send_json(Method::POST, "/data/io.cozy.bills/", &json!({"a": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(fixture.server.documents("io.cozy.bills").len(), 1);

    let statuses: Vec<u16> = fixture
        .server
        .requests()
        .iter()
        .map(|record| record.status)
        .collect();
    assert_eq!(statuses, [500, 500, 201]);

    fixture.server.fail_next(1, 503);
    fixture.server.fail_next(0, 503);
    let (status, _) = fixture.get_json(&format!("/files/{ROOT_DIR_ID}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a count of 0 cancels pending failures"
    );

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn fail_next_any_status() {
    let fixture = Fixture::start().await;
    fixture.server.fail_next(1, 503);
    let (status, _) = fixture.get_json("/data/io.cozy.bills/x").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    fixture.server.fail_next(1, 200);
    let (status, _) = fixture.get_json("/data/io.cozy.bills/x").await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "a success status becomes 500"
    );

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn latency_delays_responses() {
    let fixture = Fixture::start().await;
    fixture.server.set_latency(Duration::from_millis(150));

    let started = Instant::now();
    let (status, _) = fixture.get_json(&format!("/files/{ROOT_DIR_ID}")).await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert!(
        elapsed >= Duration::from_millis(150),
        "answered after {elapsed:?}"
    );

    fixture.server.set_latency(Duration::ZERO);
    fixture.server.shutdown().await;
}

#[tokio::test]
async fn oversized_body_is_413() {
    let config = stack_server::StackConfig {
        max_body_bytes: 1024,
        ..stack_server::StackConfig::default()
    };
    let fixture = Fixture::start_with(config).await;

    let path = format!("/files/{ROOT_DIR_ID}?Type=file&Name=big.bin");
    let response = fixture
        .request(Method::POST, &path)
        .body(vec![0_u8; 4096])
        .send()
        .await;
    // The server responds before reading the rest, so the client may see the
    // 413 or a reset connection while it is still sending.
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    assert!(fixture.server.files().is_empty());

    fixture.server.shutdown().await;
}
