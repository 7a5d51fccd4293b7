//! HTTP requests from the guest: the documents of [`HTTP_FETCH`] and the
//! contract of [`HTTP_BODY_READ`].
//!
//! # Functions
//!
//! | Function | Signature | Result buffer on success |
//! |---|---|---|
//! | [`HTTP_FETCH`] | `(req_ptr, req_len, body_ptr, body_len) -> status` with a [`FetchRequest`] | [`FetchResponse`] |
//! | [`HTTP_BODY_READ`] | `(handle, max_len) -> status` | the next piece of the body, at most `max_len` bytes; empty at the end |
//!
//! * `req_ptr`/`req_len` is the [`FetchRequest`] JSON. The request body is
//!   the raw bytes at `body_ptr`/`body_len` (`body_len` 0 for none), so binary
//!   bodies need no encoding.
//! * The host follows redirects itself, checks every hop against the
//!   konnector's network policy, keeps the job's cookies, and decodes
//!   `gzip`, `deflate` and `br` bodies. [`FetchResponse::url`] is the URL of
//!   the last hop. With [`Redirect::Manual`] it follows none, and a
//!   redirect is the response, its `location` header included.
//! * Any HTTP status, 4xx and 5xx included, is a success of [`HTTP_FETCH`]:
//!   the guest reads [`FetchResponse::status`]. An error status means no
//!   response: [`Status::Network`](crate::Status::Network) for a request the
//!   network policy refused, a connection failure or a timeout,
//!   [`Status::InvalidArgument`](crate::Status::InvalidArgument) for a
//!   malformed request (a forbidden header, a CR or LF in a header value, an
//!   unknown method), and [`Status::LimitExceeded`](crate::Status::LimitExceeded)
//!   when a per-job cap (request count, body size) stopped it. The result
//!   buffer then holds a message that names the URL and the rule.
//! * The body stays in the host under [`FetchResponse::body_handle`] until
//!   the guest has read it to the end with [`HTTP_BODY_READ`] or the job
//!   ends. A handle read to the end is released, and reading it again
//!   returns [`Status::InvalidArgument`](crate::Status::InvalidArgument).

use serde::{Deserialize, Serialize};

/// `(req_ptr, req_len, body_ptr, body_len) -> status`: sends the
/// [`FetchRequest`] at `req_ptr` with the body at `body_ptr`, and puts the
/// [`FetchResponse`] in the result buffer.
pub const HTTP_FETCH: &str = "http_fetch";

/// `(handle, max_len) -> status`: puts the next piece of the body of a
/// [`FetchResponse`] (at most `max_len` bytes) in the result buffer; an empty
/// result buffer means the body has been read to the end.
pub const HTTP_BODY_READ: &str = "http_body_read";

/// Request of [`HTTP_FETCH`]; the body travels as a separate pointer range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// HTTP method such as `GET` or `POST` (`GET` when absent).
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute `http` or `https` URL without userinfo.
    pub url: String,
    /// Request headers as (name, value) pairs, in order. The host rejects
    /// `Host`, `Content-Length`, `Transfer-Encoding`, `Connection`,
    /// `Keep-Alive`, `Proxy-*`, `TE`, `Trailer` and `Upgrade`, and any name or
    /// value that contains CR, LF or NUL.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Whether the host follows redirects ([`Redirect::Follow`] when
    /// absent).
    #[serde(default, skip_serializing_if = "Redirect::is_follow")]
    pub redirect: Redirect,
}

/// The host's handling of a redirect (301, 302, 303, 307 or 308 with a
/// `Location` header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redirect {
    /// Follow it, checking the new URL against the network policy, up to
    /// the client's `max_redirects`.
    #[default]
    Follow,
    /// Return it as the response, as `fetch(url, {redirect: "manual"})`
    /// does in Node.js: the guest reads its status and `location` header.
    Manual,
}

impl Redirect {
    fn is_follow(&self) -> bool {
        *self == Redirect::Follow
    }
}

fn default_method() -> String {
    "GET".to_owned()
}

/// Result of [`HTTP_FETCH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// HTTP status code of the last hop.
    pub status: u16,
    /// URL of the last hop, after redirects.
    pub url: String,
    /// Response headers as (name, value) pairs, in the order received. Names
    /// are lower-case. When the host decoded the body, `content-encoding` and
    /// `content-length` are removed because they describe the encoded body.
    pub headers: Vec<(String, String)>,
    /// Handle to read the decoded body with [`HTTP_BODY_READ`].
    pub body_handle: u32,
    /// Size in bytes of the decoded body.
    pub body_size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_request_defaults() {
        let request: FetchRequest =
            serde_json::from_str(r#"{"url": "https://vendor.example/"}"#).expect("valid JSON");
        assert_eq!(request.method, "GET");
        assert!(request.headers.is_empty());
        assert_eq!(request.redirect, Redirect::Follow);
    }

    #[test]
    fn manual_redirect_round_trip() {
        let json = r#"{"url": "https://vendor.example/", "redirect": "manual"}"#;
        let request: FetchRequest = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(request.redirect, Redirect::Manual);
        let back = serde_json::to_value(&request).expect("serializable");
        assert_eq!(back["redirect"], "manual");
        let follow = FetchRequest {
            redirect: Redirect::Follow,
            ..request
        };
        let text = serde_json::to_string(&follow).expect("serializable");
        assert!(!text.contains("redirect"), "{text}");
    }

    #[test]
    fn headers_are_pairs() {
        let json = r#"{"method": "POST", "url": "https://vendor.example/login",
            "headers": [["Content-Type", "application/x-www-form-urlencoded"]]}"#;
        let request: FetchRequest = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(
            request.headers,
            vec![(
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned()
            )]
        );
    }

    #[test]
    fn fetch_response_round_trip() {
        let response = FetchResponse {
            status: 200,
            url: "https://vendor.example/bills".to_owned(),
            headers: vec![("content-type".to_owned(), "text/html".to_owned())],
            body_handle: 3,
            body_size: 1234,
        };
        let json = serde_json::to_string(&response).expect("serializable");
        let back: FetchResponse = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(back, response);
    }
}
