//! Folders in the stack's file system: checking names and paths, looking an
//! entry up by path, and finding or creating the folder a file goes in.

use std::time::Instant;

use http::{Method, StatusCode};
use serde_json::Value;

use super::StackSink;
use super::client::{ApiRequest, ApiResponse};
use super::error::StackError;
use crate::sink::SinkError;

/// Id of the root folder, `/`.
pub const ROOT_DIR_ID: &str = "io.cozy.files.root-dir";

#[cfg(test)]
use crate::store::MAX_NAME_BYTES;
pub(crate) use crate::store::{check_name, parse_dir_path};

/// A file or folder as `/files` describes it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) rev: String,
    /// `true` for a folder, `false` for a file.
    pub(crate) is_dir: bool,
    /// Base64 of the MD5 of a file's contents.
    pub(crate) md5sum: Option<String>,
    /// A folder's absolute path.
    pub(crate) path: Option<String>,
}

impl Entry {
    /// Reads the `data` object of a JSON:API response.
    pub(crate) fn parse(response: &ApiResponse) -> Result<Entry, StackError> {
        let answer = response.json()?;
        let data = answer
            .get("data")
            .ok_or_else(|| response.invalid("no 'data' object"))?;
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        let attributes = data.get("attributes");
        let field = |name: &str| text(attributes.and_then(|attributes| attributes.get(name)));
        Ok(Entry {
            id: text(data.get("id")).ok_or_else(|| response.invalid("no 'data.id'"))?,
            rev: text(data.get("meta").and_then(|meta| meta.get("rev")))
                .ok_or_else(|| response.invalid("no 'data.meta.rev'"))?,
            is_dir: field("type").as_deref() == Some("directory"),
            md5sum: field("md5sum"),
            path: field("path"),
        })
    }
}

/// Returns the absolute path made of `folders` (`/` when there is none).
pub(crate) fn join_path(folders: &[String]) -> String {
    format!("/{}", folders.join("/"))
}

/// Returns the path of `name` in the folder at `parent`.
pub(crate) fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Looks up the file or folder at `path`, or returns `None` when the stack
/// returns 404.
pub(crate) async fn stat_path(
    sink: &StackSink,
    deadline: Option<Instant>,
    path: &str,
) -> Result<Option<Entry>, StackError> {
    let request = ApiRequest::new(Method::GET, &["files", "metadata"]).query("Path", path);
    let response = sink.client.send(request, deadline).await?;
    match response.status {
        StatusCode::OK => Entry::parse(&response).map(Some),
        StatusCode::NOT_FOUND => Ok(None),
        _ => Err(response.unexpected()),
    }
}

/// Returns the id of the folder made of `folders` (from the root down),
/// creating the missing ones. Ids found are cached in the sink.
pub(crate) async fn folder_id(
    sink: &StackSink,
    deadline: Option<Instant>,
    folders: &[String],
) -> Result<String, SinkError> {
    if folders.is_empty() {
        return Ok(ROOT_DIR_ID.to_owned());
    }
    let full_path = join_path(folders);
    if let Some(id) = sink.cached_folder(&full_path) {
        return Ok(id);
    }
    // Most saves go to a folder that exists: one request finds it.
    if let Some(entry) = stat_path(sink, deadline, &full_path).await? {
        let id = folder_of(entry, &full_path, &full_path)?;
        sink.cache_folder(&full_path, &id);
        return Ok(id);
    }

    let mut parent = ROOT_DIR_ID.to_owned();
    for depth in 1..=folders.len() {
        let path = join_path(&folders[..depth]);
        if let Some(id) = sink.cached_folder(&path) {
            parent = id;
            continue;
        }
        let id = match stat_path(sink, deadline, &path).await? {
            Some(entry) => folder_of(entry, &path, &full_path)?,
            None => {
                create_folder(
                    sink,
                    deadline,
                    &parent,
                    &folders[depth - 1],
                    &path,
                    &full_path,
                )
                .await?
            }
        };
        sink.cache_folder(&path, &id);
        parent = id;
    }
    Ok(parent)
}

/// Creates folder `name` in folder `parent_id`; a 409 means another writer
/// created it first, and the folder is then looked up.
async fn create_folder(
    sink: &StackSink,
    deadline: Option<Instant>,
    parent_id: &str,
    name: &str,
    path: &str,
    full_path: &str,
) -> Result<String, SinkError> {
    let request = ApiRequest::new(Method::POST, &["files", parent_id])
        .query("Type", "directory")
        .query("Name", name);
    let response = sink.client.send(request, deadline).await?;
    match response.status {
        StatusCode::CREATED | StatusCode::OK => {
            let entry = Entry::parse(&response)?;
            tracing::debug!(id = entry.id, path, "created folder");
            Ok(entry.id)
        }
        StatusCode::CONFLICT => match stat_path(sink, deadline, path).await? {
            Some(entry) => folder_of(entry, path, full_path),
            None => Err(SinkError::Storage(format!(
                "failed to create folder {path}: the stack reports it exists but cannot find it"
            ))),
        },
        _ => Err(response.unexpected().into()),
    }
}

/// Returns the id of `entry`, which must be a folder.
fn folder_of(entry: Entry, path: &str, full_path: &str) -> Result<String, SinkError> {
    if entry.is_dir {
        Ok(entry.id)
    } else {
        Err(SinkError::Invalid(format!(
            "cannot create folder {full_path}: {path} is a file"
        )))
    }
}

/// Returns the absolute path of folder `dir_id`.
pub(crate) async fn folder_path(sink: &StackSink, dir_id: &str) -> Result<String, StackError> {
    let request = ApiRequest::new(Method::GET, &["files", dir_id]);
    let response = sink.client.send(request, None).await?;
    if response.status != StatusCode::OK {
        return Err(response.unexpected());
    }
    let entry = Entry::parse(&response)?;
    if !entry.is_dir {
        return Err(response.invalid(format!("{dir_id} is a file, not a folder")));
    }
    let path = entry
        .path
        .ok_or_else(|| response.invalid("the folder has no 'path'"))?;
    sink.cache_folder(&path, &entry.id);
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_paths_parse_and_join() {
        assert_eq!(parse_dir_path("/").expect("root"), Vec::<String>::new());
        let folders = parse_dir_path("/Administrative/Vendor/").expect("path");
        assert_eq!(folders, ["Administrative", "Vendor"]);
        assert_eq!(join_path(&folders), "/Administrative/Vendor");
        assert_eq!(child_path("/", "a.pdf"), "/a.pdf");
        assert_eq!(child_path("/A", "a.pdf"), "/A/a.pdf");
        for bad in ["relative", "/a//b", "/a/../b", "/a/\0"] {
            assert!(parse_dir_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_checked() {
        assert!(check_name("bill.pdf").is_ok());
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_name(&"x".repeat(MAX_NAME_BYTES + 1)).is_err());
    }
}
