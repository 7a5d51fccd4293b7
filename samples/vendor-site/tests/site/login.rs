//! The login form, the session cookie and the pages that need it.

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};

use crate::client::{Fixture, extract_attribute, plain_client_builder};

#[tokio::test]
async fn root_redirects_to_login() {
    let fixture = Fixture::start_default().await;
    let client = fixture.client_without_redirects();

    let response = client
        .get(fixture.http_url("/"))
        .send()
        .await
        .expect("GET /");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()[LOCATION], "/login");

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn login_form_sets_csrf_cookie() {
    let fixture = Fixture::start_default().await;

    let response = fixture
        .client
        .get(fixture.http_url("/login"))
        .send()
        .await
        .expect("GET /login");
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .expect("ASCII cookie")
        .to_owned();
    let page = response.text().await.expect("page text");
    let csrf = extract_attribute(&page, "name=\"csrf\" value=\"").expect("csrf input");

    assert!(page.contains("<form id=\"login-form\" action=\"/login\" method=\"post\">"));
    assert!(page.contains("name=\"login\""));
    assert!(page.contains("name=\"password\""));
    assert_eq!(cookie, format!("csrf={csrf}; HttpOnly; Path=/"));

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn login_sets_session_and_redirects() {
    let fixture = Fixture::start_default().await;
    let client = fixture.client_without_redirects();

    let page = client
        .get(fixture.http_url("/login"))
        .send()
        .await
        .expect("GET /login");
    let page = page.text().await.expect("page text");
    let csrf = extract_attribute(&page, "name=\"csrf\" value=\"").expect("csrf input");
    let response = client
        .post(fixture.http_url("/login"))
        .form(&[
            ("login", "demo@example.com"),
            ("password", "demo-password"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("POST /login");

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/bills");
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .expect("ASCII cookie");
    assert!(cookie.starts_with("session="), "{cookie}");
    assert!(cookie.ends_with("; HttpOnly; Path=/"), "{cookie}");

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn login_flow_reaches_bills() {
    let fixture = Fixture::start_default().await;

    let base_url = fixture.http_url("");
    let response = fixture
        .log_in(&base_url, "demo@example.com", "demo-password")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().path(), "/bills");
    let page = response.text().await.expect("page text");
    assert!(page.contains("Signed in as demo@example.com"), "{page}");
    assert!(page.contains("<li class=\"bill\""), "{page}");

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn wrong_password_shows_error() {
    let fixture = Fixture::start_default().await;

    let base_url = fixture.http_url("");
    let response = fixture.log_in(&base_url, "demo@example.com", "wrong").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().path(), "/login");
    let page = response.text().await.expect("page text");
    assert!(
        page.contains("<div class=\"error\">Invalid credentials</div>"),
        "{page}"
    );
    assert!(page.contains("id=\"login-form\""), "{page}");

    let bills = fixture
        .client
        .get(fixture.http_url("/bills"))
        .send()
        .await
        .expect("GET /bills");
    assert_eq!(
        bills.url().path(),
        "/login",
        "no session after a failed login"
    );

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn wrong_login_shows_error() {
    let fixture = Fixture::start_default().await;

    let base_url = fixture.http_url("");
    let response = fixture
        .log_in(&base_url, "other@example.com", "demo-password")
        .await;
    let page = response.text().await.expect("page text");
    assert!(
        page.contains("<div class=\"error\">Invalid credentials</div>"),
        "{page}"
    );

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn forged_csrf_rejected() {
    let fixture = Fixture::start_default().await;
    let client = fixture.client_without_redirects();

    // The cookie is set, but the form carries another token.
    client
        .get(fixture.http_url("/login"))
        .send()
        .await
        .expect("GET /login");
    let response = client
        .post(fixture.http_url("/login"))
        .form(&[
            ("login", "demo@example.com"),
            ("password", "demo-password"),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .all(|cookie| { !cookie.as_bytes().starts_with(b"session=") })
    );
    let page = response.text().await.expect("page text");
    assert!(page.contains("Invalid credentials"), "{page}");

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn csrf_without_cookie_rejected() {
    let fixture = Fixture::start_default().await;
    let client = plain_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds");

    // A token the site issued, sent without the cookie that goes with it.
    let page = client
        .get(fixture.http_url("/login"))
        .send()
        .await
        .expect("GET /login");
    let page = page.text().await.expect("page text");
    let csrf = extract_attribute(&page, "name=\"csrf\" value=\"").expect("csrf input");
    let response = client
        .post(fixture.http_url("/login"))
        .form(&[
            ("login", "demo@example.com"),
            ("password", "demo-password"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.expect("page text");
    assert!(page.contains("Invalid credentials"), "{page}");

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn malformed_form_rejected() {
    let fixture = Fixture::start_default().await;

    let bodies: [&[u8]; 4] = [
        b"",
        b"%%%&&&===",
        b"login=%FF%FE&password",
        &[0xFF, 0x00, 0x80],
    ];
    for body in bodies {
        let response = fixture
            .client
            .post(fixture.http_url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_vec())
            .send()
            .await
            .expect("POST /login");
        assert_eq!(response.status(), StatusCode::OK, "body {body:?}");
        let page = response.text().await.expect("page text");
        assert!(page.contains("Invalid credentials"), "body {body:?}");
    }

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn pages_need_session() {
    let fixture = Fixture::start_default().await;
    let client = fixture.client_without_redirects();

    let pdf_path = fixture.site.bills()[0].pdf_path.clone();
    for path in ["/bills", "/bills?page=2", "/api/bills", pdf_path.as_str()] {
        let response = client
            .get(fixture.http_url(path))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::FOUND, "{path}");
        assert_eq!(response.headers()[LOCATION], "/login", "{path}");
    }

    let forged = client
        .get(fixture.http_url("/bills"))
        .header("cookie", "session=0123456789abcdef0123456789abcdef")
        .send()
        .await
        .expect("GET /bills");
    assert_eq!(forged.status(), StatusCode::FOUND, "unknown session token");

    fixture.site.shutdown().await;
}

#[tokio::test]
async fn csrf_token_single_use() {
    let fixture = Fixture::start_default().await;
    let client = fixture.client_without_redirects();

    let page = client
        .get(fixture.http_url("/login"))
        .send()
        .await
        .expect("GET /login");
    let page = page.text().await.expect("page text");
    let csrf = extract_attribute(&page, "name=\"csrf\" value=\"").expect("csrf input");
    let form = [
        ("login", "demo@example.com"),
        ("password", "demo-password"),
        ("csrf", &csrf),
    ];
    let first = client
        .post(fixture.http_url("/login"))
        .form(&form)
        .send()
        .await
        .expect("POST");
    let second = client
        .post(fixture.http_url("/login"))
        .form(&form)
        .send()
        .await
        .expect("POST");

    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        second.status(),
        StatusCode::OK,
        "a replayed token is rejected"
    );

    fixture.site.shutdown().await;
}
