//! Destinations of a job's documents and files.
//!
//! A [`DocumentSink`] receives writes that the engine has already checked
//! against the manifest's permissions and the job's caps. The embedded
//! SQLite store ([`crate::store::SqliteStore`]) is the default sink; a stack
//! sink writes through the cozy-stack HTTP API. Every sink writes
//! `cozyMetadata` as cozy-konnector-libs would (see [`WriteContext`]), and
//! every write either happens whole or fails with a [`SinkError`] that
//! leaves nothing behind.

use async_trait::async_trait;
use konnector_host_api::WriteResult;
use serde_json::{Map, Value};

/// Identity of the writer, for `cozyMetadata` and the account's own data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteContext {
    /// The konnector's slug (`createdByApp`).
    pub slug: String,
    /// The konnector's version from its manifest (`createdByAppVersion`).
    pub konnector_version: String,
    /// The job's account id (`sourceAccount`), if any.
    pub account_id: Option<String>,
    /// The account's identifier, usually its login
    /// (`sourceAccountIdentifier`), if known.
    pub source_account_identifier: Option<String>,
    /// When the job's deadline passes. A sink stops work still running then
    /// and writes nothing, so no write outlives its job.
    pub deadline: Option<std::time::Instant>,
}

/// A file's contents and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct FileWrite {
    /// Folder path such as `/Administrative/Vendor`, absolute, `/`-separated.
    pub dir_path: String,
    /// File name, no `/`.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Extra attributes for the file document's `metadata`.
    pub metadata: Map<String, Value>,
    /// The contents.
    pub bytes: Vec<u8>,
}

/// Error of a sink. Every variant means nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The document to update does not exist.
    #[error("document {doctype}/{id} not found")]
    NotFound {
        /// Doctype of the missing document.
        doctype: String,
        /// Id of the missing document.
        id: String,
    },
    /// The revision given is not the current one.
    #[error("document {doctype}/{id} has revision {current}, not {given}")]
    Conflict {
        /// Doctype of the document.
        doctype: String,
        /// Id of the document.
        id: String,
        /// The revision the guest gave.
        given: String,
        /// The document's current revision.
        current: String,
    },
    /// A value the guest gave is not acceptable (a bad file name, a field
    /// starting with `_`, ...); the message names it.
    #[error("{0}")]
    Invalid(String),
    /// The destination is full (the stack's 413).
    #[error("disk quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The store itself failed (I/O, SQLite, HTTP); the message names the
    /// operation and the document.
    #[error("{0}")]
    Storage(String),
}

/// Destination of a job's writes.
///
/// Implementations must be safe to share between concurrent jobs.
#[async_trait]
pub trait DocumentSink: Send + Sync {
    /// Creates a document with a new id.
    async fn create(
        &self,
        ctx: &WriteContext,
        doctype: &str,
        doc: Map<String, Value>,
    ) -> Result<WriteResult, SinkError>;

    /// Replaces the body of document `id`; with `rev`, fails with
    /// [`SinkError::Conflict`] unless it is the current revision.
    async fn update(
        &self,
        ctx: &WriteContext,
        doctype: &str,
        id: &str,
        rev: Option<&str>,
        doc: Map<String, Value>,
    ) -> Result<WriteResult, SinkError>;

    /// Creates the document, or merges `doc` into the one whose values at
    /// `keys` (dotted paths) equal `doc`'s; writes nothing and returns
    /// [`WriteStatus::Unchanged`](konnector_host_api::WriteStatus::Unchanged) when the merge changes no field.
    async fn upsert(
        &self,
        ctx: &WriteContext,
        doctype: &str,
        keys: &[String],
        doc: Map<String, Value>,
    ) -> Result<WriteResult, SinkError>;

    /// Saves a file and its `io.cozy.files` document. A file of the same
    /// name in the same folder is kept as it is ([`WriteStatus::Unchanged`](konnector_host_api::WriteStatus::Unchanged))
    /// when its contents are identical and replaced otherwise
    /// ([`WriteStatus::Updated`](konnector_host_api::WriteStatus::Updated)).
    async fn save_file(
        &self,
        ctx: &WriteContext,
        file: FileWrite,
    ) -> Result<WriteResult, SinkError>;

    /// Returns the file `name` in the folder `dir_path` as a write that left
    /// it [`WriteStatus::Unchanged`](konnector_host_api::WriteStatus::Unchanged),
    /// or `None` when there is no such file. Reads only that one path, giving
    /// up at `ctx.deadline`.
    async fn find_file(
        &self,
        ctx: &WriteContext,
        dir_path: &str,
        name: &str,
    ) -> Result<Option<WriteResult>, SinkError>;

    /// Returns the saved data of account `account_id` (`{}` when none),
    /// giving up at `ctx.deadline`.
    async fn account_data(
        &self,
        ctx: &WriteContext,
        account_id: &str,
    ) -> Result<Map<String, Value>, SinkError>;

    /// Replaces the saved data of account `account_id`.
    async fn set_account_data(
        &self,
        ctx: &WriteContext,
        account_id: &str,
        data: Map<String, Value>,
    ) -> Result<(), SinkError>;
}
