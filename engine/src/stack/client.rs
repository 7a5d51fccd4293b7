//! Requests to the stack's API with the job's token, and their retries.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use tokio::time::Instant;
use url::{Position, Url};

use super::config::{MAX_BACKOFF_MS, RetryPolicy, StackConfig, StackConfigError};
use super::error::{StackError, error_detail};
use super::transport::{Exchange, ExchangeError, Transport};

/// `User-Agent` of the engine's requests to the stack.
const USER_AGENT: &str = concat!("konnector-engine/", env!("CARGO_PKG_VERSION"));

/// Media type of the `/data` API.
pub(crate) const JSON: &str = "application/json";

/// Media type of the `/files` API (JSON:API).
pub(crate) const JSON_API: &str = "application/vnd.api+json";

/// One API call: method, path segments (each percent-encoded when the URL
/// is built), query and body.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    method: Method,
    segments: Vec<String>,
    query: Vec<(&'static str, String)>,
    /// Names of the query parameters whose values are personal data, shown
    /// as `[redacted]` in log lines and error messages.
    private: Vec<&'static str>,
    headers: Vec<(HeaderName, HeaderValue)>,
    accept: &'static str,
    body: Bytes,
}

impl ApiRequest {
    /// Creates a request without body to the API path made of `segments`
    /// (`["data", "io.cozy.bills", id]`). An empty last segment gives a
    /// trailing `/`.
    pub(crate) fn new(method: Method, segments: &[&str]) -> ApiRequest {
        let accept = match segments.first() {
            Some(&"files") => JSON_API,
            _ => JSON,
        };
        ApiRequest {
            method,
            segments: segments.iter().map(|&segment| segment.to_owned()).collect(),
            query: Vec::new(),
            private: Vec::new(),
            headers: Vec::new(),
            accept,
            body: Bytes::new(),
        }
    }

    /// Adds a query parameter.
    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> ApiRequest {
        self.query.push((name, value.into()));
        self
    }

    /// Adds a query parameter whose value, such as a person's login, stays
    /// out of log lines and error messages.
    pub(crate) fn private_query(self, name: &'static str, value: impl Into<String>) -> ApiRequest {
        let mut request = self.query(name, value);
        request.private.push(name);
        request
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: HeaderName, value: HeaderValue) -> ApiRequest {
        self.headers.push((name, value));
        self
    }

    /// Sets a JSON body of media type `media_type` ([`JSON`] or
    /// [`JSON_API`]).
    pub(crate) fn json(self, media_type: &'static str, body: &Value) -> ApiRequest {
        self.body(
            Bytes::from(body.to_string()),
            HeaderValue::from_static(media_type),
        )
    }

    /// Sets the body and its `Content-Type`.
    pub(crate) fn body(mut self, body: Bytes, content_type: HeaderValue) -> ApiRequest {
        self.headers.push((header::CONTENT_TYPE, content_type));
        self.body = body;
        self
    }
}

/// The stack's response to an [`ApiRequest`], whatever its status, except a
/// rejected token and a 5xx left after the retries, which are errors.
#[derive(Debug)]
pub(crate) struct ApiResponse {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    /// Attempts made.
    pub(crate) attempts: u32,
    /// Whether the request was sent more than once, so that an earlier send
    /// may have been applied by the stack although its response was lost.
    pub(crate) repeated: bool,
    method: Method,
    path: String,
}

impl ApiResponse {
    /// Parses the body as JSON.
    pub(crate) fn json(&self) -> Result<Value, StackError> {
        serde_json::from_slice(&self.body)
            .map_err(|error| self.invalid(format!("the body is not JSON: {error}")))
    }

    /// Returns the error for a status the operation does not expect.
    pub(crate) fn unexpected(&self) -> StackError {
        StackError::Status {
            method: self.method.clone(),
            path: self.path.clone(),
            status: self.status,
            attempts: self.attempts,
            detail: error_detail(&self.body),
        }
    }

    /// Returns the error for a body that lacks what the API documents.
    pub(crate) fn invalid(&self, reason: impl Into<String>) -> StackError {
        StackError::InvalidResponse {
            method: self.method.clone(),
            path: self.path.clone(),
            reason: reason.into(),
        }
    }
}

/// The last failure of a request, kept for the error when retries run out.
enum Failure {
    Status(StatusCode, Bytes),
    Transport(String),
}

/// Sends [`ApiRequest`]s to one stack with one token, with the retries of a
/// [`RetryPolicy`].
pub(crate) struct StackClient {
    base: Url,
    authority: HeaderValue,
    authorization: HeaderValue,
    /// The token's bytes, removed from every response body before it is
    /// used, so that a stack that echoes the request's headers in an error
    /// cannot pass the token on to a guest message or a log line.
    secret: Vec<u8>,
    retry: RetryPolicy,
    transport: Transport,
}

impl StackClient {
    /// Checks `config` and prepares the connections.
    pub(crate) fn new(config: &StackConfig) -> Result<StackClient, StackConfigError> {
        config.retry.validate()?;
        let base = parse_base_url(&config.url)?;
        let authority = HeaderValue::from_str(&base[Position::BeforeHost..Position::AfterPort])
            .map_err(|_| StackConfigError::InvalidUrl("the host is not a valid header".into()))?;

        let token = config.token.expose_secret();
        if token.is_empty() {
            return Err(StackConfigError::InvalidToken("it is empty"));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                StackConfigError::InvalidToken(
                    "it contains a character not allowed in an HTTP header",
                )
            })?;
        // hyper then keeps the value out of its own debug output.
        authorization.set_sensitive(true);

        let transport = Transport::new(&base, config)?;
        Ok(StackClient {
            base,
            authority,
            authorization,
            secret: token.as_bytes().to_vec(),
            retry: config.retry,
            transport,
        })
    }

    /// Returns the API path and query of `request`, percent-encoded.
    fn target(&self, request: &ApiRequest) -> String {
        self.target_with(request, |_, value| value)
    }

    /// Returns [`target`](Self::target) with the values of private query
    /// parameters replaced by `[redacted]`, for logs and errors.
    fn shown_target(&self, request: &ApiRequest) -> String {
        self.target_with(request, |name, value| {
            if request.private.contains(&name) {
                "[redacted]"
            } else {
                value
            }
        })
    }

    fn target_with<'a>(
        &self,
        request: &'a ApiRequest,
        value_of: impl Fn(&'static str, &'a str) -> &'a str,
    ) -> String {
        let mut url = self.base.clone();
        // `parse_base_url` accepts only http and https URLs, which always
        // have a path, so this cannot fail.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(&request.segments);
        }
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &request.query {
                pairs.append_pair(name, value_of(name, value));
            }
        }
        url[Position::BeforePath..Position::AfterQuery].to_owned()
    }

    fn build(&self, request: &ApiRequest, target: &str) -> Result<Request<Full<Bytes>>, String> {
        let mut builder = Request::builder()
            .method(request.method.clone())
            .uri(target)
            .header(header::HOST, self.authority.clone())
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, HeaderValue::from_static(request.accept))
            .header(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        for (name, value) in &request.headers {
            builder = builder.header(name, value.clone());
        }
        builder
            .body(Full::new(request.body.clone()))
            .map_err(|error| format!("invalid request: {error}"))
    }

    /// Sends `request` and returns the stack's response. It retries after a
    /// 5xx, a connection error or a timeout, within the [`RetryPolicy`], and
    /// never past `deadline`.
    ///
    /// # Errors
    ///
    /// [`StackError::Unauthorized`] when the stack rejects the token,
    /// [`StackError::Status`] when a 5xx remains after the last attempt,
    /// [`StackError::Transport`] when no attempt got a response,
    /// [`StackError::Deadline`] when the deadline came first, and
    /// [`StackError::InvalidResponse`] for a body over
    /// [`MAX_RESPONSE_BYTES`](super::MAX_RESPONSE_BYTES). Any other status
    /// is returned for the caller to interpret.
    pub(crate) async fn send(
        &self,
        request: ApiRequest,
        deadline: Option<std::time::Instant>,
    ) -> Result<ApiResponse, StackError> {
        // `target` goes on the wire; `path` goes into logs and errors.
        let target = self.target(&request);
        let path = self.shown_target(&request);
        let method = request.method.clone();
        if let Err(reason) = self.build(&request, &target) {
            return Err(StackError::InvalidRequest {
                method,
                path,
                reason,
            });
        }
        let deadline = deadline.map(Instant::from_std);
        let timeout = Duration::from_millis(self.retry.request_timeout_ms);
        let mut last: Option<Failure> = None;

        for attempt in 1..=self.retry.max_attempts {
            // Wait before a retry, unless the wait would end past the deadline.
            if attempt > 1 {
                let delay = backoff(&self.retry, attempt - 1);
                if deadline.is_some_and(|deadline| Instant::now() + delay >= deadline) {
                    return Err(deadline_error(&method, &path, attempt - 1, last.as_ref()));
                }
                tracing::warn!(
                    method = %method,
                    path,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    failure = %describe(last.as_ref()),
                    "retrying a stack request"
                );
                tokio::time::sleep(delay).await;
            }

            // One attempt ends at the request timeout or the deadline,
            // whichever comes first.
            let now = Instant::now();
            let mut until = now + timeout;
            if let Some(deadline) = deadline {
                if now >= deadline {
                    return Err(deadline_error(&method, &path, attempt - 1, last.as_ref()));
                }
                until = until.min(deadline);
            }
            let exchange = self.transport.exchange(|| self.build(&request, &target));
            let outcome = tokio::time::timeout_at(until, exchange).await;

            let failure = match outcome {
                Ok(Ok(exchange)) => match self.read_exchange(exchange, attempt, &method, &path) {
                    Ok(response) => return response,
                    Err(failure) => failure,
                },
                Ok(Err(ExchangeError::Fatal(reason))) => {
                    tracing::debug!(method = %method, path, attempt, error = %reason, "stack request failed");
                    return Err(StackError::InvalidResponse {
                        method,
                        path,
                        reason,
                    });
                }
                Ok(Err(ExchangeError::Retryable(reason))) => {
                    tracing::debug!(method = %method, path, attempt, error = %reason, "stack request failed");
                    Failure::Transport(reason)
                }
                Err(_elapsed) => {
                    tracing::debug!(method = %method, path, attempt, "stack request timed out");
                    if deadline.is_some_and(|deadline| until >= deadline) {
                        let reason =
                            Failure::Transport("the attempt was cut at the deadline".into());
                        return Err(deadline_error(&method, &path, attempt, Some(&reason)));
                    }
                    Failure::Transport(format!(
                        "no complete response within request_timeout_ms ({} ms)",
                        self.retry.request_timeout_ms
                    ))
                }
            };
            last = Some(failure);
        }
        Err(retries_exhausted(
            method,
            path,
            self.retry.max_attempts,
            last,
        ))
    }

    /// Turns the response of attempt number `attempt` into the result of
    /// [`send`](Self::send), or into a failure to retry when it is a 5xx.
    fn read_exchange(
        &self,
        exchange: Exchange,
        attempt: u32,
        method: &Method,
        path: &str,
    ) -> Result<Result<ApiResponse, StackError>, Failure> {
        let Exchange {
            status,
            headers,
            body,
            resent,
        } = exchange;
        let body = redact(body, &self.secret);
        tracing::debug!(method = %method, path, status = status.as_u16(), attempt, "stack request");
        if token_rejected(status, &headers) {
            return Ok(Err(StackError::Unauthorized {
                method: method.clone(),
                path: path.to_owned(),
                status,
                detail: error_detail(&body),
            }));
        }
        if status.is_server_error() {
            return Err(Failure::Status(status, body));
        }
        Ok(Ok(ApiResponse {
            status,
            body,
            attempts: attempt,
            // Any earlier attempt failed in a way that does not prove the
            // stack left the request unapplied.
            repeated: resent || attempt > 1,
            method: method.clone(),
            path: path.to_owned(),
        }))
    }
}

/// Replaces every occurrence of `secret` in `body` with `[redacted]`.
fn redact(body: Bytes, secret: &[u8]) -> Bytes {
    if secret.is_empty() || !body.windows(secret.len()).any(|window| window == secret) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest: &[u8] = &body;
    while !rest.is_empty() {
        if rest.starts_with(secret) {
            out.extend_from_slice(b"[redacted]");
            rest = &rest[secret.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    Bytes::from(out)
}

/// Returns the error of a request whose attempts all failed.
fn retries_exhausted(
    method: Method,
    path: String,
    attempts: u32,
    last: Option<Failure>,
) -> StackError {
    match last {
        Some(Failure::Status(status, body)) => StackError::Status {
            method,
            path,
            status,
            attempts,
            detail: error_detail(&body),
        },
        Some(Failure::Transport(reason)) => StackError::Transport {
            method,
            path,
            attempts,
            reason,
        },
        None => StackError::Transport {
            method,
            path,
            attempts,
            reason: "no attempt was made".into(),
        },
    }
}

/// Returns whether the stack rejected the token itself: 401, or the 400
/// with `WWW-Authenticate: Bearer error="invalid_token"` that cozy-stack
/// returns for an invalid or expired token.
fn token_rejected(status: StatusCode, headers: &HeaderMap) -> bool {
    if status == StatusCode::UNAUTHORIZED {
        return true;
    }
    status == StatusCode::BAD_REQUEST
        && headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .any(|value| {
                value
                    .to_str()
                    .is_ok_and(|text| text.contains("invalid_token"))
            })
}

/// Parses and checks the stack's URL.
fn parse_base_url(text: &str) -> Result<Url, StackConfigError> {
    let invalid = |reason: &str| StackConfigError::InvalidUrl(reason.to_owned());
    // The parse error is quoted, not the text, which could hold a secret
    // pasted in the wrong place.
    let url = Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host().is_none() {
        return Err(invalid("the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("the URL must not contain a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not contain a query or fragment"));
    }
    Ok(url)
}

/// Returns the wait before retry number `retry` (1 for the second attempt):
/// the base doubled `retry - 1` times, capped at [`MAX_BACKOFF_MS`], then
/// scaled by a random factor between 0.5 and 1.
fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let doublings = retry.saturating_sub(1).min(32);
    let full_ms = policy
        .backoff_base_ms
        .saturating_mul(1u64 << doublings)
        .min(MAX_BACKOFF_MS);
    // Without randomness the full wait is used: still bounded, only less
    // spread out.
    let random = getrandom::u64().unwrap_or(u64::MAX);
    let fraction = 0.5 + (random as f64 / u64::MAX as f64) / 2.0;
    Duration::from_millis((full_ms as f64 * fraction) as u64)
}

fn describe(failure: Option<&Failure>) -> String {
    match failure {
        Some(Failure::Status(status, body)) => format!("{status}{}", error_detail(body)),
        Some(Failure::Transport(reason)) => reason.clone(),
        None => "none".into(),
    }
}

fn deadline_error(
    method: &Method,
    path: &str,
    attempts: u32,
    last: Option<&Failure>,
) -> StackError {
    StackError::Deadline {
        method: method.clone(),
        path: path.to_owned(),
        attempts,
        last: match last {
            Some(failure) => format!("; last failure: {}", describe(Some(failure))),
            None => String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::config::StackToken;

    #[test]
    fn token_in_a_body_is_redacted() {
        let body = Bytes::from_static(br#"{"error":"echo: Bearer SECRET123 and SECRET123"}"#);
        let clean = redact(body, b"SECRET123");
        assert_eq!(
            clean.as_ref(),
            br#"{"error":"echo: Bearer [redacted] and [redacted]"}"#
        );
        assert_eq!(
            redact(Bytes::from_static(b"plain"), b"SECRET123").as_ref(),
            b"plain"
        );
    }

    fn client(url: &str) -> StackClient {
        StackClient::new(&StackConfig::new(url, StackToken::new("t0ken"))).expect("client")
    }

    #[test]
    fn target_encodes_segments_and_query() {
        let client = client("http://127.0.0.1:9/");
        let request = ApiRequest::new(Method::GET, &["files", "metadata"])
            .query("Path", "/Administrative/Vendor & Co");
        assert_eq!(
            client.target(&request),
            "/files/metadata?Path=%2FAdministrative%2FVendor+%26+Co"
        );
        let create = ApiRequest::new(Method::POST, &["data", "io.cozy.bills", ""]);
        assert_eq!(client.target(&create), "/data/io.cozy.bills/");
        let private = ApiRequest::new(Method::POST, &["files", "d"])
            .query("Name", "a.pdf")
            .private_query("SourceAccountIdentifier", "alice@example.org");
        assert_eq!(
            client.target(&private),
            "/files/d?Name=a.pdf&SourceAccountIdentifier=alice%40example.org"
        );
        assert_eq!(
            client.shown_target(&private),
            "/files/d?Name=a.pdf&SourceAccountIdentifier=%5Bredacted%5D"
        );
        let odd_id = ApiRequest::new(Method::GET, &["data", "io.cozy.bills", "a/b?c"]);
        assert_eq!(client.target(&odd_id), "/data/io.cozy.bills/a%2Fb%3Fc");
    }

    #[test]
    fn target_keeps_a_path_prefix() {
        let client = client("http://127.0.0.1:9/cozy/");
        let request = ApiRequest::new(Method::GET, &["data", "io.cozy.bills", "x"]);
        assert_eq!(client.target(&request), "/cozy/data/io.cozy.bills/x");
    }

    #[test]
    fn base_url_checks() {
        for bad in [
            "ftp://example.org/",
            "http://user:pw@127.0.0.1/",
            "http://127.0.0.1/?a=b",
            "not a url",
        ] {
            let result = StackClient::new(&StackConfig::new(bad, StackToken::new("t")));
            assert!(
                matches!(result, Err(StackConfigError::InvalidUrl(_))),
                "{bad} accepted"
            );
        }
        let empty = StackClient::new(&StackConfig::new("http://127.0.0.1/", StackToken::new("")));
        assert!(matches!(empty, Err(StackConfigError::InvalidToken(_))));
        let newline = StackClient::new(&StackConfig::new(
            "http://127.0.0.1/",
            StackToken::new("a\nb"),
        ));
        assert!(matches!(newline, Err(StackConfigError::InvalidToken(_))));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_cap() {
        let policy = RetryPolicy::default();
        for retry in 1..=3u32 {
            let full = policy.backoff_base_ms << (retry - 1);
            let wait = backoff(&policy, retry).as_millis() as u64;
            assert!(wait >= full / 2, "retry {retry}: {wait} ms");
            assert!(wait <= full, "retry {retry}: {wait} ms");
        }
        let late = backoff(&policy, 40).as_millis() as u64;
        assert!(late <= MAX_BACKOFF_MS, "{late} ms");
        assert!(late >= MAX_BACKOFF_MS / 2, "{late} ms");
    }
}
