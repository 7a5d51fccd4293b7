//! The job's cookie jar.
//!
//! Cookies follow RFC 6265 as the `cookie_store` crate implements it: a
//! cookie is sent only to the domain and path it belongs to, `Secure`
//! cookies only over https. The jar lives as long as the job's client, so
//! nothing carries over to another job. The guest may list its own
//! cookies and add some ([`CookieJar::list`], [`CookieJar::set`]), which is
//! how a konnector keeps a session across jobs in its account data.

use std::sync::Mutex;

use cookie_store::{CookieDomain, CookieExpiration, CookieStore};
use http::header::{HeaderMap, HeaderValue, SET_COOKIE};
use konnector_host_api::Cookie;
use url::Url;

/// Maximum number of cookies one job's jar keeps; further new cookies are
/// ignored, which bounds the memory a hostile server can make the job use.
pub const MAX_JAR_COOKIES: usize = 1000;

/// Why [`CookieJar::set`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CookieSetError {
    /// The jar contains [`MAX_JAR_COOKIES`] cookies.
    #[error("the job's cookie jar is full ({MAX_JAR_COOKIES} cookies)")]
    Full,
    /// The text is not a cookie the URL may set.
    #[error("cookie refused for {url}: {reason}")]
    Refused {
        /// The URL the cookie was given for.
        url: String,
        /// The parser's or the domain rule's reason.
        reason: String,
    },
}

/// A per-job cookie jar.
#[derive(Debug, Default)]
pub(crate) struct CookieJar {
    store: Mutex<CookieStore>,
}

impl CookieJar {
    /// Returns the cookies a request to `url` would carry, or, for `None`,
    /// every cookie that has not expired.
    pub(crate) fn list(&self, url: Option<&Url>) -> Vec<Cookie> {
        let store = self.lock();
        let cookies: Vec<&cookie_store::Cookie<'static>> = match url {
            Some(url) => store.matches(url),
            None => store.iter_unexpired().collect(),
        };
        cookies.into_iter().map(describe).collect()
    }

    /// Stores the `Set-Cookie` value `text` as if a response from `url` had
    /// carried it.
    pub(crate) fn set(&self, url: &Url, text: &str) -> Result<(), CookieSetError> {
        let mut store = self.lock();
        if store.iter_any().count() >= MAX_JAR_COOKIES {
            return Err(CookieSetError::Full);
        }
        store
            .parse(text, url)
            .map(|_| ())
            .map_err(|error| CookieSetError::Refused {
                url: url.to_string(),
                reason: error.to_string(),
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CookieStore> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Builds the `Cookie` header value for a request to `url`, if the jar
    /// has cookies for it.
    pub(crate) fn header_for(&self, url: &Url) -> Option<HeaderValue> {
        let store = self.lock();
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
        let mut store = self.lock();
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

/// Describes a stored cookie for the guest.
fn describe(cookie: &cookie_store::Cookie<'static>) -> Cookie {
    let (domain, host_only) = match &cookie.domain {
        CookieDomain::HostOnly(host) => (host.clone(), true),
        CookieDomain::Suffix(suffix) => (suffix.clone(), false),
        // The store keeps only cookies with a host: these two cannot be
        // stored, and are described as they are.
        CookieDomain::NotPresent | CookieDomain::Empty => (String::new(), true),
    };
    let expires = match &cookie.expires {
        CookieExpiration::AtUtc(at) => Some(at.unix_timestamp()),
        CookieExpiration::SessionEnd => None,
    };
    Cookie {
        name: cookie.name().to_owned(),
        value: cookie.value().to_owned(),
        domain,
        host_only,
        path: String::from(&cookie.path),
        secure: cookie.secure().unwrap_or(false),
        http_only: cookie.http_only().unwrap_or(false),
        expires,
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
    fn listed_and_set_by_the_guest() {
        let jar = CookieJar::default();
        jar.store_from(
            &url("https://login.vendor.test/account"),
            &set_cookies(&[
                "session=abc; Path=/; Secure; HttpOnly",
                "wide=1; Domain=vendor.test; Path=/; Expires=Wed, 01 Jan 2098 00:00:00 GMT",
            ]),
        );
        jar.set(
            &url("https://vendor.test/"),
            "kept=2; Domain=vendor.test; Path=/bills; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
        )
        .expect("accepted");

        let mut all = jar.list(None);
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<&str> = all.iter().map(|cookie| cookie.name.as_str()).collect();
        assert_eq!(names, ["kept", "session", "wide"]);
        let kept = &all[0];
        assert_eq!(kept.domain, "vendor.test");
        assert!(!kept.host_only);
        assert_eq!(kept.path, "/bills");
        assert_eq!(kept.expires, Some(4_102_444_800));
        let session = &all[1];
        assert_eq!(session.domain, "login.vendor.test");
        assert!(session.host_only);
        assert!(session.secure);
        assert!(session.http_only);
        assert_eq!(session.expires, None);

        let for_bills = jar.list(Some(&url("https://api.vendor.test/bills/1")));
        let mut names: Vec<&str> = for_bills
            .iter()
            .map(|cookie| cookie.name.as_str())
            .collect();
        names.sort();
        assert_eq!(names, ["kept", "wide"]);
    }

    #[test]
    fn guest_cookie_for_another_domain_refused() {
        let jar = CookieJar::default();
        let error = jar
            .set(&url("https://vendor.test/"), "x=1; Domain=other.test")
            .expect_err("refused");
        assert!(matches!(error, CookieSetError::Refused { .. }), "{error}");
        assert!(jar.list(None).is_empty());
    }

    #[test]
    fn jar_is_capped() {
        let jar = CookieJar::default();
        let values: Vec<String> = (0..MAX_JAR_COOKIES + 10)
            .map(|i| format!("c{i}=v"))
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        jar.store_from(&url("https://vendor.test/"), &set_cookies(&refs));
        assert!(matches!(
            jar.set(&url("https://vendor.test/"), "late=1"),
            Err(CookieSetError::Full)
        ));
        let store = jar.store.lock().expect("not poisoned");
        assert_eq!(store.iter_any().count(), MAX_JAR_COOKIES);
    }
}
