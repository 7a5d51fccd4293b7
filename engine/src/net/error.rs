//! Errors of the network layer: [`FetchError`] for one request, which the
//! guest can handle, [`NetPolicyError`] for a manifest's `network` field and
//! [`NetConfigError`] for the operator's settings.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use konnector_host_api::Status;

/// Maximum number of characters of a guest's URL quoted in a message.
const MAX_QUOTED_URL_CHARS: usize = 256;

/// The kind of failure of a [`FetchError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchErrorKind {
    /// The network policy refused the URL, a redirect target or the address a
    /// name resolved to. Nothing was sent to that address.
    RefusedByPolicy,
    /// The request itself is malformed: an invalid URL, method or header.
    InvalidRequest,
    /// A timeout or the job's deadline stopped the request.
    Timeout,
    /// The request body or the response body is larger than its cap.
    TooLarge,
    /// A per-job cap stopped the request: the request count or the number of
    /// redirects.
    LimitExceeded,
    /// Resolving the name, connecting or the TLS handshake failed.
    ConnectFailed,
    /// The server's response was not valid HTTP or its body could not be
    /// decoded.
    Http,
}

impl FetchErrorKind {
    /// Stable lower-case name, as used in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            FetchErrorKind::RefusedByPolicy => "refused_by_policy",
            FetchErrorKind::InvalidRequest => "invalid_request",
            FetchErrorKind::Timeout => "timeout",
            FetchErrorKind::TooLarge => "too_large",
            FetchErrorKind::LimitExceeded => "limit_exceeded",
            FetchErrorKind::ConnectFailed => "connect_failed",
            FetchErrorKind::Http => "http",
        }
    }

    /// Returns the ABI status that reports this kind of error to the guest.
    pub fn status(self) -> Status {
        match self {
            FetchErrorKind::InvalidRequest => Status::InvalidArgument,
            FetchErrorKind::TooLarge | FetchErrorKind::LimitExceeded => Status::LimitExceeded,
            FetchErrorKind::RefusedByPolicy
            | FetchErrorKind::Timeout
            | FetchErrorKind::ConnectFailed
            | FetchErrorKind::Http => Status::Network,
        }
    }
}

impl fmt::Display for FetchErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed or refused request, reported to the guest.
///
/// Its `Display` names the URL and the rule, for example
/// `request to http://127.0.0.1:8080/ refused: address 127.0.0.1 is loopback,
/// not a global unicast address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    kind: FetchErrorKind,
    url: String,
    reason: String,
}

impl FetchError {
    /// Creates an error about `url` (quoted with control characters escaped
    /// and cut to a readable length).
    pub(crate) fn new(kind: FetchErrorKind, url: &str, reason: impl Into<String>) -> FetchError {
        FetchError {
            kind,
            url: quote_url(url),
            reason: reason.into(),
        }
    }

    /// Returns the kind of failure.
    pub fn kind(&self) -> FetchErrorKind {
        self.kind
    }

    /// Returns the URL of the request or redirect hop that failed, as quoted
    /// in the message.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Returns the rule or cause, without the URL.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (url, reason) = (&self.url, &self.reason);
        match self.kind {
            FetchErrorKind::RefusedByPolicy => write!(f, "request to {url} refused: {reason}"),
            FetchErrorKind::InvalidRequest => write!(f, "invalid request to {url}: {reason}"),
            FetchErrorKind::Timeout => write!(f, "request to {url} timed out: {reason}"),
            FetchErrorKind::TooLarge
            | FetchErrorKind::LimitExceeded
            | FetchErrorKind::ConnectFailed
            | FetchErrorKind::Http => write!(f, "request to {url} failed: {reason}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Escapes control characters of a guest's URL, hides a password in its
/// userinfo and cuts it, so that a message stays one readable line that is
/// safe to log.
fn quote_url(url: &str) -> String {
    let mut url = url.to_owned();
    if let Some(password) = url::Url::parse(&url)
        .ok()
        .and_then(|parsed| parsed.password().map(str::to_owned))
    {
        url = url.replacen(&format!(":{password}@"), ":***@", 1);
    }
    let mut quoted = String::new();
    for (count, c) in url.chars().enumerate() {
        if count == MAX_QUOTED_URL_CHARS {
            quoted.push('…');
            break;
        }
        if c.is_control() {
            quoted.extend(c.escape_default());
        } else {
            quoted.push(c);
        }
    }
    quoted
}

/// An invalid `network` field or `vendor_link` in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetPolicyError {
    /// `network` is not an object with a `hosts` list.
    #[error("invalid manifest: network must be an object with a hosts list of host patterns")]
    InvalidNetworkField,
    /// One entry of `network.hosts` is not a valid host pattern.
    #[error(
        "invalid manifest: network.hosts[{index}] {pattern} is not a valid host pattern: {reason}"
    )]
    InvalidPattern {
        /// Position of the entry in `network.hosts`.
        index: usize,
        /// The entry as JSON text.
        pattern: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The manifest has no `network` field and its `vendor_link` gives no
    /// host name to derive one from.
    #[error(
        "invalid manifest: vendor_link {value} has no usable host name ({reason}); \
         list the konnector's hosts in network.hosts"
    )]
    InvalidVendorLink {
        /// The `vendor_link` value as JSON text.
        value: String,
        /// The reason no host name could be taken from it.
        reason: String,
    },
}

/// An invalid operator setting, found when a job's [`HttpClient`] is created.
///
/// [`HttpClient`]: super::HttpClient
#[derive(Debug, thiserror::Error)]
pub enum NetConfigError {
    /// A CA file could not be read or contains no PEM certificate.
    #[error("failed to load CA certificates from {path}: {reason}")]
    CaFile {
        /// The file named in `ca_files`.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// An `allow_private` entry names an address no server can listen on.
    #[error("invalid allow_private entry {addr}: {reason}")]
    AllowPrivate {
        /// The entry.
        addr: SocketAddr,
        /// The rule it breaks.
        reason: String,
    },
    /// The TLS configuration could not be built.
    #[error("failed to configure TLS: {0}")]
    Tls(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_message_names_url_and_rule() {
        let error = FetchError::new(
            FetchErrorKind::RefusedByPolicy,
            "http://127.0.0.1:8080/",
            "address 127.0.0.1 is loopback, not a global unicast address",
        );
        assert_eq!(
            error.to_string(),
            "request to http://127.0.0.1:8080/ refused: address 127.0.0.1 is loopback, \
             not a global unicast address"
        );
        assert_eq!(error.kind().name(), "refused_by_policy");
        assert_eq!(error.kind().status(), Status::Network);
    }

    #[test]
    fn quoted_url_escapes_and_cuts() {
        let error = FetchError::new(FetchErrorKind::InvalidRequest, "http://a\r\nb/", "x");
        assert_eq!(error.url(), "http://a\\r\\nb/");

        let long = format!("http://vendor.example/{}", "a".repeat(1000));
        let error = FetchError::new(FetchErrorKind::InvalidRequest, &long, "x");
        assert_eq!(error.url().chars().count(), MAX_QUOTED_URL_CHARS + 1);
        assert!(error.url().ends_with('…'));
    }

    #[test]
    fn quoted_url_hides_password() {
        let error = FetchError::new(
            FetchErrorKind::RefusedByPolicy,
            "http://jane:s3cr3t@vendor.example/",
            "the URL contains userinfo (user:password@)",
        );
        assert_eq!(error.url(), "http://jane:***@vendor.example/");
        assert!(!error.to_string().contains("s3cr3t"));
    }
}
