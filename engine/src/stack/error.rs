//! Errors of requests to the stack, and how they become [`SinkError`]s.

use http::{Method, StatusCode};

use crate::sink::SinkError;

/// Maximum number of characters of the stack's own error text quoted in a
/// message.
const MAX_DETAIL_CHARS: usize = 300;

/// A request to the stack that failed. Every message names the method and
/// the API path (`PUT /data/io.cozy.bills/…`); none contains the token or a
/// document body.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StackError {
    /// The stack rejected the token: 401, or the 400 "Invalid JWT token" or
    /// "Expired token" that cozy-stack returns for a bad token.
    #[error(
        "the stack rejected the token for {method} {path} ({status}{detail}): it is invalid or \
         has expired (a konnector token is valid for 30 minutes); start the job again with a \
         new token"
    )]
    Unauthorized {
        /// Method of the request.
        method: Method,
        /// API path and query of the request.
        path: String,
        /// The status of the response.
        status: StatusCode,
        /// The stack's own error text, prefixed with `: `, or empty.
        detail: String,
    },
    /// The stack returned a status that the operation does not expect, after
    /// the retries when it is a 5xx.
    #[error("the stack answered {status} to {method} {path} after {attempts} attempt(s){detail}")]
    Status {
        /// Method of the request.
        method: Method,
        /// API path and query of the request.
        path: String,
        /// The status of the last response.
        status: StatusCode,
        /// Attempts made.
        attempts: u32,
        /// The stack's own error text, prefixed with `: `, or empty.
        detail: String,
    },
    /// No response: connecting, TLS, sending or reading failed, or an attempt
    /// timed out, on every attempt.
    #[error("failed to send {method} {path} to the stack after {attempts} attempt(s): {reason}")]
    Transport {
        /// Method of the request.
        method: Method,
        /// API path and query of the request.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's failure.
        reason: String,
    },
    /// The job's deadline came before a response, or left no time for the
    /// next attempt.
    #[error(
        "gave up {method} {path} after {attempts} attempt(s): the job's deadline is reached{last}"
    )]
    Deadline {
        /// Method of the request.
        method: Method,
        /// API path and query of the request.
        path: String,
        /// Attempts made (0 when there was no time for the first).
        attempts: u32,
        /// The previous attempt's failure, prefixed with `; last failure: `,
        /// or empty.
        last: String,
    },
    /// The request could not be built (a value that cannot be part of an
    /// HTTP request).
    #[error("failed to build {method} {path}: {reason}")]
    InvalidRequest {
        /// Method of the request.
        method: Method,
        /// API path and query of the request.
        path: String,
        /// The problem found in it.
        reason: String,
    },
    /// The response is not what the API documents (not JSON, a field
    /// missing, a body over the size limit).
    #[error("invalid response from the stack to {method} {path}: {reason}")]
    InvalidResponse {
        /// Method of the request.
        method: Method,
        /// API path and query of the request.
        path: String,
        /// The problem found in it.
        reason: String,
    },
}

impl StackError {
    /// Returns the HTTP status of the stack's response, if the error is one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            StackError::Unauthorized { status, .. } | StackError::Status { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Returns whether the stack returned 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }
}

impl From<StackError> for SinkError {
    /// 413 becomes [`SinkError::QuotaExceeded`] (the konnector's
    /// `DISK_QUOTA_EXCEEDED`); 400 and 422, where the stack rejects the
    /// values written, become [`SinkError::Invalid`]; anything else is a
    /// [`SinkError::Storage`] for the operator.
    fn from(error: StackError) -> SinkError {
        if matches!(error, StackError::Unauthorized { .. }) {
            return SinkError::Storage(error.to_string());
        }
        match error.status() {
            Some(StatusCode::PAYLOAD_TOO_LARGE) => SinkError::QuotaExceeded(error.to_string()),
            Some(StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY) => {
                SinkError::Invalid(error.to_string())
            }
            _ => SinkError::Storage(error.to_string()),
        }
    }
}

/// Extracts the stack's explanation from an error body, prefixed with `: `:
/// `reason` of a `/data` error, or `detail` (else `title`) of the first
/// JSON:API error. Returns an empty string when there is none.
pub(crate) fn error_detail(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let first_error = value
        .get("errors")
        .and_then(|errors| errors.get(0))
        .and_then(|error| error.get("detail").or_else(|| error.get("title")));
    let text = value
        .get("reason")
        .or_else(|| value.get("error"))
        .or(first_error)
        .and_then(serde_json::Value::as_str);
    match text {
        Some(text) if !text.is_empty() => {
            let mut quoted: String = text.chars().take(MAX_DETAIL_CHARS).collect();
            if quoted.len() < text.len() {
                quoted.push('…');
            }
            format!(": {quoted}")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_error(status: StatusCode) -> StackError {
        StackError::Status {
            method: Method::POST,
            path: "/files/abc?Type=file&Name=bill.pdf".into(),
            status,
            attempts: 1,
            detail: String::new(),
        }
    }

    #[test]
    fn quota_becomes_quota_exceeded() {
        let sink = SinkError::from(status_error(StatusCode::PAYLOAD_TOO_LARGE));
        assert!(matches!(sink, SinkError::QuotaExceeded(_)), "{sink:?}");
        assert!(sink.to_string().contains("bill.pdf"), "{sink}");
    }

    #[test]
    fn rejected_values_become_invalid() {
        let sink = SinkError::from(status_error(StatusCode::BAD_REQUEST));
        assert!(matches!(sink, SinkError::Invalid(_)), "{sink:?}");
        let sink = SinkError::from(status_error(StatusCode::FORBIDDEN));
        assert!(matches!(sink, SinkError::Storage(_)), "{sink:?}");
    }

    #[test]
    fn detail_from_both_error_shapes() {
        assert_eq!(
            error_detail(
                br#"{"status":409,"error":"conflict","reason":"Document update conflict."}"#
            ),
            ": Document update conflict."
        );
        assert_eq!(
            error_detail(
                br#"{"errors":[{"status":"413","title":"Payload Too Large","detail":"quota"}]}"#
            ),
            ": quota"
        );
        assert_eq!(error_detail(b"<html>"), "");
        let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(1000));
        assert!(error_detail(long.as_bytes()).chars().count() <= MAX_DETAIL_CHARS + 3);
    }
}
