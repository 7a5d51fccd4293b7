//! The customer-area routes: login, bill list, bill PDFs and the JSON API.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::header::{ACCEPT_ENCODING, CONTENT_ENCODING, HeaderValue, SET_COOKIE, VARY};
use hyper::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::bills::Bill;
use crate::body::full;
use crate::html::{self, BillsPage};
use crate::pdf;
use crate::response::{self, SiteResponse};
use crate::router::SiteRequest;
use crate::session::{CSRF_COOKIE, SESSION_COOKIE, request_cookie, set_cookie_value};

/// `GET /login`: the login form, with a new CSRF token in a hidden input and
/// in the `csrf` cookie.
pub(crate) fn login_form(request: &SiteRequest<'_>) -> SiteResponse {
    login_page(request, false)
}

/// `POST /login`: checks the urlencoded `login`, `password` and `csrf`
/// fields. On success it opens a session and redirects (303) to `/bills`,
/// otherwise it returns the form again with an error.
pub(crate) fn login_submit(request: &SiteRequest<'_>) -> SiteResponse {
    let mut login = None;
    let mut password = None;
    let mut csrf = None;
    for (key, value) in form_urlencoded::parse(&request.body) {
        match key.as_ref() {
            "login" => login = Some(value),
            "password" => password = Some(value),
            "csrf" => csrf = Some(value),
            _ => {}
        }
    }

    let config = request.state.config();
    let credentials_match = login.as_deref() == Some(config.login.as_str())
        && password.as_deref() == Some(config.password.as_str());
    let csrf_cookie = request_cookie(&request.parts.headers, CSRF_COOKIE);

    // The form's token must equal the cookie's and be one this site issued.
    let mut sessions = request.state.sessions();
    let csrf = csrf.as_deref().filter(|token| Some(*token) == csrf_cookie);
    let csrf_valid = csrf.is_some_and(|token| sessions.is_valid_csrf(token));
    let Some(csrf) = csrf.filter(|_| csrf_valid && credentials_match) else {
        drop(sessions);
        tracing::debug!(csrf_valid, credentials_match, "login rejected");
        return login_page(request, true);
    };
    sessions.consume_csrf(csrf);
    let session = sessions.open_session();
    drop(sessions);

    let mut response =
        response::redirect(StatusCode::SEE_OTHER, HeaderValue::from_static("/bills"));
    append_cookie(response.headers_mut(), SESSION_COOKIE, &session);
    response
}

fn login_page(request: &SiteRequest<'_>, error: bool) -> SiteResponse {
    let csrf = request.state.sessions().issue_csrf();
    let mut response = response::html(StatusCode::OK, html::login_page(&csrf, error));
    append_cookie(response.headers_mut(), CSRF_COOKIE, &csrf);
    response
}

fn append_cookie(headers: &mut HeaderMap, name: &str, value: &str) {
    // Tokens are hexadecimal, so the header value is always valid.
    if let Ok(cookie) = HeaderValue::try_from(set_cookie_value(name, value)) {
        headers.append(SET_COOKIE, cookie);
    }
}

/// Returns whether the request carries the cookie of an open session.
fn has_session(request: &SiteRequest<'_>) -> bool {
    request_cookie(&request.parts.headers, SESSION_COOKIE)
        .is_some_and(|token| request.state.sessions().is_open_session(token))
}

/// `GET /bills?page=N`: page N (from 1, default 1) of the bill list.
pub(crate) fn bills(request: &SiteRequest<'_>) -> SiteResponse {
    if !has_session(request) {
        return response::found("/login");
    }

    let state = request.state;
    let per_page = state.config().bills_per_page;
    let page_count = state.bills().len().div_ceil(per_page).max(1);
    let page = match request.query_param("page") {
        None => 1,
        Some(page) => match page.parse::<usize>() {
            Ok(page) if (1..=page_count).contains(&page) => page,
            Ok(_) => return response::not_found(),
            Err(_) => {
                let explanation = format!("Invalid page {page:?}: expected a page number.");
                return response::bad_request(&explanation);
            }
        },
    };

    let first = (page - 1) * per_page;
    let last = (first + per_page).min(state.bills().len());
    let page = BillsPage {
        login: &state.config().login,
        bills: &state.bills()[first..last],
        page,
        page_count,
    };
    response::html(StatusCode::OK, html::bills_page(&page))
}

/// `GET /bills/ID.pdf`: the PDF of one bill.
pub(crate) fn bill_pdf(request: &SiteRequest<'_>, id: &str) -> SiteResponse {
    if !has_session(request) {
        return response::found("/login");
    }
    let Some(bill) = request.state.bills().iter().find(|bill| bill.id == id) else {
        return response::not_found();
    };
    response::with_body(StatusCode::OK, "application/pdf", full(pdf::bill_pdf(bill)))
}

/// The JSON document of `/api/bills`.
#[derive(Serialize)]
struct ApiBills<'a> {
    count: usize,
    bills: Vec<ApiBill<'a>>,
}

#[derive(Serialize)]
struct ApiBill<'a> {
    #[serde(flatten)]
    bill: &'a Bill,
    currency: &'static str,
    /// The absolute URL of the PDF, with the configured hostname and the
    /// scheme and port of the listener that received the request.
    pdf_url: String,
}

/// `GET /api/bills`: every bill as JSON, gzip-compressed when the request's
/// `Accept-Encoding` allows it.
pub(crate) fn api_bills(request: &SiteRequest<'_>) -> SiteResponse {
    if !has_session(request) {
        return response::found("/login");
    }

    let scheme = if request.connection.tls {
        "https"
    } else {
        "http"
    };
    let hostname = &request.state.config().hostname;
    let port = request.connection.local_port;
    let bills = request
        .state
        .bills()
        .iter()
        .map(|bill| ApiBill {
            bill,
            currency: "EUR",
            pdf_url: format!("{scheme}://{hostname}:{port}{}", bill.pdf_path),
        })
        .collect();
    let document = ApiBills {
        count: request.state.bills().len(),
        bills,
    };
    let json = match serde_json::to_vec(&document) {
        Ok(json) => json,
        Err(error) => {
            let explanation = format!("Failed to serialize the bills: {error}");
            return response::error(StatusCode::INTERNAL_SERVER_ERROR, &explanation);
        }
    };

    let content_type = "application/json";
    if !accepts_gzip(&request.parts.headers) {
        return response::with_body(StatusCode::OK, content_type, full(json));
    }
    let compressed = match gzip(&json) {
        Ok(compressed) => compressed,
        Err(error) => {
            let explanation = format!("Failed to compress the bills: {error}");
            return response::error(StatusCode::INTERNAL_SERVER_ERROR, &explanation);
        }
    };
    let mut response = response::with_body(StatusCode::OK, content_type, full(compressed));
    let headers = response.headers_mut();
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

/// Returns whether `Accept-Encoding` lists `gzip` (or `x-gzip`) with a
/// non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parameters = coding.split(';').map(str::trim);
            let name = parameters.next().unwrap_or_default();
            let is_gzip = name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip");
            let excluded = parameters.any(|parameter| {
                parameter
                    .strip_prefix("q=")
                    .and_then(|quality| quality.parse::<f32>().ok())
                    .is_some_and(|quality| quality == 0.0)
            });
            is_gzip && !excluded
        })
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept_encoding: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(accept_encoding));
        headers
    }

    #[test]
    fn gzip_accepted() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("br, GZIP;q=0.5")));
        assert!(accepts_gzip(&headers("deflate, x-gzip")));
    }

    #[test]
    fn gzip_not_accepted() {
        assert!(!accepts_gzip(&HeaderMap::new()));
        assert!(!accepts_gzip(&headers("identity")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("gzip; q=0.0, br")));
        assert!(!accepts_gzip(&headers("gzipped")));
    }
}
