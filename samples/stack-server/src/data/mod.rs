//! The `/data/{doctype}/...` routes: documents, Mango queries and indexes.

mod doctype;
mod handlers;
mod store;

pub(crate) use store::{Collection, Database};

use hyper::Method;

use crate::error::StackError;
use crate::request::StackRequest;
use crate::response::StackResponse;

/// The doctype of accounts, whose routes differ a little (see
/// [`handlers`]).
pub(crate) const ACCOUNTS: &str = "io.cozy.accounts";

/// Dispatches a request whose path is `/data/` followed by `segments`.
pub(crate) fn route(
    request: &StackRequest<'_>,
    segments: &[String],
) -> Result<StackResponse, StackError> {
    let method = &request.parts.method;
    let [doctype, target] = segments else {
        return Err(StackError::route_not_found());
    };
    if doctype.is_empty() {
        return Err(StackError::route_not_found());
    }
    let is_read = *method == Method::GET || *method == Method::HEAD;

    match target.as_str() {
        "" if *method == Method::POST => handlers::create(request, doctype),
        "_find" if *method == Method::POST => handlers::find(request, doctype),
        "_index" if *method == Method::POST => handlers::define_index(request, doctype),
        "" | "_find" | "_index" => Err(StackError::method_not_allowed()),
        // The stack serves these, this server does not.
        "_all_docs" | "_normal_docs" | "_design_docs" | "_changes" => {
            Err(StackError::route_not_found())
        }
        id if is_read => handlers::get(request, doctype, id),
        id if *method == Method::PUT => handlers::put(request, doctype, id),
        _ => Err(StackError::method_not_allowed()),
    }
}
