//! The job's cookie jar.
//!
//! Cookies follow RFC 6265 as the `cookie_store` crate implements it: a
//! cookie is sent only to the domain and path it belongs to, `Secure`
//! cookies only over https. The jar lives as long as the job's client, so
//! nothing carries over to another job.

use std::sync::Mutex;

use cookie_store::CookieStore;
use http::header::{HeaderMap, HeaderValue, SET_COOKIE};
use url::Url;

/// Maximum number of cookies one job's jar keeps; further new cookies are
/// ignored, which bounds the memory a hostile server can make the job use.
pub const MAX_JAR_COOKIES: usize = 1000;

/// A per-job cookie jar.
#[derive(Debug, Default)]
pub(crate) struct CookieJar {
    store: Mutex<CookieStore>,
}

impl CookieJar {
    /// Builds the `Cookie` header value for a request to `url`, if the jar
    /// has cookies for it.
    pub(crate) fn header_for(&self, url: &Url) -> Option<HeaderValue> {
        let store = self
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pairs: Vec<String> = store
            .get_request_values(url)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        HeaderValue::from_str(&pairs.join("; ")).ok()
    }

    /// Stores the `Set-Cookie` headers of a response from `url`.
    pub(crate) fn store_from(&self, url: &Url, headers: &HeaderMap) {
        let mut store = self
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for value in headers.get_all(SET_COOKIE) {
            // NOTE: once the jar is full, a cookie that would replace an
            // existing one is ignored too.
            if store.iter_any().count() >= MAX_JAR_COOKIES {
                tracing::debug!(host = url.host_str(), "cookie jar full, Set-Cookie ignored");
                return;
            }
            let Ok(text) = value.to_str() else { continue };
            if let Err(error) = store.parse(text, url) {
                tracing::debug!(host = url.host_str(), %error, "Set-Cookie ignored");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("valid URL")
    }

    fn set_cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                SET_COOKIE,
                HeaderValue::from_str(value).expect("valid value"),
            );
        }
        headers
    }

    #[test]
    fn cookies_go_back_to_their_domain() {
        let jar = CookieJar::default();
        jar.store_from(
            &url("https://login.vendor.test/"),
            &set_cookies(&["session=abc; Path=/", "wide=1; Domain=vendor.test; Path=/"]),
        );

        let same = jar
            .header_for(&url("https://login.vendor.test/bills"))
            .expect("cookies");
        let mut pairs: Vec<&str> = same.to_str().expect("ASCII").split("; ").collect();
        pairs.sort();
        assert_eq!(pairs, ["session=abc", "wide=1"]);

        let sibling = jar
            .header_for(&url("https://api.vendor.test/"))
            .expect("cookies");
        assert_eq!(sibling.to_str().expect("ASCII"), "wide=1");

        assert!(jar.header_for(&url("https://other.test/")).is_none());
    }

    #[test]
    fn secure_cookie_not_sent_over_http() {
        let jar = CookieJar::default();
        jar.store_from(&url("https://vendor.test/"), &set_cookies(&["s=1; Secure"]));
        assert!(jar.header_for(&url("http://vendor.test/")).is_none());
        assert!(jar.header_for(&url("https://vendor.test/")).is_some());
    }

    #[test]
    fn jar_is_capped() {
        let jar = CookieJar::default();
        let values: Vec<String> = (0..MAX_JAR_COOKIES + 10)
            .map(|i| format!("c{i}=v"))
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        jar.store_from(&url("https://vendor.test/"), &set_cookies(&refs));
        let store = jar.store.lock().expect("not poisoned");
        assert_eq!(store.iter_any().count(), MAX_JAR_COOKIES);
    }
}
