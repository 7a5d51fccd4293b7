//! The HTTP client the tests use: reqwest with a cookie store, the site's
//! hostname resolved to 127.0.0.1 and the site's test CA as the only trusted
//! root.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::Policy;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use vendor_site::{SiteConfig, VendorSite};

/// The limit on every test request, so a broken server fails a test instead
/// of hanging it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A running site and a client that trusts it.
pub struct Fixture {
    pub site: VendorSite,
    pub client: reqwest::Client,
}

impl Fixture {
    /// Starts a site with `config` and a client that follows redirects.
    pub async fn start(config: SiteConfig) -> Fixture {
        let site = VendorSite::start(config).await.expect("vendor site starts");
        let client = client_builder(&site).build().expect("client builds");
        Fixture { site, client }
    }

    /// Starts a site with the default configuration.
    pub async fn start_default() -> Fixture {
        Fixture::start(SiteConfig::default()).await
    }

    /// Returns the URL of `path` on the HTTP listener, by IP address.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.site.http_addr())
    }

    /// Returns the URL of `path` on the HTTPS listener, by hostname.
    pub fn https_url(&self, path: &str) -> String {
        let port = self.site.https_addr().expect("HTTPS is on").port();
        format!("https://{}:{port}{path}", self.site.config().hostname)
    }

    /// Returns a client that shares nothing with `self.client` and does not
    /// follow redirects.
    pub fn client_without_redirects(&self) -> reqwest::Client {
        client_builder(&self.site)
            .redirect(Policy::none())
            .build()
            .expect("client builds")
    }

    /// Logs in through the login form and returns the final response, which
    /// is the first page of bills on success.
    pub async fn log_in(&self, base_url: &str, login: &str, password: &str) -> reqwest::Response {
        let form_page = self
            .client
            .get(format!("{base_url}/login"))
            .send()
            .await
            .expect("login page loads")
            .text()
            .await
            .expect("login page is text");
        let csrf = extract_attribute(&form_page, "name=\"csrf\" value=\"").expect("csrf input");
        self.client
            .post(format!("{base_url}/login"))
            .form(&[("login", login), ("password", password), ("csrf", &csrf)])
            .send()
            .await
            .expect("login form posts")
    }

    /// Logs in over HTTP with the configured credentials.
    pub async fn log_in_http(&self) {
        let config = self.site.config().clone();
        let base_url = self.http_url("");
        let response = self
            .log_in(&base_url, &config.login, &config.password)
            .await;
        assert_eq!(response.url().path(), "/bills", "login lands on the bills");
    }
}

/// Returns a client builder with no cookie store and no trusted root, for
/// requests that must not carry the site's cookies.
pub fn plain_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(None))
        .timeout(REQUEST_TIMEOUT)
}

/// Returns a client builder with cookies, the test CA as the only trusted
/// root and the site's hostname resolved to the loopback address.
pub fn client_builder(site: &VendorSite) -> reqwest::ClientBuilder {
    // reqwest ignores the port of a resolved address and uses the URL's.
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    reqwest::Client::builder()
        .cookie_store(true)
        .resolve(&site.config().hostname, loopback)
        .tls_backend_preconfigured(tls_config(Some(site.ca_pem())))
        .timeout(REQUEST_TIMEOUT)
}

/// Builds a rustls client configuration that trusts only `ca_pem`, or no
/// root at all when it is `None`.
pub fn tls_config(ca_pem: Option<&str>) -> rustls::ClientConfig {
    let mut roots = RootCertStore::empty();
    if let Some(ca_pem) = ca_pem {
        let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA is PEM");
        roots.add(ca).expect("CA is a valid root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Returns the text between `prefix` and the next `"` in `html`.
pub fn extract_attribute(html: &str, prefix: &str) -> Option<String> {
    let start = html.find(prefix)? + prefix.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Returns every value of attribute `name` on elements whose opening tag
/// starts with `tag_start`, such as `<li class="bill"`.
pub fn attribute_values(html: &str, tag_start: &str, name: &str) -> Vec<String> {
    let attribute = format!("{name}=\"");
    html.match_indices(tag_start)
        .filter_map(|(index, _)| {
            let tag_end = html[index..].find('>')? + index;
            extract_attribute(&html[index..tag_end], &attribute)
        })
        .collect()
}
