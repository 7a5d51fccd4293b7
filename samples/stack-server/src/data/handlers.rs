//! Handlers of the `/data` routes.
//!
//! Each follows the order of checks of the stack's handler
//! (`web/data/data.go` and `web/data/accounts.go`), because that order
//! decides which error a bad request gets. For example, the body is parsed
//! before the token is checked, and a missing account is reported before
//! the token is checked.

use hyper::StatusCode;
use serde_json::{Map, Value, json};

use super::ACCOUNTS;
use super::doctype::{check_readable, check_writable};
use super::store::conflict;
use crate::auth::{Grant, Verb};
use crate::clock;
use crate::error::StackError;
use crate::request::StackRequest;
use crate::response::{self, StackResponse};
use crate::{files, mango};

/// `POST /data/{doctype}/`: creates a document with a new id (201).
pub(crate) fn create(
    request: &StackRequest<'_>,
    doctype: &str,
) -> Result<StackResponse, StackError> {
    let mut body = parse_object(request)?;
    let grant = match doctype {
        // The stack skips the reserved-doctype check for accounts.
        ACCOUNTS => request.authorize(doctype, Verb::Post)?,
        _ => {
            check_writable(doctype)?;
            request.authorize(doctype, Verb::Post)?
        }
    };
    if body.contains_key("_id") {
        return Err(StackError::couch(
            400,
            "defined_id",
            "document _id should be empty",
        ));
    }
    if body.contains_key("_rev") {
        // CouchDB treats a `_rev` on a new id as an update of a missing
        // document, which conflicts.
        return Err(conflict());
    }
    check_special_fields(&body)?;
    if doctype == ACCOUNTS {
        body.insert("cozyMetadata".to_owned(), cozy_metadata(&grant));
    }

    let id = request.state.ids.next_id();
    let doc = request.state.database().insert_new(doctype, &id, body)?;
    Ok(write_response(StatusCode::CREATED, doctype, doc))
}

/// `GET /data/{doctype}/{id}`: returns one document with its `_type`.
pub(crate) fn get(
    request: &StackRequest<'_>,
    doctype: &str,
    id: &str,
) -> Result<StackResponse, StackError> {
    if doctype == ACCOUNTS {
        // The stack looks the account up before it checks the token, and
        // serves `auth` decrypted to konnector tokens.
        let doc = request.state.database().get(doctype, id)?.clone();
        request.authorize(doctype, Verb::Get)?;
        return Ok(response::json(StatusCode::OK, &with_type(doctype, doc)));
    }

    check_readable(doctype)?;
    check_doc_id(id)?;
    let found = match doctype {
        "io.cozy.files" => files::couch_doc(&request.state.vfs(), id)
            .ok_or_else(|| StackError::couch(404, "not_found", "missing")),
        _ => request.state.database().get(doctype, id).cloned(),
    };
    // The stack checks the token whether or not the document exists.
    request.authorize(doctype, Verb::Get)?;
    Ok(response::json(StatusCode::OK, &with_type(doctype, found?)))
}

/// `PUT /data/{doctype}/{id}`: updates a document when the body carries its
/// `_id` and current `_rev`, or creates it with this id when the body
/// carries neither (200 either way).
pub(crate) fn put(
    request: &StackRequest<'_>,
    doctype: &str,
    id: &str,
) -> Result<StackResponse, StackError> {
    let mut body = parse_object(request)?;
    // The stack drops `_type` when it reads the body.
    body.remove("_type");
    if doctype != ACCOUNTS {
        check_writable(doctype)?;
    }

    let body_id = string_field(&body, "_id")?;
    let body_rev = string_field(&body, "_rev")?;
    if body_id.is_some() != body_rev.is_some() {
        return Err(StackError::jsonapi(
            400,
            "You must either provide an _id and _rev in document (update) or neither (create with fixed id).",
        ));
    }
    if body_id.as_deref().is_some_and(|body_id| body_id != id) {
        return Err(StackError::jsonapi(400, "document _id doesnt match url"));
    }
    check_special_fields(&body)?;

    let Some(rev) = body_rev else {
        // Creation with a chosen id needs POST, as in the stack.
        request.authorize(doctype, Verb::Post)?;
        check_doc_id(id)?;
        let doc = request.state.database().insert_new(doctype, id, body)?;
        return Ok(write_response(StatusCode::OK, doctype, doc));
    };

    let grant = request.authorize(doctype, Verb::Put)?;
    check_doc_id(id)?;
    if doctype == ACCOUNTS && !body.contains_key("cozyMetadata") {
        body.insert("cozyMetadata".to_owned(), cozy_metadata(&grant));
    }
    let doc = request.state.database().update(doctype, id, &rev, body)?;
    Ok(write_response(StatusCode::OK, doctype, doc))
}

/// `POST /data/{doctype}/_find`: runs a Mango query (see [`mango::find`]).
pub(crate) fn find(request: &StackRequest<'_>, doctype: &str) -> Result<StackResponse, StackError> {
    let body = parse_object(request)?;
    check_readable(doctype)?;
    request.authorize(doctype, Verb::Get)?;

    let database = request.state.database();
    let result = mango::find(database.collection(doctype), &body)?;
    Ok(response::json(StatusCode::OK, &result))
}

/// `POST /data/{doctype}/_index`: defines a Mango index (200).
pub(crate) fn define_index(
    request: &StackRequest<'_>,
    doctype: &str,
) -> Result<StackResponse, StackError> {
    let body = parse_object(request)?;
    check_readable(doctype)?;
    request.authorize(doctype, Verb::Get)?;

    let mut database = request.state.database();
    let result = mango::define_index(database.collection_mut(doctype), &body)?;
    Ok(response::json(StatusCode::OK, &result))
}

/// Parses the body as a JSON object, with the stack's 400 otherwise.
fn parse_object(request: &StackRequest<'_>) -> Result<Map<String, Value>, StackError> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(StackError::jsonapi(
            400,
            &format!(
                "json: cannot unmarshal {} into a document",
                json_kind(&other)
            ),
        )),
        Err(error) => Err(StackError::jsonapi(400, &error.to_string())),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Returns the string field `name`, `None` when it is missing or empty,
/// and 400 when it is not a string.
fn string_field(body: &Map<String, Value>, name: &str) -> Result<Option<String>, StackError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(StackError::couch(
            400,
            "bad_request",
            &format!("{name} must be a string"),
        )),
    }
}

/// Rejects a document id starting with `_`, as the stack does.
fn check_doc_id(id: &str) -> Result<(), StackError> {
    match id.starts_with('_') {
        // The stack's message, misspelling included.
        true => Err(StackError::couch(
            400,
            "bad_id",
            &format!("Unsuported couchdb operation {id}"),
        )),
        false => Ok(()),
    }
}

/// Rejects top-level fields starting with `_` other than `_id` and `_rev`,
/// as CouchDB does.
///
/// NOTE: CouchDB accepts a few more special members (`_attachments`,
/// `_deleted`, ...), which this server rejects too.
fn check_special_fields(body: &Map<String, Value>) -> Result<(), StackError> {
    let special = body
        .keys()
        .find(|key| key.starts_with('_') && *key != "_id" && *key != "_rev");
    match special {
        Some(key) => Err(StackError::couch(
            400,
            "doc_validation",
            &format!("Bad special document member: {key}"),
        )),
        None => Ok(()),
    }
}

/// Builds the `cozyMetadata` the stack adds to accounts it writes, with the
/// app fields taken from the token.
fn cozy_metadata(grant: &Grant) -> Value {
    let now = clock::format(clock::now());
    let mut metadata = json!({
        "doctypeVersion": "",
        "metadataVersion": 1,
        "createdAt": now,
        "updatedAt": now,
    });
    if let (Some(slug), Value::Object(fields)) = (&grant.slug, &mut metadata) {
        fields.insert("createdByApp".to_owned(), json!(slug));
        fields.insert(
            "updatedByApps".to_owned(),
            json!([{ "slug": slug, "date": now }]),
        );
    }
    metadata
}

/// Builds the stack's response to a write, `{ok, id, rev, type, data}`,
/// where `data` is the document with its `_type`.
fn write_response(status: StatusCode, doctype: &str, doc: Map<String, Value>) -> StackResponse {
    let id = doc.get("_id").cloned().unwrap_or(Value::Null);
    let rev = doc.get("_rev").cloned().unwrap_or(Value::Null);
    let body = json!({
        "ok": true,
        "id": id,
        "rev": rev,
        "type": doctype,
        "data": with_type(doctype, doc),
    });
    response::json(status, &body)
}

fn with_type(doctype: &str, mut doc: Map<String, Value>) -> Value {
    doc.insert("_type".to_owned(), Value::String(doctype.to_owned()));
    Value::Object(doc)
}
