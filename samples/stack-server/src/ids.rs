//! Document ids and CouchDB-style revisions.

use std::sync::atomic::{AtomicU64, Ordering};

use md5::{Digest, Md5};
use serde_json::{Map, Value};

use crate::auth::{hex, random_hex};

/// Makes document ids the way CouchDB's default `sequential` algorithm
/// does: 32 hexadecimal digits, a random prefix of 26 followed by a
/// counter of 6.
#[derive(Debug)]
pub(crate) struct IdGenerator {
    prefix: String,
    counter: AtomicU64,
}

impl IdGenerator {
    pub(crate) fn new() -> IdGenerator {
        let mut prefix = random_hex(b"ids");
        prefix.truncate(26);
        IdGenerator {
            prefix,
            counter: AtomicU64::new(1),
        }
    }

    /// Returns a new id. After 16 million ids the counter takes more than 6
    /// digits, which CouchDB avoids by drawing a new prefix.
    pub(crate) fn next_id(&self) -> String {
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}{count:06x}", self.prefix)
    }
}

/// Returns the revision that follows `previous` for a document whose body
/// is now `body`. It looks like CouchDB's, `N-hash`: N is one more than the
/// previous generation, and the hash is the hexadecimal MD5 of the previous
/// revision and the body.
pub(crate) fn next_rev(previous: Option<&str>, body: &Map<String, Value>) -> String {
    let generation = previous.map_or(0, rev_generation) + 1;
    let mut hasher = Md5::new();
    hasher.update(previous.unwrap_or_default().as_bytes());
    hasher.update(serde_json::to_vec(body).unwrap_or_default());
    format!("{generation}-{}", hex(&hasher.finalize()))
}

/// Returns the generation of a revision (`3` for `3-abc`), or 0 when it is
/// malformed.
pub(crate) fn rev_generation(rev: &str) -> u64 {
    rev.split_once('-')
        .and_then(|(generation, _)| generation.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sequential_hex() {
        let ids = IdGenerator::new();
        let first = ids.next_id();
        let second = ids.next_id();
        assert_eq!(first.len(), 32);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(first[..26], second[..26]);
        assert!(first < second);
    }

    #[test]
    fn revisions_count_generations() {
        let body = Map::new();
        let first = next_rev(None, &body);
        assert!(first.starts_with("1-"), "{first}");
        assert_eq!(first.len(), 2 + 32);
        let second = next_rev(Some(&first), &body);
        assert!(second.starts_with("2-"), "{second}");
        assert_ne!(first[2..], second[2..]);
        assert_eq!(rev_generation("12-ab"), 12);
        assert_eq!(rev_generation("junk"), 0);
    }
}
