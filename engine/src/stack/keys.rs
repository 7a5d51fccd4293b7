//! Upsert keys: parsing them, the Mango index and selector that find a
//! document by their values, and the id a document created by an upsert
//! gets.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::checks::json_equal;
use crate::sink::SinkError;

/// Maximum number of key fields an upsert may name, as in the embedded
/// store; real konnectors use one to four.
pub const MAX_UPSERT_KEYS: usize = 16;

/// One upsert key (a dotted path such as `vendorRef.id`) and its value in
/// the guest's document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyValue {
    /// The dotted path, as Mango spells nested fields.
    pub(crate) path: String,
    fields: Vec<String>,
    pub(crate) value: Value,
}

impl KeyValue {
    /// Returns the value at this key in `body`, if present.
    fn lookup<'a>(&self, body: &'a Map<String, Value>) -> Option<&'a Value> {
        lookup(&self.fields, body)
    }
}

/// Pairs each distinct key with its value in `doc`, in the order given.
///
/// # Errors
///
/// [`SinkError::Invalid`] when there is no key or more than
/// [`MAX_UPSERT_KEYS`], a key has an empty field name or a `"` (which the
/// embedded store cannot search on, so both sinks reject it), or `doc` has
/// no value at a key.
pub(crate) fn key_values(
    keys: &[String],
    doc: &Map<String, Value>,
) -> Result<Vec<KeyValue>, SinkError> {
    if keys.is_empty() {
        return Err(SinkError::Invalid("upsert needs at least one key".into()));
    }
    if keys.len() > MAX_UPSERT_KEYS {
        return Err(SinkError::Invalid(format!(
            "upsert has {} keys, more than the maximum of {MAX_UPSERT_KEYS}",
            keys.len()
        )));
    }
    let mut pairs: Vec<KeyValue> = Vec::with_capacity(keys.len());
    for key in keys {
        if pairs.iter().any(|pair| pair.path == *key) {
            continue;
        }
        let invalid =
            |reason: &str| SinkError::Invalid(format!("upsert key '{key}' is invalid: {reason}"));
        let fields: Vec<String> = key.split('.').map(str::to_owned).collect();
        if fields.iter().any(String::is_empty) {
            return Err(invalid("it has an empty field name"));
        }
        if key.contains('"') {
            return Err(invalid("it contains '\"'"));
        }
        // Mango reads a field name that starts with `$` as an operator.
        if fields.iter().any(|field| field.starts_with('$')) {
            return Err(invalid(
                "a field name starts with '$', which Mango reads as an operator",
            ));
        }
        let value = lookup(&fields, doc).cloned().ok_or_else(|| {
            SinkError::Invalid(format!("upsert key '{key}' is missing from the document"))
        })?;
        pairs.push(KeyValue {
            path: key.clone(),
            fields,
            value,
        });
    }
    Ok(pairs)
}

/// Returns whether `body` has every key's value (numbers compared by value,
/// objects in any key order).
pub(crate) fn matches(pairs: &[KeyValue], body: &Map<String, Value>) -> bool {
    pairs.iter().all(|pair| {
        pair.lookup(body)
            .is_some_and(|stored| json_equal(stored, &pair.value))
    })
}

/// Returns the index fields for `pairs`, sorted so that the same keys in
/// any order share one index.
pub(crate) fn index_fields(pairs: &[KeyValue]) -> Vec<String> {
    let mut fields: Vec<String> = pairs.iter().map(|pair| pair.path.clone()).collect();
    fields.sort();
    fields
}

/// Returns the Mango selector that finds documents with every key's value.
/// `$eq` keeps an object value from being read as nested conditions.
pub(crate) fn selector(pairs: &[KeyValue]) -> Value {
    let mut selector = Map::new();
    for pair in pairs {
        selector.insert(pair.path.clone(), json!({ "$eq": pair.value }));
    }
    Value::Object(selector)
}

/// Returns the id of a document that an upsert creates: 32 hex digits of
/// the SHA-256 of the doctype and the sorted keys with their values.
///
/// Two upserts of the same values therefore try to create the same id. The
/// stack's 409 on the second one then turns a race between two writers, or
/// a retry whose first response was lost, into an update instead of a
/// duplicate.
pub(crate) fn upsert_id(doctype: &str, pairs: &[KeyValue]) -> String {
    let mut sorted: Vec<&KeyValue> = pairs.iter().collect();
    sorted.sort_by(|left, right| left.path.cmp(&right.path));
    let mut hasher = Sha256::new();
    hasher.update(b"konnector-upsert\0");
    hasher.update(doctype.as_bytes());
    for pair in sorted {
        hasher.update(b"\0");
        hasher.update(pair.path.as_bytes());
        hasher.update(b"\0");
        // serde_json sorts object keys, so equal objects give equal text.
        hasher.update(pair.value.to_string().as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

fn lookup<'a>(fields: &[String], body: &'a Map<String, Value>) -> Option<&'a Value> {
    let (first, rest) = fields.split_first()?;
    let mut value = body.get(first)?;
    for field in rest {
        value = value.as_object()?.get(field)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn operator_like_keys_rejected() {
        let doc = object(serde_json::json!({"$gt": 1, "a": {"$ne": 2}}));
        for key in ["$gt", "a.$ne"] {
            let error = key_values(&keys(&[key]), &doc).expect_err(key);
            assert!(error.to_string().contains("operator"), "{error}");
        }
    }

    #[test]
    fn key_values_nested_and_deduplicated() {
        let doc = object(json!({"vendorRef": {"id": 7}, "date": "2024-01-01"}));
        let pairs = key_values(&keys(&["vendorRef.id", "date", "date"]), &doc).expect("keys");
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].value, json!(7));
        assert_eq!(
            selector(&pairs),
            json!({"vendorRef.id": {"$eq": 7}, "date": {"$eq": "2024-01-01"}})
        );
        assert_eq!(index_fields(&pairs), ["date", "vendorRef.id"]);
    }

    #[test]
    fn invalid_keys_rejected() {
        let doc = object(json!({"a": 1}));
        for bad in [&[][..], &["a..b"][..], &["a\"b"][..], &["missing"][..]] {
            assert!(key_values(&keys(bad), &doc).is_err(), "{bad:?} accepted");
        }
        let many: Vec<String> = (0..=MAX_UPSERT_KEYS).map(|i| format!("k{i}")).collect();
        assert!(key_values(&many, &doc).is_err());
    }

    #[test]
    fn matches_compares_by_value() {
        let pairs = key_values(&keys(&["amount"]), &object(json!({"amount": 1}))).expect("keys");
        assert!(matches(&pairs, &object(json!({"amount": 1.0}))));
        assert!(!matches(&pairs, &object(json!({"amount": "1"}))));
        assert!(!matches(&pairs, &object(json!({}))));
    }

    #[test]
    fn upsert_id_is_stable_and_distinct() {
        let doc = object(json!({"a": 1, "b": {"y": 2, "x": 1}}));
        let ab = key_values(&keys(&["a", "b"]), &doc).expect("keys");
        let ba = key_values(&keys(&["b", "a"]), &doc).expect("keys");
        assert_eq!(upsert_id("t.docs", &ab), upsert_id("t.docs", &ba));
        assert_eq!(upsert_id("t.docs", &ab).len(), 32);
        assert_ne!(upsert_id("t.docs", &ab), upsert_id("t.other", &ab));
        let other = key_values(&keys(&["a"]), &object(json!({"a": 2}))).expect("keys");
        let one = key_values(&keys(&["a"]), &doc).expect("keys");
        assert_ne!(upsert_id("t.docs", &one), upsert_id("t.docs", &other));
    }
}
