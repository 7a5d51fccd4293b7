//! The JSON:API documents of the files routes, and the CouchDB form of the
//! same documents for `GET /data/io.cozy.files/{id}`.
//!
//! Attributes follow the stack's `vfs.FileDoc` and `vfs.DirDoc` as Go
//! marshals them: `size` is a string, `md5sum` is the base64 MD5, empty
//! `tags` and `metadata` are left out. Files carry no `path` attribute, as
//! in the stack's upload responses; folders do.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::vfs::{DirDoc, FileDoc, Vfs};
use crate::clock;

const FILES_DOCTYPE: &str = "io.cozy.files";

/// Returns the attributes of a file.
pub(crate) fn file_attributes(file: &FileDoc) -> Map<String, Value> {
    let mut attributes = Map::new();
    let mut put = |key: &str, value: Value| {
        attributes.insert(key.to_owned(), value);
    };
    put("type", json!("file"));
    put("name", json!(file.name));
    put("dir_id", json!(file.dir_id));
    put("created_at", json!(clock::format(file.created_at)));
    put("updated_at", json!(clock::format(file.updated_at)));
    put("size", json!(file.contents.len().to_string()));
    put("md5sum", json!(STANDARD.encode(&file.md5)));
    put("mime", json!(file.mime));
    put("class", json!(file.class));
    put("executable", json!(file.executable));
    put("trashed", json!(false));
    put("encrypted", json!(false));
    if !file.tags.is_empty() {
        put("tags", json!(file.tags));
    }
    if !file.metadata.is_empty() {
        put("metadata", Value::Object(file.metadata.clone()));
    }
    put("cozyMetadata", file.cozy_metadata.clone());
    attributes
}

/// Returns the attributes of a folder.
pub(crate) fn dir_attributes(dir: &DirDoc) -> Map<String, Value> {
    let mut attributes = Map::new();
    attributes.insert("type".to_owned(), json!("directory"));
    if let Some(name) = &dir.name {
        attributes.insert("name".to_owned(), json!(name));
    }
    if let Some(dir_id) = &dir.dir_id {
        attributes.insert("dir_id".to_owned(), json!(dir_id));
    }
    attributes.insert(
        "created_at".to_owned(),
        json!(clock::format(dir.created_at)),
    );
    attributes.insert(
        "updated_at".to_owned(),
        json!(clock::format(dir.updated_at)),
    );
    if !dir.tags.is_empty() {
        attributes.insert("tags".to_owned(), json!(dir.tags));
    }
    attributes.insert("path".to_owned(), json!(dir.path));
    if !dir.metadata.is_empty() {
        attributes.insert("metadata".to_owned(), Value::Object(dir.metadata.clone()));
    }
    if let Some(cozy_metadata) = &dir.cozy_metadata {
        attributes.insert("cozyMetadata".to_owned(), cozy_metadata.clone());
    }
    attributes
}

/// Returns the JSON:API resource object of a file.
pub(crate) fn file_object(file: &FileDoc) -> Value {
    json!({
        "type": FILES_DOCTYPE,
        "id": file.id,
        "attributes": file_attributes(file),
        "meta": { "rev": file.rev },
        "links": { "self": format!("/files/{}", file.id) },
        "relationships": { "parent": parent_relationship(&file.dir_id) },
    })
}

/// Returns the JSON:API resource object of a folder, without its contents.
pub(crate) fn dir_object(dir: &DirDoc) -> Value {
    let mut object = json!({
        "type": FILES_DOCTYPE,
        "id": dir.id,
        "attributes": dir_attributes(dir),
        "meta": { "rev": dir.rev },
        "links": { "self": format!("/files/{}", dir.id) },
    });
    if let (Some(dir_id), Value::Object(fields)) = (&dir.dir_id, &mut object) {
        let relationships = json!({ "parent": parent_relationship(dir_id) });
        fields.insert("relationships".to_owned(), relationships);
    }
    object
}

/// Returns the document of `GET /files/{id}` for a folder: the folder with
/// a `contents` relationship, and its children in `included`.
///
/// NOTE: the stack pages the children 30 at a time with a `links.next`
/// cursor; this server lists them all.
pub(crate) fn dir_document(vfs: &Vfs, dir: &DirDoc) -> Value {
    let (dirs, files) = vfs.children(&dir.id);
    let mut included: Vec<Value> = dirs.iter().map(|child| dir_object(child)).collect();
    included.extend(files.iter().map(|child| file_object(child)));
    let contents: Vec<Value> = included
        .iter()
        .map(|child| json!({ "type": FILES_DOCTYPE, "id": child["id"] }))
        .collect();

    let mut data = dir_object(dir);
    if let Value::Object(fields) = &mut data {
        let relationships = fields
            .entry("relationships")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(relationships) = relationships {
            relationships.insert("contents".to_owned(), json!({ "data": contents }));
        }
    }
    json!({ "data": data, "included": included })
}

fn parent_relationship(dir_id: &str) -> Value {
    json!({
        "links": { "related": format!("/files/{dir_id}") },
        "data": { "type": FILES_DOCTYPE, "id": dir_id },
    })
}

/// Returns the CouchDB document of the folder or file `id`, with `_id` and
/// `_rev`, or `None` when there is none.
pub(crate) fn couch_doc(vfs: &Vfs, id: &str) -> Option<Map<String, Value>> {
    let (rev, attributes) = match (vfs.dir(id), vfs.file(id)) {
        (Some(dir), _) => (&dir.rev, dir_attributes(dir)),
        (None, Some(file)) => (&file.rev, file_attributes(file)),
        (None, None) => return None,
    };
    let mut doc = Map::new();
    doc.insert("_id".to_owned(), json!(id));
    doc.insert("_rev".to_owned(), json!(rev));
    doc.extend(attributes);
    Some(doc)
}
