//! The HTTP client the tests use, and a server with a konnector token.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use stack_server::{StackConfig, StackServer, TokenSpec, Verb};

/// The limit on every test request, so a broken server fails a test instead
/// of hanging it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The slug of the fixture's token.
pub const SLUG: &str = "vendor";

/// A running server, a client, and a token with every verb on bills,
/// files and accounts.
pub struct Fixture {
    pub server: StackServer,
    pub client: reqwest::Client,
    pub token: String,
}

impl Fixture {
    pub async fn start() -> Fixture {
        Fixture::start_with(StackConfig::default()).await
    }

    pub async fn start_with(config: StackConfig) -> Fixture {
        let server = StackServer::start(config).await.expect("server starts");
        let token = server.issue_token(
            TokenSpec::konnector(SLUG)
                .allow("io.cozy.bills", Verb::ALL)
                .allow("io.cozy.files", Verb::ALL)
                .allow("io.cozy.accounts", Verb::ALL),
        );
        let client = reqwest::Client::builder()
            // In a workspace build another crate turns on reqwest's rustls
            // support without a crypto provider; this server is plain HTTP.
            .tls_backend_preconfigured(plain_tls_config())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("client builds");
        Fixture {
            server,
            client,
            token,
        }
    }

    /// Returns the URL of `path` (which starts with `/`) on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url().trim_end_matches('/'), path)
    }

    /// Builds a request with the fixture's token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// Sends a JSON body with the fixture's token and returns the status and
    /// the parsed response body.
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self.request(method, path).json(body).send().await;
        status_and_json(response.expect("request sent")).await
    }

    /// Sends a GET with the fixture's token.
    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let response = self.request(Method::GET, path).send().await;
        status_and_json(response.expect("request sent")).await
    }

    /// Defines an index on `fields` of `doctype`.
    pub async fn define_index(&self, doctype: &str, fields: Value) {
        let body = serde_json::json!({ "index": { "fields": fields } });
        let (status, _) = self
            .send_json(Method::POST, &format!("/data/{doctype}/_index"), &body)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// Returns the status and the body parsed as JSON (`Null` when the body is
/// not JSON).
pub async fn status_and_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.expect("body read");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// A rustls configuration with the ring provider and no root, for a client
/// that only talks plain HTTP but whose reqwest build has rustls support.
pub fn plain_tls_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth()
}
