//! The request entry point: reads the body, records the request, then
//! dispatches it to the route for its path and method.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, StatusCode};

use crate::body::{MAX_REQUEST_BODY_BYTES, RequestBody, read_request_body};
use crate::record::RequestRecord;
use crate::response::{self, SiteResponse};
use crate::state::SiteState;
use crate::{faults, pages};

/// The listener side of a connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Connection {
    /// Whether the connection came through the HTTPS listener.
    pub(crate) tls: bool,
    /// The port of the listener, used in absolute links.
    pub(crate) local_port: u16,
}

/// A request whose body has been read, with what the routes need to respond.
pub(crate) struct SiteRequest<'a> {
    pub(crate) state: &'a SiteState,
    pub(crate) connection: Connection,
    pub(crate) parts: &'a Parts,
    pub(crate) body: Bytes,
}

impl SiteRequest<'_> {
    /// Returns the first value of the query parameter `name`, percent-decoded,
    /// or `None` when it is missing.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        let query = self.parts.uri.query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// Responds to one request. Every problem becomes an error page, so it
/// never returns an error.
pub(crate) async fn handle(
    state: Arc<SiteState>,
    connection: Connection,
    request: Request<Incoming>,
) -> Result<SiteResponse, Infallible> {
    let (parts, body) = request.into_parts();
    let body = read_request_body(body).await;
    state.record(RequestRecord::new(&parts, body.len(), connection.tls));

    let response = respond(&state, connection, &parts, body).await;
    tracing::debug!(
        method = %parts.method,
        path = parts.uri.path(),
        status = response.status().as_u16(),
        tls = connection.tls,
        "request answered"
    );
    Ok(response)
}

async fn respond(
    state: &SiteState,
    connection: Connection,
    parts: &Parts,
    body: RequestBody,
) -> SiteResponse {
    if state.config().fail_with_500 {
        return response::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The service is temporarily unavailable. Please try again later.",
        );
    }

    let body = match body {
        RequestBody::Complete(bytes) => bytes,
        RequestBody::TooLarge { .. } => {
            let explanation =
                format!("The request body is larger than {MAX_REQUEST_BODY_BYTES} bytes.");
            return response::error(StatusCode::PAYLOAD_TOO_LARGE, &explanation);
        }
        RequestBody::Failed { error, .. } => {
            // The connection has most likely failed, so the client will not read this.
            return response::bad_request(&format!("Failed to read the request body: {error}"));
        }
    };

    let request = SiteRequest {
        state,
        connection,
        parts,
        body,
    };
    route(&request).await
}

async fn route(request: &SiteRequest<'_>) -> SiteResponse {
    let method = &request.parts.method;
    let path = request.parts.uri.path();
    let is_read = *method == Method::GET || *method == Method::HEAD;

    match path {
        "/" if is_read => response::found("/login"),
        "/login" if is_read => pages::login_form(request),
        "/login" if *method == Method::POST => pages::login_submit(request),
        "/login" => method_not_allowed("GET, HEAD, POST"),
        "/bills" if is_read => pages::bills(request),
        "/api/bills" if is_read => pages::api_bills(request),
        // Any method, so that 307 and 308 can be tried with a POST.
        "/redirect-to" => faults::redirect_to(request),
        "/slow" if is_read => faults::slow(request).await,
        "/stall" if is_read => faults::stall(),
        "/endless" if is_read => faults::endless(),
        "/bomb" if is_read => faults::bomb(request),
        "/" | "/bills" | "/api/bills" | "/slow" | "/stall" | "/endless" | "/bomb" => {
            method_not_allowed("GET, HEAD")
        }
        _ => route_with_parameter(request, path, is_read),
    }
}

/// Routes the paths that carry a parameter: `/bills/ID.pdf` and
/// `/redirect/N`.
fn route_with_parameter(request: &SiteRequest<'_>, path: &str, is_read: bool) -> SiteResponse {
    if let Some(id) = path
        .strip_prefix("/bills/")
        .and_then(|file| file.strip_suffix(".pdf"))
    {
        return match is_read {
            true => pages::bill_pdf(request, id),
            false => method_not_allowed("GET, HEAD"),
        };
    }
    if let Some(count) = path.strip_prefix("/redirect/") {
        return faults::redirect_chain(count);
    }
    response::not_found()
}

fn method_not_allowed(allowed: &'static str) -> SiteResponse {
    let mut response = response::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "This page does not accept that method.",
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allowed));
    response
}
