//! The operator's settings for a [`StackSink`](super::StackSink): where the
//! stack is, the job's token and how requests are retried.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Default of [`RetryPolicy::max_attempts`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;

/// Maximum of [`RetryPolicy::max_attempts`]: more attempts would only delay
/// an error that the job's deadline ends anyway.
pub const MAX_ATTEMPTS_CEILING: u32 = 16;

/// Default of [`RetryPolicy::backoff_base_ms`], in milliseconds.
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 200;

/// Maximum wait between two attempts, in milliseconds (10 s), whatever the
/// backoff base and the attempt number.
pub const MAX_BACKOFF_MS: u64 = 10_000;

/// Default of [`RetryPolicy::request_timeout_ms`], in milliseconds (30 s).
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// The job's stack token (`COZY_CREDENTIALS`), sent as
/// `Authorization: Bearer`.
///
/// `Debug` and `Display` print `[redacted]`, so the token cannot reach a log
/// line or an error message by accident. It stays in the host: no guest
/// call returns it.
#[derive(Clone, PartialEq, Eq)]
pub struct StackToken(String);

impl StackToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> StackToken {
        StackToken(token.into())
    }

    /// Returns the token itself. Its only use in the engine is the
    /// `Authorization` header.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for StackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// When and how often a request to the stack is sent again.
///
/// A request is retried only after a 5xx status, a connection error or a
/// timeout, never after a 4xx. No attempt starts, and no wait lasts, past the
/// job's deadline ([`WriteContext::deadline`](crate::sink::WriteContext::deadline)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (default
    /// [`DEFAULT_MAX_ATTEMPTS`], 1 to [`MAX_ATTEMPTS_CEILING`]). 1 disables
    /// retries.
    pub max_attempts: u32,
    /// Wait before the second attempt, in milliseconds (default
    /// [`DEFAULT_BACKOFF_BASE_MS`]). The wait doubles at each further
    /// attempt, up to [`MAX_BACKOFF_MS`], and each wait is drawn at random
    /// between half and all of that value, so that jobs failing together do
    /// not retry together.
    pub backoff_base_ms: u64,
    /// Time one attempt may take, from connecting to the end of the response
    /// body, in milliseconds (default [`DEFAULT_REQUEST_TIMEOUT_MS`], at
    /// least 1). The job's deadline cuts it shorter.
    pub request_timeout_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base_ms: DEFAULT_BACKOFF_BASE_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
        }
    }
}

/// Location of the stack and the settings to reach it. This is operator
/// configuration only: the stack's address is not checked against any
/// konnector's network policy, so a stack on loopback works.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The instance URL (`COZY_URL`), `http` or `https`, such as
    /// `https://alice.mycozy.cloud/`. A path, if any, prefixes every API
    /// path. It may carry no user name, password, query or fragment.
    pub url: String,
    /// The job's token (`COZY_CREDENTIALS`).
    pub token: StackToken,
    /// The folder the konnector saves its files in (`folder_to_save` of
    /// `COZY_FIELDS`), if the job has one; see
    /// [`StackSink::default_folder_path`](super::StackSink::default_folder_path).
    pub default_dir_id: Option<String>,
    /// Retries and timeouts.
    pub retry: RetryPolicy,
    /// PEM files of CA certificates trusted besides the web's usual roots
    /// (Mozilla's, from `webpki-roots`), for a stack behind a private CA.
    pub ca_files: Vec<PathBuf>,
    /// Address to connect to instead of resolving the URL's host, as curl's
    /// `--connect-to` does. The `Host` header and the TLS server name stay
    /// those of the URL, so a test can serve `https://alice.cozy.test/` from
    /// `127.0.0.1:PORT`.
    pub connect_to: Option<SocketAddr>,
}

impl StackConfig {
    /// Creates the settings for the stack at `url` with `token`, default
    /// retries, no default folder, no extra CA and no address override.
    pub fn new(url: impl Into<String>, token: StackToken) -> StackConfig {
        StackConfig {
            url: url.into(),
            token,
            default_dir_id: None,
            retry: RetryPolicy::default(),
            ca_files: Vec::new(),
            connect_to: None,
        }
    }
}

/// An invalid [`StackConfig`].
#[derive(Debug, thiserror::Error)]
pub enum StackConfigError {
    /// The URL is not an absolute `http` or `https` URL with a host, or it
    /// carries credentials, a query or a fragment.
    #[error("invalid stack URL: {0}")]
    InvalidUrl(String),
    /// The token is empty or cannot be an HTTP header value.
    #[error("invalid stack token: {0}")]
    InvalidToken(&'static str),
    /// A retry setting is out of range.
    #[error("invalid stack retry policy: {0}")]
    InvalidRetry(String),
    /// A CA file could not be read or has no valid certificate.
    #[error("failed to load CA file {}: {reason}", .path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// rustls rejected the TLS configuration.
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
}

impl RetryPolicy {
    /// Checks the ranges documented on each field.
    pub(crate) fn validate(&self) -> Result<(), StackConfigError> {
        if !(1..=MAX_ATTEMPTS_CEILING).contains(&self.max_attempts) {
            return Err(StackConfigError::InvalidRetry(format!(
                "max_attempts is {}, not between 1 and {MAX_ATTEMPTS_CEILING}",
                self.max_attempts
            )));
        }
        if self.request_timeout_ms == 0 {
            return Err(StackConfigError::InvalidRetry(
                "request_timeout_ms is 0; it must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_redacted() {
        let token = StackToken::new("eyJhbGciOi.secret-part");
        assert_eq!(format!("{token:?}"), "[redacted]");
        assert_eq!(token.to_string(), "[redacted]");
        let config = StackConfig::new("http://127.0.0.1:1/", token);
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret-part"), "{debug}");
    }

    #[test]
    fn retry_policy_ranges() {
        assert!(RetryPolicy::default().validate().is_ok());
        let none = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert!(none.validate().is_err());
        let too_many = RetryPolicy {
            max_attempts: MAX_ATTEMPTS_CEILING + 1,
            ..RetryPolicy::default()
        };
        assert!(too_many.validate().is_err());
        let no_time = RetryPolicy {
            request_timeout_ms: 0,
            ..RetryPolicy::default()
        };
        assert!(no_time.validate().is_err());
    }
}
