//! `cozyMetadata`: which app created and updated a document, and when.
//!
//! The host owns the fields that record who created and updated a document,
//! so a guest cannot claim another app wrote it. Any other field the guest puts
//! in `cozyMetadata` (such as `doctypeVersion`) is kept. Both sinks, the
//! embedded store and the stack, write it through this module, the way
//! cozy-konnector-libs writes it.

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::sink::{SinkError, WriteContext};

/// Name of the metadata field in every document.
pub(crate) const COZY_METADATA: &str = "cozyMetadata";

/// `doctypeVersion` written when the guest gives none.
pub(crate) const DEFAULT_DOCTYPE_VERSION: u64 = 1;

/// Version of the `cozyMetadata` format itself.
const METADATA_VERSION: u64 = 1;

/// Fields of `cozyMetadata` that only the host writes; a guest's values for
/// them are dropped.
const HOST_FIELDS: [&str; 8] = [
    "metadataVersion",
    "createdAt",
    "createdByApp",
    "createdByAppVersion",
    "updatedAt",
    "updatedByApps",
    "sourceAccount",
    "sourceAccountIdentifier",
];

/// Returns the current time in RFC 3339 UTC with milliseconds, the format of
/// JavaScript's `Date.prototype.toISOString` (`2024-05-01T12:00:00.000Z`).
pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Removes `cozyMetadata` from the guest's `doc` and returns its fields, less
/// the host-owned ones.
///
/// # Errors
///
/// [`SinkError::Invalid`] when `cozyMetadata` is present but not an object.
pub(crate) fn take_guest_fields(
    doc: &mut Map<String, Value>,
) -> Result<Map<String, Value>, SinkError> {
    let mut fields = match doc.remove(COZY_METADATA) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(fields)) => fields,
        Some(_) => {
            return Err(SinkError::Invalid(format!(
                "field '{COZY_METADATA}' must be an object"
            )));
        }
    };
    for field in HOST_FIELDS {
        fields.remove(field);
    }
    Ok(fields)
}

/// Builds the `cozyMetadata` of a new document from the guest's own fields.
///
/// `doctypeVersion` is the guest's when it gave one, else
/// `default_doctype_version`.
pub(crate) fn for_create(
    guest_fields: Map<String, Value>,
    ctx: &WriteContext,
    now: &str,
    default_doctype_version: Value,
) -> Map<String, Value> {
    let mut metadata = guest_fields;
    metadata
        .entry("doctypeVersion")
        .or_insert(default_doctype_version);
    metadata.insert("metadataVersion".into(), json!(METADATA_VERSION));
    metadata.insert("createdAt".into(), json!(now));
    metadata.insert("createdByApp".into(), json!(ctx.slug));
    metadata.insert("createdByAppVersion".into(), json!(ctx.konnector_version));
    metadata.insert("updatedAt".into(), json!(now));
    metadata.insert("updatedByApps".into(), json!([app_entry(ctx, now)]));
    insert_source_account(&mut metadata, ctx);
    metadata
}

/// Builds the `cozyMetadata` of an updated document: the stored one with the
/// guest's own fields merged in, `updatedAt` set to `now` and this
/// konnector's entry in `updatedByApps` replaced or added.
///
/// The creation fields and `sourceAccount` are kept as stored. A stored
/// document without `cozyMetadata` gets a new one, as if created now.
pub(crate) fn for_update(
    stored: Option<&Value>,
    guest_fields: Map<String, Value>,
    ctx: &WriteContext,
    now: &str,
) -> Map<String, Value> {
    let Some(Value::Object(stored)) = stored else {
        return for_create(guest_fields, ctx, now, json!(1));
    };
    let mut metadata = stored.clone();
    metadata.extend(guest_fields);
    metadata.insert("updatedAt".into(), json!(now));

    let entry = app_entry(ctx, now);
    match metadata.get_mut("updatedByApps") {
        Some(Value::Array(apps)) => {
            let same_slug = apps
                .iter_mut()
                .find(|app| app.get("slug").and_then(Value::as_str) == Some(ctx.slug.as_str()));
            match same_slug {
                Some(app) => *app = entry,
                None => apps.push(entry),
            }
        }
        _ => {
            metadata.insert("updatedByApps".into(), json!([entry]));
        }
    }

    if !metadata.contains_key("sourceAccount") {
        insert_source_account(&mut metadata, ctx);
    }
    metadata
}

fn app_entry(ctx: &WriteContext, now: &str) -> Value {
    json!({ "slug": ctx.slug, "date": now, "version": ctx.konnector_version })
}

fn insert_source_account(metadata: &mut Map<String, Value>, ctx: &WriteContext) {
    if let Some(account) = &ctx.account_id {
        metadata.insert("sourceAccount".into(), json!(account));
    }
    if let Some(identifier) = &ctx.source_account_identifier {
        metadata.insert("sourceAccountIdentifier".into(), json!(identifier));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(slug: &str, version: &str) -> WriteContext {
        WriteContext {
            slug: slug.into(),
            konnector_version: version.into(),
            account_id: Some("account-1".into()),
            source_account_identifier: Some("alice@example.org".into()),
            deadline: None,
        }
    }

    #[test]
    fn now_is_rfc3339_utc_millis() {
        let now = now();
        assert!(now.ends_with('Z'), "{now}");
        assert_eq!(now.len(), "2024-05-01T12:00:00.000Z".len(), "{now}");
        assert!(chrono::DateTime::parse_from_rfc3339(&now).is_ok(), "{now}");
    }

    #[test]
    fn guest_cannot_forge_host_fields() {
        let mut doc = json!({
            "amount": 3,
            "cozyMetadata": {"createdByApp": "bank", "doctypeVersion": 4, "qualifier": "x"}
        });
        let doc = doc.as_object_mut().expect("object");
        let guest = take_guest_fields(doc).expect("guest fields");
        assert!(!doc.contains_key(COZY_METADATA));
        assert_eq!(
            guest,
            json!({"doctypeVersion": 4, "qualifier": "x"})
                .as_object()
                .cloned()
                .expect("object")
        );

        let metadata = for_create(guest, &ctx("vendor", "1.2.0"), "T1", json!(1));
        assert_eq!(metadata["createdByApp"], "vendor");
        assert_eq!(metadata["doctypeVersion"], 4);
        assert_eq!(metadata["qualifier"], "x");
    }

    #[test]
    fn non_object_metadata_rejected() {
        let mut doc = json!({"cozyMetadata": "me"});
        let err = take_guest_fields(doc.as_object_mut().expect("object")).expect_err("invalid");
        assert!(err.to_string().contains("cozyMetadata"), "{err}");
    }

    #[test]
    fn create_fills_every_field() {
        let metadata = for_create(Map::new(), &ctx("vendor", "1.2.0"), "T1", json!(1));
        let expected = json!({
            "doctypeVersion": 1,
            "metadataVersion": 1,
            "createdAt": "T1",
            "createdByApp": "vendor",
            "createdByAppVersion": "1.2.0",
            "updatedAt": "T1",
            "updatedByApps": [{"slug": "vendor", "date": "T1", "version": "1.2.0"}],
            "sourceAccount": "account-1",
            "sourceAccountIdentifier": "alice@example.org"
        });
        assert_eq!(Value::Object(metadata), expected);
    }

    #[test]
    fn update_keeps_creation_and_replaces_entry() {
        let created = Value::Object(for_create(
            Map::new(),
            &ctx("vendor", "1.2.0"),
            "T1",
            json!(1),
        ));
        let updated = for_update(Some(&created), Map::new(), &ctx("vendor", "1.3.0"), "T2");
        assert_eq!(updated["createdAt"], "T1");
        assert_eq!(updated["createdByAppVersion"], "1.2.0");
        assert_eq!(updated["updatedAt"], "T2");
        assert_eq!(
            updated["updatedByApps"],
            json!([{"slug": "vendor", "date": "T2", "version": "1.3.0"}])
        );

        let other = for_update(
            Some(&Value::Object(updated)),
            Map::new(),
            &ctx("other", "9"),
            "T3",
        );
        assert_eq!(other["createdByApp"], "vendor");
        assert_eq!(other["updatedByApps"].as_array().map(Vec::len), Some(2));
        assert_eq!(other["updatedByApps"][1]["slug"], "other");
    }

    #[test]
    fn update_without_stored_metadata_creates_it() {
        let metadata = for_update(None, Map::new(), &ctx("vendor", "1.2.0"), "T1");
        assert_eq!(metadata["createdByApp"], "vendor");
        assert_eq!(metadata["createdAt"], "T1");
    }
}
