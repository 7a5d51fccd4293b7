//! The fetch host function obeys the network policy: guests reach the hosts
//! their manifest allows and nothing else, and a refused request is a status
//! the guest can handle while the forbidden server receives nothing.

use std::sync::Arc;

use konnector_engine::manifest::Manifest;
use konnector_engine::net::{ConnectTo, OperatorNetConfig};
use konnector_engine::{EngineConfig, KonnectorEngine, LimitRequest, Outcome, TrapKind};
use vendor_site::{SiteConfig, VendorSite};

use crate::support::{self, TempStore};
use crate::wat;

/// Status codes of the ABI, as the guest sees them.
const INVALID_ARGUMENT: i32 = 1;
const NETWORK: i32 = 7;

/// An allowed site reached as `http://vendor.example`, and a forbidden one on
/// loopback that no request may reach.
struct Sites {
    allowed: VendorSite,
    forbidden: VendorSite,
    engine: KonnectorEngine,
}

async fn sites() -> Sites {
    let plain = SiteConfig {
        https: false,
        ..SiteConfig::default()
    };
    let allowed = VendorSite::start(plain.clone())
        .await
        .expect("allowed site");
    let forbidden = VendorSite::start(plain).await.expect("forbidden site");
    let network = OperatorNetConfig {
        connect_to: vec![ConnectTo {
            host: "vendor.example".into(),
            port: 80,
            target: allowed.http_addr(),
        }],
        allow_private: vec![allowed.http_addr()],
        ..OperatorNetConfig::default()
    };
    let engine = KonnectorEngine::new(EngineConfig {
        network: Arc::new(network),
        ..EngineConfig::default()
    })
    .expect("engine");
    Sites {
        allowed,
        forbidden,
        engine,
    }
}

fn manifest() -> Manifest {
    Manifest::parse(r#"{"slug": "fetcher", "network": {"hosts": ["http://vendor.example"]}}"#)
        .expect("manifest")
}

async fn fetch_status(sites: &Sites, manifest: Manifest, requests: &[&str]) -> i32 {
    let store = TempStore::new();
    let guest = wat::fetch_each(requests);
    let job = support::job(
        guest.as_bytes(),
        manifest,
        store.sink(),
        LimitRequest::default(),
    );
    let report = sites.engine.run(job).await.expect("job starts");
    match report.outcome {
        Outcome::Succeeded => 0,
        Outcome::Trap {
            trap: TrapKind::Exit(status),
            ..
        } => status,
        other => panic!("expected an exit status, got {other}"),
    }
}

fn get(url: &str) -> String {
    serde_json::json!({"method": "GET", "url": url}).to_string()
}

#[tokio::test]
async fn allowed_host_is_reached() {
    let sites = sites().await;
    let status = fetch_status(&sites, manifest(), &[&get("http://vendor.example/login")]).await;
    assert_eq!(status, 0);
    assert_eq!(sites.allowed.requests().len(), 1);
}

#[tokio::test]
async fn redirects_to_forbidden_targets_refused() {
    let sites = sites().await;
    let forbidden = sites.forbidden.http_addr();
    let targets = [
        format!("http://{forbidden}/bills"),
        format!("http://localhost:{}/bills", forbidden.port()),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://other.example/".to_owned(),
        format!("http://2130706433:{}/", forbidden.port()),
    ];
    for target in &targets {
        for code in [301, 302, 303, 307, 308] {
            let url = format!(
                "http://vendor.example/redirect-to?status={code}&url={}",
                urlencode(target)
            );
            let status = fetch_status(&sites, manifest(), &[&get(&url)]).await;
            assert_eq!(status, NETWORK, "redirect {code} to {target}");
        }
    }
    assert!(
        sites.forbidden.requests().is_empty(),
        "the forbidden site received a request"
    );
    // Every redirect reached the allowed site once.
    assert_eq!(sites.allowed.requests().len(), targets.len() * 5);
}

#[tokio::test]
async fn direct_forbidden_urls_refused() {
    let sites = sites().await;
    let forbidden = sites.forbidden.http_addr();
    for url in [
        format!("http://{forbidden}/"),
        format!("http://vendor.example@{forbidden}/"),
        "https://vendor.example/".to_owned(),
        "http://vendor.example:8080/".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let status = fetch_status(&sites, manifest(), &[&get(&url)]).await;
        assert_ne!(status, 0, "{url} was not refused");
    }
    assert!(sites.forbidden.requests().is_empty());
    assert!(sites.allowed.requests().is_empty());
}

#[tokio::test]
async fn header_injection_refused() {
    let sites = sites().await;
    let request = serde_json::json!({
        "url": "http://vendor.example/login",
        "headers": [["X-Test", "a\r\nHost: evil.example"]],
    })
    .to_string();
    let status = fetch_status(&sites, manifest(), &[&request]).await;
    assert_eq!(status, INVALID_ARGUMENT);
    assert!(sites.allowed.requests().is_empty());
}

#[tokio::test]
async fn plain_module_reaches_nothing() {
    let sites = sites().await;
    let status = fetch_status(
        &sites,
        Manifest::unprivileged("plain"),
        &[&get("http://vendor.example/login")],
    )
    .await;
    assert_eq!(status, NETWORK);
    assert!(sites.allowed.requests().is_empty());
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
