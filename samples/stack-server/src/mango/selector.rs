//! Mango selectors: parsing, matching documents, and the facts index
//! selection needs (which fields a selector requires, which it fixes).
//!
//! Selectors may use implicit equality and nested objects as dotted paths
//! (`{"a": {"b": 1}}` is `{"a.b": 1}`), with `\.` to escape a dot in a
//! field name. The field operators are `$eq`, `$ne`, `$gt`, `$gte`, `$lt`,
//! `$lte`, `$in`, `$nin` and `$exists`, and the combinations `$and`, `$or`,
//! `$nor` and `$not`. Other operators (`$regex`, `$elemMatch`, `$size`, `$all`,
//! `$type`, `$mod`, ...) are rejected with 400, although CouchDB supports
//! them.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::collate::{compare, compare_raw};
use crate::error::StackError;

/// A field path, such as `["metadata", "invoiceNumber"]` for
/// `metadata.invoiceNumber`.
pub(crate) type FieldPath = Vec<String>;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Selector {
    And(Vec<Selector>),
    Or(Vec<Selector>),
    Nor(Vec<Selector>),
    Not(Box<Selector>),
    Field {
        path: FieldPath,
        condition: Condition,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Condition {
    Eq(Value),
    Ne(Value),
    Gt(Value),
    Gte(Value),
    Lt(Value),
    Lte(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
}

/// Splits a field name on dots, except escaped ones (`\.`).
pub(crate) fn split_field(name: &str) -> FieldPath {
    let mut path = Vec::new();
    let mut current = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                current.push('.');
                chars.next();
            }
            '.' => path.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    path.push(current);
    path
}

/// Returns the value at `path` in `doc`, or `None` when a step is missing
/// or not an object.
pub(crate) fn lookup<'a>(doc: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = doc.get(first)?;
    for step in rest {
        value = value.as_object()?.get(step)?;
    }
    Some(value)
}

impl Selector {
    /// Parses a `selector` member.
    pub(crate) fn parse(value: &Value) -> Result<Selector, StackError> {
        match value {
            Value::Object(map) => parse_object(map, &[]),
            _ => Err(invalid_selector("the selector must be a JSON object")),
        }
    }

    /// Tells whether `doc` matches. As in CouchDB, a condition on a missing
    /// field is false, except `{"$exists": false}`.
    pub(crate) fn matches(&self, doc: &Map<String, Value>) -> bool {
        match self {
            Selector::And(all) => all.iter().all(|selector| selector.matches(doc)),
            Selector::Or(any) => any.iter().any(|selector| selector.matches(doc)),
            Selector::Nor(none) => !none.iter().any(|selector| selector.matches(doc)),
            Selector::Not(selector) => !selector.matches(doc),
            Selector::Field { path, condition } => match lookup(doc, path) {
                None => *condition == Condition::Exists(false),
                Some(value) => condition.matches(value, is_id(path)),
            },
        }
    }

    /// Returns the fields every matching document must have, as CouchDB
    /// checks before it uses an index on them.
    pub(crate) fn required_fields(&self) -> BTreeSet<FieldPath> {
        match self {
            Selector::And(all) => all.iter().flat_map(Selector::required_fields).collect(),
            Selector::Or(any) => {
                let mut branches = any.iter().map(Selector::required_fields);
                let first = branches.next().unwrap_or_default();
                branches.fold(first, |common, branch| {
                    common.intersection(&branch).cloned().collect()
                })
            }
            Selector::Nor(_) | Selector::Not(_) => BTreeSet::new(),
            Selector::Field { condition, .. } if *condition == Condition::Exists(false) => {
                BTreeSet::new()
            }
            Selector::Field { path, .. } => BTreeSet::from([path.clone()]),
        }
    }

    /// Tells whether the selector fixes `path` to one value with `$eq` (or
    /// implicit equality) at its top level.
    pub(crate) fn is_constant_field(&self, path: &[String]) -> bool {
        match self {
            Selector::And(all) => all.iter().any(|selector| selector.is_constant_field(path)),
            Selector::Field {
                path: field,
                condition: Condition::Eq(_),
            } => field == path,
            _ => false,
        }
    }
}

impl Condition {
    fn matches(&self, value: &Value, raw: bool) -> bool {
        let order = |argument: &Value| match raw {
            true => compare_raw(value, argument),
            false => compare(value, argument),
        };
        match self {
            Condition::Eq(argument) => order(argument) == Ordering::Equal,
            Condition::Ne(argument) => order(argument) != Ordering::Equal,
            Condition::Gt(argument) => order(argument) == Ordering::Greater,
            Condition::Gte(argument) => order(argument) != Ordering::Less,
            Condition::Lt(argument) => order(argument) == Ordering::Less,
            Condition::Lte(argument) => order(argument) != Ordering::Greater,
            Condition::In(arguments) => matches_in(value, arguments),
            Condition::Nin(arguments) => !matches_in(value, arguments),
            Condition::Exists(exists) => *exists,
        }
    }
}

/// `$in`: the value equals one of the arguments, or, for an array, one of
/// its elements does (CouchDB's rule).
fn matches_in(value: &Value, arguments: &[Value]) -> bool {
    let equals_one = |item: &Value| {
        arguments
            .iter()
            .any(|argument| compare(item, argument) == Ordering::Equal)
    };
    match value {
        Value::Array(items) => items.iter().any(equals_one),
        other => equals_one(other),
    }
}

fn is_id(path: &[String]) -> bool {
    path.len() == 1 && path[0] == "_id"
}

fn parse_object(map: &Map<String, Value>, prefix: &[String]) -> Result<Selector, StackError> {
    let mut parts = Vec::with_capacity(map.len());
    for (key, value) in map {
        if key.starts_with('$') {
            parts.push(parse_operator(key, value, prefix)?);
            continue;
        }
        let mut path = prefix.to_vec();
        path.extend(split_field(key));
        match value {
            Value::Object(inner) if !inner.is_empty() => parts.push(parse_object(inner, &path)?),
            other => parts.push(Selector::Field {
                path,
                condition: Condition::Eq(other.clone()),
            }),
        }
    }
    Ok(match parts.len() {
        1 => parts.remove(0),
        _ => Selector::And(parts),
    })
}

fn parse_operator(key: &str, value: &Value, prefix: &[String]) -> Result<Selector, StackError> {
    let combine = |make: fn(Vec<Selector>) -> Selector| -> Result<Selector, StackError> {
        let Value::Array(items) = value else {
            return Err(bad_argument(key, value));
        };
        let parsed = items
            .iter()
            .map(|item| match item {
                Value::Object(map) => parse_object(map, prefix),
                other => Err(bad_argument(key, other)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(make(parsed))
    };
    match key {
        "$and" => combine(Selector::And),
        "$or" => combine(Selector::Or),
        "$nor" => combine(Selector::Nor),
        "$not" => match value {
            Value::Object(map) => Ok(Selector::Not(Box::new(parse_object(map, prefix)?))),
            other => Err(bad_argument(key, other)),
        },
        _ if prefix.is_empty() => Err(invalid_operator(key)),
        _ => Ok(Selector::Field {
            path: prefix.to_vec(),
            condition: parse_condition(key, value)?,
        }),
    }
}

fn parse_condition(key: &str, value: &Value) -> Result<Condition, StackError> {
    let argument = value.clone();
    Ok(match key {
        "$eq" => Condition::Eq(argument),
        "$ne" => Condition::Ne(argument),
        "$gt" => Condition::Gt(argument),
        "$gte" => Condition::Gte(argument),
        "$lt" => Condition::Lt(argument),
        "$lte" => Condition::Lte(argument),
        "$in" | "$nin" => {
            let Value::Array(items) = argument else {
                return Err(bad_argument(key, value));
            };
            match key {
                "$in" => Condition::In(items),
                _ => Condition::Nin(items),
            }
        }
        "$exists" => match value {
            Value::Bool(exists) => Condition::Exists(*exists),
            other => return Err(bad_argument(key, other)),
        },
        "$regex" | "$elemMatch" | "$allMatch" | "$keyMapMatch" | "$size" | "$all" | "$type"
        | "$mod" | "$beginsWith" | "$text" => {
            return Err(StackError::couch(
                400,
                "invalid_operator",
                &format!("Operator {key} is not supported by this test server"),
            ));
        }
        _ => return Err(invalid_operator(key)),
    })
}

fn invalid_operator(key: &str) -> StackError {
    StackError::couch(400, "invalid_operator", &format!("Invalid operator: {key}"))
}

fn bad_argument(key: &str, value: &Value) -> StackError {
    StackError::couch(
        400,
        "bad_arg",
        &format!("Bad argument for operator {key}: {value}"),
    )
}

fn invalid_selector(reason: &str) -> StackError {
    StackError::couch(400, "invalid_selector", reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn matches(selector: Value, document: Value) -> bool {
        let selector = Selector::parse(&selector).expect("valid selector");
        selector.matches(&doc(document))
    }

    #[test]
    fn field_operators() {
        let bill = json!({"vendor": "acme", "amount": 12.5, "tags": ["a", "b"], "meta": {"n": 3}});
        assert!(matches(json!({"vendor": "acme"}), bill.clone()));
        assert!(!matches(json!({"vendor": "other"}), bill.clone()));
        assert!(matches(
            json!({"amount": {"$gt": 10, "$lte": 12.5}}),
            bill.clone()
        ));
        assert!(!matches(json!({"amount": {"$lt": 12.5}}), bill.clone()));
        assert!(matches(
            json!({"vendor": {"$in": ["x", "acme"]}}),
            bill.clone()
        ));
        assert!(matches(json!({"tags": {"$in": ["b"]}}), bill.clone()));
        assert!(matches(json!({"vendor": {"$nin": ["x"]}}), bill.clone()));
        assert!(matches(json!({"meta.n": 3}), bill.clone()));
        assert!(matches(json!({"meta": {"n": {"$eq": 3}}}), bill.clone()));
        assert!(matches(
            json!({"missing": {"$exists": false}}),
            bill.clone()
        ));
        assert!(!matches(json!({"missing": {"$ne": 1}}), bill.clone()));
        assert!(matches(json!({"meta.n": {"$exists": true}}), bill.clone()));
        assert!(matches(
            json!({"$or": [{"vendor": "x"}, {"amount": 12.5}]}),
            bill.clone()
        ));
        assert!(matches(json!({"$not": {"vendor": "x"}}), bill.clone()));
        assert!(matches(json!({}), bill));
    }

    #[test]
    fn comparisons_cross_types_by_collation() {
        // Strings sort after numbers, so they are greater than any number.
        assert!(matches(json!({"x": {"$gt": 5}}), json!({"x": "text"})));
        assert!(matches(json!({"x": {"$lt": 5}}), json!({"x": null})));
    }

    #[test]
    fn escaped_dots() {
        assert_eq!(split_field("a.b"), vec!["a", "b"]);
        assert_eq!(split_field(r"a\.b"), vec!["a.b"]);
        assert!(matches(json!({r"a\.b": 1}), json!({"a.b": 1})));
    }

    #[test]
    fn invalid_selectors_rejected() {
        for selector in [
            json!([]),
            json!({"$eq": 1}),
            json!({"a": {"$foo": 1}}),
            json!({"a": {"$in": 1}}),
            json!({"a": {"$exists": "yes"}}),
            json!({"a": {"$regex": "^x"}}),
            json!({"$and": {"a": 1}}),
        ] {
            let parsed = Selector::parse(&selector);
            assert_eq!(parsed.map_err(|e| e.status()), Err(400), "{selector}");
        }
    }

    #[test]
    fn required_and_constant_fields() {
        let selector = Selector::parse(&json!({
            "vendor": "acme",
            "date": {"$gt": "2024"},
            "gone": {"$exists": false},
            "$or": [{"a": 1, "b": 2}, {"a": 3}],
        }))
        .expect("valid selector");
        let required: Vec<String> = selector
            .required_fields()
            .into_iter()
            .map(|path| path.join("."))
            .collect();
        assert_eq!(required, ["a", "date", "vendor"]);
        assert!(selector.is_constant_field(&["vendor".to_owned()]));
        assert!(!selector.is_constant_field(&["date".to_owned()]));
    }
}
