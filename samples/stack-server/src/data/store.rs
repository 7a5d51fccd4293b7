//! The document store: one collection per doctype, CouchDB-like revisions.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::StackError;
use crate::ids::next_rev;
use crate::mango::MangoIndex;

/// Every doctype's documents. A doctype exists, like a CouchDB database,
/// from its first document or index on.
#[derive(Debug, Default)]
pub(crate) struct Database {
    collections: BTreeMap<String, Collection>,
}

/// The documents and indexes of one doctype.
#[derive(Debug, Default)]
pub(crate) struct Collection {
    /// Documents by id. Each contains its `_id` and `_rev` like a CouchDB
    /// document, so selectors can name them.
    pub(crate) docs: BTreeMap<String, Map<String, Value>>,
    /// Indexes in the order they were defined.
    pub(crate) indexes: Vec<MangoIndex>,
}

impl Database {
    pub(crate) fn collection(&self, doctype: &str) -> Option<&Collection> {
        self.collections.get(doctype)
    }

    /// Returns the collection of `doctype`, creating it when it is new.
    pub(crate) fn collection_mut(&mut self, doctype: &str) -> &mut Collection {
        self.collections.entry(doctype.to_owned()).or_default()
    }

    /// Returns the document `id` of `doctype`, or the stack's 404: reason
    /// `wrong_doctype` when the doctype has no database yet, `missing`
    /// otherwise.
    pub(crate) fn get(&self, doctype: &str, id: &str) -> Result<&Map<String, Value>, StackError> {
        let Some(collection) = self.collections.get(doctype) else {
            return Err(StackError::couch(404, "not_found", "wrong_doctype"));
        };
        collection
            .docs
            .get(id)
            .ok_or_else(|| StackError::couch(404, "not_found", "missing"))
    }

    /// Stores a new document under `id`, which must not exist, and returns
    /// it with its `_id` and first `_rev`.
    pub(crate) fn insert_new(
        &mut self,
        doctype: &str,
        id: &str,
        mut body: Map<String, Value>,
    ) -> Result<Map<String, Value>, StackError> {
        let collection = self.collection_mut(doctype);
        if collection.docs.contains_key(id) {
            return Err(conflict());
        }
        body.remove("_id");
        body.remove("_rev");
        let rev = next_rev(None, &body);
        let doc = with_id_and_rev(id, &rev, body);
        collection.docs.insert(id.to_owned(), doc.clone());
        Ok(doc)
    }

    /// Replaces document `id` when `rev` is its current revision, and
    /// returns it with its new `_rev`.
    pub(crate) fn update(
        &mut self,
        doctype: &str,
        id: &str,
        rev: &str,
        mut body: Map<String, Value>,
    ) -> Result<Map<String, Value>, StackError> {
        let current = self.get(doctype, id)?;
        let current_rev = current
            .get("_rev")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if current_rev != rev {
            return Err(conflict());
        }
        body.remove("_id");
        body.remove("_rev");
        let new_rev = next_rev(Some(rev), &body);
        let doc = with_id_and_rev(id, &new_rev, body);
        self.collection_mut(doctype)
            .docs
            .insert(id.to_owned(), doc.clone());
        Ok(doc)
    }
}

/// CouchDB's 409 for a stale or unexpected revision.
pub(crate) fn conflict() -> StackError {
    StackError::couch(409, "conflict", "Document update conflict.")
}

/// Returns `body` with `_id` and `_rev` first, as CouchDB sends them.
fn with_id_and_rev(id: &str, rev: &str, body: Map<String, Value>) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("_id".to_owned(), Value::String(id.to_owned()));
    doc.insert("_rev".to_owned(), Value::String(rev.to_owned()));
    doc.extend(body);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn insert_then_update_with_revisions() {
        let mut database = Database::default();
        let missing = database.get("io.cozy.bills", "a").map(|_| ());
        assert_eq!(
            missing,
            Err(StackError::couch(404, "not_found", "wrong_doctype"))
        );

        let created = database.insert_new("io.cozy.bills", "a", object(json!({"x": 1})));
        let created = created.expect("created");
        let rev = created["_rev"].as_str().unwrap_or_default().to_owned();
        assert!(rev.starts_with("1-"), "{rev}");
        let again = database
            .insert_new("io.cozy.bills", "a", Map::new())
            .map(|_| ());
        assert_eq!(again, Err(conflict()));

        let stale = database
            .update("io.cozy.bills", "a", "1-0", Map::new())
            .map(|_| ());
        assert_eq!(stale, Err(conflict()));
        let updated = database.update("io.cozy.bills", "a", &rev, object(json!({"x": 2})));
        let updated = updated.expect("updated");
        assert!(
            updated["_rev"]
                .as_str()
                .unwrap_or_default()
                .starts_with("2-")
        );
        assert_eq!(updated["x"], 2);

        let other = database.get("io.cozy.bills", "b").map(|_| ());
        assert_eq!(other, Err(StackError::couch(404, "not_found", "missing")));
    }
}
