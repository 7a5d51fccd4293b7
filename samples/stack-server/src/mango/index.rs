//! Mango indexes: definitions from `_index`, and which index a query can
//! use.
//!
//! The stack rejects a query that CouchDB would run without an index
//! (`couchdb.FindDocsRaw` turns CouchDB's "No matching index found"
//! warning into a 400 `no_index` error), so a client must define an index
//! before it queries. This module decides usability with CouchDB's rule
//! for `json` indexes (`mango_idx_view:is_usable` in CouchDB 3):
//!
//! - every indexed field, except the sort fields, `_id` and `_rev`, must be
//!   required by the selector (a condition on it other than
//!   `{"$exists": false}`);
//! - the sort fields must be a prefix of the indexed fields, once the
//!   leading fields the selector fixes with `$eq` are skipped;
//! - an index with a `partial_filter_selector` is used only when
//!   `use_index` names it.

use md5::{Digest, Md5};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::selector::{FieldPath, Selector, split_field};
use crate::auth::hex;
use crate::data::Collection;
use crate::error::StackError;

/// A Mango index defined with `POST /data/{doctype}/_index`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MangoIndex {
    /// The design document id, such as `_design/by-date`.
    pub ddoc: String,
    /// The index name within the design document.
    pub name: String,
    /// The indexed fields in order, as given (dotted paths).
    pub fields: Vec<String>,
    /// The `partial_filter_selector`, when the definition had one.
    pub partial_filter_selector: Option<Value>,
}

impl MangoIndex {
    pub(crate) fn paths(&self) -> Vec<FieldPath> {
        self.fields.iter().map(|field| split_field(field)).collect()
    }

    fn same_definition(&self, other: &MangoIndex) -> bool {
        self.fields == other.fields && self.partial_filter_selector == other.partial_filter_selector
    }
}

/// Handles an `_index` body: stores the index and returns CouchDB's response
/// `{"result": "created" | "exists", "id", "name"}`.
///
/// Without `ddoc` and `name`, both are a hash of the definition, so the
/// same definition twice gives `exists`. CouchDB's hash is SHA-1; this one
/// is MD5, so the names differ from a real stack's but are just as stable.
pub(crate) fn define_index(
    collection: &mut Collection,
    body: &Map<String, Value>,
) -> Result<Value, StackError> {
    let definition = parse_definition(body)?;
    let existing = collection
        .indexes
        .iter()
        .position(|index| index.ddoc == definition.ddoc && index.name == definition.name);
    let result = match existing {
        Some(position) if collection.indexes[position].same_definition(&definition) => "exists",
        Some(position) => {
            collection.indexes[position] = definition.clone();
            "created"
        }
        None => {
            collection.indexes.push(definition.clone());
            "created"
        }
    };
    Ok(json!({ "result": result, "id": definition.ddoc, "name": definition.name }))
}

fn parse_definition(body: &Map<String, Value>) -> Result<MangoIndex, StackError> {
    let Some(Value::Object(index)) = body.get("index") else {
        return Err(missing_key("index"));
    };
    match body.get("type").and_then(Value::as_str) {
        None | Some("json") => {}
        Some(other) => {
            let reason = format!("index type {other} is not supported by this test server");
            return Err(StackError::couch(400, "invalid_index_type", &reason));
        }
    }
    let Some(Value::Array(raw_fields)) = index.get("fields") else {
        return Err(missing_key("fields"));
    };
    let fields = raw_fields
        .iter()
        .map(index_field)
        .collect::<Result<Vec<_>, _>>()?;
    if fields.is_empty() {
        return Err(bad_fields("fields must not be empty"));
    }
    let partial_filter_selector = index.get("partial_filter_selector").cloned();
    if let Some(filter) = &partial_filter_selector {
        Selector::parse(filter)?;
    }

    let hash = definition_hash(&fields, partial_filter_selector.as_ref());
    let name = optional_string(body, "name")?.unwrap_or_else(|| hash.clone());
    let ddoc = match optional_string(body, "ddoc")? {
        Some(ddoc) if ddoc.starts_with("_design/") => ddoc,
        Some(ddoc) => format!("_design/{ddoc}"),
        None => format!("_design/{hash}"),
    };
    Ok(MangoIndex {
        ddoc,
        name,
        fields,
        partial_filter_selector,
    })
}

/// Reads one entry of `fields`: a name, or `{"name": "asc" | "desc"}`.
///
/// NOTE: the direction is accepted and dropped. CouchDB serves either
/// direction from any index as long as all sort fields share it, which is
/// also the rule here.
fn index_field(value: &Value) -> Result<String, StackError> {
    match value {
        Value::String(name) if !name.is_empty() => Ok(name.clone()),
        Value::Object(map) if map.len() == 1 => match map.iter().next() {
            Some((name, Value::String(direction))) if direction == "asc" || direction == "desc" => {
                Ok(name.clone())
            }
            _ => Err(bad_fields(
                "a field must be a name or {name: \"asc\" | \"desc\"}",
            )),
        },
        _ => Err(bad_fields(
            "a field must be a name or {name: \"asc\" | \"desc\"}",
        )),
    }
}

fn definition_hash(fields: &[String], partial: Option<&Value>) -> String {
    let mut hasher = Md5::new();
    hasher.update(serde_json::to_vec(&json!([fields, partial])).unwrap_or_default());
    hex(&hasher.finalize())
}

fn optional_string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, StackError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.clone())),
        Some(_) => Err(StackError::couch(
            400,
            "invalid_index",
            &format!("{key} must be a non-empty string"),
        )),
    }
}

fn missing_key(key: &str) -> StackError {
    StackError::couch(
        400,
        "missing_required_key",
        &format!("Missing required key: {key}"),
    )
}

fn bad_fields(reason: &str) -> StackError {
    StackError::couch(400, "invalid_index_fields_definition", reason)
}

/// The `use_index` member of a query: a design document, with or without
/// the `_design/` prefix, and optionally an index name.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UseIndex {
    ddoc: String,
    name: Option<String>,
}

impl UseIndex {
    pub(crate) fn parse(value: &Value) -> Result<Option<UseIndex>, StackError> {
        let (ddoc, name) = match value {
            Value::String(ddoc) if ddoc.is_empty() => return Ok(None),
            Value::String(ddoc) => (ddoc.clone(), None),
            Value::Array(parts) => match parts.as_slice() {
                [] => return Ok(None),
                [Value::String(ddoc)] => (ddoc.clone(), None),
                [Value::String(ddoc), Value::String(name)] => (ddoc.clone(), Some(name.clone())),
                _ => return Err(bad_use_index()),
            },
            _ => return Err(bad_use_index()),
        };
        let ddoc = match ddoc.starts_with("_design/") {
            true => ddoc,
            false => format!("_design/{ddoc}"),
        };
        Ok(Some(UseIndex { ddoc, name }))
    }

    fn names(&self, index: &MangoIndex) -> bool {
        index.ddoc == self.ddoc && self.name.as_ref().is_none_or(|name| *name == index.name)
    }

    /// Returns the text CouchDB uses for it in warnings.
    pub(crate) fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{}, {name}", self.ddoc),
            None => self.ddoc.clone(),
        }
    }
}

fn bad_use_index() -> StackError {
    StackError::couch(
        400,
        "invalid_use_index",
        "use_index must be a design document name or [ddoc, name]",
    )
}

/// Tells whether `index` can serve a query with `selector` sorted by
/// `sort`, by CouchDB's rule (see the module documentation).
pub(crate) fn is_usable(index: &MangoIndex, selector: &Selector, sort: &[FieldPath]) -> bool {
    let columns = index.paths();
    let required = selector.required_fields();
    let fields_required = columns
        .iter()
        .all(|column| sort.contains(column) || is_id_or_rev(column) || required.contains(column));
    fields_required && can_use_sort(&columns, sort, selector)
}

fn is_id_or_rev(path: &FieldPath) -> bool {
    path.len() == 1 && (path[0] == "_id" || path[0] == "_rev")
}

fn can_use_sort(columns: &[FieldPath], sort: &[FieldPath], selector: &Selector) -> bool {
    let Some(first_sort) = sort.first() else {
        return true;
    };
    let mut columns = columns;
    loop {
        let Some(first_column) = columns.first() else {
            return false;
        };
        if first_column == first_sort {
            return columns.starts_with(sort);
        }
        if !selector.is_constant_field(first_column) {
            return false;
        }
        columns = &columns[1..];
    }
}

/// Picks the index for a query: the one `use_index` names when it is
/// usable, else the usable index whose leading fields the selector
/// constrains most, then the one with fewest fields. Returns the index and
/// a warning when `use_index` named an index that could not be used.
pub(crate) fn choose_index<'a>(
    indexes: &'a [MangoIndex],
    selector: &Selector,
    sort: &[FieldPath],
    use_index: Option<&UseIndex>,
) -> (Option<&'a MangoIndex>, Option<String>) {
    if let Some(requested) = use_index {
        let named = indexes.iter().find(|index| requested.names(index));
        if let Some(index) = named.filter(|index| is_usable(index, selector, sort)) {
            return (Some(index), None);
        }
    }
    let warning = use_index.map(|requested| {
        format!(
            "{} was not used because it does not contain a valid index for this query.",
            requested.label()
        )
    });

    let required = selector.required_fields();
    let best = indexes
        .iter()
        .filter(|index| index.partial_filter_selector.is_none())
        .filter(|index| is_usable(index, selector, sort))
        .max_by(|left, right| {
            let constrained = |index: &MangoIndex| {
                index
                    .paths()
                    .iter()
                    .take_while(|path| required.contains(*path))
                    .count()
            };
            constrained(left)
                .cmp(&constrained(right))
                .then_with(|| right.fields.len().cmp(&left.fields.len()))
                .then_with(|| (&right.ddoc, &right.name).cmp(&(&left.ddoc, &left.name)))
        });
    (best, warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(fields: &[&str]) -> MangoIndex {
        MangoIndex {
            ddoc: format!("_design/{}", fields.join("-")),
            name: fields.join("-"),
            fields: fields.iter().map(|field| (*field).to_owned()).collect(),
            partial_filter_selector: None,
        }
    }

    fn selector(value: Value) -> Selector {
        Selector::parse(&value).expect("valid selector")
    }

    fn paths(fields: &[&str]) -> Vec<FieldPath> {
        fields.iter().map(|field| split_field(field)).collect()
    }

    #[test]
    fn usable_when_selector_requires_fields() {
        let by_vendor_date = index(&["vendor", "date"]);
        let both = selector(json!({"vendor": "a", "date": {"$gt": "2024"}}));
        let vendor_only = selector(json!({"vendor": "a"}));
        let none = selector(json!({"amount": 3}));

        assert!(is_usable(&by_vendor_date, &both, &[]));
        assert!(!is_usable(&by_vendor_date, &vendor_only, &[]));
        assert!(!is_usable(&by_vendor_date, &none, &[]));
        // A sort field need not be in the selector.
        assert!(is_usable(
            &by_vendor_date,
            &vendor_only,
            &paths(&["vendor", "date"])
        ));
        assert!(is_usable(&by_vendor_date, &vendor_only, &paths(&["date"])));
        assert!(!is_usable(&by_vendor_date, &both, &paths(&["amount"])));
        let ranged = selector(json!({"vendor": {"$gt": "a"}, "date": "x"}));
        assert!(!is_usable(&by_vendor_date, &ranged, &paths(&["date"])));
    }

    #[test]
    fn definitions_and_exists() {
        let mut collection = Collection::default();
        let body = json!({"index": {"fields": ["date", {"vendor": "asc"}]}});
        let Value::Object(body) = body else { return };
        let first = define_index(&mut collection, &body).expect("created");
        assert_eq!(first["result"], "created");
        let second = define_index(&mut collection, &body).expect("exists");
        assert_eq!(second["result"], "exists");
        assert_eq!(first["id"], second["id"]);
        assert_eq!(collection.indexes[0].fields, ["date", "vendor"]);

        let Value::Object(named) = json!({"index": {"fields": ["a"]}, "ddoc": "mine", "name": "n"})
        else {
            return;
        };
        let named = define_index(&mut collection, &named).expect("created");
        assert_eq!(named["id"], "_design/mine");
        assert_eq!(named["name"], "n");

        let Value::Object(invalid) = json!({"index": {"fields": []}}) else {
            return;
        };
        let invalid = define_index(&mut collection, &invalid).map_err(|e| e.status());
        assert_eq!(invalid, Err(400));
    }

    #[test]
    fn choice_prefers_use_index_then_constrained() {
        let indexes = vec![index(&["vendor"]), index(&["vendor", "date"])];
        let query = selector(json!({"vendor": "a", "date": "b"}));
        let (chosen, warning) = choose_index(&indexes, &query, &[], None);
        assert_eq!(chosen.map(|index| index.name.as_str()), Some("vendor-date"));
        assert_eq!(warning, None);

        let requested = UseIndex::parse(&json!("vendor"))
            .expect("valid")
            .expect("some");
        let (chosen, warning) = choose_index(&indexes, &query, &[], Some(&requested));
        assert_eq!(chosen.map(|index| index.name.as_str()), Some("vendor"));
        assert_eq!(warning, None);

        let unusable = selector(json!({"date": "b"}));
        let (chosen, warning) = choose_index(&indexes, &unusable, &[], Some(&requested));
        assert_eq!(chosen, None);
        assert!(warning.is_some_and(|text| text.contains("_design/vendor")));
    }
}
