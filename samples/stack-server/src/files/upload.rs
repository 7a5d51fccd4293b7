//! The file attributes an upload request carries, read as the stack's
//! `FileDocFromReq` reads them, and the `cozyMetadata` the stack fills from
//! the token.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::mime::{OCTET_STREAM, is_valid_media_type, mime_and_class, mime_from_name};
use crate::auth::Grant;
use crate::clock;
use crate::error::StackError;
use crate::request::StackRequest;

/// The file attributes an upload (`POST` or `PUT`) gives.
pub(crate) struct Upload {
    pub(crate) name: String,
    /// The MD5 of `Content-MD5`, when the request had one.
    pub(crate) expected_md5: Option<Vec<u8>>,
    /// The MD5 of the body.
    pub(crate) md5: Vec<u8>,
    pub(crate) mime: String,
    pub(crate) class: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) executable: bool,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
}

/// Reads an upload in the order of the stack's checks. `Content-MD5` gets
/// 422 when malformed. The name gets 422 when it is empty, `.`, `..`, or
/// contains `/`, NUL, CR or LF. `Content-Type` gets 422 when invalid, and is
/// guessed from the name when missing or `application/octet-stream`. Then
/// come `Tags`, `Executable`, and `Metadata` (a JSON object) or
/// `MetadataID` (422 when unknown or expired).
pub(crate) fn read_upload(request: &StackRequest<'_>, name: &str) -> Result<Upload, StackError> {
    let expected_md5 = match request.header("content-md5") {
        Some(header) if !header.is_empty() => Some(parse_md5(header)?),
        _ => None,
    };
    let date = request
        .header("date")
        .and_then(clock::parse_http_date)
        .unwrap_or_else(clock::now);

    check_name(name)?;
    let content_type = request.header("content-type").unwrap_or_default();
    let (mime, class) = match content_type {
        "" | OCTET_STREAM => mime_and_class(mime_from_name(name)),
        content_type if is_valid_media_type(content_type) => mime_and_class(content_type),
        _ => {
            return Err(StackError::invalid_parameter(
                "mime",
                "Invalid Content-Type",
            ));
        }
    };

    let mut metadata = Map::new();
    if let Some(raw) = request.non_empty_param("Metadata") {
        // NOTE: the stack responds with 500 to a `Metadata` that is not a
        // JSON object, and this server with 422.
        match serde_json::from_str::<Value>(&raw) {
            Ok(Value::Object(map)) => metadata = map,
            _ => {
                let detail = "Metadata must be a JSON object";
                return Err(StackError::invalid_parameter("Metadata", detail));
            }
        }
    }
    if let Some(id) = request.non_empty_param("MetadataID") {
        metadata = request.state.vfs().metadata(&id)?;
    }

    let mut created_at = date;
    if let Some(created) = request
        .non_empty_param("CreatedAt")
        .and_then(|text| clock::parse_rfc3339(&text))
    {
        created_at = created;
    }
    let mut updated_at = date;
    if let Some(updated) = request
        .non_empty_param("UpdatedAt")
        .and_then(|text| clock::parse_rfc3339(&text))
    {
        updated_at = updated;
    }
    Ok(Upload {
        name: name.to_owned(),
        expected_md5,
        md5: Md5::digest(&request.body).to_vec(),
        mime,
        class,
        created_at,
        updated_at: updated_at.max(created_at),
        executable: request.query_param("Executable").as_deref() == Some("true"),
        tags: parse_tags(request.query_param("Tags").as_deref()),
        metadata,
    })
}

/// Checks a file or folder name as the stack does, with its 422.
pub(crate) fn check_name(name: &str) -> Result<(), StackError> {
    let invalid =
        name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0', '\n', '\r']);
    match invalid {
        true => Err(StackError::invalid_parameter(
            "name",
            "Invalid filename: empty or contains an illegal character",
        )),
        false => Ok(()),
    }
}

/// Decodes a `Content-MD5` header: the base64 of 16 bytes.
fn parse_md5(header: &str) -> Result<Vec<u8>, StackError> {
    let invalid = || StackError::invalid_parameter("Content-MD5", "Given Content-MD5 is invalid");
    if !(22..=24).contains(&header.len()) {
        return Err(invalid());
    }
    match STANDARD.decode(header) {
        Ok(bytes) if bytes.len() == 16 => Ok(bytes),
        _ => Err(invalid()),
    }
}

/// Splits `Tags` on commas, trimmed, without empty or repeated tags.
pub(crate) fn parse_tags(tags: Option<&str>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::new();
    for tag in tags.unwrap_or_default().split(',').map(str::trim) {
        if !tag.is_empty() && !unique.iter().any(|seen| seen == tag) {
            unique.push(tag.to_owned());
        }
    }
    unique
}

/// Builds the `cozyMetadata` the stack gives a new file (`upload` true) or
/// folder (`upload` false). It has app fields from the token's slug, the
/// instance URL, and `SourceAccount` and `SourceAccountIdentifier` from
/// the query.
pub(crate) fn new_cozy_metadata(request: &StackRequest<'_>, grant: &Grant, upload: bool) -> Value {
    let now = clock::format(clock::now());
    let instance = request.state.base_url.as_str();
    let mut metadata = Map::new();
    metadata.insert("doctypeVersion".to_owned(), json!("1"));
    metadata.insert("metadataVersion".to_owned(), json!(1));
    metadata.insert("createdAt".to_owned(), json!(now));
    metadata.insert("updatedAt".to_owned(), json!(now));
    metadata.insert("createdOn".to_owned(), json!(instance));
    if let Some(slug) = &grant.slug {
        metadata.insert("createdByApp".to_owned(), json!(slug));
        let entry = json!({ "slug": slug, "date": now, "instance": instance });
        metadata.insert("updatedByApps".to_owned(), json!([entry]));
    }
    if upload {
        set_upload_fields(&mut metadata, grant, &now, instance);
    }
    set_source_account(request, &mut metadata, false);
    Value::Object(metadata)
}

/// Updates the `cozyMetadata` of a file whose contents are replaced, as
/// the stack's `UpdateFileCozyMetadata` does.
pub(crate) fn updated_cozy_metadata(
    request: &StackRequest<'_>,
    grant: &Grant,
    previous: &Value,
) -> Value {
    let Value::Object(previous) = previous else {
        return new_cozy_metadata(request, grant, true);
    };
    let now = clock::format(clock::now());
    let instance = request.state.base_url.as_str();
    let mut metadata = previous.clone();
    metadata.insert("updatedAt".to_owned(), json!(now));
    if let Some(slug) = &grant.slug {
        let entry = json!({ "slug": slug, "date": now, "instance": instance });
        let mut apps: Vec<Value> = match metadata.get("updatedByApps") {
            Some(Value::Array(apps)) => apps.clone(),
            _ => Vec::new(),
        };
        match apps.iter_mut().find(|app| app["slug"] == json!(slug)) {
            Some(app) => *app = entry,
            None => apps.push(entry),
        }
        metadata.insert("updatedByApps".to_owned(), Value::Array(apps));
    }
    metadata.remove("uploadedBy");
    set_upload_fields(&mut metadata, grant, &now, instance);
    set_source_account(request, &mut metadata, true);
    Value::Object(metadata)
}

fn set_upload_fields(metadata: &mut Map<String, Value>, grant: &Grant, now: &str, instance: &str) {
    metadata.insert("uploadedAt".to_owned(), json!(now));
    metadata.insert("uploadedOn".to_owned(), json!(instance));
    if let Some(slug) = &grant.slug {
        metadata.insert("uploadedBy".to_owned(), json!({ "slug": slug }));
    }
}

/// Sets `sourceAccount` and `sourceAccountIdentifier` from the query; when
/// `keep_existing`, only where they are not set yet.
fn set_source_account(
    request: &StackRequest<'_>,
    metadata: &mut Map<String, Value>,
    keep_existing: bool,
) {
    for (parameter, field) in [
        ("SourceAccount", "sourceAccount"),
        ("SourceAccountIdentifier", "sourceAccountIdentifier"),
    ] {
        let is_set = metadata
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|value| !value.is_empty());
        if keep_existing && is_set {
            continue;
        }
        if let Some(value) = request.non_empty_param(parameter) {
            metadata.insert(field.to_owned(), json!(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_headers() {
        // MD5 of "Hello world!".
        let parsed = parse_md5("hvsmnRkNLIX24EaM7KQqIA==");
        assert_eq!(
            parsed.map(|bytes| bytes.len()).map_err(|e| e.status()),
            Ok(16)
        );
        for invalid in [
            "",
            "short",
            "hvsmnRkNLIX24EaM7KQqIA=!",
            "aGVsbG8gd29ybGQgaGVsbG8=",
        ] {
            assert_eq!(
                parse_md5(invalid).map_err(|e| e.status()),
                Err(422),
                "{invalid}"
            );
        }
    }

    #[test]
    fn names_and_tags() {
        assert!(check_name("bill.pdf").is_ok());
        for invalid in ["", ".", "..", "a/b", "a\nb"] {
            assert!(check_name(invalid).is_err(), "{invalid:?}");
        }
        assert_eq!(parse_tags(Some(" a, b,,a ")), ["a", "b"]);
        assert!(parse_tags(None).is_empty());
    }
}
