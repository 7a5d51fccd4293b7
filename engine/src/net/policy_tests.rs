//! Tests of the manifest's policy and of [`NetGuard::check`]. Names resolve
//! through a [`StaticResolver`], so no test makes a DNS query and no test
//! opens a connection.

use serde_json::json;

use super::*;
use crate::net::resolve::StaticResolver;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("valid IP address")
}

fn guard(manifest: Value, operator: OperatorNetConfig, resolver: StaticResolver) -> NetGuard {
    let policy = NetworkPolicy::from_manifest(&manifest).expect("valid manifest");
    NetGuard::new(policy, Arc::new(operator), Arc::new(resolver))
}

/// Creates a guard allowing `*.vendor.test` and `vendor.test`, where each
/// name of `entries` resolves to its address.
fn vendor_guard(entries: &[(&str, &str)]) -> NetGuard {
    let mut resolver = StaticResolver::new();
    for (name, addr) in entries {
        resolver = resolver.with(name, &[ip(addr)]);
    }
    let manifest = json!({"network": {"hosts": ["vendor.test", "*.vendor.test"]}});
    guard(manifest, OperatorNetConfig::default(), resolver)
}

async fn refusal(guard: &NetGuard, url: &str) -> FetchError {
    match guard.check(url, None).await {
        Ok(target) => panic!("{url} allowed: {target:?}"),
        Err(error) => error,
    }
}

#[test]
fn manifest_patterns_and_errors() {
    let policy = NetworkPolicy::from_manifest(&json!({
        "vendor_link": "https://ignored.example",
        "network": {"hosts": ["vendor.example", "*.vendor.example", "https://api.vendor.example:8443"]}
    }))
    .expect("valid");
    assert_eq!(policy.patterns().len(), 3);
    assert!(policy.allows(Scheme::Https, "api.vendor.example", 8443));
    assert!(!policy.allows(Scheme::Https, "ignored.example", 443));

    let error = NetworkPolicy::from_manifest(&json!({
        "network": {"hosts": ["vendor.example", "https://vendor.example/login"]}
    }))
    .expect_err("path");
    let message = error.to_string();
    assert!(message.contains("network.hosts[1]"), "{message}");
    assert!(
        message.contains("\"https://vendor.example/login\""),
        "{message}"
    );
    assert!(message.contains("path"), "{message}");

    let error = NetworkPolicy::from_manifest(&json!({"network": {"hosts": ["a.example", 42]}}))
        .expect_err("number");
    assert!(error.to_string().contains("network.hosts[1] 42"), "{error}");

    for network in [
        json!(null),
        json!(["a.example"]),
        json!({}),
        json!({"hosts": "a.example"}),
    ] {
        let error = NetworkPolicy::from_manifest(&json!({"network": network})).expect_err("shape");
        assert_eq!(error, NetPolicyError::InvalidNetworkField);
    }
}

#[test]
fn empty_hosts_deny_everything() {
    let policy = NetworkPolicy::from_manifest(&json!({
        "vendor_link": "https://vendor.example",
        "network": {"hosts": []}
    }))
    .expect("valid");
    assert_eq!(policy, NetworkPolicy::deny_all());
    assert!(!policy.allows(Scheme::Https, "vendor.example", 443));
}

#[test]
fn default_from_vendor_link() {
    let policy =
        NetworkPolicy::from_manifest(&json!({"vendor_link": "https://www.Vendor.example/fr/"}))
            .expect("valid");
    assert!(policy.allows(Scheme::Https, "www.vendor.example", 443));
    assert!(policy.allows(Scheme::Http, "www.vendor.example", 80));
    assert!(policy.allows(Scheme::Https, "static.www.vendor.example", 443));
    assert!(!policy.allows(Scheme::Https, "vendor.example", 443));
    assert!(!policy.allows(Scheme::Https, "www.vendor.example", 8443));

    let bare =
        NetworkPolicy::from_manifest(&json!({"vendor_link": "vendor.example"})).expect("valid");
    assert!(bare.allows(Scheme::Https, "vendor.example", 443));

    let none = NetworkPolicy::from_manifest(&json!({"slug": "x"})).expect("valid");
    assert_eq!(none, NetworkPolicy::deny_all());

    for link in [
        json!("ftp://vendor.example"),
        json!("https://127.0.0.1/"),
        json!(3),
        json!("https://"),
    ] {
        let error =
            NetworkPolicy::from_manifest(&json!({"vendor_link": link})).expect_err("invalid");
        assert!(error.to_string().contains("vendor_link"), "{error}");
    }
}

#[tokio::test]
async fn allowed_name_resolves_to_allowed_address() {
    let operator = OperatorNetConfig {
        allow_private: vec!["127.0.0.1:8080".parse().expect("valid")],
        ..OperatorNetConfig::default()
    };
    let resolver = StaticResolver::new().with("vendor.test", &[ip("127.0.0.1")]);
    let guard = guard(
        json!({"network": {"hosts": ["vendor.test:8080"]}}),
        operator,
        resolver,
    );

    let target = guard
        .check("http://Vendor.Test.:8080/a?b=c#d", None)
        .await
        .expect("allowed");
    assert_eq!(target.host, "vendor.test");
    assert_eq!(target.port, 8080);
    assert_eq!(
        target.addrs,
        vec!["127.0.0.1:8080".parse::<SocketAddr>().expect("valid")]
    );
    assert_eq!(guard.refused(), 0);
}

#[tokio::test]
async fn ipv4_notations_are_canonicalised() {
    let guard = vendor_guard(&[]);
    for url in [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://127.0.1/",
        "http://0177.1/",
        "http://%31%32%37.0.0.1/",
        "http://１２７.０.０.１/",
    ] {
        let error = refusal(&guard, url).await;
        assert_eq!(error.kind(), FetchErrorKind::RefusedByPolicy, "{url}");
        assert!(
            error
                .reason()
                .starts_with("address 127.0.0.1 is loopback, not a global unicast address;"),
            "{url}: {}",
            error.reason()
        );
    }
}

#[tokio::test]
async fn ip_literals_refused() {
    let guard = vendor_guard(&[]);
    let cases = [
        ("http://[::1]/", "address ::1 is loopback"),
        (
            "http://[::ffff:127.0.0.1]/",
            "address ::ffff:127.0.0.1 is IPv4-mapped IPv6",
        ),
        (
            "http://[::ffff:7f00:1]/",
            "address ::ffff:127.0.0.1 is IPv4-mapped IPv6",
        ),
        (
            "http://169.254.169.254/latest/meta-data/",
            "address 169.254.169.254 is link-local",
        ),
        (
            "http://0xa9fea9fe/",
            "address 169.254.169.254 is link-local",
        ),
        ("http://10.0.0.1/", "address 10.0.0.1 is private"),
        ("http://0/", "address 0.0.0.0 is unspecified"),
        ("http://[fd00::1]/", "address fd00::1 is IPv6 unique local"),
        (
            "http://[64:ff9b::a9fe:a9fe]/",
            "NAT64 with a non-global embedded IPv4 address",
        ),
        ("http://1.1.1.1/", "host 1.1.1.1 is an IP address"),
    ];
    for (url, expected) in cases {
        let error = refusal(&guard, url).await;
        assert_eq!(error.kind(), FetchErrorKind::RefusedByPolicy, "{url}");
        assert!(
            error.reason().contains(expected),
            "{url}: {}",
            error.reason()
        );
    }
}

#[tokio::test]
async fn names_resolving_to_special_addresses_refused() {
    let guard = vendor_guard(&[
        ("loopback.vendor.test", "127.0.0.1"),
        ("private.vendor.test", "10.0.0.1"),
        ("mapped.vendor.test", "::ffff:127.0.0.1"),
        ("metadata.vendor.test", "::ffff:169.254.169.254"),
        ("link.vendor.test", "169.254.169.254"),
        ("cgnat.vendor.test", "100.64.1.1"),
        ("teredo.vendor.test", "2001::1"),
        ("sixtofour.vendor.test", "2002:7f00:1::1"),
    ]);
    let cases = [
        ("loopback", "127.0.0.1, which is loopback"),
        ("private", "10.0.0.1, which is private"),
        ("mapped", "::ffff:127.0.0.1, which is IPv4-mapped IPv6"),
        (
            "metadata",
            "::ffff:169.254.169.254, which is IPv4-mapped IPv6",
        ),
        ("link", "169.254.169.254, which is link-local"),
        ("cgnat", "100.64.1.1, which is carrier-grade NAT"),
        ("teredo", "2001::1, which is Teredo"),
        ("sixtofour", "2002:7f00:1::1, which is 6to4"),
    ];
    for (label, expected) in cases {
        let url = format!("https://{label}.vendor.test/");
        let error = refusal(&guard, &url).await;
        assert_eq!(error.kind(), FetchErrorKind::RefusedByPolicy, "{url}");
        assert!(
            error.reason().contains(expected),
            "{url}: {}",
            error.reason()
        );
        assert!(
            error
                .to_string()
                .starts_with(&format!("request to {url} refused: "))
        );
    }
    assert_eq!(guard.refused(), cases.len() as u64);
}

#[tokio::test]
async fn mixed_answer_refused_whole() {
    let resolver = StaticResolver::new().with("vendor.test", &[ip("127.0.0.1"), ip("10.0.0.1")]);
    let operator = OperatorNetConfig {
        allow_private: vec!["127.0.0.1:443".parse().expect("valid")],
        ..OperatorNetConfig::default()
    };
    let guard = guard(
        json!({"network": {"hosts": ["vendor.test"]}}),
        operator,
        resolver,
    );
    let error = refusal(&guard, "https://vendor.test/").await;
    assert!(
        error.reason().contains("10.0.0.1, which is private"),
        "{error}"
    );
}

#[tokio::test]
async fn override_still_checked() {
    let operator = OperatorNetConfig {
        resolve: vec!["vendor.test:8080:127.0.0.1".parse().expect("valid")],
        ..OperatorNetConfig::default()
    };
    let guard = guard(
        json!({"network": {"hosts": ["vendor.test:8080"]}}),
        operator,
        StaticResolver::new(),
    );
    let error = refusal(&guard, "http://vendor.test:8080/").await;
    assert!(
        error.reason().contains("127.0.0.1, which is loopback"),
        "{error}"
    );
}

#[tokio::test]
async fn allow_private_is_exact() {
    let operator = OperatorNetConfig {
        resolve: vec!["vendor.test:8080:127.0.0.1".parse().expect("valid")],
        allow_private: vec!["127.0.0.1:8080".parse().expect("valid")],
        ..OperatorNetConfig::default()
    };
    let resolver = StaticResolver::new()
        .with("vendor.test", &[ip("127.0.0.1")])
        .with("other.vendor.test", &[ip("127.0.0.2")])
        .with("mapped.vendor.test", &[ip("::ffff:127.0.0.1")]);
    let manifest = json!({"network": {"hosts": ["vendor.test:8080", "*.vendor.test:8080", "vendor.test:9090"]}});
    let guard = guard(manifest, operator, resolver);

    guard
        .check("http://vendor.test:8080/", None)
        .await
        .expect("allowed");
    for url in [
        "http://other.vendor.test:8080/",
        "http://mapped.vendor.test:8080/",
        "http://vendor.test:9090/",
    ] {
        let error = refusal(&guard, url).await;
        assert_eq!(error.kind(), FetchErrorKind::RefusedByPolicy, "{url}");
    }
}

#[tokio::test]
async fn names_not_allowed_never_resolved() {
    /// A resolver that fails the test when called.
    struct NoLookups;
    #[async_trait::async_trait]
    impl Resolver for NoLookups {
        async fn lookup(&self, host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
            panic!("resolver called for {host}");
        }
    }
    let policy = NetworkPolicy::from_manifest(&json!({"network": {"hosts": ["*.vendor.test"]}}))
        .expect("valid");
    let guard = NetGuard::new(policy, Arc::default(), Arc::new(NoLookups));
    let cases = [
        (
            "https://vendor.test/",
            "https://vendor.test:443 is not allowed",
        ),
        ("https://evil.test/", "https://evil.test:443 is not allowed"),
        (
            "https://a.vendor.test:444/",
            "https://a.vendor.test:444 is not allowed",
        ),
        (
            "https://a.vendor.test.evil.test/",
            "https://a.vendor.test.evil.test:443 is not allowed",
        ),
    ];
    for (url, expected) in cases {
        let error = refusal(&guard, url).await;
        assert!(
            error.reason().starts_with(expected),
            "{url}: {}",
            error.reason()
        );
    }
}

#[tokio::test]
async fn userinfo_schemes_and_odd_strings_refused() {
    let guard = vendor_guard(&[("vendor.test", "127.0.0.1")]);
    let cases = [
        ("http://vendor.test@127.0.0.1/", "userinfo"),
        ("http://user:pw@vendor.test/", "userinfo"),
        ("http://user@vendor.test/", "userinfo"),
        ("http://:pw@vendor.test/", "userinfo"),
        ("file:///etc/passwd", "scheme file:"),
        ("ftp://vendor.test/", "scheme ftp:"),
        ("gopher://vendor.test:70/_GET", "scheme gopher:"),
        ("data:text/plain,hello", "scheme data:"),
        ("javascript:alert(1)", "scheme javascript:"),
        ("http://vendor.test\\@127.0.0.1/", "backslash"),
        ("http:\\\\127.0.0.1\\", "backslash"),
        ("http://vendor.test/\r\nHost: x", "control character"),
        ("http://127.0.0.1\t/", "control character"),
        ("http://vendor.test/\0", "control character"),
    ];
    for (url, expected) in cases {
        let error = refusal(&guard, url).await;
        assert_eq!(error.kind(), FetchErrorKind::RefusedByPolicy, "{url:?}");
        assert!(
            error.reason().contains(expected),
            "{url:?}: {}",
            error.reason()
        );
    }

    for url in [
        "",
        "not a url",
        "http://",
        "http://[::1/",
        "https://a b.vendor.test/",
    ] {
        let error = refusal(&guard, url).await;
        assert_eq!(
            error.kind(),
            FetchErrorKind::InvalidRequest,
            "{url:?}: {error}"
        );
    }
}

#[tokio::test]
async fn stack_origins_never_reachable() {
    let operator = OperatorNetConfig {
        resolve: vec!["vendor.test:6060:127.0.0.1".parse().expect("valid")],
        allow_private: vec![
            "127.0.0.1:6060".parse().expect("valid"),
            "127.0.0.1:8080".parse().expect("valid"),
        ],
        stack_origins: vec![
            ("cozy.localhost".to_owned(), 8080),
            ("127.0.0.1".to_owned(), 6060),
        ],
        ..OperatorNetConfig::default()
    };
    let resolver = StaticResolver::new()
        .with("cozy.localhost", &[ip("127.0.0.1")])
        .with("alias.vendor.test", &[ip("127.0.0.1")]);
    let manifest = json!({"network": {"hosts": ["*.vendor.test:8080", "vendor.test:6060", "cozy.localhost:8080"]}});
    let guard = guard(manifest, operator, resolver);

    let by_name = refusal(&guard, "http://cozy.localhost:8080/").await;
    assert!(by_name.reason().contains("is the Cozy stack"), "{by_name}");
    let by_alias = refusal(&guard, "http://alias.vendor.test:8080/").await;
    assert!(
        by_alias
            .reason()
            .contains("127.0.0.1:8080 is the Cozy stack"),
        "{by_alias}"
    );
    let by_override = refusal(&guard, "http://vendor.test:6060/").await;
    assert!(
        by_override
            .reason()
            .contains("127.0.0.1:6060 is the Cozy stack"),
        "{by_override}"
    );
    let by_literal = refusal(&guard, "http://127.0.0.1:6060/").await;
    assert!(
        by_literal.reason().contains("is the Cozy stack"),
        "{by_literal}"
    );
}

#[tokio::test]
async fn relative_location_resolved_against_base() {
    let guard = vendor_guard(&[]);
    let base = Url::parse("https://a.vendor.test/x/y").expect("valid");
    for location in ["//127.0.0.1/", "https://0x7f.1/", "//[::1]:80/"] {
        let error = guard
            .check(location, Some(&base))
            .await
            .expect_err(location);
        assert!(error.reason().contains("loopback"), "{location}: {error}");
    }
}
