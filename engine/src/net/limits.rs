//! Per-job caps of the HTTP client, with their defaults.
//!
//! Every timeout is also bounded by the job's deadline, given to
//! [`HttpClient::new`](super::HttpClient::new): whichever comes first stops
//! the request.

/// Default of [`NetLimits::max_requests`].
pub const DEFAULT_MAX_REQUESTS: u64 = 1000;
/// Default of [`NetLimits::max_concurrent_requests`].
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 8;
/// Default of [`NetLimits::max_response_bytes`]: 32 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;
/// Default of [`NetLimits::max_request_body_bytes`]: 16 MiB.
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// Default of [`NetLimits::connect_timeout_ms`]: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Default of [`NetLimits::first_byte_timeout_ms`]: 30 s.
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 30_000;
/// Default of [`NetLimits::request_timeout_ms`]: 60 s.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 60_000;
/// Default of [`NetLimits::max_redirects`].
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
/// Default of [`NetLimits::max_request_headers`].
pub const DEFAULT_MAX_REQUEST_HEADERS: usize = 64;
/// Default of [`NetLimits::max_request_header_bytes`]: 16 KiB.
pub const DEFAULT_MAX_REQUEST_HEADER_BYTES: usize = 16 * 1024;

/// Caps on one job's HTTP traffic. `NetLimits::default()` gives the
/// documented defaults; the engine may lower them per job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetLimits {
    /// Requests the job may send, counting every redirect hop and every
    /// request the policy refused (so a guest cannot make unbounded DNS
    /// lookups either). Past it, `fetch` fails with `limit_exceeded`.
    /// Default [`DEFAULT_MAX_REQUESTS`].
    pub max_requests: u64,
    /// Requests in flight at once; further calls wait for a slot (within
    /// their own timeout). 0 is treated as 1.
    /// Default [`DEFAULT_MAX_CONCURRENT_REQUESTS`].
    pub max_concurrent_requests: usize,
    /// Size in bytes of one response body, counted both as received and
    /// after decoding `gzip`, `deflate` or `br`, so a compression bomb stops
    /// at this size. Past it, `fetch` fails with `too_large`.
    /// Default [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub max_response_bytes: u64,
    /// Size in bytes of one request body; a larger one fails with
    /// `too_large` before anything is sent.
    /// Default [`DEFAULT_MAX_REQUEST_BODY_BYTES`].
    pub max_request_body_bytes: u64,
    /// Milliseconds to resolve the name, connect and finish the TLS
    /// handshake, for each hop. Default [`DEFAULT_CONNECT_TIMEOUT_MS`].
    pub connect_timeout_ms: u64,
    /// Milliseconds from sending a hop's request to receiving its response
    /// headers. Default [`DEFAULT_FIRST_BYTE_TIMEOUT_MS`].
    pub first_byte_timeout_ms: u64,
    /// Milliseconds for a whole `fetch` call: waiting for a slot, every
    /// redirect hop, and reading the body to the end.
    /// Default [`DEFAULT_REQUEST_TIMEOUT_MS`].
    pub request_timeout_ms: u64,
    /// Redirects one `fetch` follows; one more fails with `limit_exceeded`.
    /// Default [`DEFAULT_MAX_REDIRECTS`].
    pub max_redirects: u32,
    /// Headers the guest may set on one request (the client's own `Host`,
    /// `Cookie`, `User-Agent` and `Accept-Encoding` are not counted).
    /// Default [`DEFAULT_MAX_REQUEST_HEADERS`].
    pub max_request_headers: usize,
    /// Total bytes of the guest's header names and values on one request.
    /// Default [`DEFAULT_MAX_REQUEST_HEADER_BYTES`].
    pub max_request_header_bytes: usize,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            max_requests: DEFAULT_MAX_REQUESTS,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_request_body_bytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            first_byte_timeout_ms: DEFAULT_FIRST_BYTE_TIMEOUT_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            max_request_headers: DEFAULT_MAX_REQUEST_HEADERS,
            max_request_header_bytes: DEFAULT_MAX_REQUEST_HEADER_BYTES,
        }
    }
}
