//! Validation of the guest's request headers.
//!
//! The client owns the headers that frame the message or manage the
//! connection, so a guest cannot smuggle a second request, reach another
//! virtual host or keep a connection in an unexpected state: `Host`,
//! `Content-Length`, `Transfer-Encoding`, `Connection`, `Keep-Alive`, `TE`,
//! `Trailer`, `Upgrade` and every `Proxy-*` header are rejected. Names must
//! be RFC 9110 tokens; values may contain visible characters, spaces, tabs
//! and bytes of UTF-8 text, but no other control character (CR, LF and NUL
//! are named in the message).

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::limits::NetLimits;

/// Header names (lower case) the guest may not set.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
];

/// Headers dropped when a redirect leaves the origin of the previous hop.
pub(crate) const CREDENTIAL_HEADERS: &[HeaderName] = &[
    http::header::AUTHORIZATION,
    http::header::COOKIE,
    http::header::PROXY_AUTHORIZATION,
];

/// Headers that describe the request body, dropped when a redirect turns
/// the request into a `GET` without body.
pub(crate) const BODY_HEADERS: &[HeaderName] = &[
    http::header::CONTENT_TYPE,
    http::header::CONTENT_ENCODING,
    http::header::CONTENT_LANGUAGE,
    http::header::CONTENT_LOCATION,
];

/// Checks the guest's headers against the rules of the module and the caps
/// of `limits`, and returns them in order (repeated names kept), or the
/// reason they are rejected.
pub(crate) fn validate_guest_headers(
    headers: &[(String, String)],
    limits: &NetLimits,
) -> Result<HeaderMap, String> {
    if headers.len() > limits.max_request_headers {
        return Err(format!(
            "{} headers exceed max_request_headers ({})",
            headers.len(),
            limits.max_request_headers
        ));
    }
    let total_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    if total_bytes > limits.max_request_header_bytes {
        return Err(format!(
            "{total_bytes} bytes of headers exceed max_request_header_bytes ({})",
            limits.max_request_header_bytes
        ));
    }

    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = validate_name(name)?;
        let value = validate_value(&name, value)?;
        map.append(name, value);
    }
    Ok(map)
}

fn validate_name(name: &str) -> Result<HeaderName, String> {
    if let Some(control) = named_control_character(name) {
        return Err(format!("header name {name:?} contains {control}"));
    }
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(format!(
            "header name {name:?} is not a valid token (RFC 9110 section 5.1)"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
        return Err(format!(
            "header {name} is set by the engine and may not be set by a konnector"
        ));
    }
    HeaderName::from_bytes(lower.as_bytes())
        .map_err(|error| format!("invalid header name {name:?}: {error}"))
}

fn validate_value(name: &HeaderName, value: &str) -> Result<HeaderValue, String> {
    if let Some(control) = named_control_character(value) {
        return Err(format!("value of header {name} contains {control}"));
    }
    let valid = value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
    if !valid {
        return Err(format!(
            "value of header {name} contains a control character"
        ));
    }
    HeaderValue::from_str(value).map_err(|error| format!("invalid value of header {name}: {error}"))
}

/// Names the first CR, LF or NUL in `text`, if any.
fn named_control_character(text: &str) -> Option<&'static str> {
    text.bytes().find_map(|b| match b {
        b'\r' => Some("a carriage return (CR)"),
        b'\n' => Some("a line feed (LF)"),
        0 => Some("a NUL byte"),
        _ => None,
    })
}

/// Tests whether `b` may appear in an RFC 9110 token (`tchar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)]) -> Result<HeaderMap, String> {
        let owned: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        validate_guest_headers(&owned, &NetLimits::default())
    }

    #[test]
    fn ordinary_headers_accepted() {
        let map = check(&[
            ("Accept", "text/html"),
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"),
            ("X-Name", "Élodie\tMartin"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
        ])
        .expect("valid headers");
        assert_eq!(map.get_all("cookie").iter().count(), 2);
        assert_eq!(map["x-name"].as_bytes(), "Élodie\tMartin".as_bytes());
    }

    #[test]
    fn forbidden_names_rejected() {
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "Keep-Alive",
            "TE",
            "Trailer",
            "Upgrade",
            "Proxy-Authorization",
            "proxy-connection",
        ] {
            let reason = check(&[(name, "x")]).expect_err(name);
            assert!(reason.contains("set by the engine"), "{name}: {reason}");
        }
    }

    #[test]
    fn control_characters_rejected() {
        let cases = [
            (("X-A", "a\r\nHost: evil"), "carriage return"),
            (("X-A", "a\nb"), "line feed"),
            (("X-A", "a\0b"), "NUL"),
            (("X-A", "a\x07b"), "control character"),
            (("X-A", "a\x7fb"), "control character"),
            (("X-A\r\nHost", "x"), "carriage return"),
            (("X A", "x"), "token"),
            (("X:A", "x"), "token"),
            (("", "x"), "token"),
            (("É", "x"), "token"),
        ];
        for ((name, value), expected) in cases {
            let reason = check(&[(name, value)]).expect_err(name);
            assert!(reason.contains(expected), "{name:?}: {reason}");
        }
    }

    #[test]
    fn caps_enforced() {
        let many: Vec<(String, String)> = (0..65)
            .map(|i| (format!("x-h{i}"), "v".to_owned()))
            .collect();
        let reason = validate_guest_headers(&many, &NetLimits::default()).expect_err("65 headers");
        assert!(reason.contains("max_request_headers"), "{reason}");
        assert!(validate_guest_headers(&many[..64], &NetLimits::default()).is_ok());

        let big = vec![("x-big".to_owned(), "v".repeat(16 * 1024))];
        let reason = validate_guest_headers(&big, &NetLimits::default()).expect_err("16 KiB");
        assert!(reason.contains("max_request_header_bytes"), "{reason}");
    }
}
