//! The `COZY_*` environment the stack sets for a konnector job.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// Payloads over this size are refused, in bytes: the stack writes payloads
/// over 100 kB to a file, and a konnector has no use for megabytes of them.
pub(crate) const MAX_PAYLOAD_BYTES: u64 = 8 << 20;

/// The job as the stack describes it.
#[derive(Debug)]
pub(crate) struct CozyEnv {
    /// `COZY_URL`: the instance, with a trailing slash.
    pub(crate) url: String,
    /// `COZY_CREDENTIALS`: the konnector token. Never printed.
    pub(crate) token: Token,
    /// `COZY_FIELDS`: the job message (`konnector`, `account`,
    /// `folder_to_save`, ...).
    pub(crate) fields: Map<String, Value>,
    /// `COZY_PARAMETERS`: the manifest's parameters; `None` when unset.
    pub(crate) parameters: Option<Map<String, Value>>,
    /// `COZY_PAYLOAD`, read from its file for the `@file` form; `None`
    /// when unset or empty.
    pub(crate) payload: Option<String>,
    /// `COZY_LOCALE`, `en` when unset.
    pub(crate) locale: String,
    /// `COZY_TIME_LIMIT` in seconds; `None` when unset.
    pub(crate) time_limit_s: Option<u64>,
    /// `COZY_JOB_ID`.
    pub(crate) job_id: Option<String>,
    /// `COZY_JOB_MANUAL_EXECUTION` is `"true"`.
    pub(crate) manual_execution: bool,
    /// `COZY_TRIGGER_ID`.
    pub(crate) trigger_id: Option<String>,
}

/// The konnector token, kept out of every `Debug` and `Display` output.
pub(crate) struct Token(pub(crate) String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl CozyEnv {
    /// Reads the variables through `get`, resolving an `@file` payload
    /// inside `folder`.
    pub(crate) fn read(
        get: impl Fn(&str) -> Option<String>,
        folder: &Path,
    ) -> anyhow::Result<CozyEnv> {
        let required = |name: &str| {
            get(name).filter(|value| !value.is_empty()).with_context(|| {
                format!("{name} is not set; `konnector exec` is meant to be started by the stack, which sets the COZY_* variables")
            })
        };
        let url = required("COZY_URL")?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            // The value may hold credentials, so only its scheme is named.
            let scheme = url.split_once(':').map_or("none", |(scheme, _)| scheme);
            bail!("COZY_URL is not an http or https URL (its scheme is {scheme:?})");
        }
        let token = Token(required("COZY_CREDENTIALS")?);
        let fields = object("COZY_FIELDS", &required("COZY_FIELDS")?)?;
        let parameters = get("COZY_PARAMETERS")
            .filter(|text| !text.is_empty())
            .map(|text| object("COZY_PARAMETERS", &text))
            .transpose()?;
        let payload = get("COZY_PAYLOAD")
            .filter(|text| !text.is_empty())
            .map(|text| read_payload(&text, folder))
            .transpose()?;
        let time_limit_s = get("COZY_TIME_LIMIT")
            .filter(|text| !text.is_empty())
            .map(|text| {
                text.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|&s| s > 0)
                    .with_context(|| {
                        format!("COZY_TIME_LIMIT {text:?} is not a positive number of seconds")
                    })
            })
            .transpose()?;
        Ok(CozyEnv {
            url,
            token,
            fields,
            parameters,
            payload,
            locale: get("COZY_LOCALE")
                .filter(|locale| !locale.is_empty())
                .unwrap_or_else(|| "en".into()),
            time_limit_s,
            job_id: get("COZY_JOB_ID").filter(|id| !id.is_empty()),
            manual_execution: get("COZY_JOB_MANUAL_EXECUTION").as_deref() == Some("true"),
            trigger_id: get("COZY_TRIGGER_ID").filter(|id| !id.is_empty()),
        })
    }

    /// Returns the account id of `COZY_FIELDS`.
    pub(crate) fn account(&self) -> anyhow::Result<&str> {
        match self.fields.get("account") {
            Some(Value::String(id)) if !id.is_empty() => Ok(id),
            _ => bail!(
                "COZY_FIELDS has no \"account\" id; the stack sets it for every konnector job"
            ),
        }
    }

    /// Returns the `folder_to_save` id of `COZY_FIELDS`, if any.
    pub(crate) fn folder_to_save(&self) -> Option<&str> {
        self.fields
            .get("folder_to_save")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
    }
}

fn object(name: &str, text: &str) -> anyhow::Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => bail!("{name} is not a JSON object"),
        Err(error) => bail!("{name} is not valid JSON: {error}"),
    }
}

/// Reads `COZY_PAYLOAD`: the text itself, or with `@name` the file `name`
/// of the konnector's folder (the stack's form for payloads over 100 kB).
fn read_payload(text: &str, folder: &Path) -> anyhow::Result<String> {
    let Some(name) = text.strip_prefix('@') else {
        return Ok(text.to_owned());
    };
    let plain_name = !name.is_empty()
        && !name.contains('/')
        && !name.contains('\\')
        && name != "."
        && name != "..";
    if !plain_name {
        bail!("COZY_PAYLOAD {text:?} must name a file of the konnector's folder, without any /");
    }
    let path = folder.join(name);
    // The stack writes a regular file. A link, a FIFO or a device there is
    // rejected before it is opened, so it can neither block nor point out
    // of the folder.
    let metadata = std::fs::symlink_metadata(&path)
        .with_context(|| format!("failed to read the payload file {}", path.display()))?;
    if !metadata.file_type().is_file() {
        bail!(
            "the payload file {} is not a regular file; the stack writes the payload as one",
            path.display()
        );
    }
    let file = std::fs::File::open(&path)
        .with_context(|| format!("failed to read the payload file {}", path.display()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_PAYLOAD_BYTES + 1),
        &mut bytes,
    )
    .with_context(|| format!("failed to read the payload file {}", path.display()))?;
    if bytes.len() as u64 > MAX_PAYLOAD_BYTES {
        bail!(
            "the payload file {} has more than {MAX_PAYLOAD_BYTES} bytes, the limit",
            path.display()
        );
    }
    String::from_utf8(bytes)
        .with_context(|| format!("the payload file {} is not UTF-8 text", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("COZY_URL", "http://cozy.localhost:8080/"),
        ("COZY_CREDENTIALS", "secret-token"),
        (
            "COZY_FIELDS",
            r#"{"konnector":"x","account":"acc1","folder_to_save":"dir1"}"#,
        ),
    ];

    #[test]
    fn reads_the_stack_variables() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("COZY_TIME_LIMIT", "120"),
            ("COZY_LOCALE", "fr"),
            ("COZY_JOB_MANUAL_EXECUTION", "true"),
            ("COZY_PARAMETERS", r#"{"secret":{"k":1}}"#),
            ("COZY_PAYLOAD", "hello"),
        ]);
        let folder = tempfile::tempdir().expect("folder");
        let read = CozyEnv::read(env(&pairs), folder.path()).expect("valid");
        assert_eq!(read.time_limit_s, Some(120));
        assert_eq!(read.locale, "fr");
        assert!(read.manual_execution);
        assert_eq!(read.account().expect("account"), "acc1");
        assert_eq!(read.folder_to_save(), Some("dir1"));
        assert_eq!(read.payload.as_deref(), Some("hello"));
        assert!(!format!("{read:?}").contains("secret-token"));
    }

    #[test]
    fn payload_file_is_read_inside_the_folder() {
        let folder = tempfile::tempdir().expect("folder");
        std::fs::write(folder.path().join("payload.json"), "{\"big\":true}").expect("write");
        let mut pairs = BASE.to_vec();
        pairs.push(("COZY_PAYLOAD", "@payload.json"));
        let read = CozyEnv::read(env(&pairs), folder.path()).expect("valid");
        assert_eq!(read.payload.as_deref(), Some("{\"big\":true}"));

        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/dev/zero", folder.path().join("zero")).expect("link");
            let mut pairs = BASE.to_vec();
            pairs.push(("COZY_PAYLOAD", "@zero"));
            let error = CozyEnv::read(env(&pairs), folder.path()).expect_err("link");
            assert!(error.to_string().contains("not a regular file"), "{error}");
        }

        for escape in ["@../etc/passwd", "@/etc/passwd", "@", "@.."] {
            let mut pairs = BASE.to_vec();
            pairs.push(("COZY_PAYLOAD", escape));
            let error = CozyEnv::read(env(&pairs), folder.path()).expect_err(escape);
            assert!(error.to_string().contains("COZY_PAYLOAD"), "{error}");
        }
    }

    #[test]
    fn missing_and_invalid_variables_are_named() {
        let folder = tempfile::tempdir().expect("folder");
        let error = CozyEnv::read(env(&BASE[1..]), folder.path()).expect_err("no url");
        assert!(error.to_string().contains("COZY_URL is not set"), "{error}");

        let mut pairs = BASE.to_vec();
        pairs.push(("COZY_TIME_LIMIT", "soon"));
        let error = CozyEnv::read(env(&pairs), folder.path()).expect_err("bad limit");
        assert!(error.to_string().contains("COZY_TIME_LIMIT"), "{error}");

        let pairs = [BASE[0], BASE[1], ("COZY_FIELDS", "[1]")];
        let error = CozyEnv::read(env(&pairs), folder.path()).expect_err("fields");
        assert!(error.to_string().contains("COZY_FIELDS"), "{error}");
    }
}
