//! The request log returned by `VendorSite::requests`.

use crate::client::Fixture;

#[tokio::test]
async fn requests_recorded_in_order() {
    let fixture = Fixture::start_default().await;
    let client = fixture.client_without_redirects();

    client
        .get(fixture.http_url("/bills?page=2&sort=date"))
        .header("x-test-marker", "first")
        .send()
        .await
        .expect("GET");
    client
        .post(fixture.http_url("/login"))
        .form(&[("login", "a"), ("password", "b")])
        .send()
        .await
        .expect("POST");
    client
        .get(fixture.https_url("/login"))
        .send()
        .await
        .expect("GET over HTTPS");

    let records = fixture.site.requests();
    assert_eq!(records.len(), 3);

    let get = &records[0];
    assert_eq!(get.method, "GET");
    assert_eq!(get.path, "/bills?page=2&sort=date");
    assert_eq!(get.header("X-Test-Marker"), Some("first"));
    assert_eq!(get.body_len, 0);
    assert!(!get.tls);
    let host = get.header("host").expect("host header");
    assert_eq!(host, fixture.site.http_addr().to_string());

    let post = &records[1];
    assert_eq!(post.method, "POST");
    assert_eq!(post.path, "/login");
    assert_eq!(post.body_len, "login=a&password=b".len());
    assert_eq!(
        post.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );

    let https = &records[2];
    assert!(https.tls);
    let port = fixture.site.https_addr().expect("HTTPS is on").port();
    assert_eq!(
        https.header("host"),
        Some(format!("vendor.example:{port}").as_str())
    );

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn failed_requests_recorded() {
    let fixture = Fixture::start_default().await;

    fixture
        .client
        .get(fixture.http_url("/nope"))
        .send()
        .await
        .expect("GET");
    fixture
        .client
        .delete(fixture.http_url("/bills"))
        .send()
        .await
        .expect("DELETE");

    let records = fixture.site.requests();
    let summary: Vec<(&str, &str)> = records
        .iter()
        .map(|record| (record.method.as_str(), record.path.as_str()))
        .collect();
    assert_eq!(summary, [("GET", "/nope"), ("DELETE", "/bills")]);

    fixture.site.shutdown().await;
}
