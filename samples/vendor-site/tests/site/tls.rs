//! The HTTPS listener and the test CA that signs its certificate.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::StatusCode;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use vendor_site::{SiteConfig, VendorSite};

use crate::client::{Fixture, REQUEST_TIMEOUT, client_builder, tls_config};

#[tokio::test]
async fn https_validates_for_hostname() {
    let fixture = Fixture::start_default().await;

    let response = fixture.client.get(fixture.https_url("/login")).send().await;
    let response = response.expect("HTTPS request with the test CA");
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.expect("page text");
    assert!(page.contains("id=\"login-form\""));

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn https_validates_for_localhost_and_ip() {
    let fixture = Fixture::start_default().await;
    let port = fixture.site.https_addr().expect("HTTPS is on").port();

    for url in [
        format!("https://localhost:{port}/login"),
        format!("https://127.0.0.1:{port}/login"),
    ] {
        let response = fixture.client.get(&url).send().await;
        let response = response.unwrap_or_else(|error| panic!("{url}: {error}"));
        assert_eq!(response.status(), StatusCode::OK, "{url}");
    }

    fixture.site.shutdown().await;
}

/// Performs a TLS handshake with the site's HTTPS listener, presenting
/// `server_name`, and sends one request to prove the session works.
async fn handshake(
    site: &VendorSite,
    ca_pem: Option<&str>,
    server_name: &str,
) -> std::io::Result<String> {
    let address = site.https_addr().expect("HTTPS is on");
    let connector = TlsConnector::from(Arc::new(tls_config(ca_pem)));
    let server_name = ServerName::try_from(server_name.to_owned()).expect("valid server name");
    let stream = TcpStream::connect(address).await?;
    let mut stream = connector.connect(server_name, stream).await?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: vendor.example\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn raw_handshake_against_ca() {
    let site = VendorSite::start(SiteConfig::default())
        .await
        .expect("site starts");

    let response = tokio::time::timeout(
        REQUEST_TIMEOUT,
        handshake(&site, Some(site.ca_pem()), "vendor.example"),
    )
    .await
    .expect("handshake in time");
    let response = response.expect("handshake validates against the CA");
    assert!(response.starts_with("HTTP/1.1 302 Found\r\n"), "{response}");

    site.shutdown().await;
}

#[tokio::test]
async fn untrusted_client_rejects_certificate() {
    let site = VendorSite::start(SiteConfig::default())
        .await
        .expect("site starts");

    let result = tokio::time::timeout(REQUEST_TIMEOUT, handshake(&site, None, "vendor.example"))
        .await
        .expect("handshake in time");
    let error = result.expect_err("no trusted root");
    assert_eq!(error.kind(), ErrorKind::InvalidData, "{error}");
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");

    site.shutdown().await;
}

#[tokio::test]
async fn other_hostname_rejected() {
    let site = VendorSite::start(SiteConfig::default())
        .await
        .expect("site starts");

    let result = tokio::time::timeout(
        REQUEST_TIMEOUT,
        handshake(&site, Some(site.ca_pem()), "other.example"),
    )
    .await
    .expect("handshake in time");
    let error = result.expect_err("name not in the certificate");
    assert!(error.to_string().contains("not valid for name"), "{error}");

    site.shutdown().await;
}

#[tokio::test]
async fn other_site_ca_rejected() {
    let site = VendorSite::start(SiteConfig::default())
        .await
        .expect("site starts");
    let other = VendorSite::start(SiteConfig::default())
        .await
        .expect("other site starts");

    // Each start generates a new CA, so one site's CA does not vouch for another.
    let result = tokio::time::timeout(
        REQUEST_TIMEOUT,
        handshake(&site, Some(other.ca_pem()), "vendor.example"),
    )
    .await
    .expect("handshake in time");
    assert!(result.is_err(), "{result:?}");

    site.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn custom_hostname_in_certificate() {
    let config = SiteConfig {
        hostname: "bills.vendor.test".to_owned(),
        ..SiteConfig::default()
    };
    let fixture = Fixture::start(config).await;

    let url = fixture.https_url("/login");
    assert!(url.starts_with("https://bills.vendor.test:"), "{url}");
    let response = fixture
        .client
        .get(&url)
        .send()
        .await
        .expect("HTTPS request");
    assert_eq!(response.status(), StatusCode::OK);

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn https_off_has_no_listener() {
    let config = SiteConfig {
        https: false,
        ..SiteConfig::default()
    };
    let site = VendorSite::start(config).await.expect("site starts");

    assert_eq!(site.https_addr(), None);
    assert!(site.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let client = client_builder(&site).build().expect("client builds");
    let response = client
        .get(format!("http://{}/login", site.http_addr()))
        .send()
        .await;
    assert_eq!(response.expect("HTTP request").status(), StatusCode::OK);

    site.shutdown().await;
}

#[tokio::test]
async fn listeners_on_loopback_only() {
    let site = VendorSite::start(SiteConfig::default())
        .await
        .expect("site starts");

    let loopback = Ipv4Addr::LOCALHOST;
    assert_eq!(site.http_addr().ip(), loopback);
    assert_eq!(
        site.https_addr().map(|address| address.ip()),
        Some(loopback.into())
    );
    assert_ne!(site.http_addr().port(), 0);
    assert_ne!(
        site.https_addr().map(|address: SocketAddr| address.port()),
        Some(0)
    );

    site.shutdown().await;
}

#[tokio::test]
async fn invalid_config_rejected() {
    let cases = [
        SiteConfig {
            hostname: "not a host name".to_owned(),
            ..SiteConfig::default()
        },
        SiteConfig {
            bills_per_page: 0,
            ..SiteConfig::default()
        },
        SiteConfig {
            bill_count: vendor_site::MAX_BILL_COUNT + 1,
            ..SiteConfig::default()
        },
    ];
    for config in cases {
        let error = VendorSite::start(config.clone())
            .await
            .expect_err("invalid config");
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{config:?}: {error}");
    }
}

#[tokio::test]
async fn listener_closed_after_shutdown() {
    let site = VendorSite::start(SiteConfig::default())
        .await
        .expect("site starts");
    let http_addr = site.http_addr();
    let https_addr = site.https_addr().expect("HTTPS is on");

    site.shutdown().await;
    for address in [http_addr, https_addr] {
        let connected = TcpStream::connect(address).await;
        assert!(connected.is_err(), "{address} still accepts connections");
    }
}

#[tokio::test]
async fn listener_closed_after_drop() {
    let site = VendorSite::start(SiteConfig::default())
        .await
        .expect("site starts");
    let http_addr = site.http_addr();

    drop(site);
    // Dropping only signals the accept task, which closes its listener the
    // next time it runs.
    let mut closed = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if TcpStream::connect(http_addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(closed, "{http_addr} still accepts connections after drop");
}
