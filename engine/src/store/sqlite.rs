//! The SQLite side of the store: schema migrations, and reading and writing
//! rows of the `documents` table.
//!
//! Every document is one row: its doctype, id, revision and body (the JSON
//! object without `_id`, `_rev` or `_type`). `seq` records creation order.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::{Map, Value};

use super::{MAX_DOCUMENT_BYTES, StoreError, revision};
use crate::sink::SinkError;

/// Schema version stored in `PRAGMA user_version`. An empty database has
/// version 0.
const SCHEMA_VERSION: i64 = 1;

/// How long a write waits for another connection's write lock (another
/// process on the same database) before it fails with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Version 1: the documents table, and an index to find a file or folder by
/// parent folder and name.
const SCHEMA_V1: &str = "
CREATE TABLE documents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doctype TEXT NOT NULL,
    id TEXT NOT NULL,
    rev TEXT NOT NULL,
    body TEXT NOT NULL CHECK (json_valid(body)),
    UNIQUE (doctype, id)
);
CREATE INDEX documents_by_doctype ON documents (doctype, seq);
CREATE INDEX files_by_parent_and_name
    ON documents (json_extract(body, '$.dir_id'), json_extract(body, '$.name'))
    WHERE doctype = 'io.cozy.files';
";

/// One stored document.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StoredDoc {
    pub(super) doctype: String,
    pub(super) id: String,
    pub(super) rev: String,
    pub(super) body: Map<String, Value>,
}

/// Opens (creating if needed) the database at `path` in WAL mode and brings
/// its schema to [`SCHEMA_VERSION`].
pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    let open_error = |error| StoreError::OpenDatabase {
        path: path.to_owned(),
        error,
    };
    let mut conn = Connection::open(path).map_err(open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "database is not in WAL mode");
    }
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Applies the missing schema versions in one transaction. The transaction
/// takes the write lock first, so two processes opening a new database at
/// once do not both create the tables.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let migrate_error = |error| StoreError::Migrate {
        path: path.to_owned(),
        version: SCHEMA_VERSION,
        error,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(migrate_error)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(migrate_error)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedSchema {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 1 {
        tx.execute_batch(SCHEMA_V1).map_err(migrate_error)?;
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(migrate_error)?;
        tracing::debug!(path = %path.display(), from = found, to = SCHEMA_VERSION, "migrated database");
    }
    tx.commit().map_err(migrate_error)
}

/// Serializes `body`, rejecting it when larger than [`MAX_DOCUMENT_BYTES`].
pub(super) fn encode_body(doctype: &str, body: &Map<String, Value>) -> Result<String, SinkError> {
    let text = serde_json::to_string(body).map_err(|err| {
        SinkError::Storage(format!("failed to serialize a {doctype} document: {err}"))
    })?;
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(SinkError::Invalid(format!(
            "{doctype} document is {} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit",
            text.len()
        )));
    }
    Ok(text)
}

/// Inserts a new document and returns its revision.
pub(super) fn insert(
    conn: &Connection,
    doctype: &str,
    id: &str,
    body: &Map<String, Value>,
) -> Result<String, SinkError> {
    let text = encode_body(doctype, body)?;
    let rev = revision::first_rev(&text);
    conn.execute(
        "INSERT INTO documents (doctype, id, rev, body) VALUES (?1, ?2, ?3, ?4)",
        params![doctype, id, rev, text],
    )
    .map_err(|err| storage_error(&format!("insert document {doctype}/{id}"), err))?;
    Ok(rev)
}

/// Replaces the body of `current` and returns the new revision.
pub(super) fn replace(
    conn: &Connection,
    current: &StoredDoc,
    body: &Map<String, Value>,
) -> Result<String, SinkError> {
    let StoredDoc { doctype, id, .. } = current;
    let text = encode_body(doctype, body)?;
    let rev = revision::next_rev(&current.rev, &text);
    let changed = conn
        .execute(
            "UPDATE documents SET rev = ?1, body = ?2 WHERE doctype = ?3 AND id = ?4 AND rev = ?5",
            params![rev, text, doctype, id, current.rev],
        )
        .map_err(|err| storage_error(&format!("update document {doctype}/{id}"), err))?;
    if changed != 1 {
        // Writes run in transactions that hold the write lock from their
        // first statement, so the row read earlier cannot have changed.
        return Err(SinkError::Storage(format!(
            "failed to update document {doctype}/{id}: revision {} is no longer stored",
            current.rev
        )));
    }
    Ok(rev)
}

/// Reads document `doctype`/`id`.
pub(super) fn get(
    conn: &Connection,
    doctype: &str,
    id: &str,
) -> Result<Option<StoredDoc>, SinkError> {
    get_row(conn, doctype, id)
        .map_err(|err| storage_error(&format!("read document {doctype}/{id}"), err))
}

/// Reads document `doctype`/`id`, with SQLite's error.
pub(super) fn get_row(
    conn: &Connection,
    doctype: &str,
    id: &str,
) -> rusqlite::Result<Option<StoredDoc>> {
    conn.query_row(
        "SELECT doctype, id, rev, body FROM documents WHERE doctype = ?1 AND id = ?2",
        params![doctype, id],
        read_row,
    )
    .optional()
}

/// Rows a search reads at most before it gives up; SQL narrows rows to
/// candidates, so only keys whose values are objects or arrays come near it.
pub(super) const MAX_SEARCH_ROWS: usize = 10_000;

/// Finds at most `limit` documents of `doctype` whose values at each JSON
/// path equal the given value, oldest first. Rows are read one at a time,
/// so memory stays bounded by `limit` whatever the number of matches.
///
/// SQLite narrows the candidates: same JSON type (integer and real count as
/// one), and for scalars the same value (`json_extract` turns `true` into 1,
/// which the type check distinguishes). Objects and arrays, and any number
/// SQLite rounds, are then compared in Rust with [`json_equal`].
pub(super) fn find_by_values(
    conn: &Connection,
    doctype: &str,
    matches: &[(KeyPath, &Value)],
    limit: usize,
) -> Result<Vec<StoredDoc>, SinkError> {
    let mut sql = String::from("SELECT doctype, id, rev, body FROM documents WHERE doctype = ?1");
    let mut bound: Vec<String> = vec![doctype.to_owned()];
    for (path, value) in matches {
        let path_param = bound.len() + 1;
        let value_param = path_param + 1;
        bound.push(path.sql_path());
        bound.push(value.to_string());
        sql.push_str(&format!(
            " AND {} = {}",
            type_class(&format!("json_type(body, ?{path_param})")),
            type_class(&format!("json_type(?{value_param})")),
        ));
        sql.push_str(&format!(
            " AND (json_type(?{value_param}) IN ('object', 'array') \
             OR json_extract(body, ?{path_param}) IS json_extract(?{value_param}, '$'))"
        ));
    }
    sql.push_str(" ORDER BY seq");

    let action = || format!("search {doctype} documents");
    let mut statement = conn
        .prepare(&sql)
        .map_err(|err| storage_error(&action(), err))?;
    let rows = statement
        .query_map(rusqlite::params_from_iter(bound.iter()), read_row)
        .map_err(|err| storage_error(&action(), err))?;
    let mut found = Vec::new();
    for (read, row) in rows.enumerate() {
        if found.len() >= limit {
            break;
        }
        if read >= MAX_SEARCH_ROWS {
            return Err(SinkError::Invalid(format!(
                "the upsert keys' values match more than {MAX_SEARCH_ROWS} candidate {doctype} documents; choose keys that identify one document"
            )));
        }
        let doc = row.map_err(|err| storage_error(&action(), err))?;
        let all_equal = matches.iter().all(|(path, value)| {
            path.lookup(&doc.body)
                .is_some_and(|stored| json_equal(stored, value))
        });
        if all_equal {
            found.push(doc);
        }
    }
    Ok(found)
}

/// Finds the file or folder named `name` in folder `dir_id`.
pub(super) fn find_child(
    conn: &Connection,
    dir_id: &str,
    name: &str,
) -> Result<Option<StoredDoc>, SinkError> {
    conn.query_row(
        "SELECT doctype, id, rev, body FROM documents
         WHERE doctype = 'io.cozy.files'
           AND json_extract(body, '$.dir_id') = ?1 AND json_extract(body, '$.name') = ?2
         ORDER BY seq LIMIT 1",
        params![dir_id, name],
        read_row,
    )
    .optional()
    .map_err(|err| storage_error(&format!("look up '{name}' in folder {dir_id}"), err))
}

/// Reads every document, or those of one doctype, by doctype then creation
/// order.
pub(super) fn list(conn: &Connection, doctype: Option<&str>) -> rusqlite::Result<Vec<StoredDoc>> {
    let mut statement = conn.prepare(
        "SELECT doctype, id, rev, body FROM documents
         WHERE ?1 IS NULL OR doctype = ?1 ORDER BY doctype, seq",
    )?;
    let rows = statement.query_map(params![doctype], read_row)?;
    rows.collect()
}

/// Counts the documents of `doctype`.
pub(super) fn count(conn: &Connection, doctype: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT count(*) FROM documents WHERE doctype = ?1",
        params![doctype],
        |row| row.get(0),
    )
}

/// A dotted key such as `vendorRef.id`, split into field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyPath {
    fields: Vec<String>,
}

impl KeyPath {
    /// Splits `key` on `.`, or returns why it cannot be a key.
    pub(super) fn parse(key: &str) -> Result<KeyPath, &'static str> {
        let fields: Vec<String> = key.split('.').map(str::to_owned).collect();
        if fields.iter().any(String::is_empty) {
            return Err("it has an empty field name");
        }
        // SQLite JSON paths quote field names with `"` and have no escape.
        if key.contains('"') {
            return Err("it contains '\"'");
        }
        Ok(KeyPath { fields })
    }

    /// Returns the SQLite JSON path of the key (`$."vendorRef"."id"`).
    fn sql_path(&self) -> String {
        let mut path = String::from("$");
        for field in &self.fields {
            path.push_str(&format!(".\"{field}\""));
        }
        path
    }

    /// Returns the value at this key in `body`, if present.
    pub(super) fn lookup<'a>(&self, body: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.fields.split_first()?;
        let mut value = body.get(first)?;
        for field in rest {
            value = value.as_object()?.get(field)?;
        }
        Some(value)
    }
}

/// Compares two JSON values, numbers by value (`1` equals `1.0`, as in
/// JavaScript) and objects regardless of key order.
pub(crate) fn json_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => {
            if let (Some(left), Some(right)) = (left.as_i64(), right.as_i64()) {
                left == right
            } else if let (Some(left), Some(right)) = (left.as_u64(), right.as_u64()) {
                left == right
            } else {
                left.as_f64() == right.as_f64()
            }
        }
        (Value::Array(left), Value::Array(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .zip(right)
                    .all(|(left, right)| json_equal(left, right))
        }
        (Value::Object(left), Value::Object(right)) => {
            left.len() == right.len()
                && left.iter().all(|(key, value)| {
                    right.get(key).is_some_and(|other| json_equal(value, other))
                })
        }
        _ => left == right,
    }
}

/// SQL expression mapping a `json_type` result to a type class, so that
/// `integer` and `real` compare as one `number` type.
fn type_class(json_type: &str) -> String {
    format!(
        "CASE {json_type} WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' ELSE {json_type} END"
    )
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<StoredDoc> {
    let body: String = row.get(3)?;
    let body = serde_json::from_str(&body)
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(3, Type::Text, Box::new(err)))?;
    Ok(StoredDoc {
        doctype: row.get(0)?,
        id: row.get(1)?,
        rev: row.get(2)?,
        body,
    })
}

/// Wraps a SQLite error as "failed to <action>: <cause>".
pub(super) fn storage_error(action: &str, err: rusqlite::Error) -> SinkError {
    SinkError::Storage(format!("failed to {action}: {err}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn memory_db() -> Connection {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        migrate(&mut conn, Path::new(":memory:")).expect("migrate");
        conn
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn key_path_parses_dotted_keys() {
        let path = KeyPath::parse("vendorRef.id").expect("path");
        assert_eq!(path.sql_path(), "$.\"vendorRef\".\"id\"");
        assert!(KeyPath::parse("a..b").is_err());
        assert!(KeyPath::parse("").is_err());
        assert!(KeyPath::parse("a.").is_err());
        assert!(KeyPath::parse("a\"b").is_err());

        let body = object(json!({"vendorRef": {"id": 7}, "flat": 1}));
        assert_eq!(path.lookup(&body), Some(&json!(7)));
        let missing = KeyPath::parse("flat.id").expect("path");
        assert_eq!(missing.lookup(&body), None);
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
    fn find_by_values_respects_types() {
        let conn = memory_db();
        let docs = [
            ("n", json!({"k": 1})),
            ("f", json!({"k": 1.0})),
            ("t", json!({"k": true})),
            ("s", json!({"k": "1"})),
            ("z", json!({"k": null})),
            ("m", json!({"other": 1})),
            ("o", json!({"k": {"x": 1, "y": [1, "a"]}})),
            ("os", json!({"k": "{\"x\":1,\"y\":[1,\"a\"]}"})),
        ];
        for (id, body) in &docs {
            insert(&conn, "t.docs", id, &object(body.clone())).expect("insert");
        }
        let path = KeyPath::parse("k").expect("path");
        let ids = |value: Value| -> Vec<String> {
            find_by_values(&conn, "t.docs", &[(path.clone(), &value)], 100)
                .expect("search")
                .into_iter()
                .map(|doc| doc.id)
                .collect()
        };
        assert_eq!(ids(json!(1)), ["n", "f"]);
        assert_eq!(ids(json!(true)), ["t"]);
        assert_eq!(ids(json!("1")), ["s"]);
        assert_eq!(ids(json!(null)), ["z"]);
        assert_eq!(ids(json!({"y": [1, "a"], "x": 1})), ["o"]);
        assert_eq!(ids(json!({"y": [1, "a"]})), Vec::<String>::new());
    }

    #[test]
    fn schema_newer_than_supported_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("future.sqlite");
        let conn = Connection::open(&path).expect("create");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set version");
        drop(conn);

        let err = open(&path).expect_err("newer schema");
        assert!(matches!(err, StoreError::UnsupportedSchema { .. }), "{err}");
        assert!(err.to_string().contains("future.sqlite"), "{err}");
    }

    #[test]
    fn oversized_body_rejected() {
        let body = object(json!({"blob": "x".repeat(MAX_DOCUMENT_BYTES)}));
        let err = encode_body("t.docs", &body).expect_err("too large");
        assert!(matches!(err, SinkError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("t.docs"), "{err}");
    }
}
