//! Tests of [`HttpClient`] against servers on 127.0.0.1.
//!
//! Host names are under `.test` and resolve through a [`StaticResolver`] or
//! a resolve override, so no test makes a DNS query. Tests of refusals keep
//! a counting server where the request would have gone and assert that it
//! received no connection; addresses that are not on this machine (such as
//! 169.254.169.254 or 10.0.0.1) are refused by the policy, which the
//! client's connection counter proves happened before any connection
//! attempt.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use konnector_host_api::Redirect;
use serde_json::json;

use super::test_server::{Recorded, Reply, TestServer};
use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Timeouts short enough to keep the suite fast.
fn test_limits() -> NetLimits {
    NetLimits {
        connect_timeout_ms: 2_000,
        first_byte_timeout_ms: 2_000,
        request_timeout_ms: 5_000,
        ..NetLimits::default()
    }
}

fn loopback_port(port: u16) -> SocketAddr {
    SocketAddr::new(LOOPBACK, port)
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("valid IP address")
}

/// Creates a client whose manifest lists `hosts`, where `allowed_ports`
/// on 127.0.0.1 are in `allow_private`.
fn client_with(
    hosts: &[String],
    allowed_ports: &[u16],
    resolver: StaticResolver,
    limits: NetLimits,
) -> HttpClient {
    let operator = OperatorNetConfig {
        allow_private: allowed_ports
            .iter()
            .map(|port| loopback_port(*port))
            .collect(),
        ..OperatorNetConfig::default()
    };
    let policy =
        NetworkPolicy::from_manifest(&json!({"network": {"hosts": hosts}})).expect("valid");
    let deadline = Instant::now() + Duration::from_secs(60);
    HttpClient::new(
        policy,
        Arc::new(operator),
        limits,
        deadline,
        Arc::new(resolver),
    )
    .expect("valid client")
}

/// Creates a client allowed to reach `vendor.test` and `*.vendor.test` on
/// `port`, all of which resolve to 127.0.0.1.
fn vendor_client(port: u16, limits: NetLimits) -> HttpClient {
    let resolver = StaticResolver::new()
        .with("vendor.test", &[LOOPBACK])
        .with("a.vendor.test", &[LOOPBACK])
        .with("b.vendor.test", &[LOOPBACK]);
    let hosts = [
        format!("vendor.test:{port}"),
        format!("*.vendor.test:{port}"),
    ];
    client_with(&hosts, &[port], resolver, limits)
}

async fn expect_error(client: &HttpClient, request: FetchRequest) -> FetchError {
    let url = request.url.clone();
    match client.fetch(request).await {
        Ok(response) => panic!("{url} answered {}", response.status),
        Err(error) => error,
    }
}

/// Starts a server where no request may arrive: tests assert that its
/// connection count stays 0, and it replies 500 to any request.
async fn must_not_be_reached() -> TestServer {
    TestServer::start(|_: &Recorded| Reply::with(500, &[], "unexpected request")).await
}

#[tokio::test]
async fn redirects_to_loopback_refused() {
    let target = must_not_be_reached().await;
    let other_port = target.port();
    for status in [301, 302, 303, 307, 308] {
        for location in [
            format!("http://127.0.0.1:{other_port}/"),
            format!("http://other.vendor.test:{other_port}/"),
        ] {
            let redirect_to = location.clone();
            let server =
                TestServer::start(move |_: &Recorded| Reply::redirect(status, &redirect_to)).await;
            let port = server.port();
            let resolver = StaticResolver::new()
                .with("vendor.test", &[LOOPBACK])
                .with("other.vendor.test", &[LOOPBACK]);
            let hosts = [
                format!("vendor.test:{port}"),
                format!("*.vendor.test:{other_port}"),
            ];
            let client = client_with(&hosts, &[port], resolver, test_limits());

            let request = FetchRequest {
                method: "POST".to_owned(),
                body: b"a=1".to_vec(),
                ..FetchRequest::get(format!("http://vendor.test:{port}/start"))
            };
            let error = expect_error(&client, request).await;
            assert_eq!(
                error.kind(),
                FetchErrorKind::RefusedByPolicy,
                "{status} to {location}"
            );
            assert!(
                error.reason().contains("loopback"),
                "{status} to {location}: {error}"
            );
            assert_eq!(error.url(), location);
            assert_eq!(server.requests().len(), 1);
            assert_eq!(client.counters().connections, 1);
        }
    }
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn redirects_to_metadata_refused() {
    for status in [301, 302, 303, 307, 308] {
        for location in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:169.254.169.254]/latest/meta-data/",
            "http://metadata.vendor.test/latest/meta-data/",
        ] {
            let server =
                TestServer::start(move |_: &Recorded| Reply::redirect(status, location)).await;
            let port = server.port();
            let resolver = StaticResolver::new()
                .with("vendor.test", &[LOOPBACK])
                .with("metadata.vendor.test", &[ip("169.254.169.254")]);
            let hosts = [format!("vendor.test:{port}"), "*.vendor.test".to_owned()];
            let client = client_with(&hosts, &[port], resolver, test_limits());

            let error = expect_error(
                &client,
                FetchRequest::get(format!("http://vendor.test:{port}/")),
            )
            .await;
            assert_eq!(
                error.kind(),
                FetchErrorKind::RefusedByPolicy,
                "{status} to {location}"
            );
            assert!(
                error.reason().contains("169.254.169.254"),
                "{status} to {location}: {error}"
            );
            // The only connection the client opened went to the first server.
            assert_eq!(client.counters().connections, 1, "{status} to {location}");
            assert_eq!(server.connections(), 1);
            assert_eq!(client.counters().refused, 1);
        }
    }
}

#[tokio::test]
async fn redirect_to_unlisted_host_refused() {
    let target = must_not_be_reached().await;
    let other_port = target.port();
    for status in [301, 302, 303, 307, 308] {
        let location = format!("http://evil.test:{other_port}/steal");
        let server =
            TestServer::start(move |_: &Recorded| Reply::redirect(status, &location)).await;
        let port = server.port();
        let resolver = StaticResolver::new()
            .with("vendor.test", &[LOOPBACK])
            .with("evil.test", &[LOOPBACK]);
        // evil.test's address is allowed: only the manifest stops it.
        let hosts = [format!("vendor.test:{port}")];
        let client = client_with(&hosts, &[port, other_port], resolver, test_limits());

        let error = expect_error(
            &client,
            FetchRequest::get(format!("http://vendor.test:{port}/")),
        )
        .await;
        assert_eq!(error.kind(), FetchErrorKind::RefusedByPolicy, "{status}");
        let reason = error.reason();
        assert!(
            reason.starts_with(&format!(
                "http://evil.test:{other_port} is not allowed by the manifest's network policy"
            )),
            "{reason}"
        );
    }
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn names_resolving_to_special_addresses_refused() {
    let target = must_not_be_reached().await;
    let port = target.port();
    let cases = [
        ("loopback.vendor.test", "127.0.0.1", "loopback"),
        ("private.vendor.test", "10.0.0.1", "private"),
        ("mapped.vendor.test", "::ffff:127.0.0.1", "IPv4-mapped IPv6"),
        (
            "metadata.vendor.test",
            "::ffff:169.254.169.254",
            "IPv4-mapped IPv6",
        ),
    ];
    let mut resolver = StaticResolver::new();
    for (name, addr, _) in cases {
        resolver = resolver.with(name, &[ip(addr)]);
    }
    let client = client_with(
        &[format!("*.vendor.test:{port}")],
        &[],
        resolver,
        test_limits(),
    );

    for (name, addr, class) in cases {
        let url = format!("http://{name}:{port}/");
        let error = expect_error(&client, FetchRequest::get(&url)).await;
        assert_eq!(error.kind(), FetchErrorKind::RefusedByPolicy, "{name}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "request to {url} refused: {name} resolves to {addr}, which is {class}, not a global unicast address; only the operator can allow"
            )),
            "{message}"
        );
    }
    assert_eq!(client.counters().connections, 0);
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn ip_literals_never_connect() {
    let target = must_not_be_reached().await;
    let port = target.port();
    // Even with 127.0.0.1:port allowed, a manifest names hosts, so IP
    // literals in any notation are refused.
    let client = client_with(
        &["*.vendor.test".to_owned()],
        &[port],
        StaticResolver::new(),
        test_limits(),
    );
    for host in [
        "127.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "127.1",
        "0x7f000001",
        "[::1]",
    ] {
        let url = format!("http://{host}:{port}/");
        let error = expect_error(&client, FetchRequest::get(&url)).await;
        assert_eq!(error.kind(), FetchErrorKind::RefusedByPolicy, "{url}");
        let reason = error.reason();
        let canonical = reason.contains("host 127.0.0.1 is an IP address")
            || reason.contains("address ::1 is loopback");
        assert!(canonical, "{url}: {reason}");
    }
    assert_eq!(client.counters().connections, 0);
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn userinfo_schemes_and_ports_never_connect() {
    let target = must_not_be_reached().await;
    let port = target.port();
    let server = must_not_be_reached().await;
    let resolver = StaticResolver::new().with("vendor.test", &[LOOPBACK]);
    // Only server's port is listed; target's port is allowed by the
    // operator but not by the manifest.
    let client = client_with(
        &[format!("vendor.test:{}", server.port())],
        &[port, server.port()],
        resolver,
        test_limits(),
    );
    let cases = [
        format!("http://vendor.test@127.0.0.1:{port}/"),
        format!("http://user:pw@vendor.test:{}/", server.port()),
        format!("http://vendor.test:{port}/"),
        format!("https://vendor.test:{port}/"),
        "http://vendor.test/".to_owned(),
        "file:///etc/passwd".to_owned(),
        format!("ftp://vendor.test:{port}/"),
        format!("gopher://vendor.test:{port}/_GET"),
        "data:text/plain,hello".to_owned(),
    ];
    for url in cases {
        let error = expect_error(&client, FetchRequest::get(&url)).await;
        assert_eq!(
            error.kind(),
            FetchErrorKind::RefusedByPolicy,
            "{url}: {error}"
        );
    }
    assert_eq!(client.counters().connections, 0);
    assert_eq!(target.connections(), 0);
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn invalid_headers_never_connect() {
    let server = must_not_be_reached().await;
    let client = vendor_client(server.port(), test_limits());
    let url = format!("http://vendor.test:{}/", server.port());
    let cases = [
        ("X-Token", "a\r\nX-Injected: 1", "carriage return"),
        ("X-Token", "a\nb", "line feed"),
        ("X-Token", "a\0b", "NUL"),
        ("Host", "evil.test", "set by the engine"),
        ("Transfer-Encoding", "chunked", "set by the engine"),
        ("Content-Length", "0", "set by the engine"),
        ("Proxy-Authorization", "Basic eA==", "set by the engine"),
        ("Bad Name", "x", "token"),
    ];
    for (name, value, expected) in cases {
        let request = FetchRequest {
            headers: vec![(name.to_owned(), value.to_owned())],
            ..FetchRequest::get(&url)
        };
        let error = expect_error(&client, request).await;
        assert_eq!(error.kind(), FetchErrorKind::InvalidRequest, "{name}");
        assert!(error.reason().contains(expected), "{name}: {error}");
    }

    let request = FetchRequest {
        method: "CONNECT".to_owned(),
        ..FetchRequest::get(&url)
    };
    assert_eq!(
        expect_error(&client, request).await.kind(),
        FetchErrorKind::InvalidRequest
    );

    let limits = NetLimits {
        max_request_body_bytes: 10,
        ..test_limits()
    };
    let small = vendor_client(server.port(), limits);
    let request = FetchRequest {
        method: "POST".to_owned(),
        body: vec![0; 11],
        ..FetchRequest::get(&url)
    };
    let error = expect_error(&small, request).await;
    assert_eq!(error.kind(), FetchErrorKind::TooLarge);
    assert!(
        error.reason().contains("max_request_body_bytes (10)"),
        "{error}"
    );

    assert_eq!(client.counters().connections, 0);
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn endless_body_stops_at_byte_cap() {
    let server = TestServer::start(|_: &Recorded| Reply::Endless).await;
    let limits = NetLimits {
        max_response_bytes: 256 * 1024,
        ..test_limits()
    };
    let client = vendor_client(server.port(), limits);
    let error = expect_error(
        &client,
        FetchRequest::get(format!("http://vendor.test:{}/", server.port())),
    )
    .await;
    assert_eq!(error.kind(), FetchErrorKind::TooLarge);
    assert!(
        error.reason().contains("max_response_bytes (262144 bytes)"),
        "{error}"
    );
    assert!(client.counters().bytes_received <= 256 * 1024 + 0x4000);
}

#[tokio::test]
async fn endless_trickle_stops_at_request_timeout() {
    let server = TestServer::start(|_: &Recorded| Reply::Trickle(Duration::from_millis(20))).await;
    let limits = NetLimits {
        request_timeout_ms: 300,
        ..test_limits()
    };
    let client = vendor_client(server.port(), limits);
    let started = Instant::now();
    let error = expect_error(
        &client,
        FetchRequest::get(format!("http://vendor.test:{}/", server.port())),
    )
    .await;
    assert_eq!(error.kind(), FetchErrorKind::Timeout);
    assert!(
        error.reason().contains("request_timeout_ms (300 ms)"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(client.counters().bytes_received > 0);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}

#[tokio::test]
async fn gzip_bomb_stops_at_cap() {
    let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
    let bomb_len = bomb.len() as u64;
    let server = TestServer::start(move |_: &Recorded| {
        Reply::with(200, &[("content-encoding", "gzip")], bomb.clone())
    })
    .await;
    let limits = NetLimits {
        max_response_bytes: 1024 * 1024,
        ..test_limits()
    };
    let client = vendor_client(server.port(), limits);
    let error = expect_error(
        &client,
        FetchRequest::get(format!("http://vendor.test:{}/", server.port())),
    )
    .await;
    assert_eq!(error.kind(), FetchErrorKind::TooLarge);
    assert!(error.reason().contains("after decoding"), "{error}");
    // Decoding stopped long before the whole bomb was read.
    assert!(
        client.counters().bytes_received < bomb_len,
        "{:?}",
        client.counters()
    );
}

#[tokio::test]
async fn stalled_server_hits_first_byte_timeout() {
    let server = TestServer::start(|_: &Recorded| Reply::Stall).await;
    let limits = NetLimits {
        first_byte_timeout_ms: 200,
        ..test_limits()
    };
    let client = vendor_client(server.port(), limits);
    let started = Instant::now();
    let error = expect_error(
        &client,
        FetchRequest::get(format!("http://vendor.test:{}/", server.port())),
    )
    .await;
    assert_eq!(error.kind(), FetchErrorKind::Timeout);
    assert!(
        error.reason().contains("first_byte_timeout_ms (200 ms)"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn job_deadline_bounds_every_timeout() {
    let server = TestServer::start(|_: &Recorded| Reply::Stall).await;
    let port = server.port();
    let resolver = StaticResolver::new().with("vendor.test", &[LOOPBACK]);
    let operator = OperatorNetConfig {
        allow_private: vec![loopback_port(port)],
        ..OperatorNetConfig::default()
    };
    let policy = NetworkPolicy::from_manifest(
        &json!({"network": {"hosts": [format!("vendor.test:{port}")]}}),
    )
    .expect("valid");
    let deadline = Instant::now() + Duration::from_millis(300);
    let client = HttpClient::new(
        policy,
        Arc::new(operator),
        NetLimits::default(),
        deadline,
        Arc::new(resolver),
    )
    .expect("valid client");

    let url = format!("http://vendor.test:{port}/");
    let error = expect_error(&client, FetchRequest::get(&url)).await;
    assert_eq!(error.kind(), FetchErrorKind::Timeout);
    assert_eq!(error.reason(), "the job's deadline was reached");

    // Past the deadline nothing is attempted.
    let connections = client.counters().connections;
    let error = expect_error(&client, FetchRequest::get(&url)).await;
    assert_eq!(error.kind(), FetchErrorKind::Timeout);
    assert_eq!(client.counters().connections, connections);
}

#[tokio::test]
async fn requests_stop_at_max_requests() {
    let server = TestServer::start(|_: &Recorded| Reply::ok("ok")).await;
    let client = Arc::new(vendor_client(server.port(), test_limits()));
    let url = format!("http://vendor.test:{}/", server.port());

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5000 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move { client.fetch(FetchRequest::get(url)).await });
    }
    let (mut succeeded, mut limited) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task did not panic") {
            Ok(response) => {
                assert_eq!(response.status, 200);
                succeeded += 1;
            }
            Err(error) => {
                assert_eq!(error.kind(), FetchErrorKind::LimitExceeded, "{error}");
                assert!(error.reason().contains("max_requests (1000)"), "{error}");
                limited += 1;
            }
        }
    }
    assert_eq!(succeeded, DEFAULT_MAX_REQUESTS);
    assert_eq!(limited, 5000 - DEFAULT_MAX_REQUESTS);
    assert_eq!(server.requests().len() as u64, DEFAULT_MAX_REQUESTS);
    assert_eq!(client.counters().requests, DEFAULT_MAX_REQUESTS);
    assert!(server.max_in_flight() <= DEFAULT_MAX_CONCURRENT_REQUESTS);
}

#[tokio::test]
async fn concurrent_requests_capped() {
    let server = TestServer::start(|_: &Recorded| Reply::Full {
        status: 200,
        headers: Vec::new(),
        body: b"slow".to_vec(),
        delay: Duration::from_millis(100),
    })
    .await;
    let limits = NetLimits {
        max_concurrent_requests: 2,
        ..test_limits()
    };
    let client = Arc::new(vendor_client(server.port(), limits));
    let url = format!("http://vendor.test:{}/", server.port());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move { client.fetch(FetchRequest::get(url)).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(
            result
                .expect("task did not panic")
                .expect("response")
                .status,
            200
        );
    }
    assert_eq!(server.max_in_flight(), 2);
    assert!(
        server.connections() <= 2,
        "{} connections",
        server.connections()
    );
}

#[tokio::test]
async fn cookies_sent_back_and_connections_reused() {
    let server = TestServer::start(|request: &Recorded| match request.target.as_str() {
        "/login" => Reply::with(
            200,
            &[("set-cookie", "session=s3cr3t; Path=/; HttpOnly")],
            "welcome",
        ),
        _ => Reply::ok(request.header("cookie").unwrap_or("").to_owned()),
    })
    .await;
    let client = vendor_client(server.port(), test_limits());
    let base = format!("http://vendor.test:{}", server.port());

    let login = client
        .fetch(FetchRequest::get(format!("{base}/login")))
        .await
        .expect("login");
    assert_eq!(login.body, b"welcome");
    assert!(login.headers.iter().any(|(name, _)| name == "set-cookie"));

    let bills = client
        .fetch(FetchRequest::get(format!("{base}/bills")))
        .await
        .expect("bills");
    assert_eq!(bills.body, b"session=s3cr3t");

    let request = FetchRequest {
        headers: vec![("Cookie".to_owned(), "lang=fr".to_owned())],
        ..FetchRequest::get(format!("{base}/bills"))
    };
    let merged = client.fetch(request).await.expect("bills");
    assert_eq!(merged.body, b"session=s3cr3t; lang=fr");

    // The jar is per client, so per job.
    let other_job = vendor_client(server.port(), test_limits());
    let fresh = other_job
        .fetch(FetchRequest::get(format!("{base}/bills")))
        .await
        .expect("bills");
    assert_eq!(fresh.body, b"");

    assert_eq!(client.counters().connections, 1);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn form_post_and_default_headers() {
    let server = TestServer::start(|_: &Recorded| Reply::ok("done")).await;
    let client = vendor_client(server.port(), test_limits());
    let request = FetchRequest {
        method: "post".to_owned(),
        headers: vec![(
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        )],
        body: b"login=jane%40mail.test&password=p%26ss".to_vec(),
        ..FetchRequest::get(format!(
            "http://vendor.test:{}/login?next=%2Fbills",
            server.port()
        ))
    };
    let response = client.fetch(request).await.expect("response");
    assert_eq!(response.status, 200);
    assert_eq!(response.requests, 1);

    let requests = server.requests();
    let received = &requests[0];
    assert_eq!(received.method, "POST");
    assert_eq!(received.target, "/login?next=%2Fbills");
    assert_eq!(received.body, b"login=jane%40mail.test&password=p%26ss");
    assert_eq!(
        received.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(received.header("content-length"), Some("38"));
    assert_eq!(
        received.header("host"),
        Some(format!("vendor.test:{}", server.port()).as_str())
    );
    assert_eq!(received.header("user-agent"), Some(DEFAULT_USER_AGENT));
    assert_eq!(
        received.header("accept-encoding"),
        Some(DEFAULT_ACCEPT_ENCODING)
    );
}

#[tokio::test]
async fn redirects_within_allowed_hosts() {
    let server = TestServer::start(|request: &Recorded| {
        let host = request.header("host").unwrap_or("").to_owned();
        let port = host.rsplit(':').next().unwrap_or("").to_owned();
        match request.target.as_str() {
            "/see-other" => Reply::redirect(303, "/after"),
            "/moved" => Reply::redirect(301, "after"),
            "/temporary" => Reply::redirect(307, &format!("http://b.vendor.test:{port}/kept")),
            "/permanent" => Reply::redirect(308, "/kept"),
            _ => Reply::ok(format!(
                "{} {} on {host} auth={} cookie={} type={} body={}",
                request.method,
                request.target,
                request.header("authorization").unwrap_or("-"),
                request.header("cookie").unwrap_or("-"),
                request.header("content-type").unwrap_or("-"),
                String::from_utf8_lossy(&request.body),
            )),
        }
    })
    .await;
    let port = server.port();
    let client = vendor_client(port, test_limits());
    let post = |path: &str| FetchRequest {
        method: "POST".to_owned(),
        url: format!("http://a.vendor.test:{port}{path}"),
        headers: vec![
            ("Authorization".to_owned(), "Bearer t0ken".to_owned()),
            ("Cookie".to_owned(), "guest=1".to_owned()),
            ("Content-Type".to_owned(), "text/plain".to_owned()),
        ],
        body: b"payload".to_vec(),
        redirect: Redirect::Follow,
    };

    let cases = [
        (
            "/see-other",
            "GET /after on a.vendor.test",
            "auth=Bearer t0ken cookie=guest=1 type=- body=",
        ),
        (
            "/moved",
            "GET /after on a.vendor.test",
            "auth=Bearer t0ken cookie=guest=1 type=- body=",
        ),
        (
            "/permanent",
            "POST /kept on a.vendor.test",
            "auth=Bearer t0ken cookie=guest=1 type=text/plain body=payload",
        ),
        // A new origin: the guest's credentials are dropped, the body kept.
        (
            "/temporary",
            "POST /kept on b.vendor.test",
            "auth=- cookie=- type=text/plain body=payload",
        ),
    ];
    for (path, expected_start, expected_end) in cases {
        let response = client.fetch(post(path)).await.expect("response");
        let body = String::from_utf8(response.body).expect("UTF-8");
        assert!(body.starts_with(expected_start), "{path}: {body}");
        assert!(body.ends_with(expected_end), "{path}: {body}");
        assert_eq!(response.requests, 2, "{path}");
        assert!(
            response.url.ends_with("/after") || response.url.ends_with("/kept"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn redirect_loop_stops_at_max_redirects() {
    let server = TestServer::start(|_: &Recorded| Reply::redirect(302, "/again")).await;
    let client = vendor_client(server.port(), test_limits());
    let error = expect_error(
        &client,
        FetchRequest::get(format!("http://vendor.test:{}/", server.port())),
    )
    .await;
    assert_eq!(error.kind(), FetchErrorKind::LimitExceeded);
    assert!(error.reason().contains("max_redirects (10)"), "{error}");
    assert_eq!(server.requests().len(), 11);
}

#[tokio::test]
async fn manual_redirect_is_the_response() {
    let server = TestServer::start(|request: &Recorded| match request.target.as_str() {
        "/start" => Reply::with(
            302,
            &[("location", "/next"), ("set-cookie", "step=1; Path=/")],
            "",
        ),
        _ => Reply::ok("followed"),
    })
    .await;
    let client = vendor_client(server.port(), test_limits());
    let url = format!("http://vendor.test:{}/start", server.port());
    let request = FetchRequest {
        redirect: Redirect::Manual,
        ..FetchRequest::get(&url)
    };
    let response = client.fetch(request).await.expect("the redirect itself");
    assert_eq!(response.status, 302);
    assert_eq!(response.url, url);
    assert_eq!(response.requests, 1);
    let location = response
        .headers
        .iter()
        .find(|(name, _)| name == "location")
        .map(|(_, value)| value.as_str());
    assert_eq!(location, Some("/next"));
    assert_eq!(server.requests().len(), 1, "the redirect was not followed");

    // Its cookies are kept, as for any response.
    let followed = client
        .fetch(FetchRequest::get(&url))
        .await
        .expect("followed");
    assert_eq!(followed.body, b"followed");
    let next = &server.requests()[2];
    assert_eq!(next.target, "/next");
    assert_eq!(next.header("cookie"), Some("step=1"));
}

#[tokio::test]
async fn compressed_bodies_decoded() {
    let text = b"<html>bills and payslips</html>".repeat(50);
    let gzipped = gzip(&text);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&text).expect("in memory");
    let zlib = zlib.finish().expect("in memory");
    let mut br = Vec::new();
    brotli::BrotliCompress(&mut &text[..], &mut br, &Default::default()).expect("in memory");

    let server = TestServer::start(move |request: &Recorded| match request.target.as_str() {
        "/gzip" => Reply::with(200, &[("content-encoding", "gzip")], gzipped.clone()),
        "/deflate" => Reply::with(200, &[("content-encoding", "deflate")], zlib.clone()),
        "/br" => Reply::with(200, &[("content-encoding", "br")], br.clone()),
        _ => Reply::with(200, &[("content-encoding", "zstd")], b"?".to_vec()),
    })
    .await;
    let client = vendor_client(server.port(), test_limits());
    for coding in ["gzip", "deflate", "br"] {
        let url = format!("http://vendor.test:{}/{coding}", server.port());
        let response = client
            .fetch(FetchRequest::get(url))
            .await
            .expect("response");
        assert_eq!(response.body, text, "{coding}");
        assert!(response.bytes_received < text.len() as u64, "{coding}");
        let has = |name: &str| response.headers.iter().any(|(header, _)| header == name);
        assert!(!has("content-encoding"), "{coding}");
        assert!(!has("content-length"), "{coding}");
    }
    let url = format!("http://vendor.test:{}/zstd", server.port());
    let error = expect_error(&client, FetchRequest::get(url)).await;
    assert_eq!(error.kind(), FetchErrorKind::Http);
    assert!(
        error.reason().contains("unsupported Content-Encoding"),
        "{error}"
    );
}

#[tokio::test]
async fn resolver_called_once_per_hop() {
    /// Resolves every name to 127.0.0.1 and counts the lookups.
    struct Counting(AtomicUsize);
    #[async_trait::async_trait]
    impl Resolver for Counting {
        async fn lookup(&self, _host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(vec![LOOPBACK])
        }
    }
    let server = TestServer::start(|request: &Recorded| match request.target.as_str() {
        "/" => Reply::redirect(302, "/next"),
        _ => Reply::ok("ok"),
    })
    .await;
    let port = server.port();
    let resolver = Arc::new(Counting(AtomicUsize::new(0)));
    let operator = OperatorNetConfig {
        allow_private: vec![loopback_port(port)],
        ..OperatorNetConfig::default()
    };
    let policy = NetworkPolicy::from_manifest(
        &json!({"network": {"hosts": [format!("vendor.test:{port}")]}}),
    )
    .expect("valid");
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = HttpClient::new(
        policy,
        Arc::new(operator),
        test_limits(),
        deadline,
        resolver.clone(),
    )
    .expect("valid client");

    let response = client
        .fetch(FetchRequest::get(format!("http://vendor.test:{port}/")))
        .await
        .expect("response");
    assert_eq!(response.body, b"ok");
    assert_eq!(resolver.0.load(Ordering::SeqCst), 2);
}

/// Generates a CA and a server certificate for `name` signed by that CA,
/// and returns the CA's PEM and the server's TLS acceptor.
fn test_pki(name: &str) -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "net tests CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca_params
        .self_signed(&ca_key)
        .expect("CA certificate")
        .pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().expect("server key");
    let server_params = CertificateParams::new(vec![name.to_owned()]).expect("valid name");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key)
        .expect("server configuration");
    (ca_pem, tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[tokio::test]
async fn https_with_operator_ca() {
    /// Fails the test if a name is resolved: the override must be used.
    struct NoLookups;
    #[async_trait::async_trait]
    impl Resolver for NoLookups {
        async fn lookup(&self, host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
            panic!("resolver called for {host}");
        }
    }

    let (ca_pem, acceptor) = test_pki("secure.vendor.test");
    let server = TestServer::start_tls(acceptor, |request: &Recorded| {
        Reply::ok(format!("secure {}", request.header("host").unwrap_or("-")))
    })
    .await;
    let port = server.port();
    let mut ca_file = tempfile::NamedTempFile::new().expect("temporary file");
    ca_file.write_all(ca_pem.as_bytes()).expect("write CA");

    let operator = |ca_files: Vec<std::path::PathBuf>| OperatorNetConfig {
        resolve: vec![
            format!("secure.vendor.test:{port}:127.0.0.1")
                .parse()
                .expect("valid override"),
        ],
        allow_private: vec![loopback_port(port)],
        ca_files,
        ..OperatorNetConfig::default()
    };
    let policy = NetworkPolicy::from_manifest(
        &json!({"network": {"hosts": [format!("https://secure.vendor.test:{port}")]}}),
    )
    .expect("valid");
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("https://secure.vendor.test:{port}/bills");

    let trusted = HttpClient::new(
        policy.clone(),
        Arc::new(operator(vec![ca_file.path().to_owned()])),
        test_limits(),
        deadline,
        Arc::new(NoLookups),
    )
    .expect("valid client");
    let response = trusted
        .fetch(FetchRequest::get(&url))
        .await
        .expect("response");
    assert_eq!(
        response.body,
        format!("secure secure.vendor.test:{port}").as_bytes()
    );

    // Without the CA file the certificate is not trusted.
    let untrusted = HttpClient::new(
        policy.clone(),
        Arc::new(operator(Vec::new())),
        test_limits(),
        deadline,
        Arc::new(NoLookups),
    )
    .expect("valid client");
    let error = expect_error(&untrusted, FetchRequest::get(&url)).await;
    assert_eq!(error.kind(), FetchErrorKind::ConnectFailed);
    assert!(
        error
            .reason()
            .contains("TLS handshake with secure.vendor.test"),
        "{error}"
    );

    // Plain http to the same name and port is not in the manifest.
    let error = expect_error(
        &trusted,
        FetchRequest::get(format!("http://secure.vendor.test:{port}/")),
    )
    .await;
    assert_eq!(error.kind(), FetchErrorKind::RefusedByPolicy);
    assert_eq!(server.connections(), 2);
}

#[test]
fn operator_settings_validated() {
    let deadline = Instant::now() + Duration::from_secs(60);
    let build = |operator: OperatorNetConfig| {
        HttpClient::new(
            NetworkPolicy::deny_all(),
            Arc::new(operator),
            NetLimits::default(),
            deadline,
            Arc::new(StaticResolver::new()),
        )
    };
    for addr in [
        "0.0.0.0:80",
        "[::]:80",
        "224.0.0.1:80",
        "255.255.255.255:80",
    ] {
        let operator = OperatorNetConfig {
            allow_private: vec![addr.parse().expect("valid")],
            ..OperatorNetConfig::default()
        };
        let error = build(operator).err().expect("invalid allow_private");
        assert!(
            error.to_string().contains("invalid allow_private entry"),
            "{addr}: {error}"
        );
    }

    let missing = OperatorNetConfig {
        ca_files: vec!["/nonexistent/ca.pem".into()],
        ..OperatorNetConfig::default()
    };
    let error = build(missing).err().expect("missing CA file");
    assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");

    let mut empty = tempfile::NamedTempFile::new().expect("temporary file");
    empty.write_all(b"not a certificate").expect("write");
    let no_pem = OperatorNetConfig {
        ca_files: vec![empty.path().to_owned()],
        ..OperatorNetConfig::default()
    };
    let error = build(no_pem).err().expect("no certificate");
    assert!(error.to_string().contains("no PEM certificate"), "{error}");
}
