//! Builders for the responses the routes return.

use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::{Response, StatusCode};

use crate::body::{SiteBody, full};
use crate::html;

pub(crate) type SiteResponse = Response<SiteBody>;

/// Builds a response with `status`, a body and its content type.
pub(crate) fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: SiteBody,
) -> SiteResponse {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Builds an HTML response.
pub(crate) fn html(status: StatusCode, page: String) -> SiteResponse {
    with_body(status, "text/html; charset=utf-8", full(page))
}

/// Builds a plain-text response.
pub(crate) fn text(status: StatusCode, text: String) -> SiteResponse {
    with_body(status, "text/plain; charset=utf-8", full(text))
}

/// Builds a redirect to `location`, which must be a valid header value.
pub(crate) fn redirect(status: StatusCode, location: HeaderValue) -> SiteResponse {
    let mut response = text(status, String::new());
    response.headers_mut().insert(LOCATION, location);
    response
}

/// Builds a 302 redirect to a path of this site.
pub(crate) fn found(path: &'static str) -> SiteResponse {
    redirect(StatusCode::FOUND, HeaderValue::from_static(path))
}

/// Builds an HTML error page for `status` with an explanation.
pub(crate) fn error(status: StatusCode, explanation: &str) -> SiteResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    html(status, html::error_page(title, explanation))
}

/// Builds a 400 Bad Request page.
pub(crate) fn bad_request(explanation: &str) -> SiteResponse {
    error(StatusCode::BAD_REQUEST, explanation)
}

/// Builds a 404 Not Found page.
pub(crate) fn not_found() -> SiteResponse {
    error(
        StatusCode::NOT_FOUND,
        "The page you requested does not exist.",
    )
}
