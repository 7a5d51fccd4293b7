//! The request entry point: reads the body, applies faults, dispatches to
//! the `/data` or `/files` routes, and records the exchange.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request, StatusCode};

use crate::body::{RequestBody, read_request_body};
use crate::error::{RouteFamily, StackError};
use crate::record::RequestRecord;
use crate::request::{StackRequest, accepts_json, bearer_token, path_segments};
use crate::response::StackResponse;
use crate::state::ServerState;
use crate::{data, files};

/// Responds to one request. Every problem becomes an error response, so it
/// never returns an error.
pub(crate) async fn handle(
    state: Arc<ServerState>,
    request: Request<Incoming>,
) -> Result<StackResponse, Infallible> {
    let (parts, body) = request.into_parts();
    let body = read_request_body(body, state.config.max_body_bytes).await;
    let body_len = body.len();

    let latency = state.faults().latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let response = respond(&state, &parts, body);
    let status = response.status().as_u16();
    tracing::debug!(method = %parts.method, path = parts.uri.path(), status, "request handled");
    state.record(RequestRecord {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_owned(),
            |path| path.as_str().to_owned(),
        ),
        has_bearer: bearer_token(&parts).is_some(),
        body_len,
        status,
    });
    Ok(response)
}

fn respond(state: &ServerState, parts: &Parts, body: RequestBody) -> StackResponse {
    let family = match parts.uri.path().starts_with("/data/") {
        true => RouteFamily::Data,
        false => RouteFamily::Files,
    };
    let json = accepts_json(parts);

    if let Some(status) = state.faults().take_failure() {
        let error = StackError::jsonapi(status, "fault injected by the test server");
        return error.render(family, json);
    }

    let body = match body {
        RequestBody::Complete(bytes) => bytes,
        RequestBody::TooLarge { .. } => {
            let detail = format!(
                "The request body is larger than this server's limit of {} bytes",
                state.config.max_body_bytes
            );
            return StackError::jsonapi(413, &detail).render(family, json);
        }
        RequestBody::Failed { error, .. } => {
            // The connection has most likely failed, so the client will not
            // read this.
            let detail = format!("failed to read the request body: {error}");
            return StackError::jsonapi(400, &detail).render(family, json);
        }
    };

    let request = StackRequest { state, parts, body };
    match route(&request) {
        Ok(response) => response,
        Err(error) => {
            if error.status() >= 500 {
                tracing::warn!(path = parts.uri.path(), ?error, "request failed");
            }
            error.render(family, json)
        }
    }
}

fn route(request: &StackRequest<'_>) -> Result<StackResponse, StackError> {
    let path = request.parts.uri.path();
    let Some(segments) = path_segments(path, path.starts_with("/data/")) else {
        return Err(StackError::jsonapi(
            StatusCode::BAD_REQUEST.as_u16(),
            "Invalid path: a segment is not UTF-8 once decoded",
        ));
    };
    match segments.split_first() {
        Some((first, rest)) if first == "data" => data::route(request, rest),
        Some((first, rest)) if first == "files" => files::route(request, rest),
        _ => Err(StackError::route_not_found()),
    }
}
