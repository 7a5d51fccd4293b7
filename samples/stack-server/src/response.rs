//! Builders for the responses the routes return.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::Value;

/// The body type of every response: the server always has the whole body.
pub(crate) type StackBody = Full<Bytes>;

pub(crate) type StackResponse = Response<StackBody>;

/// The content type of the stack's JSON responses (echo's `c.JSON`).
const JSON: &str = "application/json; charset=UTF-8";

/// The content type of JSON:API documents.
pub(crate) const JSONAPI: &str = "application/vnd.api+json";

/// Builds a response with `status`, `content_type` and `body`.
pub(crate) fn bytes(status: StatusCode, content_type: HeaderValue, body: Bytes) -> StackResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

/// Builds a JSON response, as the stack's `/data` routes send.
pub(crate) fn json(status: StatusCode, body: &Value) -> StackResponse {
    serialized(status, JSON, body)
}

/// Builds a JSON:API response, as the stack's `/files` routes send.
pub(crate) fn jsonapi(status: StatusCode, body: &Value) -> StackResponse {
    serialized(status, JSONAPI, body)
}

/// Builds a plain-text response.
pub(crate) fn text(status: StatusCode, text: String) -> StackResponse {
    let content_type = HeaderValue::from_static("text/plain; charset=UTF-8");
    bytes(status, content_type, Bytes::from(text))
}

fn serialized(status: StatusCode, content_type: &'static str, body: &Value) -> StackResponse {
    // Serializing a `Value` cannot fail because its map keys are strings.
    let mut encoded = serde_json::to_vec(body).unwrap_or_default();
    encoded.push(b'\n');
    bytes(
        status,
        HeaderValue::from_static(content_type),
        Bytes::from(encoded),
    )
}
