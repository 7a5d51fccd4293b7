//! The embedded document store: documents in a SQLite database, file
//! contents in a folder beside it.
//!
//! [`SqliteStore`] is the [`DocumentSink`] used when no stack is configured,
//! so that a konnector author or a demo needs nothing else installed. It
//! keeps documents the way the stack would return them:
//!
//! - every document is one row of the `documents` table: doctype, id (32
//!   random hex digits), revision (`<generation>-<MD5 of the body>`) and body
//!   (JSON, including `cozyMetadata`);
//! - files and folders are `io.cozy.files` documents, and a file's contents
//!   are at `<files folder>/<folder path>/<name>`, so
//!   `/Administrative/Vendor/bill.pdf` is at
//!   `<files folder>/Administrative/Vendor/bill.pdf`;
//! - an account's saved data is the `data` field of its `io.cozy.accounts`
//!   document.
//!
//! Invariants:
//!
//! - Every write is one SQLite transaction that takes the database's write
//!   lock when it begins (`BEGIN IMMEDIATE`). A check followed by a write
//!   (upsert, file deduplication) therefore cannot interleave with another
//!   job's, whether it runs in this process (jobs share one connection behind
//!   a mutex) or in another process on the same database.
//! - A write that fails leaves no document behind. A file save writes the
//!   contents under a temporary name, then renames them into place inside
//!   the transaction. When the save fails it removes the temporary file and
//!   puts back the previous contents.
//! - File contents are written only through a [`cap_std::fs::Dir`] opened on
//!   the files folder, after the names have been checked.

mod files;

pub use files::MAX_NAME_BYTES;
pub(crate) use files::{check_name, parse_dir_path};
pub(crate) use sqlite::json_equal;
mod revision;
mod sqlite;
mod writes;

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use cap_std::fs::Dir;
use konnector_host_api::WriteResult;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde_json::{Map, Value};

use crate::sink::{DocumentSink, FileWrite, SinkError, WriteContext};

/// Maximum size of one document as stored, in bytes of JSON text with its
/// `cozyMetadata` (default 1 MiB). A larger write fails with
/// [`SinkError::Invalid`]. File contents do not count: only their document
/// does.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// An error opening or reading the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A folder for the database or the file contents could not be created.
    #[error("failed to create folder {}: {error}", .path.display())]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// The files folder could not be opened.
    #[error("failed to open folder {}: {error}", .path.display())]
    OpenFolder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        error: std::io::Error,
    },
    /// SQLite could not open the database or set it up.
    #[error("failed to open database {}: {error}", .path.display())]
    OpenDatabase {
        /// The database file.
        path: PathBuf,
        /// The cause.
        error: rusqlite::Error,
    },
    /// A schema migration failed; the database is left as it was.
    #[error("failed to migrate database {} to schema version {version}: {error}", .path.display())]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The schema version being migrated to.
        version: i64,
        /// The cause.
        error: rusqlite::Error,
    },
    /// The database was written by a newer engine.
    #[error(
        "database {} has schema version {found}, newer than version {supported} that this \
         engine supports: open it with a newer engine",
        .path.display()
    )]
    UnsupportedSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version found.
        found: i64,
        /// The newest schema version this engine supports.
        supported: i64,
    },
    /// A query failed.
    #[error("failed to read documents from {}: {error}", .path.display())]
    Read {
        /// The database file.
        path: PathBuf,
        /// The cause.
        error: rusqlite::Error,
    },
    /// A stored document lacks a field the store needs or has an invalid
    /// value in it.
    #[error("invalid document {doctype}/{id} in {}: {reason}", .path.display())]
    InvalidDocument {
        /// The database file.
        path: PathBuf,
        /// Doctype of the document.
        doctype: String,
        /// Id of the document.
        id: String,
        /// The problem found in it.
        reason: String,
    },
}

/// The embedded [`DocumentSink`]: a SQLite database and a folder for file
/// contents. Cloning it is cheap and shares the same connection.
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

/// State shared by the clones of a [`SqliteStore`].
struct Shared {
    /// The only connection. Every write keeps it locked for its whole
    /// transaction.
    conn: Mutex<Connection>,
    /// The files folder, the only way file contents are written.
    files: Dir,
    db_path: PathBuf,
    files_dir: PathBuf,
}

impl SqliteStore {
    /// Opens the store, creating the database, its folder and `files_dir` as
    /// needed, and migrating the schema to the current version. The database
    /// is put in WAL mode so that readers do not block the writer.
    ///
    /// # Errors
    ///
    /// [`StoreError`] naming the folder or database that failed, including
    /// [`StoreError::UnsupportedSchema`] for a database from a newer engine.
    pub fn open(db_path: &Path, files_dir: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = db_path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            create_folder(parent)?;
        }
        create_folder(files_dir)?;
        let files =
            Dir::open_ambient_dir(files_dir, cap_std::ambient_authority()).map_err(|error| {
                StoreError::OpenFolder {
                    path: files_dir.to_owned(),
                    error,
                }
            })?;
        let conn = sqlite::open(db_path)?;
        tracing::debug!(db = %db_path.display(), files = %files_dir.display(), "opened document store");
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                files,
                db_path: db_path.to_owned(),
                files_dir: files_dir.to_owned(),
            }),
        })
    }

    /// Returns the default files folder for a database: its path without
    /// extension, plus `-files` (`data/konnector.sqlite` gives
    /// `data/konnector-files`).
    pub fn default_files_dir(db_path: &Path) -> PathBuf {
        let mut name = db_path
            .file_stem()
            .unwrap_or(OsStr::new("konnector"))
            .to_os_string();
        name.push("-files");
        db_path.with_file_name(name)
    }

    /// Path of the database file.
    pub fn db_path(&self) -> &Path {
        &self.shared.db_path
    }

    /// Path of the folder that contains file contents.
    pub fn files_dir(&self) -> &Path {
        &self.shared.files_dir
    }

    /// Reads every document, or those of `doctype`, ordered by doctype then
    /// creation. Each is shaped as the stack returns it: the body's fields
    /// (`cozyMetadata` included) plus `_id`, `_rev` and `_type`.
    ///
    /// This blocks the calling thread on the store's mutex and on SQLite;
    /// from async code, call it inside `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Read`] when the query fails or a body is not JSON.
    pub fn documents(&self, doctype: Option<&str>) -> Result<Vec<Value>, StoreError> {
        let docs =
            sqlite::list(&self.shared.lock(), doctype).map_err(|error| self.read_error(error))?;
        let shaped = docs
            .into_iter()
            .map(|doc| {
                let mut fields = Map::new();
                fields.insert("_id".into(), Value::String(doc.id));
                fields.insert("_rev".into(), Value::String(doc.rev));
                fields.insert("_type".into(), Value::String(doc.doctype));
                fields.extend(doc.body);
                Value::Object(fields)
            })
            .collect();
        Ok(shaped)
    }

    /// Counts the documents of `doctype`. Blocks like
    /// [`documents`](Self::documents).
    ///
    /// # Errors
    ///
    /// [`StoreError::Read`] when the query fails.
    pub fn count(&self, doctype: &str) -> Result<usize, StoreError> {
        let count =
            sqlite::count(&self.shared.lock(), doctype).map_err(|error| self.read_error(error))?;
        // `count(*)` is never negative, so only a narrow usize fails here.
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    /// Returns where the contents of the `io.cozy.files` file `file_id` are
    /// on disk, or `None` when no file has that id (a folder's id also gives
    /// `None`). Blocks like [`documents`](Self::documents).
    ///
    /// # Errors
    ///
    /// [`StoreError::Read`] when the query fails, and
    /// [`StoreError::InvalidDocument`] when the file's name, folder or folder
    /// path is missing or is not a valid name or path.
    pub fn file_path(&self, file_id: &str) -> Result<Option<PathBuf>, StoreError> {
        files::content_path(&self.shared, &self.shared.lock(), file_id)
    }

    fn read_error(&self, error: rusqlite::Error) -> StoreError {
        StoreError::Read {
            path: self.shared.db_path.clone(),
            error,
        }
    }

    /// Runs `write` in one transaction on a blocking thread, and commits it
    /// when `write` succeeds.
    async fn write<T, F>(&self, ctx: &WriteContext, write: F) -> Result<T, SinkError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, SinkError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let until = write_deadline(ctx);
        run_blocking(move || {
            let mut conn = shared.lock_until(until)?;
            let tx = shared.begin(&mut conn)?;
            let value = write(&tx)?;
            tx.commit().map_err(|err| {
                sqlite::storage_error(&format!("commit to {}", shared.db_path.display()), err)
            })?;
            Ok(value)
        })
        .await
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("db_path", &self.shared.db_path)
            .field("files_dir", &self.shared.files_dir)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Locks the connection. A panic while it was held dropped the open
    /// transaction, which rolls it back, so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the connection for one guest write that must end by `until`:
    /// fails at once when that time has passed (waiting for the lock
    /// included), and makes SQLite interrupt a statement still running then.
    /// The handler is removed when the guard is dropped.
    fn lock_until(&self, until: Instant) -> Result<BoundedConnection<'_>, SinkError> {
        let mut conn = self.lock();
        if Instant::now() >= until {
            return Err(SinkError::Storage(
                "the write was not started: its time ran out (the job's deadline, or the store's limit per write)".into(),
            ));
        }
        conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= until))
            .map_err(|err| sqlite::storage_error("set the write's time limit", err))?;
        Ok(BoundedConnection { conn })
    }
}

/// Virtual machine steps between two checks of a write's time limit.
const PROGRESS_STEPS: std::ffi::c_int = 10_000;

/// Maximum time one guest write may take in the store, waiting for the
/// connection included, in milliseconds: bounds how long a job can hold the
/// store that every other job shares. Default 10 s.
pub const MAX_WRITE_MS: u64 = 10_000;

/// When a write for `ctx` must end: [`MAX_WRITE_MS`] from now, or the job's
/// deadline when that is sooner.
fn write_deadline(ctx: &WriteContext) -> Instant {
    let cap = Instant::now() + std::time::Duration::from_millis(MAX_WRITE_MS);
    ctx.deadline.map_or(cap, |deadline| deadline.min(cap))
}

/// A locked connection whose statements are interrupted at a time limit.
struct BoundedConnection<'a> {
    conn: MutexGuard<'a, Connection>,
}

impl std::ops::Deref for BoundedConnection<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for BoundedConnection<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for BoundedConnection<'_> {
    fn drop(&mut self) {
        // Removing a handler cannot fail in SQLite; the next write sets its own.
        let _ = self.conn.progress_handler(0, None::<fn() -> bool>);
    }
}

impl Shared {
    /// Begins a write transaction, waiting for other processes' writes.
    fn begin<'conn>(&self, conn: &'conn mut Connection) -> Result<Transaction<'conn>, SinkError> {
        conn.transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| {
                sqlite::storage_error(&format!("begin a write to {}", self.db_path.display()), err)
            })
    }
}

#[async_trait]
impl DocumentSink for SqliteStore {
    async fn create(
        &self,
        ctx: &WriteContext,
        doctype: &str,
        doc: Map<String, Value>,
    ) -> Result<WriteResult, SinkError> {
        let (ctx, doctype) = (ctx.clone(), doctype.to_owned());
        self.write(&ctx.clone(), move |conn| {
            writes::create(conn, &ctx, &doctype, doc)
        })
        .await
    }

    async fn update(
        &self,
        ctx: &WriteContext,
        doctype: &str,
        id: &str,
        rev: Option<&str>,
        doc: Map<String, Value>,
    ) -> Result<WriteResult, SinkError> {
        let (ctx, doctype, id) = (ctx.clone(), doctype.to_owned(), id.to_owned());
        let rev = rev.map(str::to_owned);
        self.write(&ctx.clone(), move |conn| {
            writes::update(conn, &ctx, &doctype, &id, rev.as_deref(), doc)
        })
        .await
    }

    async fn upsert(
        &self,
        ctx: &WriteContext,
        doctype: &str,
        keys: &[String],
        doc: Map<String, Value>,
    ) -> Result<WriteResult, SinkError> {
        let (ctx, doctype, keys) = (ctx.clone(), doctype.to_owned(), keys.to_vec());
        self.write(&ctx.clone(), move |conn| {
            writes::upsert(conn, &ctx, &doctype, &keys, doc)
        })
        .await
    }

    async fn save_file(
        &self,
        ctx: &WriteContext,
        file: FileWrite,
    ) -> Result<WriteResult, SinkError> {
        let (shared, ctx) = (Arc::clone(&self.shared), ctx.clone());
        run_blocking(move || files::save(&shared, &ctx, file)).await
    }

    async fn find_file(
        &self,
        ctx: &WriteContext,
        dir_path: &str,
        name: &str,
    ) -> Result<Option<WriteResult>, SinkError> {
        let shared = Arc::clone(&self.shared);
        let (dir_path, name) = (dir_path.to_owned(), name.to_owned());
        let until = write_deadline(ctx);
        run_blocking(move || {
            let conn = shared.lock_until(until)?;
            files::find(&conn, &dir_path, &name)
        })
        .await
    }

    async fn account_data(
        &self,
        ctx: &WriteContext,
        account_id: &str,
    ) -> Result<Map<String, Value>, SinkError> {
        let (shared, account_id) = (Arc::clone(&self.shared), account_id.to_owned());
        let until = write_deadline(ctx);
        run_blocking(move || {
            let conn = shared.lock_until(until)?;
            writes::account_data(&conn, &account_id)
        })
        .await
    }

    async fn set_account_data(
        &self,
        ctx: &WriteContext,
        account_id: &str,
        data: Map<String, Value>,
    ) -> Result<(), SinkError> {
        let (ctx, account_id) = (ctx.clone(), account_id.to_owned());
        self.write(&ctx.clone(), move |conn| {
            writes::set_account_data(conn, &ctx, &account_id, data)
        })
        .await
    }
}

/// Runs blocking store work on tokio's blocking threads.
async fn run_blocking<T, F>(work: F) -> Result<T, SinkError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, SinkError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| SinkError::Storage(format!("failed to run a store operation: {err}")))?
}

fn create_folder(path: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(path).map_err(|error| StoreError::CreateFolder {
        path: path.to_owned(),
        error,
    })
}

#[cfg(test)]
mod tests;
