//! Bearer tokens and their permissions.
//!
//! The real stack issues signed JWTs whose permissions come from the
//! konnector's manifest. Here a token is an opaque random string mapped to a
//! [`TokenSpec`] in memory, and a permission covers a whole doctype for a
//! set of verbs. The stack's finer rules (a selector on some field values,
//! one folder of `io.cozy.files`, wildcard doctypes) are not imitated.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use md5::{Digest, Md5};

use crate::error::StackError;
use crate::state::lock;

/// An HTTP verb of a permission, as the stack's manifests spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// `GET` (and `HEAD`): read documents, find, define indexes.
    Get,
    /// `POST`: create documents, files and folders.
    Post,
    /// `PUT`: update documents and file contents.
    Put,
    /// `PATCH`: change file metadata (no route of this server needs it).
    Patch,
    /// `DELETE`: delete (no route of this server needs it).
    Delete,
}

impl Verb {
    /// Every verb, which is what a manifest permission without `verbs`
    /// grants.
    pub const ALL: [Verb; 5] = [Verb::Get, Verb::Post, Verb::Put, Verb::Patch, Verb::Delete];

    /// Returns the verb's name in upper case, such as `GET`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    /// Parses a verb name without regard to case, reading `HEAD` as
    /// [`Verb::Get`].
    pub fn parse(name: &str) -> Option<Verb> {
        match name.to_ascii_uppercase().as_str() {
            "GET" | "HEAD" => Some(Verb::Get),
            "POST" => Some(Verb::Post),
            "PUT" => Some(Verb::Put),
            "PATCH" => Some(Verb::Patch),
            "DELETE" => Some(Verb::Delete),
            _ => None,
        }
    }
}

/// The permissions, expiry and slug of a token issued by
/// [`crate::StackServer::issue_token`].
///
/// ```
/// use std::time::Duration;
/// use stack_server::{TokenSpec, Verb};
///
/// let spec = TokenSpec::konnector("vendor")
///     .allow("io.cozy.bills", Verb::ALL)
///     .allow("io.cozy.accounts", [Verb::Get, Verb::Put])
///     .valid_for(Duration::from_secs(30 * 60));
/// assert!(spec.expires_at.is_some());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenSpec {
    /// The verbs granted on each doctype. A request on a doctype missing
    /// here, or with a verb not listed, gets 403 Forbidden.
    pub permissions: BTreeMap<String, BTreeSet<Verb>>,
    /// When the token stops being accepted; `None` means never. A request
    /// with an expired token gets the stack's 400 "Expired token".
    pub expires_at: Option<SystemTime>,
    /// The konnector slug the token stands for. The stack reads it from the
    /// token and writes it into the `cozyMetadata` it fills itself (files,
    /// folders and accounts). `None` leaves those app fields out.
    pub slug: Option<String>,
}

impl TokenSpec {
    /// Returns a spec with no permission, no expiry and no slug.
    pub fn new() -> TokenSpec {
        TokenSpec::default()
    }

    /// Returns a spec for the konnector `slug`, with no permission yet.
    pub fn konnector(slug: &str) -> TokenSpec {
        TokenSpec {
            slug: Some(slug.to_owned()),
            ..TokenSpec::default()
        }
    }

    /// Adds `verbs` on `doctype` to the permissions.
    pub fn allow(mut self, doctype: &str, verbs: impl IntoIterator<Item = Verb>) -> TokenSpec {
        self.permissions
            .entry(doctype.to_owned())
            .or_default()
            .extend(verbs);
        self
    }

    /// Sets the expiry to `duration` from now.
    pub fn valid_for(mut self, duration: Duration) -> TokenSpec {
        self.expires_at = Some(SystemTime::now() + duration);
        self
    }

    /// Sets the expiry to `instant`; an instant in the past gives a token
    /// that is already expired.
    pub fn expires_at(mut self, instant: SystemTime) -> TokenSpec {
        self.expires_at = Some(instant);
        self
    }

    fn allows(&self, doctype: &str, verb: Verb) -> bool {
        self.permissions
            .get(doctype)
            .is_some_and(|verbs| verbs.contains(&verb))
    }
}

/// The result of a successful token check.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    /// The slug of [`TokenSpec::slug`].
    pub(crate) slug: Option<String>,
}

/// The tokens issued so far.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: Mutex<HashMap<String, TokenSpec>>,
    issued: AtomicU64,
}

impl TokenStore {
    /// Stores `spec` under a new random token and returns the token.
    pub(crate) fn issue(&self, spec: TokenSpec) -> String {
        let count = self.issued.fetch_add(1, Ordering::Relaxed);
        let token = random_hex(&count.to_le_bytes());
        lock(&self.tokens).insert(token.clone(), spec);
        token
    }

    /// Checks that `token` exists, has not expired, and grants `verb` on
    /// `doctype`, with the stack's error for each failure.
    pub(crate) fn check(
        &self,
        token: Option<&str>,
        doctype: &str,
        verb: Verb,
    ) -> Result<Grant, StackError> {
        let spec = self.authenticate(token)?;
        if !spec.allows(doctype, verb) {
            tracing::debug!(doctype, verb = verb.as_str(), "permission not granted");
            return Err(StackError::forbidden());
        }
        Ok(Grant { slug: spec.slug })
    }

    /// Returns the spec of a valid token without checking any permission.
    pub(crate) fn authenticate(&self, token: Option<&str>) -> Result<TokenSpec, StackError> {
        let Some(token) = token.filter(|token| !token.is_empty()) else {
            return Err(StackError::no_token());
        };
        let Some(spec) = lock(&self.tokens).get(token).cloned() else {
            return Err(StackError::invalid_token());
        };
        if spec
            .expires_at
            .is_some_and(|expiry| expiry <= SystemTime::now())
        {
            return Err(StackError::expired_token());
        }
        Ok(spec)
    }
}

/// Returns 32 hexadecimal digits derived from the clock, the process id and
/// `salt`. Unique within a process and hard to guess for a test, but not a
/// cryptographic secret.
pub(crate) fn random_hex(salt: &[u8]) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let mut hasher = Md5::new();
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(salt);
    hex(&hasher.finalize())
}

/// Encodes `bytes` as lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_parse_any_case() {
        assert_eq!(Verb::parse("get"), Some(Verb::Get));
        assert_eq!(Verb::parse("HEAD"), Some(Verb::Get));
        assert_eq!(Verb::parse("Put"), Some(Verb::Put));
        assert_eq!(Verb::parse("OPTIONS"), None);
    }

    #[test]
    fn token_checks() {
        let store = TokenStore::default();
        let token = store.issue(TokenSpec::konnector("k").allow("io.cozy.bills", [Verb::Get]));
        let expired = store.issue(TokenSpec::new().expires_at(SystemTime::UNIX_EPOCH));

        assert!(
            store
                .check(Some(&token), "io.cozy.bills", Verb::Get)
                .is_ok()
        );
        let forbidden = store.check(Some(&token), "io.cozy.bills", Verb::Post);
        assert_eq!(forbidden.map(|_| ()).map_err(|e| e.status()), Err(403));
        let missing = store.check(None, "io.cozy.bills", Verb::Get);
        assert_eq!(missing.map(|_| ()).map_err(|e| e.status()), Err(401));
        let unknown = store.check(Some("nope"), "io.cozy.bills", Verb::Get);
        assert_eq!(unknown.map(|_| ()).map_err(|e| e.status()), Err(400));
        let old = store.check(Some(&expired), "io.cozy.bills", Verb::Get);
        assert_eq!(old.map(|_| ()).map_err(|e| e.status()), Err(400));
    }
}
