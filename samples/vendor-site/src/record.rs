//! The log of received requests that tests assert on.

use hyper::http::request::Parts;
use serde::Serialize;

/// One request received by the site, recorded once its body has been read
/// and before the response is built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// The method, such as `GET`.
    pub method: String,
    /// The path and query, such as `/bills?page=2`.
    pub path: String,
    /// The headers in the order received, with lower-case names. Values
    /// that are not UTF-8 are decoded lossily.
    pub headers: Vec<(String, String)>,
    /// The length of the request body in bytes. For a body over the site's
    /// limit it is the number of bytes read before the site stopped reading.
    pub body_len: usize,
    /// Whether the request came through the HTTPS listener.
    pub tls: bool,
}

impl RequestRecord {
    pub(crate) fn new(parts: &Parts, body_len: usize, tls: bool) -> RequestRecord {
        let path = parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_owned(),
            |path| path.as_str().to_owned(),
        );
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        RequestRecord {
            method: parts.method.as_str().to_owned(),
            path,
            headers,
            body_len,
            tls,
        }
    }

    /// Returns the value of the first header named `name`, compared without
    /// regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}
