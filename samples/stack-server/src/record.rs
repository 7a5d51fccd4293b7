//! The log of received requests that tests assert on.

use serde::Serialize;

/// One request the server handled, recorded once its response was built.
///
/// It never holds the token itself, only whether there was one, so it can
/// be printed in test failures and logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// The method, such as `POST`.
    pub method: String,
    /// The path and query as received, such as
    /// `/files/io.cozy.files.root-dir?Type=directory&Name=bills`.
    pub path: String,
    /// Whether the request had an `Authorization: Bearer ...` header.
    pub has_bearer: bool,
    /// The length of the request body in bytes. For a body over the
    /// server's limit it is the number of bytes read before the server
    /// stopped reading.
    pub body_len: usize,
    /// The status of the response.
    pub status: u16,
}
