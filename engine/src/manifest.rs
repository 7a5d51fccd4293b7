//! Parsing of `manifest.konnector` and the permission check made before
//! every document write.
//!
//! A konnector's package carries a JSON manifest. [`Manifest::load`] reads it
//! and keeps what the engine uses (slug, name, version, login fields,
//! parameters and [`Permission`]s), plus the whole document in
//! [`Manifest::raw`] for modules that read other fields. Parsing rejects any
//! value the engine would otherwise have to guess about, and each
//! [`ManifestError`] names the field path and the fix.
//!
//! Before a write, the engine calls [`Manifest::check`] with the doctype and
//! the verb. A permission limited to some documents by `selector` or `values`
//! grants no write, because the engine does not evaluate those restrictions.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::net::{NetPolicyError, NetworkPolicy};

mod permissions;

pub use permissions::{
    DenialReason, ParseVerbError, Permission, PermissionDenied, Verb, VerbSet, is_doctype,
};

/// Maximum size of a `manifest.konnector` that [`Manifest::load`] reads, in
/// bytes.
///
/// The manifests of public konnectors such as ameli (2.6 kB) and the
/// template (1.8 kB) are a few kilobytes. 1 MiB is an estimate that leaves
/// ample room while keeping a corrupt or hostile package from making the
/// engine read an unbounded file into memory.
/// [`Manifest::parse`] applies no limit to the text it is given.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Version given to a konnector whose manifest has none.
pub const DEFAULT_VERSION: &str = "0.0.0";

/// A konnector's manifest, checked and with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Konnector identifier such as `"template"`: non-empty, only `a-z`,
    /// `0-9`, `-` and `_`.
    pub slug: String,
    /// Display name, which is the slug when the manifest has none.
    pub name: String,
    /// Konnector version, which is [`DEFAULT_VERSION`] when the manifest has
    /// none.
    pub version: String,
    /// Vendor website (`vendor_link`), if any. Not checked to be a URL,
    /// because some manifests, such as the template's, hold a placeholder.
    pub vendor_link: Option<String>,
    /// Hosts the konnector may reach with fetch (`network.hosts`, else the
    /// host of `vendor_link` and its subdomains).
    pub network: NetworkPolicy,
    /// Runtime language (`language`) such as `"node"`, if any.
    pub language: Option<String>,
    /// Login form (`fields`): field name to settings such as
    /// `{"type": "password"}`. Empty when the manifest has none.
    pub fields: Map<String, Value>,
    /// Job parameters (`parameters`), given to the konnector as they are.
    /// Empty when the manifest has none.
    pub parameters: Map<String, Value>,
    /// One entry per key of the manifest's `permissions` object.
    pub permissions: Vec<Permission>,
    /// The whole document, for fields this struct does not keep.
    pub raw: Value,
}

impl Manifest {
    /// Parses the text of a `manifest.konnector`.
    ///
    /// `slug` is required. `name`, `version`, `vendor_link` and `language`
    /// must be strings and `fields` and `parameters` objects when present. A
    /// `null` value counts as absent for these fields and for `permissions`.
    /// See [`Permission`] for the rules on each permission. Other fields are
    /// kept in [`Manifest::raw`] without checks.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Syntax`] when the text is not JSON,
    /// [`ManifestError::NotObject`] when it is not a JSON object, and
    /// [`ManifestError::Field`] for the first field that breaks a rule.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let raw: Value = serde_json::from_str(text).map_err(syntax_error)?;
        from_value(raw)
    }

    /// Reads and parses the manifest at `path`, usually a konnector
    /// package's `manifest.konnector`.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Read`] when the file cannot be read,
    /// [`ManifestError::TooLarge`] past [`MAX_MANIFEST_BYTES`], and the
    /// errors of [`Manifest::parse`], whose messages then name `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let bytes = read_limited(path)?;

        // Some editors save JSON with a UTF-8 byte order mark, which
        // serde_json rejects.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);

        // serde_json checks UTF-8 itself and reports the position of an
        // invalid byte.
        let raw: Value =
            serde_json::from_slice(bytes).map_err(|error| syntax_error(error).in_file(path))?;
        from_value(raw).map_err(|error| error.in_file(path))
    }

    /// Builds the manifest of a konnector that comes without one, such as a
    /// plain `.wasm` file: no permission, the slug as name and
    /// [`DEFAULT_VERSION`].
    ///
    /// The slug is not checked, so the caller chooses one that follows the
    /// rule of [`Manifest::slug`]. [`Manifest::raw`] is `{"slug": slug}`,
    /// which [`Manifest::parse`] turns into this same manifest.
    pub fn unprivileged(slug: &str) -> Manifest {
        let mut raw = Map::new();
        raw.insert("slug".to_owned(), Value::String(slug.to_owned()));
        Manifest {
            slug: slug.to_owned(),
            name: slug.to_owned(),
            version: DEFAULT_VERSION.to_owned(),
            vendor_link: None,
            language: None,
            fields: Map::new(),
            parameters: Map::new(),
            permissions: Vec::new(),
            network: NetworkPolicy::deny_all(),
            raw: Value::Object(raw),
        }
    }

    /// Checks that the manifest grants `verb` on `doctype`.
    ///
    /// A permission grants the verbs it lists on its doctype, and the verbs
    /// of several permissions on one doctype add up. A permission restricted
    /// by `selector` or `values` grants GET but no write, because the engine
    /// does not evaluate the restriction. `doctype` is compared as given, so
    /// the caller validates it first, for example with [`is_doctype`].
    ///
    /// NOTE: a restricted permission grants GET on every document of its
    /// doctype. A caller that serves reads through such a permission must
    /// filter the documents itself.
    ///
    /// # Errors
    ///
    /// [`PermissionDenied`], with the reason, when no permission grants the
    /// verb.
    pub fn check(&self, doctype: &str, verb: Verb) -> Result<(), PermissionDenied> {
        permissions::check(&self.permissions, doctype, verb)
    }
}

/// Error from reading or parsing a manifest.
///
/// Messages start with `failed to read manifest <path>`, with `invalid
/// manifest <path>` for a file given to [`Manifest::load`], or with `invalid
/// manifest.konnector` for text given to [`Manifest::parse`].
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be opened or read.
    #[error("failed to read manifest {}: {error}", .path.display())]
    Read {
        /// Path of the manifest.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is larger than [`MAX_MANIFEST_BYTES`].
    #[error(
        "invalid manifest {}: larger than the maximum of {max} bytes; \
         a manifest.konnector is a few kilobytes of JSON",
        .path.display(),
        max = MAX_MANIFEST_BYTES
    )]
    TooLarge {
        /// Path of the manifest.
        path: PathBuf,
    },
    /// The text is not JSON, or not UTF-8.
    #[error("invalid {}: not JSON at line {line} column {column}: {message}", origin(.file))]
    Syntax {
        /// Path of the manifest, when it was loaded from a file.
        file: Option<PathBuf>,
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// serde_json's message without its position.
        message: String,
    },
    /// The document is JSON but not an object.
    #[error(
        "invalid {}: expected a JSON object such as {{\"slug\": \"template\"}}, found {found}",
        origin(.file)
    )]
    NotObject {
        /// Path of the manifest, when it was loaded from a file.
        file: Option<PathBuf>,
        /// Kind of JSON value found, such as `"an array"`.
        found: &'static str,
    },
    /// A field is missing or has a value the engine does not accept.
    #[error("invalid {}: field {field:?}: {problem}", origin(.file))]
    Field {
        /// Path of the manifest, when it was loaded from a file.
        file: Option<PathBuf>,
        /// Path of the field, such as `permissions.bills.verbs[1]`.
        field: String,
        /// Description of the problem and of its fix.
        problem: String,
    },
}

impl ManifestError {
    /// Builds a [`ManifestError::Field`] for a manifest given as text.
    fn field(field: impl Into<String>, problem: impl Into<String>) -> ManifestError {
        ManifestError::Field {
            file: None,
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// Records that the manifest came from the file at `path`.
    fn in_file(mut self, path: &Path) -> ManifestError {
        match &mut self {
            ManifestError::Syntax { file, .. }
            | ManifestError::NotObject { file, .. }
            | ManifestError::Field { file, .. } => *file = Some(path.to_owned()),
            ManifestError::Read { .. } | ManifestError::TooLarge { .. } => {}
        }
        self
    }
}

/// Names the manifest in messages: its path, or the file name alone.
fn origin(file: &Option<PathBuf>) -> String {
    match file {
        Some(path) => format!("manifest {}", path.display()),
        None => "manifest.konnector".to_owned(),
    }
}

/// Reads at most [`MAX_MANIFEST_BYTES`] of the file at `path`.
fn read_limited(path: &Path) -> Result<Vec<u8>, ManifestError> {
    let read_error = |error| ManifestError::Read {
        path: path.to_owned(),
        error,
    };
    let file = File::open(path).map_err(read_error)?;

    // Read one byte past the maximum to tell a file of exactly the maximum
    // size from a larger one, without trusting the size in the metadata.
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// Converts a serde_json syntax error, whose message ends with its
/// position, into a [`ManifestError::Syntax`] that gives the position first.
fn syntax_error(error: serde_json::Error) -> ManifestError {
    let (line, column) = (error.line(), error.column());
    let full = error.to_string();
    let position = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&position).unwrap_or(&full).to_owned();
    ManifestError::Syntax {
        file: None,
        line,
        column,
        message,
    }
}

/// Checks each field of a parsed document and applies the defaults.
fn from_value(raw: Value) -> Result<Manifest, ManifestError> {
    let Some(document) = raw.as_object() else {
        return Err(ManifestError::NotObject {
            file: None,
            found: json_kind(&raw),
        });
    };

    let slug = parse_slug(document.get("slug"))?;
    let name = optional_string(document, "name")?;
    let version = optional_string(document, "version")?;
    if name.as_deref() == Some("") {
        return Err(ManifestError::field(
            "name",
            "empty; remove the field to use the slug, or give the konnector's display name",
        ));
    }
    if version.as_deref() == Some("") {
        return Err(ManifestError::field(
            "version",
            format!(
                "empty; remove the field to use {DEFAULT_VERSION:?}, or give one such as \"1.0.0\""
            ),
        ));
    }
    let vendor_link = optional_string(document, "vendor_link")?;
    let language = optional_string(document, "language")?;
    let fields = optional_object(document, "fields", "field names to form settings")?;
    let parameters = optional_object(document, "parameters", "parameter names to values")?;
    let permissions = permissions::parse_permissions(document.get("permissions"))?;
    let network = network_policy(&raw, &slug)?;

    Ok(Manifest {
        name: name.unwrap_or_else(|| slug.clone()),
        slug,
        version: version.unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
        vendor_link,
        language,
        fields,
        parameters,
        permissions,
        network,
        raw,
    })
}

/// The hosts the konnector may reach: `network.hosts`, else the host of
/// `vendor_link` and its subdomains. A `vendor_link` that names no host (the
/// template's placeholder) gives a konnector that may reach no host.
fn network_policy(raw: &Value, slug: &str) -> Result<NetworkPolicy, ManifestError> {
    match NetworkPolicy::from_manifest(raw) {
        Ok(policy) => Ok(policy),
        Err(NetPolicyError::InvalidVendorLink { value, reason }) => {
            tracing::warn!(konnector = slug, vendor_link = %value, %reason, "vendor_link names no host, so the konnector may reach no host");
            Ok(NetworkPolicy::deny_all())
        }
        Err(NetPolicyError::InvalidNetworkField) => Err(ManifestError::field(
            "network",
            "expected an object with a hosts list, such as {\"hosts\": [\"vendor.example\", \"*.vendor.example\"]}",
        )),
        Err(NetPolicyError::InvalidPattern {
            index,
            pattern,
            reason,
        }) => Err(ManifestError::field(
            format!("network.hosts[{index}]"),
            format!(
                "{pattern} is not a host pattern ({reason}); use a name such as \"vendor.example\", \"*.vendor.example\" or \"https://vendor.example:8443\""
            ),
        )),
    }
}

fn parse_slug(value: Option<&Value>) -> Result<String, ManifestError> {
    const FIX: &str = "every manifest needs a slug such as \"template\"";
    let slug = match value {
        None | Some(Value::Null) => {
            return Err(ManifestError::field("slug", format!("missing; {FIX}")));
        }
        Some(Value::String(slug)) => slug,
        Some(other) => {
            return Err(ManifestError::field(
                "slug",
                format!(
                    "expected a string such as \"template\", found {}",
                    json_kind(other)
                ),
            ));
        }
    };
    if slug.is_empty() {
        return Err(ManifestError::field("slug", format!("empty; {FIX}")));
    }
    if !slug.bytes().all(is_name_byte) {
        return Err(ManifestError::field(
            "slug",
            format!(
                "invalid slug {}; use only lower-case letters a-z, digits, - and _, \
                 as in \"template\"",
                quote(slug)
            ),
        ));
    }
    Ok(slug.clone())
}

/// Reads an optional string field, where `null` counts as absent.
fn optional_string(
    document: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ManifestError> {
    match document.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ManifestError::field(
            key,
            format!("expected a string, found {}", json_kind(other)),
        )),
    }
}

/// Reads an optional object field, where `null` counts as absent. `mapping`
/// describes the object's keys and values for the error message.
fn optional_object(
    document: &Map<String, Value>,
    key: &str,
    mapping: &str,
) -> Result<Map<String, Value>, ManifestError> {
    match document.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(object)) => Ok(object.clone()),
        Some(other) => Err(ManifestError::field(
            key,
            format!(
                "expected an object mapping {mapping}, found {}",
                json_kind(other)
            ),
        )),
    }
}

/// Returns whether `byte` may appear in a slug or in a part of a doctype.
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_'
}

/// Names the kind of a JSON value for error messages, such as "an array".
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Quotes a value for an error message, cut to 64 characters so that a huge
/// value cannot flood a log.
fn quote(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    if value.chars().count() <= MAX_CHARS {
        format!("{value:?}")
    } else {
        let start: String = value.chars().take(MAX_CHARS).collect();
        format!("{start:?}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest shaped like those of public konnectors, for a made-up
    /// energy vendor.
    const REAL_LOOKING: &str = r#"{
      "version": "1.4.0",
      "name": "Example Energy",
      "type": "konnector",
      "language": "node",
      "icon": "icon.svg",
      "slug": "exampleenergy",
      "source": "git@github.com:konnectors/exampleenergy.git",
      "editor": "Cozy",
      "vendor_link": "https://espace-client.example.com/",
      "categories": ["energy"],
      "fields": {
        "login": { "type": "email" },
        "password": { "type": "password" },
        "advancedFields": {
          "folderPath": { "advanced": true, "isRequired": false }
        }
      },
      "data_types": ["bill"],
      "permissions": {
        "bills": { "type": "io.cozy.bills" },
        "files": { "type": "io.cozy.files" },
        "accounts": { "type": "io.cozy.accounts" }
      },
      "developer": { "name": "Cozy Cloud", "url": "https://cozy.io" },
      "langs": ["fr", "en"],
      "locales": {
        "fr": {
          "short_description": "Récupère vos factures d'énergie",
          "permissions": {
            "bills": { "description": "Pour enregistrer les factures" },
            "files": { "description": "Pour enregistrer les PDF" },
            "accounts": { "description": "Pour lire les identifiants" }
          }
        },
        "en": {
          "short_description": "Fetches your energy bills",
          "permissions": {
            "bills": { "description": "To save the bills" },
            "files": { "description": "To save the PDF files" },
            "accounts": { "description": "To read the login" }
          }
        }
      },
      "manifest_version": "2"
    }"#;

    fn parse_error(text: &str) -> ManifestError {
        match Manifest::parse(text) {
            Ok(manifest) => panic!("expected an error for {text}, parsed {manifest:?}"),
            Err(error) => error,
        }
    }

    /// Asserts that parsing fails on `field` with a message containing
    /// `problem`.
    fn assert_field_error(text: &str, field: &str, problem: &str) {
        let message = parse_error(text).to_string();
        let expected_prefix = format!("invalid manifest.konnector: field {field:?}: ");
        assert!(
            message.starts_with(&expected_prefix),
            "for {text}: {message:?} does not start with {expected_prefix:?}"
        );
        assert!(
            message.contains(problem),
            "for {text}: {message:?} does not contain {problem:?}"
        );
    }

    #[test]
    fn real_looking_manifest_parses() {
        let manifest = Manifest::parse(REAL_LOOKING).expect("valid manifest");

        assert_eq!(manifest.slug, "exampleenergy");
        assert_eq!(manifest.name, "Example Energy");
        assert_eq!(manifest.version, "1.4.0");
        assert_eq!(
            manifest.vendor_link.as_deref(),
            Some("https://espace-client.example.com/")
        );
        assert_eq!(manifest.language.as_deref(), Some("node"));
        let field_names: Vec<&str> = manifest.fields.keys().map(String::as_str).collect();
        assert_eq!(field_names, ["advancedFields", "login", "password"]);
        assert!(manifest.parameters.is_empty());
        assert_eq!(manifest.raw["manifest_version"], "2");
        assert_eq!(
            manifest.raw["locales"]["en"]["short_description"],
            "Fetches your energy bills"
        );

        assert_eq!(manifest.permissions.len(), 3);
        for doctype in ["io.cozy.bills", "io.cozy.files", "io.cozy.accounts"] {
            let permission = manifest
                .permissions
                .iter()
                .find(|permission| permission.doctype == doctype)
                .expect("permission for the doctype");
            assert_eq!(permission.verbs, VerbSet::all(), "verbs of {doctype}");
            assert!(!permission.restricted, "{doctype} is not restricted");
            for verb in Verb::ALL {
                assert_eq!(manifest.check(doctype, verb), Ok(()), "{verb} on {doctype}");
            }
        }
        let accounts = manifest
            .permissions
            .iter()
            .find(|permission| permission.name == "accounts")
            .expect("accounts permission");
        assert_eq!(accounts.doctype, "io.cozy.accounts");
        assert_eq!(accounts.selector, None);
        assert_eq!(accounts.values, None);
    }

    #[test]
    fn minimal_manifest_gets_defaults() {
        let manifest = Manifest::parse(r#"{"slug": "template"}"#).expect("valid manifest");

        assert_eq!(manifest.slug, "template");
        assert_eq!(manifest.name, "template");
        assert_eq!(manifest.version, DEFAULT_VERSION);
        assert_eq!(manifest.vendor_link, None);
        assert_eq!(manifest.language, None);
        assert!(manifest.fields.is_empty());
        assert!(manifest.parameters.is_empty());
        assert!(manifest.permissions.is_empty());
    }

    #[test]
    fn null_optional_fields_count_as_absent() {
        let text = r#"{"slug": "template", "name": null, "version": null, "vendor_link": null,
            "language": null, "fields": null, "parameters": null, "permissions": null}"#;
        let manifest = Manifest::parse(text).expect("valid manifest");

        assert_eq!(
            manifest,
            Manifest::unprivileged("template").with_raw(manifest.raw.clone())
        );
    }

    #[test]
    fn parameters_are_kept() {
        let text =
            r#"{"slug": "template", "parameters": {"secret": {"token": "abc"}, "retries": 2}}"#;
        let manifest = Manifest::parse(text).expect("valid manifest");

        assert_eq!(manifest.parameters["secret"]["token"], "abc");
        assert_eq!(manifest.parameters["retries"], 2);
    }

    #[test]
    fn slug_accepts_digits_dash_underscore() {
        for slug in ["orangemobile", "ameli", "free-mobile", "cozy_konnector_2"] {
            let text = format!(r#"{{"slug": "{slug}"}}"#);
            let manifest = Manifest::parse(&text).expect("valid slug");
            assert_eq!(manifest.slug, slug);
        }
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let manifest = Manifest::parse("\u{feff}{\"slug\": \"template\"}").expect("valid manifest");
        assert_eq!(manifest.slug, "template");
    }

    #[test]
    fn top_level_errors_name_field() {
        let cases = [
            (
                r#"{}"#,
                "slug",
                "missing; every manifest needs a slug such as \"template\"",
            ),
            (r#"{"slug": null}"#, "slug", "missing;"),
            (
                r#"{"slug": 7}"#,
                "slug",
                "expected a string such as \"template\", found a number",
            ),
            (
                r#"{"slug": ""}"#,
                "slug",
                "empty; every manifest needs a slug",
            ),
            (
                r#"{"slug": "Template"}"#,
                "slug",
                "invalid slug \"Template\"; use only lower-case",
            ),
            (
                r#"{"slug": "my konnector"}"#,
                "slug",
                "invalid slug \"my konnector\"",
            ),
            (r#"{"slug": "../etc"}"#, "slug", "invalid slug \"../etc\""),
            (
                r#"{"slug": "t", "name": ["a"]}"#,
                "name",
                "expected a string, found an array",
            ),
            (
                r#"{"slug": "t", "name": ""}"#,
                "name",
                "empty; remove the field to use the slug",
            ),
            (
                r#"{"slug": "t", "version": 1}"#,
                "version",
                "expected a string, found a number",
            ),
            (
                r#"{"slug": "t", "version": ""}"#,
                "version",
                "empty; remove the field to use \"0.0.0\"",
            ),
            (
                r#"{"slug": "t", "vendor_link": true}"#,
                "vendor_link",
                "found a boolean",
            ),
            (
                r#"{"slug": "t", "language": {}}"#,
                "language",
                "found an object",
            ),
            (
                r#"{"slug": "t", "fields": []}"#,
                "fields",
                "expected an object mapping field names",
            ),
            (
                r#"{"slug": "t", "parameters": "x"}"#,
                "parameters",
                "expected an object mapping parameter names",
            ),
        ];
        for (text, field, problem) in cases {
            assert_field_error(text, field, problem);
        }
    }

    #[test]
    fn permission_errors_name_field() {
        // Each case is the value of `permissions`, the field named in the
        // error, and part of the problem.
        let cases = [
            (
                r#"[]"#,
                "permissions",
                "expected an object mapping names to permissions",
            ),
            (
                r#"{"bills": "io.cozy.bills"}"#,
                "permissions.bills",
                "expected an object such as {\"type\": \"io.cozy.bills\"}, found a string",
            ),
            (
                r#"{"bills": {}}"#,
                "permissions.bills.type",
                "missing; every permission needs a doctype such as \"io.cozy.bills\"",
            ),
            (
                r#"{"bills": {"type": 3}}"#,
                "permissions.bills.type",
                "expected a doctype such as \"io.cozy.bills\", found a number",
            ),
            (
                r#"{"bills": {"type": "bills"}}"#,
                "permissions.bills.type",
                "invalid doctype \"bills\"; expected a lower-case dotted name",
            ),
            (
                r#"{"bills": {"type": "io.cozy.Bills"}}"#,
                "permissions.bills.type",
                "invalid doctype \"io.cozy.Bills\"",
            ),
            (
                r#"{"bills": {"type": "io..bills"}}"#,
                "permissions.bills.type",
                "invalid doctype",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "verbs": "GET"}}"#,
                "permissions.bills.verbs",
                "expected a list of verbs such as [\"GET\", \"POST\"], found a string",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "verbs": null}}"#,
                "permissions.bills.verbs",
                "found null",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "verbs": []}}"#,
                "permissions.bills.verbs",
                "empty list; remove the field to grant every verb",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "verbs": ["GET", "GOT"]}}"#,
                "permissions.bills.verbs[1]",
                "unknown verb \"GOT\"; expected one of GET, POST, PUT, PATCH, DELETE or ALL",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "verbs": ["get"]}}"#,
                "permissions.bills.verbs[0]",
                "unknown verb \"get\"",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "verbs": [1]}}"#,
                "permissions.bills.verbs[0]",
                "expected a verb such as \"GET\", found a number",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "selector": 1}}"#,
                "permissions.bills.selector",
                "expected a document field name such as \"_id\", found a number",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "selector": null}}"#,
                "permissions.bills.selector",
                "found null",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "values": "a"}}"#,
                "permissions.bills.values",
                "expected a list of strings, found a string",
            ),
            (
                r#"{"bills": {"type": "io.cozy.bills", "values": ["a", 2]}}"#,
                "permissions.bills.values[1]",
                "expected a string, found a number",
            ),
            (
                r#"{"bank operations": {"type": "io.cozy.bank"}, "x": {}}"#,
                "permissions.x.type",
                "missing",
            ),
        ];
        for (permissions, field, problem) in cases {
            let text = format!(r#"{{"slug": "t", "permissions": {permissions}}}"#);
            assert_field_error(&text, field, problem);
        }
    }

    #[test]
    fn unknown_verb_message_is_complete() {
        let bills = r#"{"type": "io.cozy.bills", "verbs": ["GET", "GOT"]}"#;
        let text = format!(r#"{{"slug": "t", "permissions": {{"bills": {bills}}}}}"#);
        assert_eq!(
            parse_error(&text).to_string(),
            "invalid manifest.konnector: field \"permissions.bills.verbs[1]\": \
             unknown verb \"GOT\"; expected one of GET, POST, PUT, PATCH, DELETE or ALL"
        );
    }

    #[test]
    fn not_json_gives_position() {
        let error = parse_error("{\n  \"slug\": \"t\",\n    ]\n}");
        let ManifestError::Syntax { line, column, .. } = &error else {
            panic!("expected a syntax error, got {error:?}");
        };
        assert_eq!((*line, *column), (3, 5));
        let message = error.to_string();
        assert!(
            message.starts_with("invalid manifest.konnector: not JSON at line 3 column 5: "),
            "{message}"
        );
        assert!(
            !message.ends_with("column 5"),
            "position given twice: {message}"
        );
    }

    #[test]
    fn empty_text_is_not_json() {
        let message = parse_error("").to_string();
        assert!(
            message.starts_with("invalid manifest.konnector: not JSON at line 1"),
            "{message}"
        );
    }

    #[test]
    fn non_object_document_is_rejected() {
        for (text, found) in [
            ("[]", "an array"),
            ("\"slug\"", "a string"),
            ("null", "null"),
        ] {
            let message = parse_error(text).to_string();
            assert!(
                message.starts_with("invalid manifest.konnector: expected a JSON object"),
                "{message}"
            );
            assert!(message.ends_with(&format!("found {found}")), "{message}");
        }
    }

    #[test]
    fn hostile_inputs_give_errors() {
        let deep_array = "[".repeat(100_000);
        let deep_object = r#"{"slug": "t", "fields": "#.to_owned() + &r#"{"a": "#.repeat(10_000);
        let long_slug = format!(r#"{{"slug": "{}"}}"#, "X".repeat(10_000));
        for text in [
            deep_array.as_str(),
            deep_object.as_str(),
            "\u{0}",
            "{\"slug\": \"\\ud800\"}",
            "1e999999",
        ] {
            assert!(Manifest::parse(text).is_err(), "accepted {text:.40}");
        }

        let message = parse_error(&long_slug).to_string();
        assert!(
            message.len() < 200,
            "message not cut: {} bytes",
            message.len()
        );
        assert!(message.contains("\"XXXX"), "{message:.200}");
    }

    #[test]
    fn unprivileged_grants_nothing() {
        let manifest = Manifest::unprivileged("plain");

        assert_eq!(manifest.slug, "plain");
        assert_eq!(manifest.name, "plain");
        assert_eq!(manifest.version, "0.0.0");
        assert!(manifest.permissions.is_empty());
        for doctype in ["io.cozy.files", "io.cozy.bills", "io.cozy.accounts"] {
            for verb in Verb::ALL {
                let denied = manifest.check(doctype, verb).expect_err("no permission");
                assert_eq!(denied.reason, DenialReason::NoPermission);
            }
        }
        assert_eq!(
            manifest
                .check("io.cozy.bills", Verb::Post)
                .expect_err("no permission")
                .to_string(),
            "permission denied: POST on doctype io.cozy.bills is not granted by the manifest"
        );
    }

    #[test]
    fn unprivileged_raw_parses_back() {
        let manifest = Manifest::unprivileged("plain");
        let reparsed = Manifest::parse(&manifest.raw.to_string()).expect("valid manifest");
        assert_eq!(reparsed, manifest);
    }

    #[test]
    fn load_reads_file() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("manifest.konnector");
        std::fs::write(&path, REAL_LOOKING).expect("write manifest");

        let manifest = Manifest::load(&path).expect("valid manifest");
        assert_eq!(
            manifest,
            Manifest::parse(REAL_LOOKING).expect("valid manifest")
        );
    }

    #[test]
    fn load_skips_byte_order_mark() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("manifest.konnector");
        std::fs::write(&path, b"\xEF\xBB\xBF{\"slug\": \"template\"}").expect("write manifest");

        assert_eq!(
            Manifest::load(&path).expect("valid manifest").slug,
            "template"
        );
    }

    #[test]
    fn load_missing_file_names_path() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("manifest.konnector");

        let error = Manifest::load(&path).expect_err("missing file");
        let ManifestError::Read {
            error: io_error, ..
        } = &error
        else {
            panic!("expected a read error, got {error:?}");
        };
        assert_eq!(io_error.kind(), std::io::ErrorKind::NotFound);
        let message = error.to_string();
        let expected_prefix = format!("failed to read manifest {}: ", path.display());
        assert!(message.starts_with(&expected_prefix), "{message}");
    }

    #[test]
    fn load_errors_name_path() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("manifest.konnector");
        let cases: [(&[u8], &str); 4] = [
            (b"{\"name\": \"x\"}", "field \"slug\": missing"),
            (b"{\"slug\": ", "not JSON at line 1 column 9"),
            (b"[1]", "expected a JSON object"),
            (b"{\"slug\": \"t\xff\"}", "not JSON at line 1"),
        ];
        for (contents, problem) in cases {
            std::fs::write(&path, contents).expect("write manifest");
            let message = Manifest::load(&path)
                .expect_err("invalid manifest")
                .to_string();
            let expected_prefix = format!("invalid manifest {}: ", path.display());
            assert!(message.starts_with(&expected_prefix), "{message}");
            assert!(message.contains(problem), "{message}");
        }
    }

    #[test]
    fn load_rejects_large_file() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("manifest.konnector");
        let padding = " ".repeat(MAX_MANIFEST_BYTES as usize);
        std::fs::write(&path, format!("{{\"slug\": \"t\"}}{padding}")).expect("write manifest");

        let error = Manifest::load(&path).expect_err("too large");
        assert!(matches!(error, ManifestError::TooLarge { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn load_accepts_file_at_maximum() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("manifest.konnector");
        let mut text = "{\"slug\": \"t\"}".to_owned();
        text.push_str(&" ".repeat(MAX_MANIFEST_BYTES as usize - text.len()));
        std::fs::write(&path, text).expect("write manifest");

        assert_eq!(Manifest::load(&path).expect("valid manifest").slug, "t");
    }

    impl Manifest {
        /// Replaces `raw`, to compare manifests that differ only there.
        fn with_raw(mut self, raw: Value) -> Manifest {
            self.raw = raw;
            self
        }
    }
}
