//! `_find`: runs a Mango query the way the stack and CouchDB run it.
//!
//! The response is the stack's: `{"docs", "limit", "next", "bookmark"}`,
//! plus `"warning"` when CouchDB would warn. As in the stack, `limit`
//! defaults to 100, a value over 1000 is replaced by 100, and `next` is
//! true when as many documents as the limit came back.
//!
//! Documents come in the order of the index that serves the query: by its
//! fields, then by `_id`, or by the `sort` fields when there is a sort. A
//! document missing one of the index's fields is not in the index, so it
//! never matches, as in CouchDB.
//!
//! NOTE: the bookmark here encodes an offset into the results, where
//! CouchDB's encodes the last key read. Both continue where the previous
//! page ended as long as no document changes in between.

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::collate::{compare, compare_raw};
use super::index::{MangoIndex, UseIndex, choose_index};
use super::selector::{FieldPath, Selector, lookup, split_field};
use crate::data::Collection;
use crate::error::StackError;

/// The default and fallback `limit` of the stack.
const DEFAULT_LIMIT: u64 = 100;

/// The largest `limit` the stack passes on (`MaxItemsPerPageForMango`).
const MAX_LIMIT: u64 = 1000;

/// Prefix of the bookmarks this server makes.
const BOOKMARK_PREFIX: &str = "stack-server-offset:";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Ascending,
    Descending,
}

/// A parsed `_find` body.
struct FindQuery {
    selector: Selector,
    limit: u64,
    skip: u64,
    sort: Vec<FieldPath>,
    direction: Direction,
    fields: Option<Vec<FieldPath>>,
    use_index: Option<UseIndex>,
}

/// Runs the query in `body` against `collection` (`None` when the doctype
/// has no database yet) and returns the stack's response body.
pub(crate) fn find(
    collection: Option<&Collection>,
    body: &Map<String, Value>,
) -> Result<Value, StackError> {
    let query = parse_query(body)?;
    let Some(collection) = collection else {
        return Err(StackError::couch(
            404,
            "not_found",
            "Database does not exist.",
        ));
    };

    let (index, warning) = choose_index(
        &collection.indexes,
        &query.selector,
        &query.sort,
        query.use_index.as_ref(),
    );
    let Some(index) = index else {
        return Err(match query.sort.is_empty() {
            // CouchDB would scan every document with a warning, which the
            // stack turns into this error.
            true => StackError::couch(400, "no_index", "no matching index found, create an index"),
            false => StackError::couch(
                400,
                "no_usable_index",
                "No index exists for this sort, try indexing by the sort fields.",
            ),
        });
    };

    let mut matched = matching_docs(collection, index, &query.selector)?;
    let order: Vec<FieldPath> = match query.sort.is_empty() {
        true => index.paths(),
        false => query.sort.clone(),
    };
    matched.sort_by(|left, right| compare_docs(left, right, &order));
    if query.direction == Direction::Descending {
        matched.reverse();
    }

    let offset = bookmark_offset(body)?.saturating_add(query.skip);
    let docs: Vec<Value> = matched
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
        .map(|doc| project(doc, query.fields.as_deref()))
        .collect();

    let returned = docs.len() as u64;
    let bookmark = format!("{BOOKMARK_PREFIX}{}", offset.saturating_add(returned));
    let mut response = json!({
        "docs": docs,
        "limit": query.limit,
        "next": returned >= query.limit,
        "bookmark": URL_SAFE_NO_PAD.encode(bookmark),
    });
    if let (Some(warning), Value::Object(fields)) = (warning, &mut response) {
        fields.insert("warning".to_owned(), Value::String(warning));
    }
    Ok(response)
}

fn parse_query(body: &Map<String, Value>) -> Result<FindQuery, StackError> {
    let Some(selector) = body.get("selector") else {
        return Err(StackError::couch(
            400,
            "missing_required_key",
            "Missing required key: selector",
        ));
    };
    let selector = Selector::parse(selector)?;

    let limit = match body.get("limit").and_then(Value::as_f64) {
        Some(limit) if limit <= MAX_LIMIT as f64 => non_negative_integer("limit", limit)?,
        _ => DEFAULT_LIMIT,
    };
    let skip = match body.get("skip") {
        None | Some(Value::Null) => 0,
        Some(value) => {
            let skip = value.as_f64().ok_or_else(|| invalid_param("skip"))?;
            non_negative_integer("skip", skip)?
        }
    };
    let (sort, direction) = parse_sort(body.get("sort"))?;
    let fields = match body.get("fields") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(split_field)
                        .ok_or_else(|| invalid_param("fields"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(invalid_param("fields")),
    };
    let use_index = match body.get("use_index") {
        None | Some(Value::Null) => None,
        Some(value) => UseIndex::parse(value)?,
    };
    Ok(FindQuery {
        selector,
        limit,
        skip,
        sort,
        direction,
        fields,
        use_index,
    })
}

fn non_negative_integer(name: &str, value: f64) -> Result<u64, StackError> {
    match value >= 0.0 && value.fract() == 0.0 {
        true => Ok(value as u64),
        false => Err(invalid_param(name)),
    }
}

fn invalid_param(name: &str) -> StackError {
    StackError::couch(400, "invalid_param", &format!("Invalid value for {name}"))
}

/// Parses `sort`: names or `{name: "asc" | "desc"}`, all in one direction.
fn parse_sort(value: Option<&Value>) -> Result<(Vec<FieldPath>, Direction), StackError> {
    let items = match value {
        None | Some(Value::Null) => return Ok((Vec::new(), Direction::Ascending)),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid_sort()),
    };
    let mut fields = Vec::with_capacity(items.len());
    let mut directions = Vec::with_capacity(items.len());
    for item in items {
        let (name, direction) = match item {
            Value::String(name) => (name.as_str(), Direction::Ascending),
            Value::Object(map) if map.len() == 1 => match map.iter().next() {
                Some((name, Value::String(direction))) if direction == "asc" => {
                    (name.as_str(), Direction::Ascending)
                }
                Some((name, Value::String(direction))) if direction == "desc" => {
                    (name.as_str(), Direction::Descending)
                }
                _ => return Err(invalid_sort()),
            },
            _ => return Err(invalid_sort()),
        };
        fields.push(split_field(name));
        directions.push(direction);
    }
    let direction = directions.first().copied().unwrap_or(Direction::Ascending);
    if directions.iter().any(|other| *other != direction) {
        return Err(StackError::couch(
            400,
            "unsupported_mixed_sort",
            "Sorts currently only support a single direction for all fields.",
        ));
    }
    Ok((fields, direction))
}

fn invalid_sort() -> StackError {
    StackError::couch(
        400,
        "invalid_sort_json",
        "Sort must be an array of names or {name: direction}",
    )
}

/// Returns the documents in `index` (with every indexed field, and
/// matching its partial filter) that match `selector`.
fn matching_docs<'a>(
    collection: &'a Collection,
    index: &MangoIndex,
    selector: &Selector,
) -> Result<Vec<&'a Map<String, Value>>, StackError> {
    let partial = match &index.partial_filter_selector {
        Some(filter) => Some(Selector::parse(filter)?),
        None => None,
    };
    let columns = index.paths();
    Ok(collection
        .docs
        .values()
        .filter(|doc| columns.iter().all(|path| lookup(doc, path).is_some()))
        .filter(|doc| partial.as_ref().is_none_or(|filter| filter.matches(doc)))
        .filter(|doc| selector.matches(doc))
        .collect())
}

/// Orders two documents by the values at `order`, then by `_id`.
fn compare_docs(
    left: &Map<String, Value>,
    right: &Map<String, Value>,
    order: &[FieldPath],
) -> Ordering {
    let null = Value::Null;
    for path in order {
        let left_value = lookup(left, path).unwrap_or(&null);
        let right_value = lookup(right, path).unwrap_or(&null);
        let by_field = match path.len() == 1 && path[0] == "_id" {
            true => compare_raw(left_value, right_value),
            false => compare(left_value, right_value),
        };
        if by_field.is_ne() {
            return by_field;
        }
    }
    let left_id = left.get("_id").unwrap_or(&null);
    let right_id = right.get("_id").unwrap_or(&null);
    compare_raw(left_id, right_id)
}

/// Reads the offset of a bookmark this server made; 0 without one.
fn bookmark_offset(body: &Map<String, Value>) -> Result<u64, StackError> {
    let bookmark = match body.get("bookmark") {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::String(bookmark)) if bookmark.is_empty() || bookmark == "nil" => return Ok(0),
        Some(Value::String(bookmark)) => bookmark,
        Some(_) => return Err(invalid_bookmark()),
    };
    URL_SAFE_NO_PAD
        .decode(bookmark)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(BOOKMARK_PREFIX)?.parse().ok())
        .ok_or_else(invalid_bookmark)
}

fn invalid_bookmark() -> StackError {
    StackError::couch(400, "invalid_bookmark", "Invalid bookmark value")
}

/// Keeps only `fields` of `doc` (nested for dotted paths), or the whole
/// document when there is no `fields`.
fn project(doc: &Map<String, Value>, fields: Option<&[FieldPath]>) -> Value {
    let Some(fields) = fields else {
        return Value::Object(doc.clone());
    };
    let mut projected = Map::new();
    for path in fields {
        if let Some(value) = lookup(doc, path) {
            insert_at(&mut projected, path, value.clone());
        }
    }
    Value::Object(projected)
}

fn insert_at(target: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        target.insert(first.clone(), value);
        return;
    }
    let entry = target
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(inner) = entry {
        insert_at(inner, rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mango::define_index;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn collection() -> Collection {
        let mut collection = Collection::default();
        for (id, vendor, amount) in [("a", "acme", 3), ("b", "acme", 1), ("c", "zen", 2)] {
            let doc = json!({"_id": id, "_rev": "1-x", "vendor": vendor, "amount": amount});
            collection.docs.insert(id.to_owned(), object(doc));
        }
        let index = object(json!({"index": {"fields": ["vendor", "amount"]}}));
        define_index(&mut collection, &index).expect("index defined");
        collection
    }

    fn ids(result: &Value) -> Vec<String> {
        result["docs"]
            .as_array()
            .map(|docs| {
                docs.iter()
                    .filter_map(|doc| doc["_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn finds_in_index_order() {
        let collection = collection();
        let query = object(json!({"selector": {"vendor": "acme", "amount": {"$gt": 0}}}));
        let result = find(Some(&collection), &query).expect("found");
        assert_eq!(ids(&result), ["b", "a"]);
        assert_eq!(result["limit"], 100);
        assert_eq!(result["next"], false);
    }

    #[test]
    fn sort_limit_skip_and_bookmark() {
        let collection = collection();
        let query = object(json!({
            "selector": {"vendor": "acme"},
            "sort": [{"vendor": "desc"}, {"amount": "desc"}],
            "limit": 1,
        }));
        let first = find(Some(&collection), &query).expect("found");
        assert_eq!(ids(&first), ["a"]);
        assert_eq!(first["next"], true);

        let mut next = query.clone();
        next.insert("bookmark".to_owned(), first["bookmark"].clone());
        let second = find(Some(&collection), &next).expect("found");
        assert_eq!(ids(&second), ["b"]);

        let mut skipped = query;
        skipped.insert("skip".to_owned(), json!(1));
        let third = find(Some(&collection), &skipped).expect("found");
        assert_eq!(ids(&third), ["b"]);
    }

    #[test]
    fn fields_projection() {
        let collection = collection();
        let query = object(json!({
            "selector": {"vendor": "zen", "amount": 2},
            "fields": ["_id", "amount"],
        }));
        let result = find(Some(&collection), &query).expect("found");
        assert_eq!(result["docs"], json!([{"_id": "c", "amount": 2}]));
    }

    #[test]
    fn errors_like_the_stack() {
        let collection = collection();
        let cases = [
            (json!({}), "missing_required_key"),
            (json!({"selector": {"amount": 1}}), "no_index"),
            (
                json!({"selector": {"amount": 1}, "sort": ["amount"]}),
                "no_usable_index",
            ),
            (
                json!({"selector": {"vendor": "a"}, "sort": [{"vendor": "asc"}, {"amount": "desc"}]}),
                "unsupported_mixed_sort",
            ),
            (
                json!({"selector": {"vendor": "a", "amount": 1}, "bookmark": "junk"}),
                "invalid_bookmark",
            ),
        ];
        for (query, expected) in cases {
            let result = find(Some(&collection), &object(query.clone()));
            match result {
                Err(StackError::Couch { status, error, .. }) => {
                    assert_eq!(status, 400, "{query}");
                    assert_eq!(error, expected, "{query}");
                }
                other => panic!("{query}: expected {expected}, got {other:?}"),
            }
        }
        let missing = find(None, &object(json!({"selector": {}})));
        assert_eq!(
            missing.map_err(|error| error.status()).map(|_| ()),
            Err(404)
        );
    }

    #[test]
    fn large_limit_falls_back_to_default() {
        let collection = collection();
        let query = object(json!({"selector": {"vendor": "acme", "amount": 1}, "limit": 5000}));
        let result = find(Some(&collection), &query).expect("found");
        assert_eq!(result["limit"], 100);
    }
}
