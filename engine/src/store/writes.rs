//! Document writes (create, update, upsert, account data), each run inside
//! the caller's transaction.

use konnector_host_api::{WriteResult, WriteStatus};
use serde_json::{Map, Value, json};

use super::sqlite::{self, KeyPath};
use super::{files, revision};
use crate::metadata::{self, COZY_METADATA, DEFAULT_DOCTYPE_VERSION};
use crate::sink::{SinkError, WriteContext};

/// Doctype of the accounts. An account's `data` field contains the saved
/// state of its konnector.
pub(super) const ACCOUNTS_DOCTYPE: &str = "io.cozy.accounts";

/// Creates a document with a new id.
pub(super) fn create(
    conn: &rusqlite::Connection,
    ctx: &WriteContext,
    doctype: &str,
    mut doc: Map<String, Value>,
) -> Result<WriteResult, SinkError> {
    check_doctype(doctype)?;
    check_fields(&doc)?;
    let guest_metadata = metadata::take_guest_fields(&mut doc)?;
    let now = metadata::now();
    let metadata = metadata::for_create(guest_metadata, ctx, &now, json!(DEFAULT_DOCTYPE_VERSION));
    doc.insert(COZY_METADATA.into(), Value::Object(metadata));

    let id = revision::new_id()?;
    let rev = sqlite::insert(conn, doctype, &id, &doc)?;
    tracing::debug!(doctype, id, "created document");
    Ok(WriteResult {
        id,
        rev,
        status: WriteStatus::Created,
    })
}

/// Replaces the body of `doctype`/`id`, keeping and updating its
/// `cozyMetadata`.
pub(super) fn update(
    conn: &rusqlite::Connection,
    ctx: &WriteContext,
    doctype: &str,
    id: &str,
    rev: Option<&str>,
    mut doc: Map<String, Value>,
) -> Result<WriteResult, SinkError> {
    check_doctype(doctype)?;
    check_fields(&doc)?;
    let current = sqlite::get(conn, doctype, id)?.ok_or_else(|| SinkError::NotFound {
        doctype: doctype.into(),
        id: id.into(),
    })?;
    if let Some(given) = rev
        && given != current.rev
    {
        return Err(SinkError::Conflict {
            doctype: doctype.into(),
            id: id.into(),
            given: given.into(),
            current: current.rev,
        });
    }

    let guest_metadata = metadata::take_guest_fields(&mut doc)?;
    let now = metadata::now();
    let metadata = metadata::for_update(current.body.get(COZY_METADATA), guest_metadata, ctx, &now);
    doc.insert(COZY_METADATA.into(), Value::Object(metadata));
    let rev = sqlite::replace(conn, &current, &doc)?;
    tracing::debug!(doctype, id, "updated document");
    Ok(WriteResult {
        id: current.id,
        rev,
        status: WriteStatus::Updated,
    })
}

/// Creates `doc`, or merges it into the oldest document of `doctype` whose
/// values at `keys` equal `doc`'s.
pub(super) fn upsert(
    conn: &rusqlite::Connection,
    ctx: &WriteContext,
    doctype: &str,
    keys: &[String],
    mut doc: Map<String, Value>,
) -> Result<WriteResult, SinkError> {
    check_doctype(doctype)?;
    check_fields(&doc)?;
    let matches = key_values(keys, &doc)?;
    // Two matches are enough to know there are several.
    let mut found = sqlite::find_by_values(conn, doctype, &matches, 2)?;
    if found.is_empty() {
        return create(conn, ctx, doctype, doc);
    }
    if found.len() > 1 {
        // Keys are guest data of any size, so only their count is logged.
        tracing::warn!(
            doctype,
            keys = keys.len(),
            id = found[0].id,
            "several documents have the upsert keys' values; merging into the oldest"
        );
    }
    let current = found.swap_remove(0);

    let guest_metadata = metadata::take_guest_fields(&mut doc)?;
    let mut merged = current.body.clone();
    merged.extend(doc);
    if same_ignoring_metadata(&merged, &current.body) {
        tracing::trace!(doctype, id = current.id, "upsert changed nothing");
        return Ok(WriteResult {
            id: current.id,
            rev: current.rev,
            status: WriteStatus::Unchanged,
        });
    }

    let now = metadata::now();
    let metadata = metadata::for_update(current.body.get(COZY_METADATA), guest_metadata, ctx, &now);
    merged.insert(COZY_METADATA.into(), Value::Object(metadata));
    let rev = sqlite::replace(conn, &current, &merged)?;
    tracing::debug!(doctype, id = current.id, "upsert updated document");
    Ok(WriteResult {
        id: current.id,
        rev,
        status: WriteStatus::Updated,
    })
}

/// Reads the `data` field of account `account_id` (`{}` when the account or
/// its data is missing).
pub(super) fn account_data(
    conn: &rusqlite::Connection,
    account_id: &str,
) -> Result<Map<String, Value>, SinkError> {
    let Some(account) = sqlite::get(conn, ACCOUNTS_DOCTYPE, account_id)? else {
        return Ok(Map::new());
    };
    match account.body.get("data") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(data)) => Ok(data.clone()),
        Some(_) => Err(SinkError::Storage(format!(
            "failed to read the data of {ACCOUNTS_DOCTYPE}/{account_id}: field 'data' is not an object"
        ))),
    }
}

/// Replaces the `data` field of account `account_id`, creating the account
/// document when missing. Writes nothing when the data is unchanged.
pub(super) fn set_account_data(
    conn: &rusqlite::Connection,
    ctx: &WriteContext,
    account_id: &str,
    data: Map<String, Value>,
) -> Result<(), SinkError> {
    if account_id.is_empty() {
        return Err(SinkError::Invalid("account id is empty".into()));
    }
    let data = Value::Object(data);
    let now = metadata::now();
    match sqlite::get(conn, ACCOUNTS_DOCTYPE, account_id)? {
        None => {
            let mut body = Map::new();
            body.insert("data".into(), data);
            let metadata =
                metadata::for_create(Map::new(), ctx, &now, json!(DEFAULT_DOCTYPE_VERSION));
            body.insert(COZY_METADATA.into(), Value::Object(metadata));
            sqlite::insert(conn, ACCOUNTS_DOCTYPE, account_id, &body)?;
            tracing::debug!(account_id, "created account document for its data");
        }
        Some(current) if current.body.get("data") == Some(&data) => {}
        Some(current) => {
            let mut body = current.body.clone();
            body.insert("data".into(), data);
            let metadata =
                metadata::for_update(current.body.get(COZY_METADATA), Map::new(), ctx, &now);
            body.insert(COZY_METADATA.into(), Value::Object(metadata));
            sqlite::replace(conn, &current, &body)?;
            tracing::debug!(account_id, "updated account data");
        }
    }
    Ok(())
}

/// Rejects doctypes that a plain document write must not touch.
fn check_doctype(doctype: &str) -> Result<(), SinkError> {
    if doctype.is_empty() {
        return Err(SinkError::Invalid("doctype is empty".into()));
    }
    // File documents must match the contents on disk, so only save_file
    // writes them; the stack likewise rejects io.cozy.files on /data.
    if doctype == files::FILES_DOCTYPE {
        return Err(SinkError::Invalid(format!(
            "doctype {doctype} cannot be written as a document: save files with save_file"
        )));
    }
    Ok(())
}

/// Rejects top-level fields starting with `_`, which CouchDB reserves
/// (`_id`, `_rev`, `_attachments`, ...).
fn check_fields(doc: &Map<String, Value>) -> Result<(), SinkError> {
    match doc.keys().find(|key| key.starts_with('_')) {
        Some(key) => Err(SinkError::Invalid(format!(
            "field '{key}' is not allowed: fields starting with '_' are reserved"
        ))),
        None => Ok(()),
    }
}

/// Pairs each upsert key with its value in `doc`.
/// Most key fields an upsert may name; real konnectors use one to four.
pub const MAX_UPSERT_KEYS: usize = 16;

fn key_values<'a>(
    keys: &[String],
    doc: &'a Map<String, Value>,
) -> Result<Vec<(KeyPath, &'a Value)>, SinkError> {
    if keys.is_empty() {
        return Err(SinkError::Invalid("upsert needs at least one key".into()));
    }
    if keys.len() > MAX_UPSERT_KEYS {
        return Err(SinkError::Invalid(format!(
            "upsert has {} keys, more than the maximum of {MAX_UPSERT_KEYS}",
            keys.len()
        )));
    }
    let mut unique: Vec<&String> = Vec::with_capacity(keys.len());
    for key in keys {
        if !unique.contains(&key) {
            unique.push(key);
        }
    }
    unique
        .into_iter()
        .map(|key| {
            let path = KeyPath::parse(key).map_err(|reason| {
                SinkError::Invalid(format!("upsert key '{key}' is invalid: {reason}"))
            })?;
            let value = path.lookup(doc).ok_or_else(|| {
                SinkError::Invalid(format!("upsert key '{key}' is missing from the document"))
            })?;
            Ok((path, value))
        })
        .collect()
}

fn same_ignoring_metadata(left: &Map<String, Value>, right: &Map<String, Value>) -> bool {
    let fields = |doc: &Map<String, Value>| doc.keys().filter(|key| *key != COZY_METADATA).count();
    fields(left) == fields(right)
        && left
            .iter()
            .filter(|(key, _)| *key != COZY_METADATA)
            .all(|(key, value)| {
                right
                    .get(key)
                    .is_some_and(|other| sqlite::json_equal(value, other))
            })
}
