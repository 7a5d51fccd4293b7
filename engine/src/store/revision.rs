//! Document ids, revisions and content checksums in CouchDB's formats.

use base64::Engine as _;
use md5::{Digest, Md5};

use crate::sink::SinkError;

/// Generates a document id: 32 random lowercase hex digits, the shape of the
/// uuids CouchDB hands out.
pub(super) fn new_id() -> Result<String, SinkError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| SinkError::Storage(format!("failed to generate a random id: {err}")))?;
    Ok(hex::encode(bytes))
}

/// Returns the revision of a new document whose stored JSON is `body`.
pub(super) fn first_rev(body: &str) -> String {
    format!("1-{}", md5_hex(body.as_bytes()))
}

/// Returns the revision that follows `current` for the stored JSON `body`:
/// the generation before the `-` goes up by one, the hash is the body's MD5.
///
/// A `current` revision with no readable generation counts as generation 0.
pub(super) fn next_rev(current: &str, body: &str) -> String {
    let generation = current
        .split_once('-')
        .and_then(|(generation, _)| generation.parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "{}-{}",
        generation.saturating_add(1),
        md5_hex(body.as_bytes())
    )
}

/// Returns the base64 of the MD5 of `bytes`, as the stack's `md5sum` field
/// and the `Content-MD5` header carry it.
pub(super) fn md5_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_lower_hex(text: &str) -> bool {
        text.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    }

    #[test]
    fn new_id_is_32_hex_digits() {
        let id = new_id().expect("id");
        assert_eq!(id.len(), 32);
        assert!(is_lower_hex(&id), "{id}");
        assert_ne!(id, new_id().expect("second id"));
    }

    #[test]
    fn revisions_count_generations() {
        let first = first_rev("{}");
        let (generation, hash) = first.split_once('-').expect("dash");
        assert_eq!(generation, "1");
        assert_eq!(hash.len(), 32);
        assert!(is_lower_hex(hash), "{hash}");

        let second = next_rev(&first, r#"{"a":1}"#);
        assert!(second.starts_with("2-"), "{second}");
        assert_ne!(second[2..], first[2..]);
        assert!(next_rev("41-abc", "{}").starts_with("42-"));
        assert!(next_rev("garbage", "{}").starts_with("1-"));
    }

    #[test]
    fn md5_matches_known_value() {
        // `printf hello | openssl dgst -md5 -binary | base64`
        assert_eq!(md5_base64(b"hello"), "XUFAKrxLKna5cZ2REBfFkg==");
    }
}
