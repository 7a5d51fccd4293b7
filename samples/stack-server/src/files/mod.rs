//! The `/files/...` routes: folders, file uploads and downloads.

mod handlers;
mod jsonapi;
mod mime;
mod upload;
mod vfs;

pub(crate) use jsonapi::couch_doc;
pub use vfs::{ROOT_DIR_ID, TRASH_DIR_ID};
pub(crate) use vfs::{Vfs, normalize_path};

use hyper::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock;
use crate::error::StackError;
use crate::request::StackRequest;
use crate::response::StackResponse;

/// Dispatches a request whose path is `/files/` followed by `segments`.
pub(crate) fn route(
    request: &StackRequest<'_>,
    segments: &[String],
) -> Result<StackResponse, StackError> {
    let method = &request.parts.method;
    let is_read = *method == Method::GET || *method == Method::HEAD;
    let is_post = *method == Method::POST;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();

    match segments.as_slice() {
        ["metadata"] if is_read => handlers::get_by_path(request),
        ["upload", "metadata"] if is_post => handlers::upload_metadata(request),
        ["download"] if is_read => handlers::download_by_path(request),
        ["download", id] if is_read => handlers::download(request, id),
        ["metadata"] | ["upload", "metadata"] | ["download"] | ["download", _] => {
            Err(StackError::method_not_allowed())
        }
        [id] if is_post => handlers::create(request, id),
        [id] if is_read && !id.is_empty() => handlers::get(request, id),
        [id] if *method == Method::PUT && !id.is_empty() => handlers::overwrite(request, id),
        [_] => Err(StackError::method_not_allowed()),
        _ => Err(StackError::route_not_found()),
    }
}

/// A file as the server stores it, for assertions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredFile {
    /// The file's id.
    pub id: String,
    /// The current revision, `N-hash`.
    pub rev: String,
    /// The file name.
    pub name: String,
    /// The id of its folder.
    pub dir_id: String,
    /// The full path, such as `/Administrative/Vendor/bill.pdf`.
    pub path: String,
    /// The MIME type, without parameters.
    pub mime: String,
    /// The stack's class for the MIME type, such as `pdf`.
    pub class: String,
    /// The base64 MD5 of the contents, as the `md5sum` attribute.
    pub md5sum: String,
    /// The `metadata` attribute.
    pub metadata: Map<String, Value>,
    /// The `cozyMetadata` attribute.
    pub cozy_metadata: Value,
    /// `created_at`, RFC 3339.
    pub created_at: String,
    /// `updated_at`, RFC 3339.
    pub updated_at: String,
    /// The contents.
    pub contents: Vec<u8>,
}

/// A folder as the server stores it, for assertions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredFolder {
    /// The folder's id.
    pub id: String,
    /// The current revision, `N-hash`.
    pub rev: String,
    /// The folder name, empty for the root folder.
    pub name: String,
    /// The id of its parent, `None` for the root folder.
    pub dir_id: Option<String>,
    /// The full path, such as `/Administrative/Vendor`.
    pub path: String,
    /// The `metadata` attribute.
    pub metadata: Map<String, Value>,
    /// The `cozyMetadata` attribute; `None` for the root and trash folders,
    /// which the stack creates without one.
    pub cozy_metadata: Option<Value>,
    /// `created_at`, RFC 3339.
    pub created_at: String,
    /// `updated_at`, RFC 3339.
    pub updated_at: String,
}

impl Vfs {
    /// Returns every file, ordered by path.
    pub(crate) fn stored_files(&self) -> Vec<StoredFile> {
        let mut files: Vec<StoredFile> = self
            .files()
            .map(|file| {
                let attributes = jsonapi::file_attributes(file);
                let md5sum = attributes
                    .get("md5sum")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                StoredFile {
                    id: file.id.clone(),
                    rev: file.rev.clone(),
                    name: file.name.clone(),
                    dir_id: file.dir_id.clone(),
                    path: self.file_path(file),
                    mime: file.mime.clone(),
                    class: file.class.clone(),
                    md5sum: md5sum.to_owned(),
                    metadata: file.metadata.clone(),
                    cozy_metadata: file.cozy_metadata.clone(),
                    created_at: clock::format(file.created_at),
                    updated_at: clock::format(file.updated_at),
                    contents: file.contents.to_vec(),
                }
            })
            .collect();
        files.sort_by(|left, right| left.path.cmp(&right.path));
        files
    }

    /// Returns every folder, the root and the trash included, ordered by
    /// path.
    pub(crate) fn stored_folders(&self) -> Vec<StoredFolder> {
        let mut folders: Vec<StoredFolder> = self
            .dirs()
            .map(|dir| StoredFolder {
                id: dir.id.clone(),
                rev: dir.rev.clone(),
                name: dir.name.clone().unwrap_or_default(),
                dir_id: dir.dir_id.clone(),
                path: dir.path.clone(),
                metadata: dir.metadata.clone(),
                cozy_metadata: dir.cozy_metadata.clone(),
                created_at: clock::format(dir.created_at),
                updated_at: clock::format(dir.updated_at),
            })
            .collect();
        folders.sort_by(|left, right| left.path.cmp(&right.path));
        folders
    }
}
