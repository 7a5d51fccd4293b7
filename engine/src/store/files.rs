//! Files: `io.cozy.files` documents in SQLite, contents in the files folder.
//!
//! Folder `/Administrative/Vendor` and file `bill.pdf` in it are stored at
//! `<files folder>/Administrative/Vendor/bill.pdf`. Names and folder paths
//! are checked first ([`check_name`], [`parse_dir_path`]). The contents are
//! then written only through the [`cap_std::fs::Dir`] opened on the files
//! folder. That `Dir` rejects any path that resolves outside it (`..`,
//! absolute paths, symbolic links), so it is a second wall.
//!
//! A save writes the contents under a temporary name in the destination
//! folder, then, in one transaction, writes the documents and renames the
//! contents into place before committing. Any failure removes the temporary
//! file, rolls the transaction back and puts back the previous contents.

use std::path::{Path, PathBuf};

use cap_std::fs::{Dir, OpenOptions};
use konnector_host_api::{WriteResult, WriteStatus};
use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::sqlite::{self, StoredDoc, storage_error};
use super::{Shared, StoreError, revision};
use crate::metadata::{self, COZY_METADATA};
use crate::sink::{FileWrite, SinkError, WriteContext};

/// Doctype of files and folders.
pub(super) const FILES_DOCTYPE: &str = "io.cozy.files";

/// Id of the root folder, `/`, as in the stack.
pub(super) const ROOT_DIR_ID: &str = "io.cozy.files.root-dir";

/// Maximum length of a file or folder name, in bytes of UTF-8: the limit of
/// most Linux file systems, since each name is also a name on disk.
pub const MAX_NAME_BYTES: usize = 255;

/// MIME type used when the guest gives none, as the stack does.
const DEFAULT_MIME: &str = "application/octet-stream";

/// Prefix of the temporary names that contents are written under before
/// being renamed into place.
const TEMP_PREFIX: &str = ".konnector-tmp-";

/// Prefix of the names that replaced contents are kept under until the
/// transaction commits.
const BACKUP_PREFIX: &str = ".konnector-old-";

/// Saves `file` and its documents; see the module documentation for the
/// order of the steps.
pub(super) fn save(
    shared: &Shared,
    ctx: &WriteContext,
    file: FileWrite,
) -> Result<WriteResult, SinkError> {
    let folders = parse_dir_path(&file.dir_path)?;
    check_name(&file.name).map_err(|reason| {
        SinkError::Invalid(format!("file name {:?} is invalid: {reason}", file.name))
    })?;
    let disk_path = disk_path(&shared.files_dir, &folders, &file.name);
    let (mime, class) = mime_and_class(&file.content_type);
    let content = Content {
        size: file.bytes.len().to_string(),
        md5sum: revision::md5_base64(&file.bytes),
        mime,
        class,
        metadata: file.metadata,
    };

    // 1. Write the contents next to their destination.
    // NOTE: folders created on disk here stay, empty, when the save fails
    // later; only the temporary file and the documents are undone.
    let folder = open_folder(shared, &folders, &file.dir_path)?;
    let temp = TempFile::write(&folder, &file.bytes, &disk_path)?;

    // 2. Documents, rename and commit, under the database's write lock so
    // that two jobs saving the same name are serialized.
    let mut conn = shared.lock_until(super::write_deadline(ctx))?;
    let tx = shared.begin(&mut conn)?;
    let now = metadata::now();
    let parent = ensure_folders(&tx, ctx, &folders, &now)?;
    let existing = sqlite::find_child(&tx, &parent.id, &file.name)?;
    let result = match existing {
        Some(doc) if doc.body.get("type") != Some(&json!("file")) => {
            return Err(SinkError::Invalid(format!(
                "cannot save file {:?}: {} is a folder",
                file.name,
                child_path(&parent.path, &file.name)
            )));
        }
        Some(doc)
            if doc.body.get("md5sum") == Some(&json!(content.md5sum))
                && folder.is_file(&file.name) =>
        {
            tracing::trace!(id = doc.id, path = %disk_path.display(), "file unchanged");
            return Ok(WriteResult {
                id: doc.id,
                rev: doc.rev,
                status: WriteStatus::Unchanged,
            });
        }
        Some(doc) => replace_file_doc(&tx, ctx, doc, content, &now)?,
        None => insert_file_doc(&tx, ctx, &parent.id, &file.name, content, &now)?,
    };

    let placed = temp.rename_into_place(&file.name)?;
    match tx.commit() {
        Ok(()) => {
            placed.discard_backup();
            tracing::debug!(id = result.id, path = %disk_path.display(), status = ?result.status, "saved file");
            Ok(result)
        }
        Err(err) => {
            placed.undo();
            Err(storage_error(
                &format!("commit file {}", disk_path.display()),
                err,
            ))
        }
    }
}

/// Returns the file `name` in the folder `dir_path`, as a write that left
/// it unchanged, or `None` when the folder or the file does not exist (or
/// `name` is a folder).
pub(super) fn find(
    conn: &Connection,
    dir_path: &str,
    name: &str,
) -> Result<Option<WriteResult>, SinkError> {
    let folders = parse_dir_path(dir_path)?;
    let mut parent = ROOT_DIR_ID.to_owned();
    for folder in &folders {
        match sqlite::find_child(conn, &parent, folder)? {
            Some(doc) if doc.body.get("type") == Some(&json!("directory")) => parent = doc.id,
            _ => return Ok(None),
        }
    }
    let found = sqlite::find_child(conn, &parent, name)?
        .filter(|doc| doc.body.get("type") == Some(&json!("file")))
        .map(|doc| WriteResult {
            id: doc.id,
            rev: doc.rev,
            status: WriteStatus::Unchanged,
        });
    Ok(found)
}

/// Returns where the contents of file `file_id` are on disk, or `None` when
/// no file has that id.
pub(super) fn content_path(
    shared: &Shared,
    conn: &Connection,
    file_id: &str,
) -> Result<Option<PathBuf>, StoreError> {
    let read = |id: &str| {
        sqlite::get_row(conn, FILES_DOCTYPE, id).map_err(|error| StoreError::Read {
            path: shared.db_path.clone(),
            error,
        })
    };
    let invalid = |reason: String| StoreError::InvalidDocument {
        path: shared.db_path.clone(),
        doctype: FILES_DOCTYPE.into(),
        id: file_id.into(),
        reason,
    };

    let Some(file) = read(file_id)? else {
        return Ok(None);
    };
    if file.body.get("type") != Some(&json!("file")) {
        return Ok(None);
    }
    let name = string_field(&file.body, "name").ok_or_else(|| invalid("no 'name' field".into()))?;
    let dir_id =
        string_field(&file.body, "dir_id").ok_or_else(|| invalid("no 'dir_id' field".into()))?;
    let folder =
        read(dir_id)?.ok_or_else(|| invalid(format!("its folder {dir_id} does not exist")))?;
    let dir_path = string_field(&folder.body, "path")
        .ok_or_else(|| invalid(format!("its folder {dir_id} has no 'path' field")))?;

    // Stored values are checked again before they become a path on disk.
    let folders = parse_dir_path(dir_path).map_err(|err| invalid(err.to_string()))?;
    check_name(name)
        .map_err(|reason| invalid(format!("its name {name:?} is invalid: {reason}")))?;
    Ok(Some(disk_path(&shared.files_dir, &folders, name)))
}

/// Checks one file or folder name, returning why it is invalid. The stack
/// sink checks names with it too, so a konnector behaves alike on both
/// sinks.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name == "." || name == ".." {
        return Err("'.' and '..' are not names");
    }
    if name.contains('/') {
        return Err("it contains '/'");
    }
    if name.contains('\0') {
        return Err("it contains a NUL character");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("it is longer than 255 bytes");
    }
    Ok(())
}

/// Splits an absolute folder path (`/Administrative/Vendor`) into folder
/// names. `/` gives none; one trailing `/` is allowed.
pub(crate) fn parse_dir_path(path: &str) -> Result<Vec<String>, SinkError> {
    let invalid =
        |reason: &str| SinkError::Invalid(format!("folder path {path:?} is invalid: {reason}"));
    let Some(relative) = path.strip_prefix('/') else {
        return Err(invalid("it must start with '/'"));
    };
    let relative = relative.strip_suffix('/').unwrap_or(relative);
    if relative.is_empty() {
        return Ok(Vec::new());
    }
    relative
        .split('/')
        .map(|name| match check_name(name) {
            Ok(()) => Ok(name.to_owned()),
            Err(reason) => Err(invalid(&format!("folder name {name:?}: {reason}"))),
        })
        .collect()
}

/// Returns the MIME type (parameters such as `charset` removed) and the
/// stack's file class for a `Content-Type`.
///
/// The classes are the ones cozy-stack's `ExtractMimeAndClass` gives: a few
/// named types, else the part of the MIME type before `/`.
pub(super) fn mime_and_class(content_type: &str) -> (String, String) {
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    let mime = if mime.is_empty() { DEFAULT_MIME } else { mime };
    let class = match mime {
        DEFAULT_MIME => "files",
        "application/pdf" => "pdf",
        "application/x-apple-diskimage" | "application/x-msdownload" => "binary",
        "text/html" | "text/css" | "text/xml" | "application/js" | "text/x-c" | "text/x-go"
        | "text/x-python" | "application/x-ruby" => "code",
        "application/vnd.ms-powerpoint"
        | "application/x-iwork-keynote-sffkey"
        | "application/vnd.oasis.opendocument.graphics"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "slide",
        "application/vnd.ms-excel"
        | "application/x-iwork-numbers-sffnumbers"
        | "application/vnd.oasis.opendocument.spreadsheet"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "spreadsheet",
        "application/msword"
        | "application/x-iwork-pages-sffpages"
        | "application/vnd.oasis.opendocument.text"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "text",
        "application/x-7z-compressed"
        | "application/x-rar-compressed"
        | "application/zip"
        | "application/gzip"
        | "application/x-tar" => "zip",
        other => other.split('/').next().unwrap_or(other),
    };
    (mime.to_owned(), class.to_owned())
}

/// A file's size, checksum, type and metadata, as its document records them.
struct Content {
    /// Size in bytes, as a decimal string like the stack's `size`.
    size: String,
    /// Base64 of the MD5 of the contents.
    md5sum: String,
    mime: String,
    class: String,
    metadata: Map<String, Value>,
}

/// A folder's id and absolute path.
struct Folder {
    id: String,
    path: String,
}

fn insert_file_doc(
    conn: &Connection,
    ctx: &WriteContext,
    dir_id: &str,
    name: &str,
    content: Content,
    now: &str,
) -> Result<WriteResult, SinkError> {
    let mut body = object(json!({
        "type": "file",
        "name": name,
        "dir_id": dir_id,
        "created_at": now,
        "updated_at": now,
        "executable": false,
        "trashed": false,
        "tags": [],
    }));
    let mut cozy_metadata = metadata::for_create(Map::new(), ctx, now, files_doctype_version());
    add_upload_fields(&mut cozy_metadata, ctx, now);
    set_content_fields(&mut body, content);
    body.insert(COZY_METADATA.into(), Value::Object(cozy_metadata));

    let id = revision::new_id()?;
    let rev = sqlite::insert(conn, FILES_DOCTYPE, &id, &body)?;
    Ok(WriteResult {
        id,
        rev,
        status: WriteStatus::Created,
    })
}

fn replace_file_doc(
    conn: &Connection,
    ctx: &WriteContext,
    current: StoredDoc,
    content: Content,
    now: &str,
) -> Result<WriteResult, SinkError> {
    let mut body = current.body.clone();
    let mut cozy_metadata =
        metadata::for_update(current.body.get(COZY_METADATA), Map::new(), ctx, now);
    add_upload_fields(&mut cozy_metadata, ctx, now);
    set_content_fields(&mut body, content);
    body.insert("updated_at".into(), json!(now));
    body.insert(COZY_METADATA.into(), Value::Object(cozy_metadata));

    let rev = sqlite::replace(conn, &current, &body)?;
    Ok(WriteResult {
        id: current.id,
        rev,
        status: WriteStatus::Updated,
    })
}

fn set_content_fields(body: &mut Map<String, Value>, content: Content) {
    body.insert("size".into(), json!(content.size));
    body.insert("md5sum".into(), json!(content.md5sum));
    body.insert("mime".into(), json!(content.mime));
    body.insert("class".into(), json!(content.class));
    body.insert("metadata".into(), Value::Object(content.metadata));
}

/// Adds the fields the stack keeps about the last upload of a file's
/// contents.
fn add_upload_fields(cozy_metadata: &mut Map<String, Value>, ctx: &WriteContext, now: &str) {
    cozy_metadata.insert("uploadedAt".into(), json!(now));
    cozy_metadata.insert(
        "uploadedBy".into(),
        json!({ "slug": ctx.slug, "version": ctx.konnector_version }),
    );
}

/// Returns the `doctypeVersion` of files: the stack writes the string `"1"`.
fn files_doctype_version() -> Value {
    json!("1")
}

/// Finds or creates the folder documents of `folders`, from the root down,
/// and returns the last one.
fn ensure_folders(
    conn: &Connection,
    ctx: &WriteContext,
    folders: &[String],
    now: &str,
) -> Result<Folder, SinkError> {
    if sqlite::get(conn, FILES_DOCTYPE, ROOT_DIR_ID)?.is_none() {
        let root = object(json!({
            "type": "directory",
            "path": "/",
            "created_at": now,
            "updated_at": now,
            "tags": [],
        }));
        sqlite::insert(conn, FILES_DOCTYPE, ROOT_DIR_ID, &root)?;
    }

    let mut parent = Folder {
        id: ROOT_DIR_ID.into(),
        path: "/".into(),
    };
    for name in folders {
        let path = child_path(&parent.path, name);
        parent = match sqlite::find_child(conn, &parent.id, name)? {
            Some(doc) if doc.body.get("type") == Some(&json!("directory")) => {
                Folder { id: doc.id, path }
            }
            Some(_) => {
                return Err(SinkError::Invalid(format!(
                    "cannot create folder {path}: a file of that name exists"
                )));
            }
            None => {
                let id = revision::new_id()?;
                let mut body = object(json!({
                    "type": "directory",
                    "name": name,
                    "dir_id": parent.id,
                    "path": path,
                    "created_at": now,
                    "updated_at": now,
                    "tags": [],
                }));
                let cozy_metadata =
                    metadata::for_create(Map::new(), ctx, now, files_doctype_version());
                body.insert(COZY_METADATA.into(), Value::Object(cozy_metadata));
                sqlite::insert(conn, FILES_DOCTYPE, &id, &body)?;
                tracing::debug!(id, path, "created folder");
                Folder { id, path }
            }
        };
    }
    Ok(parent)
}

/// Creates (if needed) and opens the folder on disk, through the files
/// folder's `Dir` only.
fn open_folder(shared: &Shared, folders: &[String], dir_path: &str) -> Result<Dir, SinkError> {
    let relative: PathBuf = folders.iter().collect();
    let disk_folder = shared.files_dir.join(&relative);
    let io_error = |action: &str, err: std::io::Error| {
        SinkError::Storage(format!(
            "failed to {action} folder {}: {err}",
            disk_folder.display()
        ))
    };
    if folders.is_empty() {
        return shared
            .files
            .try_clone()
            .map_err(|err| io_error("open", err));
    }
    if let Err(err) = shared.files.create_dir_all(&relative) {
        return Err(match first_non_folder(&shared.files, folders) {
            // The guest used a file's path as a folder path.
            Some((path, kind)) if kind.is_file() => SinkError::Invalid(format!(
                "cannot create folder {dir_path}: {} is a file",
                path.display()
            )),
            Some((path, kind)) if kind.is_symlink() => SinkError::Storage(format!(
                "failed to create folder {}: {} is a symbolic link, which the files folder does not follow",
                disk_folder.display(),
                shared.files_dir.join(path).display()
            )),
            _ => io_error("create", err),
        });
    }
    shared
        .files
        .open_dir(&relative)
        .map_err(|err| io_error("open", err))
}

/// Returns the first of `folders`' paths on disk that exists and is not a
/// folder, with its type, looking at links themselves rather than their
/// targets.
fn first_non_folder(files: &Dir, folders: &[String]) -> Option<(PathBuf, cap_std::fs::FileType)> {
    let mut path = PathBuf::new();
    for name in folders {
        path.push(name);
        let kind = files.symlink_metadata(&path).ok()?.file_type();
        if !kind.is_dir() {
            return Some((path, kind));
        }
    }
    None
}

/// Contents written under a temporary name; removed on drop unless renamed.
struct TempFile<'a> {
    folder: &'a Dir,
    name: String,
    /// Final path, for messages.
    disk_path: &'a Path,
    renamed: bool,
}

impl<'a> TempFile<'a> {
    fn write(
        folder: &'a Dir,
        bytes: &[u8],
        disk_path: &'a Path,
    ) -> Result<TempFile<'a>, SinkError> {
        use std::io::Write as _;

        let write_error = |err: std::io::Error| {
            SinkError::Storage(format!("failed to write {}: {err}", disk_path.display()))
        };
        let name = format!("{TEMP_PREFIX}{}", revision::new_id()?);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = folder.open_with(&name, &options).map_err(write_error)?;

        // From here on, dropping `temp` removes the file.
        let temp = TempFile {
            folder,
            name,
            disk_path,
            renamed: false,
        };
        file.write_all(bytes).map_err(write_error)?;
        // The contents reach the disk before the rename makes them visible.
        file.sync_all().map_err(write_error)?;
        Ok(temp)
    }

    /// Renames the contents to `name`, keeping a hard link to the contents
    /// it replaces until [`Placed::discard_backup`] or [`Placed::undo`].
    fn rename_into_place(mut self, name: &str) -> Result<Placed<'a>, SinkError> {
        let io_error = |action: &str, err: std::io::Error| {
            SinkError::Storage(format!(
                "failed to {action} {}: {err}",
                self.disk_path.display()
            ))
        };
        let backup = match self.folder.symlink_metadata(name) {
            Ok(existing) if existing.is_file() => {
                let backup = format!("{BACKUP_PREFIX}{}", revision::new_id()?);
                self.folder
                    .hard_link(name, self.folder, &backup)
                    .map_err(|err| io_error("keep the previous contents of", err))?;
                Some(backup)
            }
            _ => None,
        };
        let placed = Placed {
            folder: self.folder,
            name: name.to_owned(),
            backup,
            disk_path: self.disk_path,
        };
        if let Err(err) = self.folder.rename(&self.name, self.folder, name) {
            placed.discard_backup();
            return Err(io_error("rename the new contents to", err));
        }
        self.renamed = true;
        Ok(placed)
    }
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if self.renamed {
            return;
        }
        if let Err(err) = self.folder.remove_file(&self.name) {
            tracing::warn!(
                temp = self.name,
                path = %self.disk_path.display(),
                error = %err,
                "failed to remove the temporary file of a failed save"
            );
        }
    }
}

/// New contents in place, with the previous ones kept under a backup name
/// when there were any.
struct Placed<'a> {
    folder: &'a Dir,
    name: String,
    backup: Option<String>,
    disk_path: &'a Path,
}

impl Placed<'_> {
    fn discard_backup(self) {
        if let Some(backup) = &self.backup
            && let Err(err) = self.folder.remove_file(backup)
        {
            tracing::warn!(backup, path = %self.disk_path.display(), error = %err, "failed to remove the previous contents");
        }
    }

    /// Puts back the previous contents, or removes the new ones when there
    /// were none.
    fn undo(self) {
        let result = match &self.backup {
            Some(backup) => self.folder.rename(backup, self.folder, &self.name),
            None => self.folder.remove_file(&self.name),
        };
        if let Err(err) = result {
            tracing::error!(
                path = %self.disk_path.display(),
                error = %err,
                "failed to undo a file save whose commit failed; its contents on disk no longer match its document"
            );
        }
    }
}

fn disk_path(files_dir: &Path, folders: &[String], name: &str) -> PathBuf {
    let mut path = files_dir.to_owned();
    path.extend(folders);
    path.push(name);
    path
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Unwraps a `json!` object literal.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

fn string_field<'a>(body: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    body.get(field).and_then(Value::as_str)
}
