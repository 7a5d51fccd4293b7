//! Routes that imitate hard network cases for the engine's tests: redirect
//! chains, redirects anywhere, slow, stalled and endless responses, and a
//! decompression bomb.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::header::{CONTENT_ENCODING, HeaderValue};

use crate::body::{EndlessBody, GzipZerosBody, StalledBody};
use crate::response::{self, SiteResponse};
use crate::router::SiteRequest;

/// The maximum inflated size `/bomb` accepts, in MiB (10 GiB, about 10 MiB
/// on the wire).
pub(crate) const MAX_BOMB_MIB: u64 = 10 * 1024;

/// `/redirect/N`: a 302 to `/redirect/N-1`, and from `/redirect/1` to
/// `/bills`, so a client follows N redirects in all.
pub(crate) fn redirect_chain(count: &str) -> SiteResponse {
    let count: u32 = match count.parse() {
        Ok(count) if count >= 1 => count,
        _ => {
            let explanation =
                format!("Invalid redirect count {count:?}: expected an integer >= 1.");
            return response::bad_request(&explanation);
        }
    };
    let location = match count {
        1 => "/bills".to_owned(),
        _ => format!("/redirect/{}", count - 1),
    };
    match HeaderValue::try_from(location) {
        Ok(location) => response::redirect(StatusCode::FOUND, location),
        // Unreachable because the location is ASCII digits and slashes.
        Err(_) => response::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Invalid redirect location.",
        ),
    }
}

/// `/redirect-to?url=U&status=S`: a redirect to any URL `U`, with status `S`
/// among 301, 302, 303, 307 and 308 (302 when missing).
pub(crate) fn redirect_to(request: &SiteRequest<'_>) -> SiteResponse {
    let status = match request.query_param("status").as_deref() {
        None => StatusCode::FOUND,
        Some("301") => StatusCode::MOVED_PERMANENTLY,
        Some("302") => StatusCode::FOUND,
        Some("303") => StatusCode::SEE_OTHER,
        Some("307") => StatusCode::TEMPORARY_REDIRECT,
        Some("308") => StatusCode::PERMANENT_REDIRECT,
        Some(other) => {
            let explanation =
                format!("Invalid status {other:?}: expected 301, 302, 303, 307 or 308.");
            return response::bad_request(&explanation);
        }
    };
    let Some(url) = request.query_param("url").filter(|url| !url.is_empty()) else {
        return response::bad_request("Missing the url parameter.");
    };
    match HeaderValue::from_str(&url) {
        Ok(location) => response::redirect(status, location),
        Err(_) => response::bad_request("Invalid url: it cannot be sent in a Location header."),
    }
}

/// `/slow?ms=N`: waits N milliseconds, then responds.
pub(crate) async fn slow(request: &SiteRequest<'_>) -> SiteResponse {
    let Some(delay_ms) = request
        .query_param("ms")
        .and_then(|ms| ms.parse::<u64>().ok())
    else {
        return response::bad_request("Missing or invalid ms parameter: expected milliseconds.");
    };
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    response::text(
        StatusCode::OK,
        format!("This response was delayed by {delay_ms} ms.\n"),
    )
}

/// `/stall`: sends the headers of a chunked response, then no body until
/// the connection is closed.
pub(crate) fn stall() -> SiteResponse {
    response::with_body(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        StalledBody.boxed(),
    )
}

/// `/endless`: a chunked body that never ends.
pub(crate) fn endless() -> SiteResponse {
    response::with_body(
        StatusCode::OK,
        "application/octet-stream",
        EndlessBody::new().boxed(),
    )
}

/// `/bomb?mib=N`: a `Content-Encoding: gzip` body that inflates to N MiB of
/// zeros, whatever the request's `Accept-Encoding`.
pub(crate) fn bomb(request: &SiteRequest<'_>) -> SiteResponse {
    let mib = request
        .query_param("mib")
        .and_then(|mib| mib.parse::<u64>().ok());
    let Some(mib) = mib.filter(|mib| *mib <= MAX_BOMB_MIB) else {
        let explanation = format!(
            "Missing or invalid mib parameter: expected an integer from 0 to {MAX_BOMB_MIB}."
        );
        return response::bad_request(&explanation);
    };
    let body = GzipZerosBody::new(mib << 20).boxed();
    let mut response = response::with_body(StatusCode::OK, "application/octet-stream", body);
    response
        .headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    response
}
