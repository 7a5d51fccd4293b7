//! A request whose body has been read, and what routes ask of it.

use bytes::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION};
use hyper::http::request::Parts;
use percent_encoding::percent_decode_str;

use crate::auth::{Grant, Verb};
use crate::error::StackError;
use crate::state::ServerState;

pub(crate) struct StackRequest<'a> {
    pub(crate) state: &'a ServerState,
    pub(crate) parts: &'a Parts,
    pub(crate) body: Bytes,
}

impl StackRequest<'_> {
    /// Returns the first value of the query parameter `name`,
    /// percent-decoded, or `None` when it is missing.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        let query = self.parts.uri.query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// Returns the first value of the query parameter `name`, or `None`
    /// when it is missing or empty, as Go's `QueryParam(name) != ""`.
    pub(crate) fn non_empty_param(&self, name: &str) -> Option<String> {
        self.query_param(name).filter(|value| !value.is_empty())
    }

    /// Returns the header `name` when it is present and valid UTF-8.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name)?.to_str().ok()
    }

    /// Returns the token of an `Authorization: Bearer ...` header.
    pub(crate) fn bearer(&self) -> Option<&str> {
        bearer_token(self.parts)
    }

    /// Checks the request's token for `verb` on `doctype`.
    pub(crate) fn authorize(&self, doctype: &str, verb: Verb) -> Result<Grant, StackError> {
        self.state.tokens.check(self.bearer(), doctype, verb)
    }
}

/// Returns the token of an `Authorization: Bearer ...` header. Like the
/// stack, the scheme is matched with this exact case.
pub(crate) fn bearer_token(parts: &Parts) -> Option<&str> {
    let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    header.strip_prefix("Bearer ")
}

/// Tells whether the `Accept` header names `application/json`.
pub(crate) fn accepts_json(parts: &Parts) -> bool {
    parts
        .headers
        .get(ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"))
}

/// Splits a path into percent-decoded segments, keeping empty ones, so
/// `/data/io.cozy.bills/` gives `["data", "io.cozy.bills", ""]`. With
/// `plus_as_space`, a `+` becomes a space first, as Go's `QueryUnescape`
/// does with the document ids of `/data` routes. Returns `None` when a
/// segment does not decode to UTF-8.
pub(crate) fn path_segments(path: &str, plus_as_space: bool) -> Option<Vec<String>> {
    path.strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(|segment| {
            let segment = match plus_as_space {
                true => segment.replace('+', " "),
                false => segment.to_owned(),
            };
            percent_decode_str(&segment)
                .decode_utf8()
                .ok()
                .map(|decoded| decoded.into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_decode_and_keep_empty() {
        let segments = path_segments("/data/io.cozy.bills/with%2Fslash", false);
        assert_eq!(
            segments,
            Some(vec![
                "data".to_owned(),
                "io.cozy.bills".to_owned(),
                "with/slash".to_owned()
            ])
        );
        let trailing = path_segments("/data/io.cozy.bills/", false);
        assert_eq!(trailing.map(|s| s.len()), Some(3));
        assert_eq!(path_segments("/files/%FF", false), None);
        let plus = path_segments("/a+b%2Bc", true);
        assert_eq!(plus, Some(vec!["a b+c".to_owned()]));
        let unchanged = path_segments("/a+b", false);
        assert_eq!(unchanged, Some(vec!["a+b".to_owned()]));
    }
}
