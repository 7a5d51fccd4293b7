//! The HTTP client of one job: [`HttpClient`].

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use konnector_host_api::Redirect;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::{Position, Url};

use super::address::AddressClass;
use super::connect::{Connection, Connector};
use super::cookies::CookieJar;
use super::decode::{BodyDecoder, DecodeError};
use super::error::{FetchError, FetchErrorKind, NetConfigError};
use super::headers::{BODY_HEADERS, CREDENTIAL_HEADERS, validate_guest_headers};
use super::limits::NetLimits;
use super::pattern::Scheme;
use super::policy::{CheckedTarget, NetGuard, NetworkPolicy, OperatorNetConfig};
use super::resolve::Resolver;
use super::tls::tls_connector;

/// `User-Agent` sent when the guest sets none.
pub const DEFAULT_USER_AGENT: &str = concat!("konnector-engine/", env!("CARGO_PKG_VERSION"));

/// `Accept-Encoding` sent when the guest sets none: the codings the client
/// decodes.
pub const DEFAULT_ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// Methods a guest may use.
const ALLOWED_METHODS: &[Method] = &[
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// A request from the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// One of `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`
    /// (case-insensitive).
    pub method: String,
    /// Absolute http or https URL.
    pub url: String,
    /// Headers in order. Framing and hop-by-hop headers (`Host`,
    /// `Content-Length`, `Transfer-Encoding`, `Connection`, `Keep-Alive`,
    /// `TE`, `Trailer`, `Upgrade`, `Proxy-*`) and CR, LF or NUL are
    /// rejected. An `Accept-Encoding` set here replaces the default, but a
    /// response in a coding other than gzip, deflate or br still fails.
    pub headers: Vec<(String, String)>,
    /// Request body, at most [`NetLimits::max_request_body_bytes`].
    pub body: Vec<u8>,
    /// Whether redirects are followed, or returned as the response.
    pub redirect: Redirect,
}

impl FetchRequest {
    /// Creates a `GET` of `url` without header or body.
    pub fn get(url: impl Into<String>) -> FetchRequest {
        FetchRequest {
            method: "GET".to_owned(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            redirect: Redirect::Follow,
        }
    }

    /// Converts the request of the ABI's `http_fetch`, with the body the
    /// guest passed in its own pointer range.
    pub fn from_guest(request: konnector_host_api::FetchRequest, body: Vec<u8>) -> FetchRequest {
        FetchRequest {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body,
            redirect: request.redirect,
        }
    }
}

/// A response, after redirects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// Status code of the last hop.
    pub status: u16,
    /// URL of the last hop.
    pub url: String,
    /// Headers of the last hop, names in lower case. `content-encoding` and
    /// `content-length` are removed when the body was decoded.
    pub headers: Vec<(String, String)>,
    /// The decoded body, at most [`NetLimits::max_response_bytes`].
    pub body: Vec<u8>,
    /// Requests this fetch sent: 1 plus the redirects followed.
    pub requests: u32,
    /// Body bytes of the last hop as received, before decoding (the bodies
    /// of redirects are not read).
    pub bytes_received: u64,
}

/// Totals of one job's client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetCounters {
    /// Requests counted against [`NetLimits::max_requests`]: every hop,
    /// refused ones included.
    pub requests: u64,
    /// Requests the network policy refused.
    pub refused: u64,
    /// TCP connections attempted.
    pub connections: u64,
    /// Response body bytes received, before decoding.
    pub bytes_received: u64,
}

/// The timer that stops a request that takes too long.
#[derive(Debug, Clone, Copy)]
enum TimeoutCause {
    Job,
    Request(u64),
    FirstByte(u64),
    Connect(u64),
}

/// The earliest of the timers that apply to a step, and which one it is.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Instant,
    cause: TimeoutCause,
}

impl Deadline {
    /// Computes the deadline `timeout_ms` from now, or `bound` if that is
    /// earlier.
    fn within(bound: Deadline, timeout_ms: u64, cause: TimeoutCause) -> Deadline {
        match Instant::now().checked_add(Duration::from_millis(timeout_ms)) {
            Some(at) if at < bound.at => Deadline { at, cause },
            _ => bound,
        }
    }

    async fn run<F: Future>(self, url: &str, future: F) -> Result<F::Output, FetchError> {
        tokio::time::timeout_at(self.at, future)
            .await
            .map_err(|_| self.error(url))
    }

    fn error(self, url: &str) -> FetchError {
        let reason = match self.cause {
            TimeoutCause::Job => "the job's deadline was reached".to_owned(),
            TimeoutCause::Request(ms) => {
                format!("the request did not finish within request_timeout_ms ({ms} ms)")
            }
            TimeoutCause::FirstByte(ms) => {
                format!("no response headers within first_byte_timeout_ms ({ms} ms)")
            }
            TimeoutCause::Connect(ms) => format!(
                "resolving, connecting and the TLS handshake took longer than \
                 connect_timeout_ms ({ms} ms)"
            ),
        };
        FetchError::new(FetchErrorKind::Timeout, url, reason)
    }
}

/// The state of a request that changes from one redirect hop to the next.
struct Hop {
    url: String,
    base: Option<Url>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    redirect: Redirect,
}

/// The HTTP client of one job.
///
/// Every request and every redirect hop goes through [`NetGuard::check`],
/// and the client connects only to the addresses that check returned. The
/// client keeps the job's cookie jar and idle connections, counts requests
/// against [`NetLimits`], and stops everything at the job's deadline. Drop
/// it when the job ends.
pub struct HttpClient {
    guard: NetGuard,
    limits: NetLimits,
    deadline: Instant,
    connector: Connector,
    jar: CookieJar,
    slots: Semaphore,
    requests: AtomicU64,
    bytes_received: AtomicU64,
}

impl HttpClient {
    /// Creates the client of one job. `deadline` is the job's wall-clock
    /// deadline: no request outlives it.
    ///
    /// # Errors
    ///
    /// [`NetConfigError`] when a CA file cannot be loaded or an
    /// `allow_private` entry is an unspecified, multicast or broadcast
    /// address.
    pub fn new(
        policy: NetworkPolicy,
        operator: Arc<OperatorNetConfig>,
        limits: NetLimits,
        deadline: std::time::Instant,
        resolver: Arc<dyn Resolver>,
    ) -> Result<HttpClient, NetConfigError> {
        for addr in &operator.allow_private {
            let class = super::address::classify(addr.ip());
            if matches!(
                class,
                AddressClass::Unspecified | AddressClass::Multicast | AddressClass::Broadcast
            ) {
                return Err(NetConfigError::AllowPrivate {
                    addr: *addr,
                    reason: format!("a {} address cannot be a server's", class.description()),
                });
            }
        }
        let tls = tls_connector(&operator.ca_files)?;
        let max_concurrent = limits.max_concurrent_requests.max(1);
        Ok(HttpClient {
            slots: Semaphore::new(max_concurrent),
            guard: NetGuard::new(policy, operator, resolver),
            limits,
            deadline: Instant::from_std(deadline),
            connector: Connector::new(tls, max_concurrent),
            jar: CookieJar::default(),
            requests: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        })
    }

    /// Returns the job's cookie jar, which the guest may list and add to.
    pub(crate) fn cookies(&self) -> &CookieJar {
        &self.jar
    }

    /// Returns the job's totals so far.
    pub fn counters(&self) -> NetCounters {
        NetCounters {
            requests: self.requests.load(Ordering::Relaxed),
            refused: self.guard.refused(),
            connections: self.connector.attempts(),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }

    /// Sends `request`, follows redirects (each hop checked by the policy)
    /// unless it requests [`Redirect::Manual`], and returns the last
    /// response with its decoded body. Any HTTP status
    /// is a response; errors are requests that got none.
    pub async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, FetchError> {
        let url = request.url.as_str();
        let job = Deadline {
            at: self.deadline,
            cause: TimeoutCause::Job,
        };
        if Instant::now() >= job.at {
            return Err(job.error(url));
        }
        let whole = Deadline::within(
            job,
            self.limits.request_timeout_ms,
            TimeoutCause::Request(self.limits.request_timeout_ms),
        );

        let method = parse_method(url, &request.method)?;
        let body_len = request.body.len() as u64;
        if body_len > self.limits.max_request_body_bytes {
            return Err(FetchError::new(
                FetchErrorKind::TooLarge,
                url,
                format!(
                    "request body of {body_len} bytes exceeds max_request_body_bytes ({})",
                    self.limits.max_request_body_bytes
                ),
            ));
        }
        let headers = validate_guest_headers(&request.headers, &self.limits)
            .map_err(|reason| FetchError::new(FetchErrorKind::InvalidRequest, url, reason))?;

        // Fail at once, rather than after waiting for a slot, when the job
        // has no request left.
        if self.requests.load(Ordering::Relaxed) >= self.limits.max_requests {
            return Err(self.max_requests_error(url));
        }
        let _slot = whole
            .run(url, self.slots.acquire())
            .await?
            .map_err(|_| FetchError::new(FetchErrorKind::Http, url, "the client is closed"))?;

        let hop = Hop {
            url: request.url.clone(),
            base: None,
            method,
            headers,
            body: Bytes::from(request.body),
            redirect: request.redirect,
        };
        self.follow(hop, whole).await
    }

    /// Sends the hops of one fetch until a response is not a redirect.
    async fn follow(&self, mut hop: Hop, whole: Deadline) -> Result<FetchResponse, FetchError> {
        let mut previous_origin: Option<(Scheme, String, u16)> = None;
        for redirects in 0..=self.limits.max_redirects {
            self.count_request(&hop.url)?;
            let connect = Deadline::within(
                whole,
                self.limits.connect_timeout_ms,
                TimeoutCause::Connect(self.limits.connect_timeout_ms),
            );
            let target = connect
                .run(&hop.url, self.guard.check(&hop.url, hop.base.as_ref()))
                .await??;

            // Credentials set by the guest go only to the origin it named.
            let origin = (target.scheme, target.host.clone(), target.port);
            if previous_origin
                .as_ref()
                .is_some_and(|previous| *previous != origin)
            {
                for name in CREDENTIAL_HEADERS {
                    hop.headers.remove(name);
                }
            }
            previous_origin = Some(origin);

            let (response, connection) = self.send(&target, &hop, connect, whole).await?;
            self.jar.store_from(&target.url, response.headers());

            let location = match hop.redirect {
                Redirect::Follow => redirect_location(&target, &response)?,
                Redirect::Manual => None,
            };
            let Some(location) = location else {
                return self
                    .read_response(target, response, connection, whole, redirects + 1)
                    .await;
            };
            if redirects == self.limits.max_redirects {
                return Err(FetchError::new(
                    FetchErrorKind::LimitExceeded,
                    target.url.as_str(),
                    format!(
                        "more than max_redirects ({}) redirects",
                        self.limits.max_redirects
                    ),
                ));
            }
            // The body of a redirect is not read, so its connection is kept
            // only when that body is empty.
            if response.body().is_end_stream() {
                self.connector.release(connection, whole.at).await;
            }

            // 301, 302 and 303 turn the request into a GET without body,
            // as browsers do; 307 and 308 repeat it as it was.
            let status = response.status();
            let becomes_get = matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
            );
            if becomes_get && hop.method != Method::HEAD {
                hop.method = Method::GET;
                hop.body = Bytes::new();
                for name in BODY_HEADERS {
                    hop.headers.remove(name);
                }
            }
            tracing::trace!(
                host = target.host,
                status = status.as_u16(),
                "following a redirect"
            );
            hop.url = location;
            hop.base = Some(target.url);
        }
        // The loop returns on its last iteration.
        Err(FetchError::new(
            FetchErrorKind::LimitExceeded,
            &hop.url,
            "too many redirects",
        ))
    }

    /// Counts one request against `max_requests`.
    fn count_request(&self, url: &str) -> Result<(), FetchError> {
        let max = self.limits.max_requests;
        self.requests
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| {
                (count < max).then_some(count + 1)
            })
            .map(|_| ())
            .map_err(|_| self.max_requests_error(url))
    }

    fn max_requests_error(&self, url: &str) -> FetchError {
        FetchError::new(
            FetchErrorKind::LimitExceeded,
            url,
            format!(
                "the job reached max_requests ({})",
                self.limits.max_requests
            ),
        )
    }

    /// Sends one hop's request and waits for the response headers.
    async fn send(
        &self,
        target: &CheckedTarget,
        hop: &Hop,
        connect: Deadline,
        whole: Deadline,
    ) -> Result<(Response<Incoming>, Connection), FetchError> {
        let url = target.url.as_str();
        let mut connection = connect
            .run(url, self.connector.connection(target, false))
            .await??;
        let first_byte = Deadline::within(
            whole,
            self.limits.first_byte_timeout_ms,
            TimeoutCause::FirstByte(self.limits.first_byte_timeout_ms),
        );
        let request = self.build_request(target, hop)?;
        let mut result = first_byte
            .run(url, connection.sender.send_request(request))
            .await?;

        // An idle connection the server closed meanwhile fails before the
        // request is written, and hyper reports that as canceled. Retry once
        // on a new connection.
        // NOTE: no test covers this retry, because the server would have to
        // close the connection in the short window before its reuse.
        if connection.reused && result.as_ref().is_err_and(|error| error.is_canceled()) {
            connection = connect
                .run(url, self.connector.connection(target, true))
                .await??;
            let request = self.build_request(target, hop)?;
            result = first_byte
                .run(url, connection.sender.send_request(request))
                .await?;
        }

        let response = result.map_err(|error| {
            FetchError::new(
                FetchErrorKind::Http,
                url,
                format!(
                    "failed to receive the response from {}: {error}",
                    target.host
                ),
            )
        })?;
        Ok((response, connection))
    }

    fn build_request(
        &self,
        target: &CheckedTarget,
        hop: &Hop,
    ) -> Result<Request<Full<Bytes>>, FetchError> {
        let url = &target.url;
        let invalid =
            |reason: String| FetchError::new(FetchErrorKind::InvalidRequest, url.as_str(), reason);

        let mut headers = hop.headers.clone();
        let authority = &url[Position::BeforeHost..Position::AfterPort];
        let host = HeaderValue::from_str(authority)
            .map_err(|error| invalid(format!("invalid host {authority:?}: {error}")))?;
        headers.insert(header::HOST, host);
        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(
                header::USER_AGENT,
                HeaderValue::from_static(DEFAULT_USER_AGENT),
            );
        }
        if !headers.contains_key(header::ACCEPT_ENCODING) {
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(DEFAULT_ACCEPT_ENCODING),
            );
        }
        if let Some(cookie) = self.cookie_header(url, &headers) {
            headers.insert(header::COOKIE, cookie);
        }

        let path = &url[Position::BeforePath..Position::AfterQuery];
        let mut request = Request::builder()
            .method(hop.method.clone())
            .uri(path)
            .body(Full::new(hop.body.clone()))
            .map_err(|error| invalid(format!("the URL's path cannot be sent: {error}")))?;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Joins the jar's cookies for `url` and those the guest set into one
    /// `Cookie` header.
    fn cookie_header(&self, url: &Url, headers: &HeaderMap) -> Option<HeaderValue> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        if let Some(jar) = self.jar.header_for(url) {
            parts.push(jar.as_bytes().to_vec());
        }
        for guest in headers.get_all(header::COOKIE) {
            parts.push(guest.as_bytes().to_vec());
        }
        if parts.is_empty() {
            return None;
        }
        HeaderValue::from_bytes(&parts.join(&b"; "[..])).ok()
    }

    /// Reads and decodes the body of the last hop.
    async fn read_response(
        &self,
        target: CheckedTarget,
        response: Response<Incoming>,
        connection: Connection,
        whole: Deadline,
        requests: u32,
    ) -> Result<FetchResponse, FetchError> {
        let url = target.url.as_str();
        let too_large = |reason: String| FetchError::new(FetchErrorKind::TooLarge, url, reason);
        let cap = self.limits.max_response_bytes;
        let (parts, mut body) = response.into_parts();

        let encoding = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let mut decoder = BodyDecoder::for_encoding(
            encoding.as_deref(),
            usize::try_from(cap).unwrap_or(usize::MAX),
        )
        .map_err(|reason| FetchError::new(FetchErrorKind::Http, url, reason))?;
        if let Some(length) = body.size_hint().exact()
            && length > cap
        {
            return Err(too_large(format!(
                "response body of {length} bytes exceeds max_response_bytes ({cap} bytes)"
            )));
        }

        let mut received: u64 = 0;
        while let Some(frame) = whole.run(url, body.frame()).await? {
            let frame = frame.map_err(|error| {
                FetchError::new(
                    FetchErrorKind::Http,
                    url,
                    format!("failed to read the response body: {error}"),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            received += data.len() as u64;
            self.bytes_received
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            if received > cap {
                return Err(too_large(format!(
                    "response body exceeds max_response_bytes ({cap} bytes) as received"
                )));
            }
            decoder
                .write(&data)
                .map_err(|error| decode_error(url, cap, error))?;
        }

        let decoded = decoder.is_decoding();
        let body = decoder
            .finish()
            .map_err(|error| decode_error(url, cap, error))?;
        self.connector.release(connection, whole.at).await;

        let headers = parts
            .headers
            .iter()
            .filter(|(name, _)| {
                !(decoded && (*name == header::CONTENT_ENCODING || *name == header::CONTENT_LENGTH))
            })
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(FetchResponse {
            status: parts.status.as_u16(),
            url: target.url.to_string(),
            headers,
            body,
            requests,
            bytes_received: received,
        })
    }
}

fn decode_error(url: &str, cap: u64, error: DecodeError) -> FetchError {
    match error {
        DecodeError::TooLarge => FetchError::new(
            FetchErrorKind::TooLarge,
            url,
            format!("response body exceeds max_response_bytes ({cap} bytes) after decoding"),
        ),
        DecodeError::Invalid(reason) => FetchError::new(FetchErrorKind::Http, url, reason),
    }
}

fn parse_method(url: &str, method: &str) -> Result<Method, FetchError> {
    ALLOWED_METHODS
        .iter()
        .find(|allowed| allowed.as_str().eq_ignore_ascii_case(method))
        .cloned()
        .ok_or_else(|| {
            FetchError::new(
                FetchErrorKind::InvalidRequest,
                url,
                format!(
                    "method {method:?} is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
                ),
            )
        })
}

/// Extracts the `Location` of a redirect the client follows (301, 302,
/// 303, 307, 308), if the response is one.
fn redirect_location(
    target: &CheckedTarget,
    response: &Response<Incoming>,
) -> Result<Option<String>, FetchError> {
    let is_redirect = matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    let Some(location) = response
        .headers()
        .get(header::LOCATION)
        .filter(|_| is_redirect)
    else {
        return Ok(None);
    };
    String::from_utf8(location.as_bytes().to_vec())
        .map(Some)
        .map_err(|_| {
            FetchError::new(
                FetchErrorKind::Http,
                target.url.as_str(),
                "the redirect's Location header is not UTF-8",
            )
        })
}
