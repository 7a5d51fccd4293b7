//! Checks on what a guest writes, and JSON comparisons, with the same rules
//! as the embedded store so that a konnector behaves alike on both sinks.

use serde_json::{Map, Value};

use crate::metadata::COZY_METADATA;
use crate::sink::SinkError;
use crate::store::MAX_DOCUMENT_BYTES;

/// Doctype of the accounts, whose `data` field contains a konnector's saved
/// state.
pub(crate) const ACCOUNTS_DOCTYPE: &str = "io.cozy.accounts";

/// Doctype of files and folders.
pub(crate) const FILES_DOCTYPE: &str = "io.cozy.files";

/// Rejects doctypes that a plain document write must not touch.
pub(crate) fn check_doctype(doctype: &str) -> Result<(), SinkError> {
    if doctype.is_empty() {
        return Err(SinkError::Invalid("doctype is empty".into()));
    }
    // The stack rejects io.cozy.files on /data: file documents change only
    // with their contents, through save_file.
    if doctype == FILES_DOCTYPE {
        return Err(SinkError::Invalid(format!(
            "doctype {doctype} cannot be written as a document: save files with save_file"
        )));
    }
    Ok(())
}

/// Rejects top-level fields starting with `_`, which CouchDB reserves and
/// the stack refuses (`_id`, `_rev`, `_attachments`, ...).
pub(crate) fn check_fields(doc: &Map<String, Value>) -> Result<(), SinkError> {
    match doc.keys().find(|key| key.starts_with('_')) {
        Some(key) => Err(SinkError::Invalid(format!(
            "field '{key}' is not allowed: fields starting with '_' are reserved"
        ))),
        None => Ok(()),
    }
}

/// Serializes `body`, rejecting it when larger than [`MAX_DOCUMENT_BYTES`],
/// the embedded store's limit.
pub(crate) fn serialize(doctype: &str, body: &Value) -> Result<String, SinkError> {
    let text = body.to_string();
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(SinkError::Invalid(format!(
            "{doctype} document is {} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit",
            text.len()
        )));
    }
    Ok(text)
}

/// Removes the fields starting with `_` (`_id`, `_rev`, `_type`) from a
/// document the stack returned, leaving its body.
pub(crate) fn strip_reserved(doc: &mut Map<String, Value>) {
    doc.retain(|key, _| !key.starts_with('_'));
}

/// Compares two JSON values as the embedded store does: numbers by value
/// (`1` equals `1.0`) and objects regardless of key order.
pub(crate) use crate::store::json_equal;

/// Returns whether two bodies have the same fields and values,
/// `cozyMetadata` and the reserved `_` fields aside.
pub(crate) fn same_ignoring_metadata(
    left: &Map<String, Value>,
    right: &Map<String, Value>,
) -> bool {
    same_fields(left, right, |key| {
        key != COZY_METADATA && !key.starts_with('_')
    })
}

/// Returns whether two bodies have the same fields and values, the reserved
/// `_` fields aside. A write recognizes its own earlier attempt this way,
/// because that attempt's `cozyMetadata` carries the write's timestamp.
pub(crate) fn same_body(left: &Map<String, Value>, right: &Map<String, Value>) -> bool {
    same_fields(left, right, |key| !key.starts_with('_'))
}

fn same_fields(
    left: &Map<String, Value>,
    right: &Map<String, Value>,
    compared: impl Fn(&str) -> bool,
) -> bool {
    let count = |doc: &Map<String, Value>| doc.keys().filter(|key| compared(key)).count();
    count(left) == count(right)
        && left
            .iter()
            .filter(|(key, _)| compared(key))
            .all(|(key, value)| right.get(key).is_some_and(|other| json_equal(value, other)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn json_equal_numbers_and_objects() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(!json_equal(&json!(1), &json!(true)));
        assert!(!json_equal(&json!("1"), &json!(1)));
        assert!(json_equal(
            &json!({"a": 1, "b": [1, 2]}),
            &json!({"b": [1.0, 2], "a": 1})
        ));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": null})));
    }

    #[test]
    fn comparisons_skip_reserved_fields() {
        let stored = object(
            json!({"_id": "x", "_rev": "2-a", "amount": 3, "cozyMetadata": {"updatedAt": "T1"}}),
        );
        let sent = object(json!({"amount": 3.0, "cozyMetadata": {"updatedAt": "T2"}}));
        assert!(same_ignoring_metadata(&stored, &sent));
        assert!(!same_body(&stored, &sent));
        let resent = object(json!({"amount": 3, "cozyMetadata": {"updatedAt": "T1"}}));
        assert!(same_body(&stored, &resent));
    }

    #[test]
    fn reserved_and_files_rejected() {
        assert!(check_fields(&object(json!({"_id": "x"}))).is_err());
        assert!(check_fields(&object(json!({"id": "x"}))).is_ok());
        assert!(check_doctype(FILES_DOCTYPE).is_err());
        assert!(check_doctype("").is_err());
        assert!(check_doctype("io.cozy.bills").is_ok());
    }

    #[test]
    fn oversized_document_rejected() {
        let body = json!({"blob": "x".repeat(MAX_DOCUMENT_BYTES)});
        let err = serialize("io.cozy.bills", &body).expect_err("too large");
        assert!(err.to_string().contains("io.cozy.bills"), "{err}");
    }
}
