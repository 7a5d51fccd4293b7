//! Handlers of the `/files` routes.
//!
//! Each follows the order of checks of the stack's handler
//! (`web/files/files.go`), which decides which error a bad request gets:
//! for example a malformed `Content-MD5` is reported before the token is
//! looked at, and the quota before a taken name.

use hyper::StatusCode;
use hyper::header::{CONTENT_DISPOSITION, HeaderValue};
use serde_json::{Map, Value, json};

use super::jsonapi::{dir_document, dir_object, file_object};
use super::upload::{
    check_name, new_cozy_metadata, parse_tags, read_upload, updated_cozy_metadata,
};
use super::vfs::{DirDoc, Entry, FileDoc, ROOT_DIR_ID, check_md5, normalize_path, not_found};
use crate::auth::{Grant, Verb, random_hex};
use crate::clock;
use crate::error::StackError;
use crate::request::StackRequest;
use crate::response::{self, StackResponse};

const FILES: &str = "io.cozy.files";

/// `POST /files/{dir_id}?Type=file|directory&Name=...`.
pub(crate) fn create(
    request: &StackRequest<'_>,
    dir_id: &str,
) -> Result<StackResponse, StackError> {
    let dir_id = match dir_id {
        "" => ROOT_DIR_ID,
        dir_id => dir_id,
    };
    match request.query_param("Type").as_deref() {
        Some("file") => create_file(request, dir_id),
        Some("directory") => create_dir(request, dir_id),
        _ => Err(StackError::JsonApi {
            status: 422,
            title: "Invalid Attribute".to_owned(),
            detail: "Invalid document type".to_owned(),
            source: Some(("pointer", "/data/attributes/type".to_owned())),
        }),
    }
}

fn create_file(request: &StackRequest<'_>, dir_id: &str) -> Result<StackResponse, StackError> {
    let name = request.query_param("Name").unwrap_or_default();
    let upload = read_upload(request, &name)?;
    let grant = request.authorize(FILES, Verb::Post)?;

    let file = FileDoc {
        id: request.state.ids.next_id(),
        rev: String::new(),
        name: upload.name,
        dir_id: dir_id.to_owned(),
        created_at: upload.created_at,
        updated_at: upload.updated_at,
        mime: upload.mime,
        class: upload.class,
        executable: upload.executable,
        tags: upload.tags,
        metadata: upload.metadata,
        cozy_metadata: new_cozy_metadata(request, &grant, true),
        contents: request.body.clone(),
        md5: upload.md5,
    };
    let stored = request
        .state
        .vfs()
        .create_file(file, upload.expected_md5.as_deref())?;
    Ok(data(StatusCode::CREATED, file_object(&stored)))
}

fn create_dir(request: &StackRequest<'_>, dir_id: &str) -> Result<StackResponse, StackError> {
    if let Some(path) = request.non_empty_param("Path") {
        return create_dir_at_path(request, &path);
    }
    let name = request.query_param("Name").unwrap_or_default();
    if request.state.vfs().dir(dir_id).is_none() {
        return Err(not_found());
    }
    check_name(&name)?;

    let mut metadata = Map::new();
    if let Some(id) = request.non_empty_param("MetadataID") {
        metadata = request.state.vfs().metadata(&id)?;
    }
    let grant = request.authorize(FILES, Verb::Post)?;
    let dir = new_dir(request, &grant, dir_id, &name, metadata);
    let stored = request.state.vfs().create_dir(dir)?;
    Ok(data(StatusCode::CREATED, dir_object(&stored)))
}

/// `POST /files/?Type=directory&Path=/a/b[&Recursive=true]`: creates the
/// folder at a path. With `Recursive=true` it creates the missing parents
/// too, and returns an existing folder as it is.
///
/// NOTE: the stack does not check the token's permission on this form, but
/// this server requires POST on `io.cozy.files` like the other forms.
fn create_dir_at_path(request: &StackRequest<'_>, path: &str) -> Result<StackResponse, StackError> {
    let Some(path) = normalize_path(path).filter(|path| path != "/") else {
        return Err(StackError::jsonapi(400, "Path should be absolute"));
    };
    let grant = request.authorize(FILES, Verb::Post)?;
    let recursive = request.query_param("Recursive").as_deref() == Some("true");

    let names: Vec<&str> = path.split('/').filter(|name| !name.is_empty()).collect();
    let mut vfs = request.state.vfs();
    let mut parent_id = ROOT_DIR_ID.to_owned();
    for (position, name) in names.iter().enumerate() {
        let is_last = position + 1 == names.len();
        let (children, _) = vfs.children(&parent_id);
        let existing = children
            .iter()
            .find(|dir| dir.name.as_deref() == Some(*name))
            .map(|dir| (*dir).clone());
        match existing {
            Some(dir) if is_last && recursive => {
                return Ok(data(StatusCode::CREATED, dir_object(&dir)));
            }
            Some(dir) if !is_last => parent_id = dir.id,
            None if !is_last && !recursive => {
                let detail = "Parent directory with given DirID does not exist";
                return Err(StackError::jsonapi(404, detail));
            }
            _ => {
                // A new folder, or the last one when it exists and the
                // request is not recursive, which create_dir rejects (409).
                let dir = new_dir(request, &grant, &parent_id, name, Map::new());
                let stored = vfs.create_dir(dir)?;
                if is_last {
                    return Ok(data(StatusCode::CREATED, dir_object(&stored)));
                }
                parent_id = stored.id;
            }
        }
    }
    Err(not_found())
}

fn new_dir(
    request: &StackRequest<'_>,
    grant: &Grant,
    dir_id: &str,
    name: &str,
    metadata: Map<String, Value>,
) -> DirDoc {
    let date = request
        .header("date")
        .and_then(clock::parse_http_date)
        .unwrap_or_else(clock::now);
    let param_time = |name: &str| {
        request
            .non_empty_param(name)
            .and_then(|text| clock::parse_rfc3339(&text))
    };
    DirDoc {
        id: request.state.ids.next_id(),
        rev: String::new(),
        name: Some(name.to_owned()),
        dir_id: Some(dir_id.to_owned()),
        path: String::new(),
        created_at: param_time("CreatedAt").unwrap_or(date),
        updated_at: param_time("UpdatedAt").unwrap_or(date),
        tags: parse_tags(request.query_param("Tags").as_deref()),
        metadata,
        cozy_metadata: Some(new_cozy_metadata(request, grant, false)),
    }
}

/// `PUT /files/{id}`: replaces the contents of a file. `If-Match` (or the
/// `rev` query parameter) must be the current revision when present.
pub(crate) fn overwrite(request: &StackRequest<'_>, id: &str) -> Result<StackResponse, StackError> {
    let Some(previous) = request.state.vfs().file(id).cloned() else {
        return Err(not_found());
    };
    let upload = read_upload(request, &previous.name)?;
    let expected_rev = request
        .header("if-match")
        .filter(|rev| !rev.is_empty())
        .map(str::to_owned)
        .or_else(|| request.non_empty_param("rev"));
    if expected_rev.is_some_and(|rev| rev != previous.rev) {
        return Err(StackError::precondition_failed(
            "If-Match",
            "Revision does not match",
        ));
    }
    let grant = request.authorize(FILES, Verb::Put)?;

    let mut vfs = request.state.vfs();
    vfs.check_quota(request.body.len() as u64)?;
    check_md5(upload.expected_md5.as_deref(), &upload.md5)?;
    // As in the stack, the new request's metadata and tags replace the old
    // ones, so a PUT without `Metadata` or `MetadataID` drops them.
    let file = FileDoc {
        updated_at: upload.updated_at.max(previous.created_at),
        mime: upload.mime,
        class: upload.class,
        executable: upload.executable,
        tags: upload.tags,
        metadata: upload.metadata,
        cozy_metadata: updated_cozy_metadata(request, &grant, &previous.cozy_metadata),
        contents: request.body.clone(),
        md5: upload.md5,
        ..previous
    };
    let stored = vfs.replace_file(file)?;
    Ok(data(StatusCode::OK, file_object(&stored)))
}

/// `GET /files/{id}`: a folder with its children, or a file.
pub(crate) fn get(request: &StackRequest<'_>, id: &str) -> Result<StackResponse, StackError> {
    // The stack reads the token before it looks the id up.
    request.state.tokens.authenticate(request.bearer())?;
    let vfs = request.state.vfs();
    let document = match (vfs.dir(id), vfs.file(id)) {
        (Some(dir), _) => dir_document(&vfs, dir),
        (None, Some(file)) => json!({ "data": file_object(file) }),
        (None, None) => return Err(not_found()),
    };
    request.authorize(FILES, Verb::Get)?;
    Ok(response::jsonapi(StatusCode::OK, &document))
}

/// `GET /files/metadata?Path=/a/b`: the same as `GET /files/{id}` for the
/// folder or file at a path.
pub(crate) fn get_by_path(request: &StackRequest<'_>) -> Result<StackResponse, StackError> {
    let path = request.query_param("Path").unwrap_or_default();
    if !path.starts_with('/') {
        return Err(StackError::jsonapi(400, "Path should be absolute"));
    }
    let vfs = request.state.vfs();
    let document = match vfs.entry_at(&path) {
        Some(Entry::Dir(dir)) => dir_document(&vfs, dir),
        Some(Entry::File(file)) => json!({ "data": file_object(file) }),
        None => return Err(not_found()),
    };
    request.authorize(FILES, Verb::Get)?;
    Ok(response::jsonapi(StatusCode::OK, &document))
}

/// `GET /files/download/{id}`: the contents of a file.
pub(crate) fn download(request: &StackRequest<'_>, id: &str) -> Result<StackResponse, StackError> {
    let Some(file) = request.state.vfs().file(id).cloned() else {
        return Err(not_found());
    };
    request.authorize(FILES, Verb::Get)?;
    Ok(contents(&file))
}

/// `GET /files/download?Path=/a/b`: the contents of the file at a path.
pub(crate) fn download_by_path(request: &StackRequest<'_>) -> Result<StackResponse, StackError> {
    let path = request.query_param("Path").unwrap_or_default();
    let file = match request.state.vfs().entry_at(&path) {
        Some(Entry::File(file)) => file.clone(),
        _ => return Err(not_found()),
    };
    request.authorize(FILES, Verb::Get)?;
    Ok(contents(&file))
}

fn contents(file: &FileDoc) -> StackResponse {
    let content_type = HeaderValue::from_str(&file.mime)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let mut response = response::bytes(StatusCode::OK, content_type, file.contents.clone());
    let disposition = format!("inline; filename=\"{}\"", file.name.replace('"', "\\\""));
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(CONTENT_DISPOSITION, disposition);
    }
    response
}

/// `POST /files/upload/metadata`: stores a metadata object for a later
/// upload's `MetadataID` (valid 10 minutes) and returns its id (201).
pub(crate) fn upload_metadata(request: &StackRequest<'_>) -> Result<StackResponse, StackError> {
    request.authorize(FILES, Verb::Post)?;
    let bad_json = || {
        StackError::jsonapi(
            400,
            "JSON input is malformed or is missing mandatory fields",
        )
    };
    let document: Value = serde_json::from_slice(&request.body).map_err(|_| bad_json())?;
    let attributes = match document.pointer("/data/attributes") {
        Some(Value::Object(attributes)) => attributes.clone(),
        _ => return Err(bad_json()),
    };

    let mut id = random_hex(b"metadata").to_ascii_uppercase();
    id.truncate(16);
    let id = request.state.vfs().add_metadata(id, attributes.clone());
    let body = json!({
        "data": {
            "type": "io.cozy.files.metadata",
            "id": id,
            "attributes": attributes,
            "meta": {},
        }
    });
    Ok(response::jsonapi(StatusCode::CREATED, &body))
}

fn data(status: StatusCode, object: Value) -> StackResponse {
    response::jsonapi(status, &json!({ "data": object }))
}
