//! The stack sink: a job's documents and files written through the
//! cozy-stack HTTP API with the job's token.
//!
//! [`StackSink`] is the [`DocumentSink`] of a job that runs for a Cozy
//! instance (`konnector exec`). It is built from a [`StackConfig`]: the
//! instance URL (`COZY_URL`), the job's [`StackToken`] (`COZY_CREDENTIALS`),
//! the destination folder (`folder_to_save`) and a [`RetryPolicy`]. The token
//! lives in the sink only: it is sent in the `Authorization` header and
//! appears in no log line, no error message and no `Debug` output.
//!
//! # The API calls
//!
//! | Write | Requests |
//! |---|---|
//! | create | `PUT /data/{doctype}/{id}` with an id the host draws at random |
//! | update | `GET` then `PUT /data/{doctype}/{id}` with `_rev` |
//! | upsert | `POST /data/{doctype}/_index` (once per doctype and keys per sink), `POST /data/{doctype}/_find`, then a create or an update |
//! | save_file | `GET /files/metadata?Path=…` per folder (cached) and for the file, `POST /files/{parent}?Type=directory` for each missing folder, then `POST /files/{dir_id}?Type=file&Name=…` or `PUT /files/{id}` with `If-Match`, after `POST /files/upload/metadata` when the file has metadata |
//! | account data | `GET` then `PUT /data/io.cozy.accounts/{account}` |
//!
//! Documents carry `cozyMetadata` exactly as the embedded store writes it.
//! Files get theirs from the stack, which fills it from the token; the sink
//! adds `SourceAccount` and `SourceAccountIdentifier`.
//!
//! # Retries, and why a retry never duplicates a write
//!
//! A request is sent again only after a 5xx, a connection error or a
//! timeout, at most [`RetryPolicy::max_attempts`] times with a doubling,
//! jittered wait, and never past the job's deadline. Reads made outside a
//! write (`account_data`, [`StackSink::read_account`],
//! [`StackSink::folder_path`]) have no deadline, so only the attempts and
//! the request timeout bound them. A 4xx is final. A 401,
//! or the 400 that cozy-stack returns for an invalid or expired token,
//! becomes [`StackError::Unauthorized`], whose message states that the
//! token was rejected and why.
//!
//! Such an error does not show whether the stack applied the request. So
//! each write is built to be sent again safely: a retry, or the next run of
//! the konnector, finds what an earlier attempt wrote instead of writing it
//! twice.
//!
//! - a document is created with `PUT` and an id chosen by the host, never
//!   with `POST`: a repeated creation gets a 409, and the sink then finds
//!   its own body under that id and reports the creation. An upsert's new
//!   document gets an id derived from the doctype and the key values, so
//!   two writers, or two runs, that create the same document meet on one
//!   id;
//! - an update carries the revision it replaces: a repeated update gets a
//!   409, and the sink finds its own body (its `cozyMetadata.updatedAt`
//!   carries the write's own time, in milliseconds) and reports the update;
//! - a file is found by folder and name, then compared by MD5: a repeated
//!   upload finds its own contents in place. Each upload is one request with
//!   `Content-Length` and `Content-MD5`, so the stack keeps the whole
//!   contents or none.
//!
//! What a failed write can leave: folders created before a file upload that
//! then failed stay (empty), and a request whose response was lost at the
//! job's deadline may still have been applied by the stack after the sink
//! returned its error. In both cases an upsert or a file save in a later run
//! finds and reuses what is there; a plain create makes a new document, as
//! on any sink.
//!
//! # Limitations
//!
//! - An upsert merges into the oldest of the first [`FIND_LIMIT`] documents
//!   that match its keys (by `cozyMetadata.createdAt`), not of all of them.
//! - A document that an upsert creates while another writer creates a
//!   document with the same keys but a random id can end up duplicated: the
//!   stack has no unique constraint, and only ids collide.

mod checks;
mod client;
mod config;
mod documents;
mod error;
mod files;
mod folders;
mod keys;
mod transport;
mod writes;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use konnector_host_api::WriteResult;
use serde_json::{Map, Value};

use crate::sink::{DocumentSink, FileWrite, SinkError, WriteContext};
use client::StackClient;

pub use crate::store::MAX_NAME_BYTES;
pub use config::{
    DEFAULT_BACKOFF_BASE_MS, DEFAULT_MAX_ATTEMPTS, DEFAULT_REQUEST_TIMEOUT_MS,
    MAX_ATTEMPTS_CEILING, MAX_BACKOFF_MS, RetryPolicy, StackConfig, StackConfigError, StackToken,
};
pub use documents::FIND_LIMIT;
pub use error::StackError;
pub use folders::ROOT_DIR_ID;
pub use keys::MAX_UPSERT_KEYS;
pub use transport::MAX_RESPONSE_BYTES;
pub use writes::MAX_CONFLICT_ROUNDS;

/// The [`DocumentSink`] that writes through a cozy-stack; see the module
/// documentation. Build one per job, because it contains the job's token.
pub struct StackSink {
    client: StackClient,
    default_dir_id: Option<String>,
    /// Indexes created by this sink, by doctype and sorted key fields.
    indexes: Mutex<HashSet<String>>,
    /// Folder ids found or created by this sink, by absolute path.
    folders: Mutex<HashMap<String, String>>,
}

/// A konnector's account document (`io.cozy.accounts`), as the stack
/// returns it to the job's token: decrypted.
///
/// `Debug` prints the id, revision and the names of the `auth` fields, not
/// their values, which hold the person's password.
#[derive(Clone)]
pub struct StackAccount {
    /// The account's id.
    pub id: String,
    /// Its current revision.
    pub rev: String,
    /// `auth`: the login form's values (`login`, `password`, ...) and, for
    /// some accounts, the folder path chosen by the person (`folderPath`).
    /// Empty when the document has none.
    pub auth: Map<String, Value>,
    /// `data`: the konnector's saved state (`{}` when none).
    pub data: Map<String, Value>,
    /// The whole document, `auth` and `data` included, without `_id` and
    /// `_rev`.
    pub document: Map<String, Value>,
}

impl fmt::Debug for StackAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackAccount")
            .field("id", &self.id)
            .field("rev", &self.rev)
            .field("auth_fields", &self.auth.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl StackSink {
    /// Checks `config` and prepares the sink. Nothing is sent to the stack
    /// before the first write or read.
    ///
    /// # Errors
    ///
    /// [`StackConfigError`] for an invalid URL, token or retry policy, or a CA
    /// file that cannot be loaded.
    pub fn new(config: StackConfig) -> Result<StackSink, StackConfigError> {
        let client = StackClient::new(&config)?;
        Ok(StackSink {
            client,
            default_dir_id: config.default_dir_id,
            indexes: Mutex::new(HashSet::new()),
            folders: Mutex::new(HashMap::new()),
        })
    }

    /// Reads the account document `account_id`, for the login fields
    /// (`auth`) that `konnector exec` passes to the konnector.
    ///
    /// # Errors
    ///
    /// [`StackError`]: a 404 ([`StackError::is_not_found`]) when the account
    /// does not exist, [`StackError::Unauthorized`] when the token is
    /// refused, [`StackError::InvalidResponse`] when `auth` or `data` is not
    /// an object.
    pub async fn read_account(&self, account_id: &str) -> Result<StackAccount, StackError> {
        let doctype = checks::ACCOUNTS_DOCTYPE;
        let request = client::ApiRequest::new(http::Method::GET, &["data", doctype, account_id]);
        let response = self.client.send(request, None).await?;
        if response.status != http::StatusCode::OK {
            return Err(response.unexpected());
        }
        let Value::Object(mut document) = response.json()? else {
            return Err(response.invalid("the account is not a JSON object"));
        };
        let text = |document: &Map<String, Value>, field: &str| {
            document
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let id = text(&document, "_id").ok_or_else(|| response.invalid("no '_id'"))?;
        let rev = text(&document, "_rev").ok_or_else(|| response.invalid("no '_rev'"))?;
        checks::strip_reserved(&mut document);
        let object = |field: &str| match document.get(field) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(fields)) => Ok(fields.clone()),
            Some(_) => Err(response.invalid(format!("field '{field}' is not an object"))),
        };
        Ok(StackAccount {
            auth: object("auth")?,
            data: object("data")?,
            id,
            rev,
            document,
        })
    }

    /// Returns the absolute path of folder `dir_id`, such as
    /// `/Administrative/Vendor`, for the konnector's `folderPath` field.
    ///
    /// # Errors
    ///
    /// [`StackError`]: a 404 ([`StackError::is_not_found`]) when the folder
    /// does not exist (the konnector's `NOT_EXISTING_DIRECTORY`),
    /// [`StackError::InvalidResponse`] when `dir_id` is a file.
    pub async fn folder_path(&self, dir_id: &str) -> Result<String, StackError> {
        folders::folder_path(self, dir_id).await
    }

    /// Returns the path of the configured
    /// [`default_dir_id`](StackConfig::default_dir_id), or `None` when there
    /// is none.
    ///
    /// # Errors
    ///
    /// As [`folder_path`](Self::folder_path).
    pub async fn default_folder_path(&self) -> Result<Option<String>, StackError> {
        match &self.default_dir_id {
            Some(dir_id) => self.folder_path(dir_id).await.map(Some),
            None => Ok(None),
        }
    }

    /// Creates the Mango index for upsert keys `pairs` of `doctype`, once per
    /// sink.
    async fn ensure_index(
        &self,
        deadline: Option<Instant>,
        doctype: &str,
        pairs: &[keys::KeyValue],
    ) -> Result<(), StackError> {
        let key = writes::index_key(doctype, pairs);
        if self.lock_indexes().contains(&key) {
            return Ok(());
        }
        documents::create_index(&self.client, deadline, doctype, &keys::index_fields(pairs))
            .await?;
        self.lock_indexes().insert(key);
        Ok(())
    }

    fn lock_indexes(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.indexes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_folders(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.folders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached_folder(&self, path: &str) -> Option<String> {
        self.lock_folders().get(path).cloned()
    }

    fn cache_folder(&self, path: &str, id: &str) {
        self.lock_folders().insert(path.to_owned(), id.to_owned());
    }

    /// Drops the cached folder ids, after the stack reported one missing.
    fn forget_folders(&self) {
        self.lock_folders().clear();
    }
}

impl fmt::Debug for StackSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackSink")
            .field("default_dir_id", &self.default_dir_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl DocumentSink for StackSink {
    async fn create(
        &self,
        ctx: &WriteContext,
        doctype: &str,
        doc: Map<String, Value>,
    ) -> Result<WriteResult, SinkError> {
        writes::create(self, ctx, doctype, doc).await
    }

    async fn update(
        &self,
        ctx: &WriteContext,
        doctype: &str,
        id: &str,
        rev: Option<&str>,
        doc: Map<String, Value>,
    ) -> Result<WriteResult, SinkError> {
        writes::update(self, ctx, doctype, id, rev, doc).await
    }

    async fn upsert(
        &self,
        ctx: &WriteContext,
        doctype: &str,
        keys: &[String],
        doc: Map<String, Value>,
    ) -> Result<WriteResult, SinkError> {
        writes::upsert(self, ctx, doctype, keys, doc).await
    }

    async fn save_file(
        &self,
        ctx: &WriteContext,
        file: FileWrite,
    ) -> Result<WriteResult, SinkError> {
        files::save(self, ctx, file).await
    }

    async fn find_file(
        &self,
        ctx: &WriteContext,
        dir_path: &str,
        name: &str,
    ) -> Result<Option<WriteResult>, SinkError> {
        files::find(self, ctx, dir_path, name).await
    }

    async fn account_data(
        &self,
        ctx: &WriteContext,
        account_id: &str,
    ) -> Result<Map<String, Value>, SinkError> {
        writes::account_data(self, ctx, account_id).await
    }

    async fn set_account_data(
        &self,
        ctx: &WriteContext,
        account_id: &str,
        data: Map<String, Value>,
    ) -> Result<(), SinkError> {
        writes::set_account_data(self, ctx, account_id, data).await
    }
}
