//! Document writes through the stack: create, update, upsert and the
//! account's saved data, with the embedded store's semantics.
//!
//! Each write that meets a 409 reads the document again and distinguishes
//! three cases. When the stored body is the one this write sent, an earlier
//! attempt went through and only its response was lost. When another writer
//! changed it, the write merges again, at most [`MAX_CONFLICT_ROUNDS`]
//! times. When the guest gave a revision, that revision is stale
//! ([`SinkError::Conflict`]).

use konnector_host_api::{WriteResult, WriteStatus};
use serde_json::{Map, Value, json};

use super::StackSink;
use super::checks::{
    ACCOUNTS_DOCTYPE, check_doctype, check_fields, json_equal, same_ignoring_metadata,
};
use super::documents::{self, ConflictState, PutOutcome, StoredDoc};
use super::keys::{self, KeyValue};
use crate::metadata::{self, COZY_METADATA};
use crate::sink::{SinkError, WriteContext};

/// Times a write reads a document again and retries after another writer
/// changed it (a 409) before it fails.
pub const MAX_CONFLICT_ROUNDS: u32 = 4;

/// Creates a document with a new random id.
pub(super) async fn create(
    sink: &StackSink,
    ctx: &WriteContext,
    doctype: &str,
    mut doc: Map<String, Value>,
) -> Result<WriteResult, SinkError> {
    check_doctype(doctype)?;
    check_fields(&doc)?;
    let guest_metadata = metadata::take_guest_fields(&mut doc)?;
    let metadata = metadata::for_create(
        guest_metadata,
        ctx,
        &metadata::now(),
        json!(metadata::DEFAULT_DOCTYPE_VERSION),
    );
    doc.insert(COZY_METADATA.into(), Value::Object(metadata));

    let id = documents::new_id()?;
    let rev = documents::create_with_id(&sink.client, ctx.deadline, doctype, &id, &doc)
        .await?
        .ok_or_else(|| {
            SinkError::Storage(format!(
                "failed to create document {doctype}/{id}: another document has this random id"
            ))
        })?;
    tracing::debug!(doctype, id, "created document");
    Ok(WriteResult {
        id,
        rev,
        status: WriteStatus::Created,
    })
}

/// Replaces the body of `doctype`/`id`, keeping and updating its
/// `cozyMetadata`.
pub(super) async fn update(
    sink: &StackSink,
    ctx: &WriteContext,
    doctype: &str,
    id: &str,
    rev: Option<&str>,
    mut doc: Map<String, Value>,
) -> Result<WriteResult, SinkError> {
    check_doctype(doctype)?;
    check_fields(&doc)?;
    let guest_metadata = metadata::take_guest_fields(&mut doc)?;
    let not_found = || SinkError::NotFound {
        doctype: doctype.into(),
        id: id.into(),
    };
    let mut current = documents::get(&sink.client, ctx.deadline, doctype, id)
        .await?
        .ok_or_else(not_found)?;

    for _ in 0..MAX_CONFLICT_ROUNDS {
        if let Some(given) = rev
            && given != current.rev
        {
            return Err(conflict(doctype, id, given, current.rev));
        }

        let mut body = doc.clone();
        let metadata = metadata::for_update(
            current.body.get(COZY_METADATA),
            guest_metadata.clone(),
            ctx,
            &metadata::now(),
        );
        body.insert(COZY_METADATA.into(), Value::Object(metadata));

        let outcome = documents::put(
            &sink.client,
            ctx.deadline,
            doctype,
            id,
            Some(&current.rev),
            &body,
        )
        .await?;
        let written = match outcome {
            PutOutcome::Written(rev) => Some(rev),
            PutOutcome::NotFound => return Err(not_found()),
            PutOutcome::Conflict => {
                match documents::after_conflict(&sink.client, ctx.deadline, doctype, id, &body)
                    .await?
                {
                    ConflictState::Ours(rev) => Some(rev),
                    ConflictState::Gone => return Err(not_found()),
                    ConflictState::Changed(stored) => {
                        current = stored;
                        None
                    }
                }
            }
        };
        if let Some(rev) = written {
            tracing::debug!(doctype, id, "updated document");
            return Ok(WriteResult {
                id: id.to_owned(),
                rev,
                status: WriteStatus::Updated,
            });
        }
    }
    Err(too_many_conflicts(doctype, id))
}

/// Creates `doc`, or merges it into the oldest document of `doctype` whose
/// values at `keys` equal `doc`'s.
pub(super) async fn upsert(
    sink: &StackSink,
    ctx: &WriteContext,
    doctype: &str,
    keys: &[String],
    mut doc: Map<String, Value>,
) -> Result<WriteResult, SinkError> {
    check_doctype(doctype)?;
    check_fields(&doc)?;
    let pairs = keys::key_values(keys, &doc)?;
    let guest_metadata = metadata::take_guest_fields(&mut doc)?;
    sink.ensure_index(ctx.deadline, doctype, &pairs).await?;

    // The first creation tries the id derived from the keys. When that id
    // is taken, the next round either finds the holder by its keys (it was
    // created meanwhile) or, if the holder no longer matches, creates the
    // document with a random id.
    let mut new_id = keys::upsert_id(doctype, &pairs);
    for _ in 0..MAX_CONFLICT_ROUNDS {
        let found = documents::find_oldest(&sink.client, ctx.deadline, doctype, &pairs).await?;
        let attempt = match found {
            None => create_for_upsert(sink, ctx, doctype, &new_id, &doc, &guest_metadata).await?,
            Some(current) => merge(sink, ctx, doctype, current, &doc, &guest_metadata).await?,
        };
        match attempt {
            Attempt::Done(result) => return Ok(result),
            Attempt::IdTaken => new_id = documents::new_id()?,
            Attempt::Changed => {}
        }
    }
    Err(SinkError::Storage(format!(
        "failed to upsert a {doctype} document: other writers changed the matching document \
         {MAX_CONFLICT_ROUNDS} times while this write was being made"
    )))
}

/// Result of one round of an upsert.
enum Attempt {
    Done(WriteResult),
    /// The id chosen for a new document is taken.
    IdTaken,
    /// Another writer changed or deleted the matching document first.
    Changed,
}

/// Creates the upsert's document as `id`.
async fn create_for_upsert(
    sink: &StackSink,
    ctx: &WriteContext,
    doctype: &str,
    id: &str,
    doc: &Map<String, Value>,
    guest_metadata: &Map<String, Value>,
) -> Result<Attempt, SinkError> {
    let mut body = doc.clone();
    let metadata = metadata::for_create(
        guest_metadata.clone(),
        ctx,
        &metadata::now(),
        json!(metadata::DEFAULT_DOCTYPE_VERSION),
    );
    body.insert(COZY_METADATA.into(), Value::Object(metadata));
    let created = documents::create_with_id(&sink.client, ctx.deadline, doctype, id, &body).await?;
    let Some(rev) = created else {
        return Ok(Attempt::IdTaken);
    };
    tracing::debug!(doctype, id, "upsert created document");
    Ok(Attempt::Done(WriteResult {
        id: id.to_owned(),
        rev,
        status: WriteStatus::Created,
    }))
}

/// Merges `doc` into `current`.
async fn merge(
    sink: &StackSink,
    ctx: &WriteContext,
    doctype: &str,
    current: StoredDoc,
    doc: &Map<String, Value>,
    guest_metadata: &Map<String, Value>,
) -> Result<Attempt, SinkError> {
    let mut merged = current.body.clone();
    merged.extend(doc.clone());
    if same_ignoring_metadata(&merged, &current.body) {
        tracing::trace!(doctype, id = current.id, "upsert changed nothing");
        return Ok(Attempt::Done(WriteResult {
            id: current.id,
            rev: current.rev,
            status: WriteStatus::Unchanged,
        }));
    }

    let metadata = metadata::for_update(
        current.body.get(COZY_METADATA),
        guest_metadata.clone(),
        ctx,
        &metadata::now(),
    );
    merged.insert(COZY_METADATA.into(), Value::Object(metadata));
    let (client, deadline, id) = (&sink.client, ctx.deadline, current.id.as_str());
    let rev =
        match documents::put(client, deadline, doctype, id, Some(&current.rev), &merged).await? {
            PutOutcome::Written(rev) => rev,
            PutOutcome::NotFound => return Ok(Attempt::Changed),
            PutOutcome::Conflict => {
                match documents::after_conflict(client, deadline, doctype, id, &merged).await? {
                    ConflictState::Ours(rev) => rev,
                    ConflictState::Changed(_) | ConflictState::Gone => return Ok(Attempt::Changed),
                }
            }
        };
    tracing::debug!(doctype, id, "upsert updated document");
    Ok(Attempt::Done(WriteResult {
        id: current.id,
        rev,
        status: WriteStatus::Updated,
    }))
}

/// Reads the `data` field of account `account_id` (`{}` when the account or
/// its data is missing).
pub(super) async fn account_data(
    sink: &StackSink,
    ctx: &WriteContext,
    account_id: &str,
) -> Result<Map<String, Value>, SinkError> {
    if account_id.is_empty() {
        return Err(SinkError::Invalid("account id is empty".into()));
    }
    let Some(account) =
        documents::get(&sink.client, ctx.deadline, ACCOUNTS_DOCTYPE, account_id).await?
    else {
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
/// document when missing, as the embedded store does. Writes nothing when
/// the data is unchanged.
pub(super) async fn set_account_data(
    sink: &StackSink,
    ctx: &WriteContext,
    account_id: &str,
    data: Map<String, Value>,
) -> Result<(), SinkError> {
    if account_id.is_empty() {
        return Err(SinkError::Invalid("account id is empty".into()));
    }
    let data = Value::Object(data);
    let (client, deadline) = (&sink.client, ctx.deadline);
    for _ in 0..MAX_CONFLICT_ROUNDS {
        let current = documents::get(client, deadline, ACCOUNTS_DOCTYPE, account_id).await?;
        let written = match current {
            None => {
                let mut body = Map::new();
                body.insert("data".into(), data.clone());
                let metadata = metadata::for_create(
                    Map::new(),
                    ctx,
                    &metadata::now(),
                    json!(metadata::DEFAULT_DOCTYPE_VERSION),
                );
                body.insert(COZY_METADATA.into(), Value::Object(metadata));
                documents::create_with_id(client, deadline, ACCOUNTS_DOCTYPE, account_id, &body)
                    .await?
                    .is_some()
            }
            Some(current)
                if current
                    .body
                    .get("data")
                    .is_some_and(|stored| json_equal(stored, &data)) =>
            {
                return Ok(());
            }
            Some(current) => {
                let mut body = current.body.clone();
                body.insert("data".into(), data.clone());
                let metadata = metadata::for_update(
                    current.body.get(COZY_METADATA),
                    Map::new(),
                    ctx,
                    &metadata::now(),
                );
                body.insert(COZY_METADATA.into(), Value::Object(metadata));
                let rev = Some(current.rev.as_str());
                match documents::put(client, deadline, ACCOUNTS_DOCTYPE, account_id, rev, &body)
                    .await?
                {
                    PutOutcome::Written(_) => true,
                    PutOutcome::NotFound => false,
                    PutOutcome::Conflict => matches!(
                        documents::after_conflict(
                            client,
                            deadline,
                            ACCOUNTS_DOCTYPE,
                            account_id,
                            &body
                        )
                        .await?,
                        ConflictState::Ours(_)
                    ),
                }
            }
        };
        if written {
            tracing::debug!(account_id, "saved account data");
            return Ok(());
        }
    }
    Err(too_many_conflicts(ACCOUNTS_DOCTYPE, account_id))
}

fn conflict(doctype: &str, id: &str, given: &str, current: String) -> SinkError {
    SinkError::Conflict {
        doctype: doctype.into(),
        id: id.into(),
        given: given.into(),
        current,
    }
}

fn too_many_conflicts(doctype: &str, id: &str) -> SinkError {
    SinkError::Storage(format!(
        "failed to write document {doctype}/{id}: other writers changed it {MAX_CONFLICT_ROUNDS} \
         times while this write was being made"
    ))
}

/// Returns the cache key of the index on `pairs` of `doctype`.
pub(super) fn index_key(doctype: &str, pairs: &[KeyValue]) -> String {
    let mut key = doctype.to_owned();
    for field in keys::index_fields(pairs) {
        key.push('\0');
        key.push_str(&field);
    }
    key
}
