//! The stack's errors and their three JSON shapes.
//!
//! cozy-stack (Go, echo) has three kinds of errors, and how each is written
//! depends on the route family:
//!
//! | Kind | `/data/...` body | `/files/...` body |
//! |---|---|---|
//! | CouchDB error | `{"ok": false, "status": "409", "error": "conflict", "reason": "..."}` | JSON:API, `title` = error, `detail` = reason |
//! | echo HTTP error (tokens, permissions) | `{"error": "code=403, message=Forbidden"}` | the plain-text message, or `{"error": message}` when `Accept` names `application/json` |
//! | JSON:API error | `{"error": "Title(409): detail"}` | `{"errors": [{"status": "409", "title", "detail", "source"}]}` |
//!
//! Those shapes come from cozy-stack's `web/data/data.go`
//! (`couchdbStyleErrorHandler`), `web/errors/errors.go` and
//! `pkg/jsonapi/errors.go`, read in July 2026.

use hyper::StatusCode;
use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::response::{self, StackResponse};

/// The error handler of the stack that renders an error, which depends on
/// the route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteFamily {
    /// `/data/...`, whose errors look like CouchDB's.
    Data,
    /// `/files/...` and unknown paths, rendered by the stack's default
    /// handler.
    Files,
}

/// An error of a route, rendered as the stack renders it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StackError {
    /// An error CouchDB returned, passed on by the stack.
    Couch {
        status: u16,
        error: String,
        reason: String,
    },
    /// An `echo.HTTPError`, used by the stack for tokens, permissions and
    /// reserved doctypes.
    Http {
        status: u16,
        message: String,
        /// The `WWW-Authenticate` header the stack adds for a bad token.
        www_authenticate: Option<&'static str>,
    },
    /// A JSON:API error object.
    JsonApi {
        status: u16,
        title: String,
        detail: String,
        /// The `source` member: `("parameter", name)` or `("pointer", path)`.
        source: Option<(&'static str, String)>,
    },
}

impl StackError {
    /// Returns the HTTP status.
    pub(crate) fn status(&self) -> u16 {
        match self {
            StackError::Couch { status, .. }
            | StackError::Http { status, .. }
            | StackError::JsonApi { status, .. } => *status,
        }
    }

    pub(crate) fn couch(status: u16, error: &str, reason: &str) -> StackError {
        StackError::Couch {
            status,
            error: error.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn http(status: u16, message: &str, www_authenticate: Option<&'static str>) -> StackError {
        StackError::Http {
            status,
            message: message.to_owned(),
            www_authenticate,
        }
    }

    /// Builds a JSON:API error whose title is the status's reason phrase, as
    /// the stack's `jsonapi.NewError` does.
    pub(crate) fn jsonapi(status: u16, detail: &str) -> StackError {
        StackError::JsonApi {
            status,
            title: reason_phrase(status).to_owned(),
            detail: detail.to_owned(),
            source: None,
        }
    }

    /// Builds the stack's 422 "Invalid Parameter" for a query or header
    /// parameter.
    pub(crate) fn invalid_parameter(parameter: &str, detail: &str) -> StackError {
        StackError::JsonApi {
            status: 422,
            title: "Invalid Parameter".to_owned(),
            detail: detail.to_owned(),
            source: Some(("parameter", parameter.to_owned())),
        }
    }

    /// Builds the stack's 412 "Precondition Failed" for a header.
    pub(crate) fn precondition_failed(parameter: &str, detail: &str) -> StackError {
        StackError::JsonApi {
            status: 412,
            title: "Precondition Failed".to_owned(),
            detail: detail.to_owned(),
            source: Some(("parameter", parameter.to_owned())),
        }
    }

    /// 401 when the request carries no token.
    pub(crate) fn no_token() -> StackError {
        StackError::http(401, "No token in request", None)
    }

    /// 400 for a token the stack cannot verify (its `ErrInvalidToken`).
    pub(crate) fn invalid_token() -> StackError {
        StackError::http(
            400,
            "Invalid JWT token",
            Some(r#"Bearer error="invalid_token""#),
        )
    }

    /// 400 for an expired token (its `ErrExpiredToken`).
    pub(crate) fn expired_token() -> StackError {
        let header = r#"Bearer error="invalid_token" error_description="The access token expired""#;
        StackError::http(400, "Expired token", Some(header))
    }

    /// 403 when the token does not grant the verb on the doctype.
    pub(crate) fn forbidden() -> StackError {
        StackError::http(403, "Forbidden", None)
    }

    /// 403 for a doctype name the stack rejects or reserves.
    pub(crate) fn forbidden_doctype(message: String) -> StackError {
        StackError::Http {
            status: 403,
            message,
            www_authenticate: None,
        }
    }

    /// 404 for a path no route serves.
    pub(crate) fn route_not_found() -> StackError {
        StackError::http(404, "Not Found", None)
    }

    /// 405 for a known path with another method.
    pub(crate) fn method_not_allowed() -> StackError {
        StackError::http(405, "Method Not Allowed", None)
    }

    /// Renders the error as the stack's handler for `family` does.
    /// `accepts_json` is true when the request's `Accept` header names
    /// `application/json`, which matters only for echo errors on `/files`.
    pub(crate) fn render(&self, family: RouteFamily, accepts_json: bool) -> StackResponse {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = match (self, family) {
            (StackError::Couch { error, reason, .. }, RouteFamily::Data) => {
                let body = json!({
                    "ok": false,
                    "status": status.as_u16().to_string(),
                    "error": error,
                    "reason": reason,
                });
                response::json(status, &body)
            }
            (StackError::Couch { error, reason, .. }, RouteFamily::Files) => {
                response::jsonapi(status, &jsonapi_errors(status, error, reason, None))
            }
            (StackError::Http { message, .. }, RouteFamily::Data) => {
                let text = format!("code={}, message={message}", status.as_u16());
                response::json(status, &json!({ "error": text }))
            }
            (StackError::Http { message, .. }, RouteFamily::Files) => match accepts_json {
                true => response::json(status, &json!({ "error": message })),
                false => response::text(status, message.clone()),
            },
            (StackError::JsonApi { title, detail, .. }, RouteFamily::Data) => {
                let text = format!("{title}({}): {detail}", status.as_u16());
                response::json(status, &json!({ "error": text }))
            }
            (
                StackError::JsonApi {
                    title,
                    detail,
                    source,
                    ..
                },
                RouteFamily::Files,
            ) => {
                let body = jsonapi_errors(status, title, detail, source.as_ref());
                response::jsonapi(status, &body)
            }
        };
        if let StackError::Http {
            www_authenticate: Some(value),
            ..
        } = self
        {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        response
    }
}

/// Builds a JSON:API error document with one error. The stack always sends
/// `source`, empty when there is none, because Go's `omitempty` does not
/// drop an empty struct.
fn jsonapi_errors(
    status: StatusCode,
    title: &str,
    detail: &str,
    source: Option<&(&'static str, String)>,
) -> Value {
    let source = match source {
        Some((key, value)) => json!({ *key: value }),
        None => json!({}),
    };
    json!({
        "errors": [{
            "status": status.as_u16().to_string(),
            "title": title,
            "detail": detail,
            "source": source,
        }]
    })
}

/// Returns the reason phrase of `status`, as Go's `http.StatusText`.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    // Go keeps the older name of 413, which hyper has renamed.
    if status == 413 {
        return "Request Entity Too Large";
    }
    StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("Error")
}
