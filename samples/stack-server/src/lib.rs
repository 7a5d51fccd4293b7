//! A local, in-memory imitation of the cozy-stack HTTP API, for testing the
//! engine's stack sink and `konnector exec` without a real stack.
//!
//! [`StackServer::start`] binds one plain-HTTP listener on 127.0.0.1 with a
//! port chosen by the OS; [`StackServer::url`] is the instance URL with a
//! trailing slash, as the stack passes it in `COZY_URL`. The server never
//! listens on any other address. Everything lives in memory and is gone at
//! shutdown.
//!
//! The lib side sets the server up and inspects it. It issues tokens
//! ([`StackServer::issue_token`] with a [`TokenSpec`]), seeds accounts and
//! documents, injects faults ([`StackServer::fail_next`],
//! [`StackServer::set_latency`]) and sets the disk quota. It returns what
//! was written ([`StackServer::documents`], [`StackServer::files`],
//! [`StackServer::folders`], [`StackServer::indexes`]) and a record of
//! every request ([`StackServer::requests`]).
//!
//! # Routes
//!
//! Each route follows cozy-stack's handler, including the order in which it
//! checks the body, the token and the data, and the JSON shape of its
//! errors, which differs between `/data` and `/files` (see below). The
//! differences are listed at the end. The behaviour was taken from
//! cozy-stack's documentation (`docs/data-system.md`, `docs/mango.md`,
//! `docs/files.md`) and its Go sources (`web/data`, `web/files`,
//! `web/middlewares/permissions.go`, `pkg/couchdb`), read in July 2026.
//!
//! | Route | Responses |
//! |---|---|
//! | `POST /data/{doctype}/` | 201 `{ok, id, rev, type, data}`; 400 `defined_id` for an `_id` in the body, 400 `doc_validation` for another field starting with `_`, 409 for a `_rev` |
//! | `GET /data/{doctype}/{id}` | 200, the document with `_id`, `_rev` and `_type`; 404 `not_found` with reason `missing`, or `wrong_doctype` when the doctype has no document or index yet; 400 `bad_id` for an id starting with `_` |
//! | `PUT /data/{doctype}/{id}` | with `_id` and `_rev` in the body: an update (PUT permission), 409 `conflict` for a stale `_rev`, 404 when missing; with neither: creation under this id (POST permission), 409 when it exists; 400 with only one of them or an `_id` unlike the URL's. 200 `{ok, id, rev, type, data}` either way |
//! | `POST /data/{doctype}/_find` | Mango (see below): 200 `{docs, limit, next, bookmark}` (and `warning`) |
//! | `POST /data/{doctype}/_index` | 200 `{result: "created" \| "exists", id, name}`; creates the doctype's database like the stack |
//! | `POST /files/{dir_id}?Type=directory&Name=N` | 201 JSON:API folder; 404 when the parent is missing, 409 when the name is taken, 422 for an invalid name; `MetadataID`, `Tags`, `CreatedAt`, `UpdatedAt` and the `Date` header are read |
//! | `POST /files/?Type=directory&Path=/a/b[&Recursive=true]` | 201, the folder at that path; with `Recursive=true` missing parents are created and an existing folder is returned |
//! | `POST /files/{dir_id}?Type=file&Name=N` | 201 JSON:API file from the raw body; 422 for a malformed `Content-MD5` or name, 413 when the quota would be exceeded, 404 for a missing parent or one in the trash, 409 when the name is taken, 412 when `Content-MD5` does not match; `Content-Type` (else guessed from the name), `Metadata` (JSON), `MetadataID`, `Tags`, `Executable`, `CreatedAt`, `UpdatedAt`, `SourceAccount`, `SourceAccountIdentifier`, `Date` are read |
//! | `PUT /files/{file_id}` | 200, the contents replaced; 412 when `If-Match` (or `rev`) is not the current revision or `Content-MD5` does not match, 413 over quota, 404 when missing |
//! | `GET /files/{id}`, `GET /files/metadata?Path=/a/b` | 200 JSON:API folder (with `relationships.contents` and `included` children) or file; 404 when missing |
//! | `GET /files/download/{id}`, `GET /files/download?Path=/a/b` | 200, the contents with their `Content-Type` and `Content-Disposition: inline` |
//! | `POST /files/upload/metadata` | 201 `{data: {type: "io.cozy.files.metadata", id, attributes}}`; the id is a `MetadataID` valid for 10 minutes |
//!
//! Other paths get 404 and other methods on these paths 405.
//!
//! ## Tokens and errors
//!
//! Requests carry `Authorization: Bearer TOKEN`. As in the stack, a missing
//! token gets 401 and a token the server did not issue, or an expired one,
//! gets **400** (`Invalid JWT token`, `Expired token`) with a
//! `WWW-Authenticate: Bearer error="invalid_token"` header; a doctype or
//! verb the token does not grant gets 403. Files need the verbs on
//! `io.cozy.files`; `_find` and `_index` need GET.
//!
//! On `/data` routes, CouchDB errors are
//! `{"ok": false, "status": "409", "error": "conflict", "reason": "Document update conflict."}`
//! and the others `{"error": "code=403, message=Forbidden"}` or
//! `{"error": "Bad Request(400): ..."}`. On `/files` routes, errors are
//! JSON:API documents `{"errors": [{"status", "title", "detail", "source"}]}`,
//! except token and permission errors, which are the plain-text message
//! (`{"error": message}` when `Accept` names `application/json`).
//!
//! ## Documents
//!
//! Revisions are `N-hash` with N counting the updates, ids are 32
//! hexadecimal digits like CouchDB's. In a `/data` path the id is
//! percent-decoded after a `+` is read as a space, as the stack does, so
//! an id containing `+` must be sent as `%2B`. Writes through `/data` to the
//! stack's own doctypes (`io.cozy.files`, `io.cozy.jobs`, ...) get 403;
//! `GET /data/io.cozy.files/{id}` returns the file or folder document.
//!
//! Accounts (`io.cozy.accounts`) are documents seeded with
//! [`StackServer::add_account`] and read with `GET` like any other. The
//! real stack stores `auth` encrypted and decrypts it for konnector tokens;
//! this server stores and serves it in clear. Like the stack, it adds a
//! `cozyMetadata` to an account created by POST, or updated without one.
//!
//! ## Mango
//!
//! Selectors support implicit equality, nested objects as dotted paths,
//! `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin`, `$exists`,
//! `$and`, `$or`, `$nor` and `$not`; `limit` (default 100, and 100 again
//! when over 1000, as the stack does), `skip`, `sort`, `fields`,
//! `use_index` and `bookmark`. The stack rejects queries that no index
//! serves, so this server does too: a query needs an index whose fields
//! the selector requires (CouchDB's rule), else 400 `no_index`, or 400
//! `no_usable_index` with a `sort` no index can serve.
//!
//! ## Not implemented, or simplified
//!
//! - HTTPS, `DELETE`, `PATCH`, `_all_docs`, `_normal_docs`, `_changes`,
//!   `/files/_find`, the trash routes, versions, thumbnails, references,
//!   sharings and every other stack route.
//! - Permissions cover whole doctypes: no `values` or `selector`
//!   restriction, no wildcard doctype, no folder-limited `io.cozy.files`
//!   permission. Tokens are opaque strings, not JWTs, and only the
//!   `Authorization` header is read (not `bearer_token` in the query).
//! - Mango: `$regex`, `$elemMatch`, `$size`, `$all`, `$type`, `$mod` and
//!   text indexes are rejected with 400. Strings are ordered by an
//!   approximation of ICU collation, which matches it for ASCII letters and
//!   digits. Bookmarks encode an offset. CouchDB's "too many documents
//!   scanned" warning is never sent.
//! - The quota counts the current contents of files only, where the stack
//!   also counts old versions. A folder listing includes every child, where
//!   the stack pages them by 30.
//! - A `Metadata` parameter that is not a JSON object gets 422 (the stack
//!   responds with 500). The `Path` form of folder creation requires POST on
//!   `io.cozy.files`, where the stack checks no permission.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use stack_server::{StackConfig, StackServer, TokenSpec, Verb};
//!
//! let server = StackServer::start(StackConfig::default()).await?;
//! let token = server.issue_token(TokenSpec::konnector("vendor").allow("io.cozy.bills", Verb::ALL));
//! println!("COZY_URL={} COZY_CREDENTIALS={token}", server.url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod auth;
mod body;
mod clock;
mod data;
mod error;
mod faults;
mod files;
mod ids;
mod mango;
mod record;
mod request;
mod response;
mod router;
mod server;
mod state;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use auth::{TokenSpec, Verb};
pub use files::{ROOT_DIR_ID, StoredFile, StoredFolder, TRASH_DIR_ID};
pub use mango::MangoIndex;
pub use record::RequestRecord;

/// The default [`StackConfig::max_body_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// The settings of a [`StackServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackConfig {
    /// The instance's disk quota in bytes: an upload that would take the
    /// files' total size over it gets 413. `None`, the default, means no
    /// quota. [`StackServer::set_quota_bytes`] changes it later.
    pub quota_bytes: Option<u64>,
    /// The largest request body the server reads, in bytes. A larger one
    /// gets 413 before any route runs. Default
    /// [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            quota_bytes: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The error of [`StackServer::add_account`] and
/// [`StackServer::add_document`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedError {
    /// The document is not a JSON object.
    NotAnObject,
    /// A document of this doctype already has this id.
    AlreadyExists {
        /// The doctype.
        doctype: String,
        /// The id.
        id: String,
    },
}

impl fmt::Display for SeedError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedError::NotAnObject => write!(formatter, "invalid document: expected a JSON object"),
            SeedError::AlreadyExists { doctype, id } => {
                write!(formatter, "document {doctype}/{id} already exists")
            }
        }
    }
}

impl std::error::Error for SeedError {}

/// A running stack server. Dropping it stops the server without waiting,
/// and [`StackServer::shutdown`] stops it and waits until the listener and
/// every connection are closed.
#[derive(Debug)]
pub struct StackServer {
    addr: SocketAddr,
    state: Arc<state::ServerState>,
    server: server::ServerHandle,
}

impl StackServer {
    /// Starts the server on 127.0.0.1 with a port chosen by the OS.
    ///
    /// Must be called within a Tokio runtime, which runs the server's tasks.
    ///
    /// # Errors
    ///
    /// Returns the OS error when the listener cannot be bound.
    pub async fn start(config: StackConfig) -> io::Result<StackServer> {
        let listener = server::bind_loopback().await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}/");
        let state = Arc::new(state::ServerState::new(config, base_url));
        let server = server::ServerHandle::spawn(state.clone(), listener);
        tracing::info!(%addr, "stack server started");
        Ok(StackServer {
            addr,
            state,
            server,
        })
    }

    /// Returns the address of the listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the instance URL with a trailing slash, such as
    /// `http://127.0.0.1:41234/`, as `COZY_URL` carries it.
    pub fn url(&self) -> &str {
        &self.state.base_url
    }

    /// Issues a new token with the permissions, expiry and slug of `spec`.
    pub fn issue_token(&self, spec: TokenSpec) -> String {
        self.state.tokens.issue(spec)
    }

    /// Stores the `io.cozy.accounts` document `id` and returns its revision.
    /// `account` is stored as given (`auth` included, in clear), except that
    /// an `_id` or `_rev` in it is replaced.
    ///
    /// # Errors
    ///
    /// [`SeedError::NotAnObject`] when `account` is not a JSON object and
    /// [`SeedError::AlreadyExists`] when the account exists.
    pub fn add_account(&self, id: &str, account: Value) -> Result<String, SeedError> {
        self.add_document(data::ACCOUNTS, id, account)
    }

    /// Stores the document `id` of `doctype` and returns its revision, as if
    /// it had been written before the test started.
    ///
    /// # Errors
    ///
    /// As [`StackServer::add_account`].
    pub fn add_document(&self, doctype: &str, id: &str, doc: Value) -> Result<String, SeedError> {
        let Value::Object(doc) = doc else {
            return Err(SeedError::NotAnObject);
        };
        let stored = self
            .state
            .database()
            .insert_new(doctype, id, doc)
            .map_err(|_| SeedError::AlreadyExists {
                doctype: doctype.to_owned(),
                id: id.to_owned(),
            })?;
        let rev = stored
            .get("_rev")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(rev.to_owned())
    }

    /// Returns the documents of `doctype`, each with its `_id` and `_rev`,
    /// ordered by id; empty when the doctype has none.
    pub fn documents(&self, doctype: &str) -> Vec<Value> {
        let database = self.state.database();
        let Some(collection) = database.collection(doctype) else {
            return Vec::new();
        };
        collection
            .docs
            .values()
            .cloned()
            .map(Value::Object)
            .collect()
    }

    /// Returns the document `id` of `doctype` with its `_id` and `_rev`.
    pub fn document(&self, doctype: &str, id: &str) -> Option<Value> {
        let database = self.state.database();
        database.get(doctype, id).ok().cloned().map(Value::Object)
    }

    /// Returns the Mango indexes defined on `doctype`, in definition order.
    pub fn indexes(&self, doctype: &str) -> Vec<MangoIndex> {
        let database = self.state.database();
        database
            .collection(doctype)
            .map(|collection| collection.indexes.clone())
            .unwrap_or_default()
    }

    /// Returns every file with its contents, ordered by path.
    pub fn files(&self) -> Vec<StoredFile> {
        self.state.vfs().stored_files()
    }

    /// Returns the file at `path`, such as `/Administrative/bill.pdf`.
    pub fn file_at(&self, path: &str) -> Option<StoredFile> {
        let path = files::normalize_path(path)?;
        self.files().into_iter().find(|file| file.path == path)
    }

    /// Returns every folder, the root and the trash included, ordered by
    /// path.
    pub fn folders(&self) -> Vec<StoredFolder> {
        self.state.vfs().stored_folders()
    }

    /// Returns the bytes the files' contents take, which the quota limits.
    pub fn disk_usage_bytes(&self) -> u64 {
        self.state.vfs().disk_usage()
    }

    /// Sets the disk quota in bytes (`None` for none).
    pub fn set_quota_bytes(&self, quota_bytes: Option<u64>) {
        self.state.vfs().set_quota_bytes(quota_bytes);
    }

    /// Makes the next `count` requests, whatever they are, fail with
    /// `status` and a JSON error body in the route's error shape, without
    /// running their route. It replaces failures still pending; a `count`
    /// of 0 cancels them. A `status` outside 400 to 599 is replaced by 500.
    pub fn fail_next(&self, count: usize, status: u16) {
        let status = match status {
            400..=599 => status,
            other => {
                tracing::warn!(
                    status = other,
                    "fail_next status is not an error, using 500"
                );
                500
            }
        };
        self.state.faults().fail_next(count, status);
    }

    /// Delays every response by `latency`, after the request body is read;
    /// zero removes the delay.
    pub fn set_latency(&self, latency: Duration) {
        self.state.faults().set_latency(latency);
    }

    /// Returns the record of every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.requests()
    }

    /// Stops the server and waits until the listener is closed and every
    /// connection task has ended.
    pub async fn shutdown(mut self) {
        self.server.shutdown().await;
        tracing::info!(addr = %self.addr, "stack server stopped");
    }
}
