//! The bill list, its pagination, the PDFs and the JSON API, after login.

use std::collections::HashSet;
use std::io::Read;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use serde_json::Value;
use vendor_site::SiteConfig;

use crate::client::{Fixture, attribute_values, extract_attribute};

#[tokio::test]
async fn pagination_covers_all_bills_once() {
    let fixture = Fixture::start_default().await;
    fixture.log_in_http().await;

    let mut listed_ids = Vec::new();
    let mut page_count = 0;
    let mut next_path = Some("/bills".to_owned());
    while let Some(path) = next_path.take() {
        page_count += 1;
        assert!(page_count <= 10, "pagination does not end");
        let page = fixture
            .client
            .get(fixture.http_url(&path))
            .send()
            .await
            .expect("GET page");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        let page = page.text().await.expect("page text");
        listed_ids.extend(attribute_values(&page, "<li class=\"bill\"", "data-id"));
        next_path = extract_attribute(&page, "<a class=\"next\" href=\"");
    }

    let expected_ids: Vec<String> = fixture
        .site
        .bills()
        .into_iter()
        .map(|bill| bill.id)
        .collect();
    assert_eq!(page_count, 3, "12 bills at 5 per page");
    assert_eq!(listed_ids, expected_ids);
    let unique: HashSet<&String> = listed_ids.iter().collect();
    assert_eq!(unique.len(), 12);

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn pagination_exact_multiple() {
    let config = SiteConfig {
        bill_count: 10,
        bills_per_page: 5,
        ..SiteConfig::default()
    };
    let fixture = Fixture::start(config).await;
    fixture.log_in_http().await;

    let last = fixture
        .client
        .get(fixture.http_url("/bills?page=2"))
        .send()
        .await
        .expect("GET");
    let last = last.text().await.expect("page text");
    assert_eq!(
        attribute_values(&last, "<li class=\"bill\"", "data-id").len(),
        5
    );
    assert!(
        !last.contains("class=\"next\""),
        "no next link on the last page"
    );

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn no_bills_single_empty_page() {
    let config = SiteConfig {
        bill_count: 0,
        ..SiteConfig::default()
    };
    let fixture = Fixture::start(config).await;
    fixture.log_in_http().await;

    let page = fixture
        .client
        .get(fixture.http_url("/bills"))
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.expect("page text");
    assert!(!page.contains("<li class=\"bill\""));
    assert!(!page.contains("class=\"next\""));

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn bill_item_fields() {
    let fixture = Fixture::start_default().await;
    fixture.log_in_http().await;

    let page = fixture
        .client
        .get(fixture.http_url("/bills"))
        .send()
        .await
        .expect("GET");
    let page = page.text().await.expect("page text");
    let bills = fixture.site.bills();
    let first = &bills[0];

    assert_eq!(first.id, "F202512-0012");
    assert_eq!(first.date, "2025-12-05");
    assert_eq!(first.amount, 19.9);
    assert_eq!(first.label, "Mobile plan 50 GB – December 2025");
    assert_eq!(first.pdf_path, "/bills/F202512-0012.pdf");

    let expected_item = "<li class=\"bill\" data-id=\"F202512-0012\" data-date=\"2025-12-05\" \
        data-amount=\"19.90\">\n\
        <time class=\"date\" datetime=\"2025-12-05\">05/12/2025</time>\n\
        <span class=\"label\">Mobile plan 50 GB – December 2025</span>\n\
        <span class=\"amount\">19,90 €</span>\n\
        <a class=\"pdf\" href=\"/bills/F202512-0012.pdf\">Download the bill (PDF)</a>\n\
        </li>";
    assert!(page.contains(expected_item), "{page}");

    let amounts = attribute_values(&page, "<li class=\"bill\"", "data-amount");
    let expected: Vec<String> = bills[..5]
        .iter()
        .map(|bill| format!("{:.2}", bill.amount))
        .collect();
    assert_eq!(amounts, expected);

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn page_out_of_range() {
    let fixture = Fixture::start_default().await;
    fixture.log_in_http().await;

    for (query, status) in [
        ("page=0", StatusCode::NOT_FOUND),
        ("page=4", StatusCode::NOT_FOUND),
        ("page=two", StatusCode::BAD_REQUEST),
        ("page=-1", StatusCode::BAD_REQUEST),
        ("page=99999999999999999999999", StatusCode::BAD_REQUEST),
    ] {
        let url = fixture.http_url(&format!("/bills?{query}"));
        let response = fixture.client.get(url).send().await.expect("GET");
        assert_eq!(response.status(), status, "{query}");
    }

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn pdf_is_valid_and_deterministic() {
    let fixture = Fixture::start_default().await;
    fixture.log_in_http().await;

    let bill = &fixture.site.bills()[3];
    let url = fixture.http_url(&bill.pdf_path);
    let response = fixture.client.get(&url).send().await.expect("GET pdf");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/pdf");
    let pdf = response.bytes().await.expect("pdf bytes");

    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.ends_with(b"%%EOF\n"));
    let invoice_line = format!("(Invoice {}) Tj", bill.id);
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains(&invoice_line), "missing {invoice_line}");

    let again = fixture
        .client
        .get(&url)
        .send()
        .await
        .expect("GET pdf")
        .bytes()
        .await;
    assert_eq!(again.expect("pdf bytes"), pdf);

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn unknown_pdf_not_found() {
    let fixture = Fixture::start_default().await;
    fixture.log_in_http().await;

    for path in [
        "/bills/F000000-0000.pdf",
        "/bills/.pdf",
        "/bills/F202512-0012.PDF",
    ] {
        let response = fixture
            .client
            .get(fixture.http_url(path))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }

    fixture.site.shutdown().await;
}

async fn api_json(fixture: &Fixture, url: &str) -> Value {
    let response = fixture
        .client
        .get(url)
        .send()
        .await
        .expect("GET /api/bills");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert!(response.headers().get(CONTENT_ENCODING).is_none());
    response.json().await.expect("JSON body")
}

#[tokio::test]
async fn api_lists_bills_as_json() {
    let fixture = Fixture::start_default().await;
    fixture.log_in_http().await;

    let json = api_json(&fixture, &fixture.http_url("/api/bills")).await;
    let bills = fixture.site.bills();
    assert_eq!(json["count"], 12);
    let listed = json["bills"].as_array().expect("bills array");
    assert_eq!(listed.len(), bills.len());

    let port = fixture.site.http_addr().port();
    for (listed, bill) in listed.iter().zip(&bills) {
        assert_eq!(listed["id"], bill.id.as_str());
        assert_eq!(listed["date"], bill.date.as_str());
        assert_eq!(listed["amount"].as_f64(), Some(bill.amount));
        assert_eq!(listed["label"], bill.label.as_str());
        assert_eq!(listed["pdf_path"], bill.pdf_path.as_str());
        assert_eq!(listed["currency"], "EUR");
        let pdf_url = format!("http://vendor.example:{port}{}", bill.pdf_path);
        assert_eq!(listed["pdf_url"], pdf_url.as_str());
    }

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn api_gzip_decodes_to_json() {
    let fixture = Fixture::start_default().await;
    fixture.log_in_http().await;

    let url = fixture.http_url("/api/bills");
    let plain = fixture
        .client
        .get(&url)
        .send()
        .await
        .expect("GET")
        .bytes()
        .await;
    let plain = plain.expect("plain body");

    // reqwest is built without its gzip feature, so the body arrives as sent.
    let response = fixture
        .client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(response.headers()["vary"], "Accept-Encoding");
    let compressed = response.bytes().await.expect("compressed body");
    assert!(compressed.starts_with(&[0x1F, 0x8B]), "gzip magic bytes");
    assert!(compressed.len() < plain.len());

    let mut inflated = Vec::new();
    let read = flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut inflated);
    assert!(read.is_ok(), "{read:?}");
    assert_eq!(inflated, plain.to_vec());

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn https_api_links_use_https_port() {
    let fixture = Fixture::start_default().await;
    let config = fixture.site.config().clone();
    let base_url = fixture.https_url("");
    let response = fixture
        .log_in(&base_url, &config.login, &config.password)
        .await;
    assert_eq!(response.url().path(), "/bills");

    let json = api_json(&fixture, &fixture.https_url("/api/bills")).await;
    let port = fixture.site.https_addr().expect("HTTPS is on").port();
    let expected = format!("https://vendor.example:{port}/bills/F202512-0012.pdf");
    assert_eq!(json["bills"][0]["pdf_url"], expected.as_str());

    fixture.site.shutdown().await;
}
