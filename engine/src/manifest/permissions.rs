//! The manifest's `permissions`: verbs, parsing and the check made before a
//! write.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::{ManifestError, is_name_byte, json_kind, quote};

/// An HTTP verb that a permission grants, as cozy-stack names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Read documents.
    Get,
    /// Create documents.
    Post,
    /// Replace documents.
    Put,
    /// Change part of documents.
    Patch,
    /// Delete documents.
    Delete,
}

impl Verb {
    /// The five verbs, in the order messages list them.
    pub const ALL: [Verb; 5] = [Verb::Get, Verb::Post, Verb::Put, Verb::Patch, Verb::Delete];

    /// Returns the verb's upper-case name, such as `"GET"`.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    /// Returns whether the verb changes data, which every verb but GET does.
    pub fn is_write(self) -> bool {
        self != Verb::Get
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for Verb {
    type Err = ParseVerbError;

    /// Parses an upper-case verb name such as `"GET"`. `"ALL"`, which
    /// manifests may use for the five verbs, is not a [`Verb`] and is
    /// rejected.
    fn from_str(name: &str) -> Result<Verb, ParseVerbError> {
        Verb::ALL
            .into_iter()
            .find(|verb| verb.name() == name)
            .ok_or_else(|| ParseVerbError {
                input: name.to_owned(),
            })
    }
}

/// A verb name that is not one of the five verbs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verb {}; expected one of GET, POST, PUT, PATCH, DELETE", quote(.input))]
pub struct ParseVerbError {
    /// The name given.
    pub input: String,
}

/// A set of [`Verb`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct VerbSet(u8);

impl VerbSet {
    /// Returns the set with no verb.
    pub const fn empty() -> VerbSet {
        VerbSet(0)
    }

    /// Returns the set of the five verbs.
    pub fn all() -> VerbSet {
        Verb::ALL.into_iter().collect()
    }

    /// Returns whether the set contains `verb`.
    pub fn contains(self, verb: Verb) -> bool {
        self.0 & verb.bit() != 0
    }

    /// Adds `verb` to the set.
    pub fn insert(&mut self, verb: Verb) {
        self.0 |= verb.bit();
    }

    /// Returns the verbs that are in `self`, in `other` or in both.
    pub fn union(self, other: VerbSet) -> VerbSet {
        VerbSet(self.0 | other.0)
    }

    /// Returns whether the set has no verb.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Returns the verbs of the set in the order of [`Verb::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Verb> {
        Verb::ALL
            .into_iter()
            .filter(move |verb| self.contains(*verb))
    }
}

impl FromIterator<Verb> for VerbSet {
    fn from_iter<I: IntoIterator<Item = Verb>>(verbs: I) -> VerbSet {
        let mut set = VerbSet::empty();
        for verb in verbs {
            set.insert(verb);
        }
        set
    }
}

impl fmt::Debug for VerbSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_set().entries(self.iter()).finish()
    }
}

/// Lists the verbs as `GET, POST`, or `no verb` for the empty set.
impl fmt::Display for VerbSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return formatter.write_str("no verb");
        }
        for (index, verb) in self.iter().enumerate() {
            if index > 0 {
                formatter.write_str(", ")?;
            }
            formatter.write_str(verb.name())?;
        }
        Ok(())
    }
}

/// One entry of the manifest's `permissions` object, such as
/// `"bills": {"type": "io.cozy.bills", "verbs": ["GET", "POST"]}`.
///
/// `type` is required and must be a doctype (see [`is_doctype`]). `verbs` is
/// optional and defaults to all five verbs, else it is a non-empty list of
/// verb names, where `"ALL"` stands for the five verbs. `selector` must be a
/// string and `values` a list of strings. `description` and other keys are
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Key of the permission in the manifest's `permissions` object, such as
    /// `"bills"`.
    pub name: String,
    /// Doctype the permission applies to (`type`), such as `"io.cozy.bills"`.
    pub doctype: String,
    /// Verbs granted (`verbs`), all five when the manifest lists none.
    pub verbs: VerbSet,
    /// Whether the permission has a `selector` or `values` key and so applies
    /// to some documents only. [`Manifest::check`](super::Manifest::check)
    /// reads this flag and grants no write through such a permission.
    pub restricted: bool,
    /// Document field the permission is restricted on (`selector`), if any.
    pub selector: Option<String>,
    /// Values allowed for the selector, or document ids when there is no
    /// selector (`values`), if any.
    pub values: Option<Vec<String>>,
}

/// Returns whether `name` is a doctype: two or more non-empty parts
/// separated by dots, each made of `a-z`, `0-9`, `-` and `_`, as in
/// `io.cozy.bills`.
pub fn is_doctype(name: &str) -> bool {
    let mut parts = 0;
    for part in name.split('.') {
        if part.is_empty() || !part.bytes().all(is_name_byte) {
            return false;
        }
        parts += 1;
    }
    parts >= 2
}

/// A write or read that the manifest does not grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "permission denied: {verb} on doctype {doctype} is not granted by the manifest{}",
    explain(.reason)
)]
pub struct PermissionDenied {
    /// Doctype requested, as the caller gave it.
    pub doctype: String,
    /// Verb requested.
    pub verb: Verb,
    /// Reason no permission grants the verb.
    pub reason: DenialReason,
}

/// Reason that [`Manifest::check`](super::Manifest::check) denied a verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenialReason {
    /// No permission of the manifest applies to the doctype.
    NoPermission,
    /// Permissions apply to the doctype, but none lists the verb.
    VerbNotListed {
        /// Verbs that the doctype's permissions list together.
        listed: VerbSet,
    },
    /// The verb is a write, and only permissions restricted by `selector` or
    /// `values` list it.
    Restricted {
        /// Name of the first such permission, such as `"bills"`.
        permission: String,
        /// Whether that permission has a `selector`.
        selector: bool,
        /// Whether that permission has `values`.
        values: bool,
    },
}

impl fmt::Display for DenialReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenialReason::NoPermission => {
                formatter.write_str("no permission applies to this doctype")
            }
            DenialReason::VerbNotListed { listed } => {
                write!(
                    formatter,
                    "its permissions on this doctype list only {listed}"
                )
            }
            DenialReason::Restricted {
                permission,
                selector,
                values,
            } => {
                let restriction = match (selector, values) {
                    (true, false) => "a selector",
                    (false, true) => "values",
                    (true, true) => "a selector and values",
                    (false, false) => "a selector or values",
                };
                write!(
                    formatter,
                    "the manifest's permission {} is restricted by {restriction}, \
                     which the engine cannot enforce on writes",
                    quote(permission)
                )
            }
        }
    }
}

/// Returns the text that follows the denial message: nothing when no
/// permission applies to the doctype, else `: ` and the reason.
fn explain(reason: &DenialReason) -> String {
    match reason {
        DenialReason::NoPermission => String::new(),
        _ => format!(": {reason}"),
    }
}

/// Implements [`Manifest::check`](super::Manifest::check).
pub(super) fn check(
    permissions: &[Permission],
    doctype: &str,
    verb: Verb,
) -> Result<(), PermissionDenied> {
    let mut applies = false;
    let mut listed = VerbSet::empty();
    let mut restricted_match: Option<&Permission> = None;
    for permission in permissions
        .iter()
        .filter(|permission| permission.doctype == doctype)
    {
        applies = true;
        listed = listed.union(permission.verbs);
        if !permission.verbs.contains(verb) {
            continue;
        }
        if !permission.restricted || !verb.is_write() {
            return Ok(());
        }
        restricted_match.get_or_insert(permission);
    }

    let reason = match restricted_match {
        Some(permission) => DenialReason::Restricted {
            permission: permission.name.clone(),
            selector: permission.selector.is_some(),
            values: permission.values.is_some(),
        },
        None if applies => DenialReason::VerbNotListed { listed },
        None => DenialReason::NoPermission,
    };
    Err(PermissionDenied {
        doctype: doctype.to_owned(),
        verb,
        reason,
    })
}

/// Parses the manifest's `permissions` field. A missing or `null` field
/// means no permission.
pub(super) fn parse_permissions(value: Option<&Value>) -> Result<Vec<Permission>, ManifestError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(entries)) => entries
            .iter()
            .map(|(name, entry)| parse_permission(name, entry))
            .collect(),
        Some(other) => Err(ManifestError::field(
            "permissions",
            format!(
                "expected an object mapping names to permissions such as \
                 {{\"bills\": {{\"type\": \"io.cozy.bills\"}}}}, found {}",
                json_kind(other)
            ),
        )),
    }
}

fn parse_permission(name: &str, entry: &Value) -> Result<Permission, ManifestError> {
    let path = format!("permissions.{name}");
    let Value::Object(entry) = entry else {
        return Err(ManifestError::field(
            path,
            format!(
                "expected an object such as {{\"type\": \"io.cozy.bills\"}}, found {}",
                json_kind(entry)
            ),
        ));
    };

    let doctype = parse_doctype(&path, entry.get("type"))?;
    let verbs = parse_verbs(&path, entry.get("verbs"))?;
    let selector = parse_selector(&path, entry)?;
    let values = parse_values(&path, entry)?;
    Ok(Permission {
        name: name.to_owned(),
        doctype,
        verbs,
        restricted: selector.is_some() || values.is_some(),
        selector,
        values,
    })
}

fn parse_doctype(path: &str, value: Option<&Value>) -> Result<String, ManifestError> {
    let field = format!("{path}.type");
    match value {
        None | Some(Value::Null) => Err(ManifestError::field(
            field,
            "missing; every permission needs a doctype such as \"io.cozy.bills\"",
        )),
        Some(Value::String(doctype)) if is_doctype(doctype) => Ok(doctype.clone()),
        Some(Value::String(doctype)) => Err(ManifestError::field(
            field,
            format!(
                "invalid doctype {}; expected a lower-case dotted name such as \"io.cozy.bills\"",
                quote(doctype)
            ),
        )),
        Some(other) => Err(ManifestError::field(
            field,
            format!(
                "expected a doctype such as \"io.cozy.bills\", found {}",
                json_kind(other)
            ),
        )),
    }
}

/// Parses `verbs`: absent means all five verbs, and `"ALL"` in the list
/// adds all five.
fn parse_verbs(path: &str, value: Option<&Value>) -> Result<VerbSet, ManifestError> {
    let field = format!("{path}.verbs");
    let items = match value {
        None => return Ok(VerbSet::all()),
        Some(Value::Array(items)) => items,
        // A `null` is rejected rather than read as the default, because the
        // default grants every verb.
        Some(other) => {
            return Err(ManifestError::field(
                field,
                format!(
                    "expected a list of verbs such as [\"GET\", \"POST\"], found {}",
                    json_kind(other)
                ),
            ));
        }
    };
    if items.is_empty() {
        return Err(ManifestError::field(
            field,
            "empty list; remove the field to grant every verb, \
             or list some of GET, POST, PUT, PATCH, DELETE",
        ));
    }

    let mut verbs = VerbSet::empty();
    for (index, item) in items.iter().enumerate() {
        let item_field = format!("{field}[{index}]");
        let Value::String(name) = item else {
            return Err(ManifestError::field(
                item_field,
                format!("expected a verb such as \"GET\", found {}", json_kind(item)),
            ));
        };
        if name == "ALL" {
            verbs = VerbSet::all();
            continue;
        }
        match name.parse::<Verb>() {
            Ok(verb) => verbs.insert(verb),
            Err(_) => {
                return Err(ManifestError::field(
                    item_field,
                    format!(
                        "unknown verb {}; expected one of GET, POST, PUT, PATCH, DELETE or ALL",
                        quote(name)
                    ),
                ));
            }
        }
    }
    Ok(verbs)
}

/// Parses `selector`. A `null` is rejected because it is unclear whether it
/// restricts the permission.
fn parse_selector(path: &str, entry: &Map<String, Value>) -> Result<Option<String>, ManifestError> {
    match entry.get("selector") {
        None => Ok(None),
        Some(Value::String(selector)) => Ok(Some(selector.clone())),
        Some(other) => Err(ManifestError::field(
            format!("{path}.selector"),
            format!(
                "expected a document field name such as \"_id\", found {}; \
                 remove the field for a permission on every document",
                json_kind(other)
            ),
        )),
    }
}

/// Parses `values`. An empty list still counts as a restriction.
fn parse_values(
    path: &str,
    entry: &Map<String, Value>,
) -> Result<Option<Vec<String>>, ManifestError> {
    let field = format!("{path}.values");
    let items = match entry.get("values") {
        None => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ManifestError::field(
                field,
                format!(
                    "expected a list of strings, found {}; \
                     remove the field for a permission on every document",
                    json_kind(other)
                ),
            ));
        }
    };

    let mut values = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Value::String(value) = item else {
            return Err(ManifestError::field(
                format!("{field}[{index}]"),
                format!("expected a string, found {}", json_kind(item)),
            ));
        };
        values.push(value.clone());
    }
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use super::super::Manifest;
    use super::*;

    fn manifest_with(permissions: &str) -> Manifest {
        let text = format!(r#"{{"slug": "template", "permissions": {permissions}}}"#);
        Manifest::parse(&text).expect("valid manifest")
    }

    fn permission<'a>(manifest: &'a Manifest, name: &str) -> &'a Permission {
        manifest
            .permissions
            .iter()
            .find(|permission| permission.name == name)
            .expect("permission present")
    }

    #[test]
    fn verb_names_round_trip() {
        let names: Vec<&str> = Verb::ALL.into_iter().map(Verb::name).collect();
        assert_eq!(names, ["GET", "POST", "PUT", "PATCH", "DELETE"]);
        for verb in Verb::ALL {
            assert_eq!(verb.name().parse::<Verb>(), Ok(verb));
            assert_eq!(verb.to_string(), verb.name());
        }
    }

    #[test]
    fn verb_parse_rejects_others() {
        for name in ["get", "ALL", "", "GET ", "OPTIONS"] {
            let error = name.parse::<Verb>().expect_err("not a verb");
            assert_eq!(error.input, name);
        }
        assert_eq!(
            "GOT".parse::<Verb>().expect_err("not a verb").to_string(),
            "unknown verb \"GOT\"; expected one of GET, POST, PUT, PATCH, DELETE"
        );
    }

    #[test]
    fn only_get_is_not_write() {
        assert!(!Verb::Get.is_write());
        for verb in [Verb::Post, Verb::Put, Verb::Patch, Verb::Delete] {
            assert!(verb.is_write(), "{verb}");
        }
    }

    #[test]
    fn verb_set_operations() {
        let mut set = VerbSet::empty();
        assert!(set.is_empty());
        assert_eq!(set.to_string(), "no verb");

        set.insert(Verb::Post);
        set.insert(Verb::Get);
        assert!(set.contains(Verb::Get));
        assert!(set.contains(Verb::Post));
        assert!(!set.contains(Verb::Delete));
        assert_eq!(set.to_string(), "GET, POST");
        assert_eq!(format!("{set:?}"), "{Get, Post}");

        let union = set.union([Verb::Delete].into_iter().collect());
        assert_eq!(
            union.iter().collect::<Vec<_>>(),
            [Verb::Get, Verb::Post, Verb::Delete]
        );
        assert_eq!(VerbSet::all().iter().count(), 5);
        assert_eq!(VerbSet::all().to_string(), "GET, POST, PUT, PATCH, DELETE");
        assert_eq!(VerbSet::default(), VerbSet::empty());
    }

    #[test]
    fn doctype_rule() {
        for name in [
            "io.cozy.bills",
            "io.cozy.bank.operations",
            "com.example.my_type-2",
            "a.b",
        ] {
            assert!(is_doctype(name), "{name} is a doctype");
        }
        for name in [
            "",
            "bills",
            "io.cozy.",
            ".io.cozy",
            "io..cozy",
            "io.cozy.Bills",
            "io.cozy.bills/x",
            "io cozy",
        ] {
            assert!(!is_doctype(name), "{name:?} is not a doctype");
        }
    }

    #[test]
    fn verbs_default_to_all() {
        let manifest =
            manifest_with(r#"{"bills": {"type": "io.cozy.bills", "description": "Bills"}}"#);
        assert_eq!(permission(&manifest, "bills").verbs, VerbSet::all());
    }

    #[test]
    fn verbs_all_keyword() {
        let manifest = manifest_with(
            r#"{"a": {"type": "io.cozy.bills", "verbs": ["ALL"]},
                "b": {"type": "io.cozy.files", "verbs": ["GET", "ALL"]}}"#,
        );
        assert_eq!(permission(&manifest, "a").verbs, VerbSet::all());
        assert_eq!(permission(&manifest, "b").verbs, VerbSet::all());
    }

    #[test]
    fn verbs_listed_are_kept() {
        let manifest = manifest_with(
            r#"{"accounts": {"type": "io.cozy.accounts", "verbs": ["GET", "PUT", "GET"]}}"#,
        );
        let accounts = permission(&manifest, "accounts");
        assert_eq!(accounts.verbs, [Verb::Get, Verb::Put].into_iter().collect());

        assert_eq!(manifest.check("io.cozy.accounts", Verb::Get), Ok(()));
        assert_eq!(manifest.check("io.cozy.accounts", Verb::Put), Ok(()));
        let denied = manifest
            .check("io.cozy.accounts", Verb::Delete)
            .expect_err("not listed");
        assert_eq!(
            denied.reason,
            DenialReason::VerbNotListed {
                listed: [Verb::Get, Verb::Put].into_iter().collect()
            }
        );
        assert_eq!(
            denied.to_string(),
            "permission denied: DELETE on doctype io.cozy.accounts is not granted by the manifest: \
             its permissions on this doctype list only GET, PUT"
        );
    }

    #[test]
    fn other_doctype_is_denied() {
        let manifest = manifest_with(r#"{"bills": {"type": "io.cozy.bills"}}"#);
        let denied = manifest
            .check("io.cozy.files", Verb::Post)
            .expect_err("other doctype");
        assert_eq!(denied.reason, DenialReason::NoPermission);
        assert_eq!(denied.doctype, "io.cozy.files");
        assert_eq!(denied.verb, Verb::Post);
        assert_eq!(
            manifest
                .check("io.cozy.bills.extra", Verb::Get)
                .expect_err("no prefix match")
                .reason,
            DenialReason::NoPermission
        );
    }

    #[test]
    fn selector_restricts_writes() {
        let manifest = manifest_with(
            r#"{"bills": {"type": "io.cozy.bills", "selector": "vendor", "values": ["template"]},
                "jobs": {"type": "io.cozy.jobs", "selector": "worker", "verbs": ["GET", "POST"]},
                "files": {"type": "io.cozy.files", "values": ["io.cozy.files.root-dir"]}}"#,
        );
        let bills = permission(&manifest, "bills");
        assert!(bills.restricted);
        assert_eq!(bills.selector.as_deref(), Some("vendor"));
        assert_eq!(bills.values.as_deref(), Some(&["template".to_owned()][..]));

        for doctype in ["io.cozy.bills", "io.cozy.jobs", "io.cozy.files"] {
            assert_eq!(
                manifest.check(doctype, Verb::Get),
                Ok(()),
                "GET on {doctype}"
            );
        }
        for verb in [Verb::Post, Verb::Put, Verb::Patch, Verb::Delete] {
            let denied = manifest
                .check("io.cozy.bills", verb)
                .expect_err("restricted");
            assert_eq!(
                denied.reason,
                DenialReason::Restricted {
                    permission: "bills".to_owned(),
                    selector: true,
                    values: true
                }
            );
        }
        assert_eq!(
            manifest
                .check("io.cozy.jobs", Verb::Post)
                .expect_err("restricted")
                .to_string(),
            "permission denied: POST on doctype io.cozy.jobs is not granted by the manifest: \
             the manifest's permission \"jobs\" is restricted by a selector, \
             which the engine cannot enforce on writes"
        );
        let files_message = manifest
            .check("io.cozy.files", Verb::Put)
            .expect_err("restricted")
            .to_string();
        assert!(
            files_message.contains("permission \"files\" is restricted by values,"),
            "{files_message}"
        );
        assert_eq!(
            manifest
                .check("io.cozy.jobs", Verb::Delete)
                .expect_err("not listed")
                .reason,
            DenialReason::VerbNotListed {
                listed: [Verb::Get, Verb::Post].into_iter().collect()
            }
        );
    }

    #[test]
    fn empty_values_still_restrict() {
        let manifest = manifest_with(r#"{"bills": {"type": "io.cozy.bills", "values": []}}"#);
        assert!(permission(&manifest, "bills").restricted);
        assert!(manifest.check("io.cozy.bills", Verb::Post).is_err());
    }

    #[test]
    fn duplicate_doctypes_add_verbs() {
        let manifest = manifest_with(
            r#"{"read bills": {"type": "io.cozy.bills", "verbs": ["GET"]},
                "create bills": {"type": "io.cozy.bills", "verbs": ["POST"]},
                "update bills": {"type": "io.cozy.bills", "verbs": ["PUT"],
                                 "selector": "vendor"}}"#,
        );
        assert_eq!(manifest.check("io.cozy.bills", Verb::Get), Ok(()));
        assert_eq!(manifest.check("io.cozy.bills", Verb::Post), Ok(()));

        // The restricted permission adds no write.
        let denied = manifest
            .check("io.cozy.bills", Verb::Put)
            .expect_err("restricted");
        let DenialReason::Restricted { permission, .. } = &denied.reason else {
            panic!("expected a restricted denial, got {denied:?}");
        };
        assert_eq!(permission, "update bills");
        assert_eq!(
            manifest
                .check("io.cozy.bills", Verb::Delete)
                .expect_err("not listed")
                .reason,
            DenialReason::VerbNotListed {
                listed: [Verb::Get, Verb::Post, Verb::Put].into_iter().collect()
            }
        );
    }

    #[test]
    fn unrestricted_duplicate_overrides_restriction() {
        let manifest = manifest_with(
            r#"{"some bills": {"type": "io.cozy.bills", "selector": "vendor", "values": ["x"]},
                "all bills": {"type": "io.cozy.bills", "verbs": ["POST"]}}"#,
        );
        assert_eq!(manifest.check("io.cozy.bills", Verb::Post), Ok(()));
        assert!(matches!(
            manifest
                .check("io.cozy.bills", Verb::Put)
                .expect_err("restricted")
                .reason,
            DenialReason::Restricted { .. }
        ));
    }

    #[test]
    fn permission_names_may_contain_spaces() {
        let manifest = manifest_with(r#"{"bank operations": {"type": "io.cozy.bank.operations"}}"#);
        assert_eq!(
            permission(&manifest, "bank operations").doctype,
            "io.cozy.bank.operations"
        );
    }
}
