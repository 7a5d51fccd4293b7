//! Redirects, slow, stalled, endless and bomb responses, and the error
//! statuses: what the engine's network tests rely on.

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{ALLOW, CONTENT_ENCODING, LOCATION};
use vendor_site::SiteConfig;

use crate::client::Fixture;

/// How long a test waits to conclude that a stalled body sends nothing.
const STALL_PROBE: Duration = Duration::from_millis(300);

/// How long shutdown may take before a test fails, although it is expected
/// to end at once.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn redirect_chain_ends_at_bills() {
    let fixture = Fixture::start_default().await;
    fixture.log_in_http().await;

    let response = fixture
        .client
        .get(fixture.http_url("/redirect/5"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().path(), "/bills");

    let redirects: Vec<String> = fixture
        .site
        .requests()
        .into_iter()
        .map(|record| record.path)
        .skip_while(|path| path != "/redirect/5")
        .collect();
    let expected = [
        "/redirect/5",
        "/redirect/4",
        "/redirect/3",
        "/redirect/2",
        "/redirect/1",
        "/bills",
    ];
    assert_eq!(redirects, expected);

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn redirect_chain_steps() {
    let fixture = Fixture::start_default().await;
    let client = fixture.client_without_redirects();

    for (path, location) in [("/redirect/3", "/redirect/2"), ("/redirect/1", "/bills")] {
        let response = client
            .get(fixture.http_url(path))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::FOUND, "{path}");
        assert_eq!(response.headers()[LOCATION], location, "{path}");
    }
    for path in ["/redirect/0", "/redirect/x", "/redirect/"] {
        let response = client
            .get(fixture.http_url(path))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
    }

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn redirect_to_any_url() {
    let fixture = Fixture::start_default().await;
    // The client never follows these redirects: the targets are not real.
    let client = fixture.client_without_redirects();
    let target = "http://forbidden.example/steal?x=1&y=2";

    for (status, expected) in [
        (None, StatusCode::FOUND),
        (Some("301"), StatusCode::MOVED_PERMANENTLY),
        (Some("302"), StatusCode::FOUND),
        (Some("303"), StatusCode::SEE_OTHER),
        (Some("307"), StatusCode::TEMPORARY_REDIRECT),
        (Some("308"), StatusCode::PERMANENT_REDIRECT),
    ] {
        let mut query = vec![("url", target)];
        query.extend(status.map(|status| ("status", status)));
        let url = fixture.http_url("/redirect-to");
        let response = client.get(&url).query(&query).send().await.expect("GET");
        assert_eq!(response.status(), expected, "status {status:?}");
        assert_eq!(response.headers()[LOCATION], target, "status {status:?}");
    }

    let post = client
        .post(fixture.http_url("/redirect-to"))
        .query(&[("url", "/login"), ("status", "307")])
        .body("kept")
        .send()
        .await
        .expect("POST");
    assert_eq!(post.status(), StatusCode::TEMPORARY_REDIRECT);

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn redirect_to_invalid_arguments() {
    let fixture = Fixture::start_default().await;
    let client = fixture.client_without_redirects();

    for query in [
        "",
        "?url=",
        "?url=/x&status=200",
        "?url=/x&status=abc",
        "?url=%0D%0Aevil",
    ] {
        let url = fixture.http_url(&format!("/redirect-to{query}"));
        let response = client.get(url).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn slow_waits_before_headers() {
    let fixture = Fixture::start_default().await;

    let started = Instant::now();
    let response = fixture
        .client
        .get(fixture.http_url("/slow?ms=200"))
        .send()
        .await
        .expect("GET");
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        elapsed >= Duration::from_millis(200),
        "answered after {elapsed:?}"
    );

    let invalid = fixture
        .client
        .get(fixture.http_url("/slow?ms=soon"))
        .send()
        .await
        .expect("GET");
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn stall_sends_headers_only() {
    let fixture = Fixture::start_default().await;

    let mut response = fixture
        .client
        .get(fixture.http_url("/stall"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    let chunk = tokio::time::timeout(STALL_PROBE, response.chunk()).await;
    assert!(chunk.is_err(), "body should stall, got {chunk:?}");

    // Shutdown closes the connection, so the body ends with an error.
    tokio::time::timeout(SHUTDOWN_LIMIT, fixture.site.shutdown())
        .await
        .expect("shutdown ends with a stalled response open");
    let chunk = tokio::time::timeout(SHUTDOWN_LIMIT, response.chunk()).await;
    let chunk = chunk.expect("the body ends after shutdown");
    assert!(chunk.is_err(), "the body is cut short, got {chunk:?}");
}

#[tokio::test]
async fn endless_streams_until_client_leaves() {
    let fixture = Fixture::start_default().await;

    let mut response = fixture
        .client
        .get(fixture.http_url("/endless"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.content_length().is_none(),
        "chunked, with no length"
    );
    let mut received = 0;
    while received < 4 << 20 {
        let chunk = response.chunk().await.expect("chunk arrives");
        received += chunk.expect("body has not ended").len();
    }
    drop(response);

    // The site still responds after the client went away mid-body.
    let after = fixture
        .client
        .get(fixture.http_url("/login"))
        .send()
        .await
        .expect("GET");
    assert_eq!(after.status(), StatusCode::OK);

    tokio::time::timeout(SHUTDOWN_LIMIT, fixture.site.shutdown())
        .await
        .expect("shutdown ends");
}

#[tokio::test]
async fn endless_ends_at_shutdown() {
    let fixture = Fixture::start_default().await;

    let mut response = fixture
        .client
        .get(fixture.http_url("/endless"))
        .send()
        .await
        .expect("GET");
    response.chunk().await.expect("first chunk");
    tokio::time::timeout(SHUTDOWN_LIMIT, fixture.site.shutdown())
        .await
        .expect("shutdown ends with an endless response open");

    // Buffered chunks may still arrive, then the body must fail.
    let drained = tokio::time::timeout(SHUTDOWN_LIMIT, async {
        loop {
            match response.chunk().await {
                Ok(Some(_)) => continue,
                other => return other,
            }
        }
    })
    .await;
    let end = drained.expect("the body ends after shutdown");
    assert!(end.is_err(), "the body is cut short, got {end:?}");
}

#[tokio::test]
async fn head_endless_sends_no_body() {
    let fixture = Fixture::start_default().await;

    let head = fixture
        .client
        .head(fixture.http_url("/endless"))
        .send()
        .await;
    let head = head.expect("HEAD /endless");
    assert_eq!(head.status(), StatusCode::OK);
    let body = head.bytes().await.expect("empty body");
    assert!(body.is_empty());

    // The same pooled connection must still carry a well-formed exchange.
    let after = fixture.client.get(fixture.http_url("/login")).send().await;
    assert_eq!(after.expect("GET /login").status(), StatusCode::OK);
    let methods: Vec<_> = fixture
        .site
        .requests()
        .into_iter()
        .map(|record| record.method)
        .collect();
    assert_eq!(methods, ["HEAD", "GET"]);

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn bomb_small_on_the_wire() {
    let fixture = Fixture::start_default().await;

    let response = fixture
        .client
        .get(fixture.http_url("/bomb?mib=16"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
    let compressed = response.bytes().await.expect("compressed body");
    assert!(
        compressed.len() < 64 * 1024,
        "{} bytes on the wire",
        compressed.len()
    );

    let mut inflated = Vec::new();
    let read = flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut inflated);
    assert!(read.is_ok(), "{read:?}");
    assert_eq!(inflated.len(), 16 << 20);
    assert!(inflated.iter().all(|&byte| byte == 0));

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn bomb_invalid_size() {
    let fixture = Fixture::start_default().await;

    for query in ["", "?mib=", "?mib=-1", "?mib=lots", "?mib=10241"] {
        let url = fixture.http_url(&format!("/bomb{query}"));
        let response = fixture.client.get(url).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn vendor_down_answers_500() {
    let config = SiteConfig {
        fail_with_500: true,
        ..SiteConfig::default()
    };
    let fixture = Fixture::start(config).await;
    let client = fixture.client_without_redirects();

    for path in [
        "/",
        "/login",
        "/bills",
        "/api/bills",
        "/bills/F202512-0012.pdf",
        "/redirect/2",
        "/nope",
    ] {
        let response = client
            .get(fixture.http_url(path))
            .send()
            .await
            .expect("GET");
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
    }
    let post = client
        .post(fixture.http_url("/login"))
        .body("login=a")
        .send()
        .await
        .expect("POST");
    assert_eq!(post.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let https = client
        .get(fixture.https_url("/login"))
        .send()
        .await
        .expect("GET over HTTPS");
    assert_eq!(https.status(), StatusCode::INTERNAL_SERVER_ERROR);

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn unknown_path_not_found() {
    let fixture = Fixture::start_default().await;

    for path in [
        "/nope",
        "/bills/",
        "/api",
        "/login/extra",
        "/%FF",
        "/bills/x.pdf/more",
    ] {
        let response = fixture
            .client
            .get(fixture.http_url(path))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn wrong_method_not_allowed() {
    let fixture = Fixture::start_default().await;

    let cases = [
        ("/login", "GET, HEAD, POST"),
        ("/bills", "GET, HEAD"),
        ("/api/bills", "GET, HEAD"),
    ];
    for (path, allowed) in cases {
        let response = fixture
            .client
            .delete(fixture.http_url(path))
            .send()
            .await
            .expect("DELETE");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(response.headers()[ALLOW], allowed, "{path}");
    }

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn oversized_body_rejected() {
    let fixture = Fixture::start_default().await;

    let body = vec![b'a'; (1 << 20) + 1];
    let response = fixture
        .client
        .post(fixture.http_url("/login"))
        .body(body)
        .send()
        .await;
    // The site responds before reading the rest, so the client may see the
    // 413 or a connection reset while it is still sending.
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let record = fixture.site.requests().pop().expect("request recorded");
    assert_eq!(record.path, "/login");
    assert!(
        record.body_len > 1 << 20,
        "recorded {} bytes",
        record.body_len
    );

    fixture.site.shutdown().await;
}
