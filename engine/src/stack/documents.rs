//! The `/data` API: reading, writing and finding one document.

use std::time::Instant;

use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::checks::{same_body, serialize, strip_reserved};
use super::client::{ApiRequest, JSON, StackClient};
use super::error::StackError;
use super::keys::{KeyValue, matches, selector};
use crate::metadata::COZY_METADATA;
use crate::sink::SinkError;

/// Maximum number of documents a `_find` for upsert keys reads. The upsert
/// merges into the oldest of them. Several matches only happen when
/// documents with the same key values were written by other means.
pub const FIND_LIMIT: usize = 10;

/// A document as the stack returned it.
#[derive(Debug, Clone)]
pub(crate) struct StoredDoc {
    pub(crate) id: String,
    pub(crate) rev: String,
    /// Its fields, without `_id`, `_rev` and `_type`.
    pub(crate) body: Map<String, Value>,
}

impl StoredDoc {
    /// Reads a document from a `GET` or `_find` response.
    fn parse(mut value: Map<String, Value>) -> Option<StoredDoc> {
        let id = value.get("_id")?.as_str()?.to_owned();
        let rev = value.get("_rev")?.as_str()?.to_owned();
        strip_reserved(&mut value);
        Some(StoredDoc {
            id,
            rev,
            body: value,
        })
    }
}

/// The result of a `PUT /data/{doctype}/{id}`.
#[derive(Debug)]
pub(crate) enum PutOutcome {
    /// Written, with this new revision.
    Written(String),
    /// 409: the revision given is not the current one, or (when creating)
    /// the id is taken.
    Conflict,
    /// 404: the document to update no longer exists.
    NotFound,
}

/// Reads `doctype`/`id`, or returns `None` when the stack returns 404.
pub(crate) async fn get(
    client: &StackClient,
    deadline: Option<Instant>,
    doctype: &str,
    id: &str,
) -> Result<Option<StoredDoc>, StackError> {
    let request = ApiRequest::new(Method::GET, &["data", doctype, id]);
    let response = client.send(request, deadline).await?;
    match response.status {
        StatusCode::OK => {
            let Value::Object(fields) = response.json()? else {
                return Err(response.invalid("the document is not a JSON object"));
            };
            StoredDoc::parse(fields)
                .map(Some)
                .ok_or_else(|| response.invalid("the document has no '_id' or '_rev'"))
        }
        StatusCode::NOT_FOUND => Ok(None),
        _ => Err(response.unexpected()),
    }
}

/// Writes `body` as `doctype`/`id`: an update of revision `rev`, or a
/// creation with this id when `rev` is `None`.
pub(crate) async fn put(
    client: &StackClient,
    deadline: Option<Instant>,
    doctype: &str,
    id: &str,
    rev: Option<&str>,
    body: &Map<String, Value>,
) -> Result<PutOutcome, SinkError> {
    let mut sent = body.clone();
    // A creation with a chosen id carries no `_id`; an update carries the
    // revision it replaces.
    if let Some(rev) = rev {
        sent.insert("_id".into(), json!(id));
        sent.insert("_rev".into(), json!(rev));
    }
    let sent = Value::Object(sent);
    serialize(doctype, &sent)?;

    let request = ApiRequest::new(Method::PUT, &["data", doctype, id]).json(JSON, &sent);
    let response = client.send(request, deadline).await?;
    match response.status {
        StatusCode::OK | StatusCode::CREATED => {
            let answer = response.json()?;
            let rev = answer
                .get("rev")
                .and_then(Value::as_str)
                .ok_or_else(|| response.invalid("no 'rev' field"))?;
            Ok(PutOutcome::Written(rev.to_owned()))
        }
        StatusCode::CONFLICT => Ok(PutOutcome::Conflict),
        StatusCode::NOT_FOUND => Ok(PutOutcome::NotFound),
        _ => Err(response.unexpected().into()),
    }
}

/// Creates `doctype`/`id` with `body` and returns its revision, or `None`
/// when another document already has this id.
///
/// When the id is taken by a document whose body is `body` itself, that
/// document is this write's own earlier attempt, whose response was lost:
/// its revision is returned, so a retry never creates a second document.
pub(crate) async fn create_with_id(
    client: &StackClient,
    deadline: Option<Instant>,
    doctype: &str,
    id: &str,
    body: &Map<String, Value>,
) -> Result<Option<String>, SinkError> {
    match put(client, deadline, doctype, id, None, body).await? {
        PutOutcome::Written(rev) => Ok(Some(rev)),
        PutOutcome::Conflict | PutOutcome::NotFound => {
            match get(client, deadline, doctype, id).await? {
                Some(stored) if same_body(&stored.body, body) => Ok(Some(stored.rev)),
                _ => Ok(None),
            }
        }
    }
}

/// Reads `doctype`/`id` again after a 409 on a write of `body`, and returns
/// whether the stored body is `body` (this write's earlier attempt went
/// through), another writer changed it, or it is gone.
pub(crate) async fn after_conflict(
    client: &StackClient,
    deadline: Option<Instant>,
    doctype: &str,
    id: &str,
    body: &Map<String, Value>,
) -> Result<ConflictState, StackError> {
    Ok(match get(client, deadline, doctype, id).await? {
        Some(stored) if same_body(&stored.body, body) => ConflictState::Ours(stored.rev),
        Some(stored) => ConflictState::Changed(stored),
        None => ConflictState::Gone,
    })
}

/// State of a document after a 409.
#[derive(Debug)]
pub(crate) enum ConflictState {
    /// It is what this write sent, at this revision.
    Ours(String),
    /// Another writer changed it.
    Changed(StoredDoc),
    /// It no longer exists.
    Gone,
}

/// Creates the Mango index on `fields` of `doctype`. The stack returns 200
/// both when it creates the index and when the index exists.
pub(crate) async fn create_index(
    client: &StackClient,
    deadline: Option<Instant>,
    doctype: &str,
    fields: &[String],
) -> Result<(), StackError> {
    let body = json!({ "index": { "fields": fields } });
    let request = ApiRequest::new(Method::POST, &["data", doctype, "_index"]).json(JSON, &body);
    let response = client.send(request, deadline).await?;
    match response.status {
        StatusCode::OK | StatusCode::CREATED => Ok(()),
        _ => Err(response.unexpected()),
    }
}

/// Finds the oldest document of `doctype` (by `cozyMetadata.createdAt`,
/// then id) among the first [`FIND_LIMIT`] that have every key's value.
pub(crate) async fn find_oldest(
    client: &StackClient,
    deadline: Option<Instant>,
    doctype: &str,
    pairs: &[KeyValue],
) -> Result<Option<StoredDoc>, StackError> {
    let body = json!({ "selector": selector(pairs), "limit": FIND_LIMIT });
    let request = ApiRequest::new(Method::POST, &["data", doctype, "_find"]).json(JSON, &body);
    let response = client.send(request, deadline).await?;
    if response.status != StatusCode::OK {
        return Err(response.unexpected());
    }
    let answer = response.json()?;
    let docs = answer
        .get("docs")
        .and_then(Value::as_array)
        .ok_or_else(|| response.invalid("no 'docs' array"))?;

    let mut found: Vec<StoredDoc> = Vec::new();
    for doc in docs {
        let Some(fields) = doc.as_object() else {
            return Err(response.invalid("a document is not a JSON object"));
        };
        let stored = StoredDoc::parse(fields.clone())
            .ok_or_else(|| response.invalid("a document has no '_id' or '_rev'"))?;
        // The stack's selector already matched. This check applies the
        // embedded store's rules (numbers by value) whatever the stack's are.
        if matches(pairs, &stored.body) {
            found.push(stored);
        }
    }
    if found.len() > 1 || answer.get("next") == Some(&Value::Bool(true)) {
        // Key values are guest data of any size, so only their count is logged.
        tracing::warn!(
            doctype,
            keys = pairs.len(),
            matches = found.len(),
            "several documents have the upsert keys' values; merging into the oldest"
        );
    }
    Ok(found.into_iter().min_by(|left, right| {
        created_at(left)
            .cmp(created_at(right))
            .then_with(|| left.id.cmp(&right.id))
    }))
}

/// Returns `cozyMetadata.createdAt`, or `""` for a document without one,
/// which then sorts first.
fn created_at(doc: &StoredDoc) -> &str {
    doc.body
        .get(COZY_METADATA)
        .and_then(|metadata| metadata.get("createdAt"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Generates a document id: 32 random lowercase hex digits, the shape of the
/// uuids CouchDB hands out.
pub(crate) fn new_id() -> Result<String, SinkError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| SinkError::Storage(format!("failed to generate a random id: {err}")))?;
    Ok(hex::encode(bytes))
}
