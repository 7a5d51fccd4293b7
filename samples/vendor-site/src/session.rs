//! Login state: CSRF tokens handed out with the login form, session tokens
//! handed out at login, and the cookies that carry them.

use std::collections::HashSet;

use hyper::HeaderMap;
use hyper::header::COOKIE;

/// The cookie that carries the session token.
pub(crate) const SESSION_COOKIE: &str = "session";
/// The cookie, and form field, that carry the CSRF token.
pub(crate) const CSRF_COOKIE: &str = "csrf";

/// The tokens the site has issued.
///
/// Tokens are derived from a counter, so a site hands out the same sequence
/// at every start. That keeps pages deterministic, but the tokens are
/// guessable: this is a test fixture, not an example of session security.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    issued_count: u64,
    csrf_tokens: HashSet<String>,
    session_tokens: HashSet<String>,
}

impl Sessions {
    /// Issues a new CSRF token for a login form.
    pub(crate) fn issue_csrf(&mut self) -> String {
        let token = self.next_token();
        self.csrf_tokens.insert(token.clone());
        token
    }

    /// Returns whether `token` is a CSRF token this site issued that no
    /// successful login has used yet.
    pub(crate) fn is_valid_csrf(&self, token: &str) -> bool {
        self.csrf_tokens.contains(token)
    }

    /// Removes a CSRF token after a successful login, so it cannot be
    /// replayed.
    pub(crate) fn consume_csrf(&mut self, token: &str) {
        self.csrf_tokens.remove(token);
    }

    /// Opens a session and returns its token.
    pub(crate) fn open_session(&mut self) -> String {
        let token = self.next_token();
        self.session_tokens.insert(token.clone());
        token
    }

    /// Returns whether `token` belongs to an open session.
    pub(crate) fn is_open_session(&self, token: &str) -> bool {
        self.session_tokens.contains(token)
    }

    fn next_token(&mut self) -> String {
        self.issued_count += 1;
        let high = splitmix64(self.issued_count);
        let low = splitmix64(high);
        format!("{high:016x}{low:016x}")
    }
}

/// Returns the value of the cookie `name` from the request's `Cookie`
/// headers, or `None` when it is missing.
pub(crate) fn request_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie_name, _)| *cookie_name == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// Builds a `Set-Cookie` value for a cookie visible to the whole site and
/// hidden from scripts.
pub(crate) fn set_cookie_value(name: &str, value: &str) -> String {
    format!("{name}={value}; HttpOnly; Path=/")
}

/// The SplitMix64 mixing function, which spreads a counter over 64 bits.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn cookie_found_among_several() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; csrf=abc"));
        headers.append(COOKIE, HeaderValue::from_static("session=\"xyz\""));
        assert_eq!(request_cookie(&headers, "csrf"), Some("abc"));
        assert_eq!(request_cookie(&headers, "session"), Some("xyz"));
        assert_eq!(request_cookie(&headers, "missing"), None);
    }

    #[test]
    fn malformed_cookie_ignored() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static(";;novalue; =x; csrf=ok"));
        assert_eq!(request_cookie(&headers, "csrf"), Some("ok"));
        assert_eq!(request_cookie(&headers, "novalue"), None);
    }

    #[test]
    fn tokens_unique_and_deterministic() {
        let mut first = Sessions::default();
        let mut second = Sessions::default();
        let csrf = first.issue_csrf();
        let session = first.open_session();
        assert_ne!(csrf, session);
        assert_eq!(csrf.len(), 32);
        assert_eq!(second.issue_csrf(), csrf);
        assert!(first.is_valid_csrf(&csrf));
        assert!(!first.is_valid_csrf(&session));
        assert!(first.is_open_session(&session));
        assert!(!first.is_open_session(&csrf));
    }

    #[test]
    fn consumed_csrf_invalid() {
        let mut sessions = Sessions::default();
        let csrf = sessions.issue_csrf();
        sessions.consume_csrf(&csrf);
        assert!(!sessions.is_valid_csrf(&csrf));
    }
}
