//! JSON documents exchanged through the result buffer and request pointers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Input of a job: the output of [`crate::JOB_INPUT`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobInput {
    /// The job's id (`COZY_JOB_ID` under the stack).
    pub job_id: String,
    /// The konnector's slug, from its manifest (`"unnamed"` without one).
    pub konnector: String,
    /// The id of the `io.cozy.accounts` document the job runs for, if any.
    #[serde(default)]
    pub account: Option<String>,
    /// The account's fields: the login form's values (login, password, ...)
    /// and `folder_path` when the account has a destination folder.
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// The konnector's parameters (the manifest's `parameters`, possibly
    /// overridden for the job).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// The instance's locale, such as `fr`.
    #[serde(default)]
    pub locale: String,
    /// Whether the person started the job by hand rather than a schedule.
    #[serde(default)]
    pub manual_execution: bool,
    /// The trigger that started the job, if any.
    #[serde(default)]
    pub trigger_id: Option<String>,
}

/// Request of [`crate::DOC_CREATE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateRequest {
    /// Doctype such as `io.cozy.bills`.
    pub doctype: String,
    /// The document's body. Fields starting with `_` are rejected, as the
    /// stack does; `cozyMetadata` is written by the host.
    pub doc: Map<String, Value>,
}

/// Request of [`crate::DOC_UPDATE`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRequest {
    /// Doctype of the document.
    pub doctype: String,
    /// Id of the document to replace.
    pub id: String,
    /// Revision the guest last saw; when given and stale the update fails
    /// with [`crate::Status::Conflict`].
    #[serde(default)]
    pub rev: Option<String>,
    /// The document's new body, replacing the old one (`cozyMetadata` is kept
    /// and updated by the host).
    pub doc: Map<String, Value>,
}

/// Request of [`crate::DOC_UPSERT`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpsertRequest {
    /// Doctype of the document.
    pub doctype: String,
    /// Field names (dotted paths allowed, such as `vendorRef.id`) whose
    /// values identify the document; at least one.
    pub keys: Vec<String>,
    /// The document's body. When a document with the same key values exists
    /// its fields are merged with these (these win); otherwise it is created.
    pub doc: Map<String, Value>,
}

/// Metadata of [`crate::FILE_SAVE`]; the contents travel as a separate
/// pointer range. A file of the same name in the same folder is kept when its
/// contents are identical ([`WriteStatus::Unchanged`]) and replaced otherwise
/// ([`WriteStatus::Updated`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRequest {
    /// File name, without any `/`.
    pub name: String,
    /// Destination folder path such as `/Administrative/Vendor`; defaults to
    /// the account's `folder_path` field, else `/`.
    #[serde(default)]
    pub dir_path: Option<String>,
    /// MIME type such as `application/pdf`; guessed from the name when absent.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Extra attributes stored in the file document's `metadata`.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// Request of [`crate::FILE_DOWNLOAD`]: what to fetch and how to save it.
/// The request body travels as a separate pointer range, as for
/// [`crate::HTTP_FETCH`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadRequest {
    /// The request, checked against the network policy like a fetch.
    pub request: crate::FetchRequest,
    /// The file to save the response body as. Without a `content_type`,
    /// the response's `Content-Type` is used, else a guess from the name.
    pub file: FileRequest,
    /// When a file of that name is already in the folder, keep it as it is
    /// and send no request: the result is that file with
    /// [`WriteStatus::Unchanged`]. This is what cozy-konnector-libs's
    /// `saveFiles` does, so a konnector does not download every file again
    /// at each job. Default `false`: download, and replace the file when
    /// its contents changed.
    #[serde(default)]
    pub keep_existing: bool,
}

/// Effect of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteStatus {
    /// A new document was created.
    Created,
    /// An existing document got a new revision.
    Updated,
    /// An existing document already had these values; nothing was written.
    Unchanged,
}

/// Result of every document or file write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteResult {
    /// Id of the document written (for a file, its `io.cozy.files` id).
    pub id: String,
    /// Its revision after the write.
    pub rev: String,
    /// Whether it was created, updated or left as it was.
    pub status: WriteStatus,
}

/// A cookie of the job's jar, as [`crate::COOKIE_LIST`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cookie {
    /// The cookie's name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// The host it belongs to, without a leading dot.
    pub domain: String,
    /// Whether it goes to `domain` only (no `Domain` attribute) rather than
    /// to its subdomains too.
    pub host_only: bool,
    /// The path it applies to.
    pub path: String,
    /// Whether it is sent over https only.
    pub secure: bool,
    /// Whether it carries `HttpOnly`. The host sends it all the same; the
    /// flag only matters to browsers.
    pub http_only: bool,
    /// When it expires, in seconds since the Unix epoch; `None` for a
    /// cookie that lasts as long as the job.
    pub expires: Option<i64>,
}
