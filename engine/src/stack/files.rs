//! Saving a file through `/files`: find or create its folder, compare with
//! the file of the same name, then create it, replace its contents or leave
//! it as it is.
//!
//! Each upload is one request that carries `Content-Length` and
//! `Content-MD5`, so the stack stores the whole contents or nothing. A
//! creation that meets a 409 (the name is taken) and a replacement that
//! meets a 412 (the revision changed) look the file up again and decide
//! once more. The same MD5 then means the contents are in place, put there
//! either by this save's earlier attempt or by another writer.

use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use konnector_host_api::{WriteResult, WriteStatus};
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use super::StackSink;
use super::client::{ApiRequest, ApiResponse, JSON_API};
use super::folders::{self, Entry};
use super::writes::MAX_CONFLICT_ROUNDS;
use crate::sink::{FileWrite, SinkError, WriteContext};

/// MIME type sent when the guest gives none, the stack's default.
const DEFAULT_MIME: &str = "application/octet-stream";

/// `Content-MD5` header name.
static CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");

/// A file ready to send: its destination, contents and headers.
struct Upload {
    dir_path: String,
    folders: Vec<String>,
    name: String,
    path: String,
    bytes: Bytes,
    content_type: HeaderValue,
    md5sum: String,
    metadata: Map<String, Value>,
    /// Id of the metadata object sent for this file, once sent.
    metadata_id: Option<String>,
}

/// Saves `file` in the folder at its path; see the module documentation.
pub(super) async fn save(
    sink: &StackSink,
    ctx: &WriteContext,
    file: FileWrite,
) -> Result<WriteResult, SinkError> {
    let mut upload = prepare(file)?;
    let deadline = ctx.deadline;
    // The status of the last write this save sent whose response may have
    // been lost: when the file then has the same MD5, that write is what
    // put it there.
    let mut sent: Option<WriteStatus> = None;

    for _ in 0..MAX_CONFLICT_ROUNDS {
        let dir_id = folders::folder_id(sink, deadline, &upload.folders).await?;
        let existing = folders::stat_path(sink, deadline, &upload.path).await?;
        let response = match existing {
            Some(entry) if entry.is_dir => {
                return Err(SinkError::Invalid(format!(
                    "cannot save file {:?}: {} is a folder",
                    upload.name, upload.path
                )));
            }
            Some(entry) if entry.md5sum.as_deref() == Some(upload.md5sum.as_str()) => {
                let status = sent.unwrap_or(WriteStatus::Unchanged);
                tracing::trace!(
                    id = entry.id,
                    path = upload.path,
                    ?status,
                    "file contents in place"
                );
                return Ok(WriteResult {
                    id: entry.id,
                    rev: entry.rev,
                    status,
                });
            }
            Some(entry) => {
                let response = replace(sink, ctx, &mut upload, &entry).await?;
                match response.status {
                    StatusCode::OK => return done(&response, &upload, WriteStatus::Updated),
                    // The revision changed, or the file was deleted meanwhile.
                    StatusCode::PRECONDITION_FAILED
                    | StatusCode::CONFLICT
                    | StatusCode::NOT_FOUND => {}
                    _ => return Err(response.unexpected().into()),
                }
                if response.repeated {
                    sent = Some(WriteStatus::Updated);
                }
                response
            }
            None => {
                let response = create(sink, ctx, &mut upload, &dir_id).await?;
                match response.status {
                    StatusCode::CREATED | StatusCode::OK => {
                        return done(&response, &upload, WriteStatus::Created);
                    }
                    // The name was taken meanwhile.
                    StatusCode::CONFLICT => {}
                    // The folder was deleted meanwhile: find or create it again.
                    StatusCode::NOT_FOUND => sink.forget_folders(),
                    _ => return Err(response.unexpected().into()),
                }
                if response.repeated {
                    sent = Some(WriteStatus::Created);
                }
                response
            }
        };
        tracing::debug!(
            path = upload.path,
            status = response.status.as_u16(),
            "file changed while being saved; looking it up again"
        );
    }
    Err(SinkError::Storage(format!(
        "failed to save file {}: other writers changed it {MAX_CONFLICT_ROUNDS} times while it \
         was being saved",
        upload.path
    )))
}

/// Returns the file `name` in the folder `dir_path` as a write that left
/// it unchanged, or `None` when nothing or a folder is at that path.
pub(super) async fn find(
    sink: &StackSink,
    ctx: &WriteContext,
    dir_path: &str,
    name: &str,
) -> Result<Option<WriteResult>, SinkError> {
    let folders = folders::parse_dir_path(dir_path)?;
    folders::check_name(name)
        .map_err(|reason| SinkError::Invalid(format!("file name {name:?} is invalid: {reason}")))?;
    let path = folders::child_path(&folders::join_path(&folders), name);
    let found = folders::stat_path(sink, ctx.deadline, &path)
        .await?
        .filter(|entry| !entry.is_dir)
        .map(|entry| WriteResult {
            id: entry.id,
            rev: entry.rev,
            status: WriteStatus::Unchanged,
        });
    Ok(found)
}

/// Checks the guest's values and computes the checksum.
fn prepare(file: FileWrite) -> Result<Upload, SinkError> {
    let folders = folders::parse_dir_path(&file.dir_path)?;
    folders::check_name(&file.name).map_err(|reason| {
        SinkError::Invalid(format!("file name {:?} is invalid: {reason}", file.name))
    })?;
    let dir_path = folders::join_path(&folders);
    let path = folders::child_path(&dir_path, &file.name);
    let mime = if file.content_type.trim().is_empty() {
        DEFAULT_MIME
    } else {
        file.content_type.trim()
    };
    let content_type = HeaderValue::from_str(mime).map_err(|_| {
        SinkError::Invalid(format!(
            "content type {:?} of file {path} is not a valid header value",
            file.content_type
        ))
    })?;
    let md5sum = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&file.bytes));
    Ok(Upload {
        dir_path,
        folders,
        name: file.name,
        path,
        bytes: Bytes::from(file.bytes),
        content_type,
        md5sum,
        metadata: file.metadata,
        metadata_id: None,
    })
}

/// Uploads a new file into folder `dir_id`.
async fn create(
    sink: &StackSink,
    ctx: &WriteContext,
    upload: &mut Upload,
    dir_id: &str,
) -> Result<ApiResponse, SinkError> {
    let mut request = ApiRequest::new(Method::POST, &["files", dir_id])
        .query("Type", "file")
        .query("Name", upload.name.clone());
    if let Some(metadata_id) = metadata_id(sink, ctx.deadline, upload).await? {
        request = request.query("MetadataID", metadata_id);
    }
    if let Some(account) = &ctx.account_id {
        request = request.query("SourceAccount", account.clone());
    }
    if let Some(identifier) = &ctx.source_account_identifier {
        request = request.private_query("SourceAccountIdentifier", identifier.clone());
    }
    let request = with_contents(request, upload)?;
    let response = sink.client.send(request, ctx.deadline).await?;
    check_quota(&response, upload)?;
    Ok(response)
}

/// Replaces the contents of `entry`, at its revision.
async fn replace(
    sink: &StackSink,
    ctx: &WriteContext,
    upload: &mut Upload,
    entry: &Entry,
) -> Result<ApiResponse, SinkError> {
    let mut request = ApiRequest::new(Method::PUT, &["files", &entry.id]);
    if let Some(metadata_id) = metadata_id(sink, ctx.deadline, upload).await? {
        request = request.query("MetadataID", metadata_id);
    }
    let if_match = HeaderValue::from_str(&entry.rev).map_err(|_| {
        SinkError::Storage(format!(
            "failed to replace file {}: the stack gave an invalid revision",
            upload.path
        ))
    })?;
    let request = with_contents(request.header(header::IF_MATCH, if_match), upload)?;
    let response = sink.client.send(request, ctx.deadline).await?;
    check_quota(&response, upload)?;
    Ok(response)
}

/// Adds the contents and their `Content-Type`, `Content-Length` and
/// `Content-MD5`.
fn with_contents(request: ApiRequest, upload: &Upload) -> Result<ApiRequest, SinkError> {
    let md5 = HeaderValue::from_str(&upload.md5sum)
        .map_err(|_| SinkError::Storage(format!("failed to encode the MD5 of {}", upload.path)))?;
    Ok(request
        .header(CONTENT_MD5.clone(), md5)
        .header(
            header::CONTENT_LENGTH,
            HeaderValue::from(upload.bytes.len()),
        )
        .body(upload.bytes.clone(), upload.content_type.clone()))
}

/// Sends the file's metadata once (`POST /files/upload/metadata`) and
/// returns the id that an upload refers to it by, or `None` when the file
/// has no metadata.
async fn metadata_id(
    sink: &StackSink,
    deadline: Option<Instant>,
    upload: &mut Upload,
) -> Result<Option<String>, SinkError> {
    if upload.metadata.is_empty() {
        return Ok(None);
    }
    if let Some(id) = &upload.metadata_id {
        return Ok(Some(id.clone()));
    }
    let body = json!({
        "data": { "type": "io.cozy.files.metadata", "attributes": upload.metadata }
    });
    let request =
        ApiRequest::new(Method::POST, &["files", "upload", "metadata"]).json(JSON_API, &body);
    let response = sink.client.send(request, deadline).await?;
    if !matches!(response.status, StatusCode::CREATED | StatusCode::OK) {
        return Err(response.unexpected().into());
    }
    let answer = response.json()?;
    let id = answer
        .get("data")
        .and_then(|data| data.get("id"))
        .and_then(Value::as_str)
        .ok_or_else(|| response.invalid("no 'data.id'"))?;
    upload.metadata_id = Some(id.to_owned());
    Ok(upload.metadata_id.clone())
}

/// Turns the stack's 413 into [`SinkError::QuotaExceeded`] naming the file.
fn check_quota(response: &ApiResponse, upload: &Upload) -> Result<(), SinkError> {
    if response.status == StatusCode::PAYLOAD_TOO_LARGE {
        return Err(SinkError::QuotaExceeded(format!(
            "the stack has no room for file {} ({} bytes) in {}",
            upload.path,
            upload.bytes.len(),
            upload.dir_path
        )));
    }
    Ok(())
}

fn done(
    response: &ApiResponse,
    upload: &Upload,
    status: WriteStatus,
) -> Result<WriteResult, SinkError> {
    let entry = Entry::parse(response)?;
    tracing::debug!(id = entry.id, path = upload.path, ?status, "saved file");
    Ok(WriteResult {
        id: entry.id,
        rev: entry.rev,
        status,
    })
}
