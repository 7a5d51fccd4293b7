//! CouchDB's order of JSON values, used by Mango comparisons and sorts.
//!
//! Types come in this order: null, false, true, numbers, strings, arrays,
//! objects. Arrays compare element by element, then by length; objects
//! compare key by key (keys in sorted order here), then by size.
//!
//! NOTE: CouchDB orders strings with ICU's root collation. This module
//! approximates it for ASCII: spaces and punctuation before digits before
//! letters, letters without regard to case first and then lower case
//! before upper case (`"a" < "A" < "b"`). Other characters fall back to
//! code point order, so accented letters do not sort beside their base
//! letter as ICU would sort them.

use std::cmp::Ordering;

use serde_json::Value;

/// Compares two values in CouchDB's collation order.
pub(crate) fn compare(left: &Value, right: &Value) -> Ordering {
    let by_type = type_rank(left).cmp(&type_rank(right));
    if by_type != Ordering::Equal {
        return by_type;
    }
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => {
            let left = left.as_f64().unwrap_or_default();
            let right = right.as_f64().unwrap_or_default();
            left.total_cmp(&right)
        }
        (Value::String(left), Value::String(right)) => compare_strings(left, right),
        (Value::Array(left), Value::Array(right)) => left
            .iter()
            .zip(right)
            .map(|(left, right)| compare(left, right))
            .find(|order| order.is_ne())
            .unwrap_or_else(|| left.len().cmp(&right.len())),
        (Value::Object(left), Value::Object(right)) => left
            .iter()
            .zip(right)
            .map(|((left_key, left), (right_key, right))| {
                compare_strings(left_key, right_key).then_with(|| compare(left, right))
            })
            .find(|order| order.is_ne())
            .unwrap_or_else(|| left.len().cmp(&right.len())),
        // Null, and booleans whose rank already differs.
        _ => Ordering::Equal,
    }
}

/// Compares values as CouchDB compares `_id`: strings byte by byte,
/// anything else by collation.
pub(crate) fn compare_raw(left: &Value, right: &Value) -> Ordering {
    match (left, right) {
        (Value::String(left), Value::String(right)) => left.as_bytes().cmp(right.as_bytes()),
        _ => compare(left, right),
    }
}

fn type_rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(false) => 1,
        Value::Bool(true) => 2,
        Value::Number(_) => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

/// Compares strings: first by the primary key of each character (class,
/// then the letter without case), then lower case before upper case, then
/// by code point.
fn compare_strings(left: &str, right: &str) -> Ordering {
    let primary = left
        .chars()
        .map(primary_key)
        .cmp(right.chars().map(primary_key));
    primary
        .then_with(|| {
            left.chars()
                .map(case_rank)
                .cmp(right.chars().map(case_rank))
        })
        .then_with(|| left.cmp(right))
}

/// Returns the class of a character (0 for spaces, punctuation and
/// symbols, 1 for digits, 2 for letters, 3 for anything else) and its
/// lower-case form.
fn primary_key(c: char) -> (u8, char) {
    let class = match c {
        c if c.is_ascii_digit() => 1,
        c if c.is_ascii_alphabetic() => 2,
        c if c.is_ascii() => 0,
        _ => 3,
    };
    (class, c.to_ascii_lowercase())
}

fn case_rank(c: char) -> u8 {
    u8::from(c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sorted(mut values: Vec<Value>) -> Vec<Value> {
        values.sort_by(compare);
        values
    }

    #[test]
    fn types_in_couchdb_order() {
        let values = vec![
            json!({"a": 1}),
            json!([1]),
            json!("a"),
            json!(2),
            json!(true),
            json!(false),
            json!(null),
        ];
        let expected = vec![
            json!(null),
            json!(false),
            json!(true),
            json!(2),
            json!("a"),
            json!([1]),
            json!({"a": 1}),
        ];
        assert_eq!(sorted(values), expected);
    }

    #[test]
    fn strings_like_icu_for_ascii() {
        let values = vec![
            json!("b"),
            json!("B"),
            json!("a"),
            json!("A"),
            json!("1"),
            json!("-"),
        ];
        let expected = vec![
            json!("-"),
            json!("1"),
            json!("a"),
            json!("A"),
            json!("b"),
            json!("B"),
        ];
        assert_eq!(sorted(values), expected);
        assert_eq!(
            compare(&json!("2024-01-02"), &json!("2024-01-10")),
            Ordering::Less
        );
    }

    #[test]
    fn numbers_and_arrays() {
        assert_eq!(compare(&json!(1), &json!(1.0)), Ordering::Equal);
        assert_eq!(compare(&json!(-3), &json!(2.5)), Ordering::Less);
        assert_eq!(compare(&json!([1, 2]), &json!([1, 2, 0])), Ordering::Less);
        assert_eq!(
            compare(&json!([1, 3]), &json!([1, 2, 0])),
            Ordering::Greater
        );
        assert_eq!(compare_raw(&json!("B"), &json!("a")), Ordering::Less);
    }
}
