//! Mango: indexes and `_find` selectors, as the stack returns them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::Fixture;

const FIND: &str = "/data/io.cozy.bills/_find";

/// Seeds four bills and returns the fixture.
async fn fixture_with_bills() -> Fixture {
    let fixture = Fixture::start().await;
    let bills = [
        (
            "b1",
            json!({"vendor": "acme", "amount": 10, "date": "2024-01-05", "meta": {"n": "A1"}}),
        ),
        (
            "b2",
            json!({"vendor": "acme", "amount": 25, "date": "2024-02-05", "meta": {"n": "A2"}}),
        ),
        (
            "b3",
            json!({"vendor": "zen", "amount": 7, "date": "2024-01-20"}),
        ),
        (
            "b4",
            json!({"vendor": "zen", "amount": 30, "date": "2024-03-01", "meta": {"n": "Z1"}}),
        ),
    ];
    for (id, bill) in bills {
        fixture
            .server
            .add_document("io.cozy.bills", id, bill)
            .expect("seeded");
    }
    fixture
}

fn ids(result: &Value) -> Vec<&str> {
    result["docs"]
        .as_array()
        .map(|docs| docs.iter().filter_map(|doc| doc["_id"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn index_defined_once() {
    let fixture = Fixture::start().await;
    let body = json!({"index": {"fields": ["vendor", "date"]}});

    let (status, first) = fixture
        .send_json(Method::POST, "/data/io.cozy.bills/_index", &body)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["result"], "created");
    let ddoc = first["id"].as_str().expect("ddoc id");
    assert!(ddoc.starts_with("_design/"), "{ddoc}");
    assert_eq!(first["name"].as_str(), ddoc.strip_prefix("_design/"));

    let (status, second) = fixture
        .send_json(Method::POST, "/data/io.cozy.bills/_index", &body)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["result"], "exists");
    assert_eq!(second["id"], first["id"]);

    let indexes = fixture.server.indexes("io.cozy.bills");
    assert_eq!(indexes.len(), 1);
    assert_eq!(indexes[0].fields, ["vendor", "date"]);

    let (status, _) = fixture
        .send_json(
            Method::POST,
            "/data/io.cozy.bills/_index",
            &json!({"fields": ["a"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn selectors_on_an_index() {
    let fixture = fixture_with_bills().await;
    fixture
        .define_index("io.cozy.bills", json!(["vendor", "amount"]))
        .await;
    fixture
        .define_index("io.cozy.bills", json!(["meta.n"]))
        .await;
    fixture.define_index("io.cozy.bills", json!(["date"])).await;

    let cases = [
        (
            json!({"vendor": "acme", "amount": {"$gt": 0}}),
            vec!["b1", "b2"],
        ),
        (
            json!({"vendor": {"$eq": "zen"}, "amount": {"$gte": 7, "$lt": 30}}),
            vec!["b3"],
        ),
        (
            json!({"vendor": {"$in": ["zen", "x"]}, "amount": {"$lte": 30}}),
            vec!["b3", "b4"],
        ),
        (json!({"meta.n": {"$exists": true}}), vec!["b1", "b2", "b4"]),
        (json!({"meta": {"n": {"$gt": "A1"}}}), vec!["b2", "b4"]),
        (
            json!({"date": {"$gte": "2024-01-10", "$lt": "2024-03-01"}}),
            vec!["b3", "b2"],
        ),
        (
            json!({"date": {"$gt": ""}, "meta.n": {"$exists": false}}),
            vec!["b3"],
        ),
    ];
    for (selector, expected) in cases {
        let (status, result) = fixture
            .send_json(Method::POST, FIND, &json!({"selector": selector}))
            .await;
        assert_eq!(status, StatusCode::OK, "{selector}: {result}");
        assert_eq!(ids(&result), expected, "{selector}");
        assert_eq!(result["limit"], 100, "{selector}");
        assert_eq!(result["next"], false, "{selector}");
        assert!(result["bookmark"].is_string(), "{selector}");
    }

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn sort_limit_skip_and_fields() {
    let fixture = fixture_with_bills().await;
    fixture
        .define_index("io.cozy.bills", json!(["vendor", "date"]))
        .await;

    let query = json!({
        "selector": {"vendor": "acme"},
        "sort": [{"vendor": "desc"}, {"date": "desc"}],
        "limit": 1,
        "fields": ["_id", "date", "meta.n"],
    });
    let (status, first) = fixture.send_json(Method::POST, FIND, &query).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first["docs"],
        json!([{"_id": "b2", "date": "2024-02-05", "meta": {"n": "A2"}}])
    );
    assert_eq!(first["limit"], 1);
    assert_eq!(first["next"], true);

    let mut next_page = query.clone();
    next_page["bookmark"] = first["bookmark"].clone();
    let (_, second) = fixture.send_json(Method::POST, FIND, &next_page).await;
    assert_eq!(ids(&second), ["b1"]);

    let mut skipped = query;
    skipped["skip"] = json!(1);
    skipped["limit"] = json!(5);
    let (_, third) = fixture.send_json(Method::POST, FIND, &skipped).await;
    assert_eq!(ids(&third), ["b1"]);
    assert_eq!(third["next"], false);

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn queries_without_an_index_are_refused() {
    let fixture = fixture_with_bills().await;

    let (status, error) = fixture
        .send_json(Method::POST, FIND, &json!({"selector": {"vendor": "acme"}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error,
        json!({"ok": false, "status": "400", "error": "no_index", "reason": "no matching index found, create an index"})
    );

    fixture
        .define_index("io.cozy.bills", json!(["vendor", "date"]))
        .await;
    // The index needs both fields in the selector.
    let (status, error) = fixture
        .send_json(Method::POST, FIND, &json!({"selector": {"amount": 10}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"], "no_index");
    let sorted = json!({"selector": {"vendor": "acme"}, "sort": ["amount"]});
    let (status, error) = fixture.send_json(Method::POST, FIND, &sorted).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"], "no_usable_index");

    let (status, error) = fixture
        .send_json(
            Method::POST,
            FIND,
            &json!({"selector": {"vendor": {"$regex": "a"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"], "invalid_operator");

    let (status, error) = fixture
        .send_json(
            Method::POST,
            "/data/io.cozy.nothing/_find",
            &json!({"selector": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn use_index_and_warning() {
    let fixture = fixture_with_bills().await;
    fixture
        .define_index("io.cozy.bills", json!(["vendor"]))
        .await;
    let by_date = json!({"index": {"fields": ["date"]}, "ddoc": "by-date", "name": "by-date"});
    let (status, _) = fixture
        .send_json(Method::POST, "/data/io.cozy.bills/_index", &by_date)
        .await;
    assert_eq!(status, StatusCode::OK);

    // by-date cannot serve a selector without date, so the vendor index
    // serves the query, and the response carries CouchDB's warning.
    let query = json!({"selector": {"vendor": "zen"}, "use_index": "_design/by-date"});
    let (status, result) = fixture.send_json(Method::POST, FIND, &query).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(ids(&result), ["b3", "b4"]);
    let warning = result["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("_design/by-date was not used"),
        "{warning}"
    );

    let query =
        json!({"selector": {"vendor": "zen", "date": {"$gt": "2024-02"}}, "use_index": "by-date"});
    let (status, result) = fixture.send_json(Method::POST, FIND, &query).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(ids(&result), ["b4"]);
    assert!(result.get("warning").is_none());

    fixture.server.shutdown().await;
}
