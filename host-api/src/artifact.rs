//! The konnector artifact: what `konnector build` writes and the engine runs.
//!
//! An artifact is a WebAssembly binary module that carries the konnector's
//! manifest in a custom section, so one file is the whole konnector. It is
//! one of two kinds:
//!
//! * **Module**: a WASI preview 1 command module (a Rust konnector, say)
//!   with a [`MANIFEST_SECTION`] added. The engine compiles and runs it.
//! * **JavaScript**: a module with no code at all (no type, import,
//!   function, memory or any other standard section), only custom sections:
//!   [`MANIFEST_SECTION`], [`JS_BYTECODE_SECTION`] with the konnector's
//!   QuickJS bytecode, and [`JS_RUNTIME_SECTION`] naming the runtime that
//!   compiled it. The engine runs that bytecode in its shared QuickJS
//!   runtime module, so an artifact is small (no copy of QuickJS) and cannot
//!   bring code of its own. A konnector with npm dependencies carries them
//!   apart from its own code: [`JS_DEPENDENCIES_SECTION`] has their
//!   bundle's bytecode and [`JS_PRELOAD_SECTION`] the [`PreloadPlan`] that
//!   lists which of them the engine evaluates once, into a snapshot of the
//!   konnector, rather than in every job.
//!
//! QuickJS bytecode is tied to the runtime build that wrote it, and
//! QuickJS trusts bytecode, so the engine runs a JavaScript artifact only
//! on the runtime whose SHA-256 digest [`JS_RUNTIME_SECTION`] names.
//! Rebuilding the konnector with the engine's own toolchain fixes a
//! mismatch.
//!
//! A plain module without [`MANIFEST_SECTION`] is still accepted where a
//! module is: it runs with no permission at all.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Custom section holding the manifest (`manifest.konnector`, JSON text).
pub const MANIFEST_SECTION: &str = "konnector.manifest";
/// Custom section holding a JavaScript konnector's QuickJS bytecode.
pub const JS_BYTECODE_SECTION: &str = "konnector.js.bytecode";
/// Custom section naming the runtime that compiled the bytecode: the text
/// `konnector_js_v1 sha256:<64 hex digits>`.
pub const JS_RUNTIME_SECTION: &str = "konnector.js.runtime";
/// Custom section holding the QuickJS bytecode of a JavaScript konnector's
/// dependency bundle: the npm packages its own code requires, each defined
/// under the name it is required by.
pub const JS_DEPENDENCIES_SECTION: &str = "konnector.js.dependencies";
/// Custom section holding the [`PreloadPlan`] of the dependency bundle, as
/// JSON.
pub const JS_PRELOAD_SECTION: &str = "konnector.js.preload";

/// Largest QuickJS bytecode an artifact may carry, in bytes (32 MiB, as
/// for modules). The cheerio and moment bundle compiles to about 0.5 MiB.
pub const MAX_BYTECODE_BYTES: usize = 32 << 20;

/// Largest artifact file a command reads, in bytes: a 32 MiB module or
/// bytecode plus its manifest, with room to spare.
pub const MAX_ARTIFACT_BYTES: u64 = 40 << 20;

/// Prefix of [`JS_RUNTIME_SECTION`]'s text: the JavaScript ABI version.
const JS_RUNTIME_PREFIX: &str = "konnector_js_v1 sha256:";

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const WASM_VERSION: &[u8; 4] = &[1, 0, 0, 0];
const CUSTOM_SECTION_ID: u8 = 0;

/// A parsed artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The manifest's JSON text; `None` for a plain module.
    pub manifest: Option<String>,
    /// The code the artifact runs.
    pub kind: ArtifactKind,
}

/// The kind of code an artifact runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A WebAssembly module: the artifact's own bytes.
    Module,
    /// QuickJS bytecode for the runtime whose SHA-256 digest is `runtime`.
    JavaScript {
        /// The bytecode of the konnector's own code.
        bytecode: Vec<u8>,
        /// SHA-256 digest of the pre-initialised runtime module.
        runtime: [u8; 32],
        /// The bundled npm dependencies, when the konnector has any.
        dependencies: Option<JsDependencies>,
    },
}

/// The npm packages of a JavaScript konnector, bundled apart from its own
/// code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsDependencies {
    /// QuickJS bytecode of the bundle: a module that defines each package
    /// under the name the konnector's code requires it by.
    pub bytecode: Vec<u8>,
    /// The packages the engine evaluates ahead of time.
    pub plan: PreloadPlan,
}

/// The plan of a dependency bundle: the packages the engine evaluates once
/// per konnector, before it snapshots the runtime, and those each job
/// evaluates at their first `require`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreloadPlan {
    /// Package names evaluated ahead of time, in this order.
    pub evaluate: Vec<String>,
    /// Packages that `konnector build` found it could not evaluate ahead of
    /// time, with the reason.
    #[serde(default)]
    pub per_job: Vec<PerJobDependency>,
}

/// A package left to be evaluated in each job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerJobDependency {
    /// The name the konnector's code requires it by.
    pub name: String,
    /// The reason it cannot be evaluated ahead of time, such as `it reads
    /// the clock while it loads`.
    pub reason: String,
}

/// The reason bytes are not a valid artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactError(String);

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArtifactError {}

fn invalid(message: impl Into<String>) -> ArtifactError {
    ArtifactError(message.into())
}

/// Returns whether `bytes` start like a WebAssembly binary module, rather
/// than WAT text.
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes.starts_with(WASM_MAGIC)
}

/// Reads an artifact's sections.
///
/// It checks the section framing and the custom sections this module
/// defines; the engine validates the rest of a module when it compiles it.
///
/// # Errors
///
/// When the bytes are not a WebAssembly binary, or a section runs past the
/// end. When a konnector section appears twice or is not UTF-8 where text
/// is expected. When a JavaScript artifact has a standard section (code)
/// or lacks its runtime section.
pub fn parse(bytes: &[u8]) -> Result<Artifact, ArtifactError> {
    if !is_binary(bytes) {
        return Err(invalid(
            "not a WebAssembly binary module (it does not start with \\0asm)",
        ));
    }
    if bytes.get(4..8) != Some(WASM_VERSION.as_slice()) {
        return Err(invalid("unsupported WebAssembly version; expected 1"));
    }

    let mut manifest = None;
    let mut bytecode = None;
    let mut runtime = None;
    let mut dependencies = None;
    let mut preload = None;
    let mut standard_sections = 0usize;
    for section in sections(&bytes[8..]) {
        let section = section?;
        match section {
            Section::Standard { .. } => standard_sections += 1,
            Section::Custom { name, payload } => {
                let slot = match name {
                    MANIFEST_SECTION => &mut manifest,
                    JS_BYTECODE_SECTION => &mut bytecode,
                    JS_RUNTIME_SECTION => &mut runtime,
                    JS_DEPENDENCIES_SECTION => &mut dependencies,
                    JS_PRELOAD_SECTION => &mut preload,
                    _ => continue,
                };
                if slot.replace(payload).is_some() {
                    return Err(invalid(format!("the custom section {name} appears twice")));
                }
            }
        }
    }

    let manifest = manifest
        .map(|payload| {
            String::from_utf8(payload.to_vec())
                .map_err(|_| invalid(format!("the {MANIFEST_SECTION} section is not UTF-8")))
        })
        .transpose()?;
    let kind = match (bytecode, runtime) {
        (None, None) if dependencies.is_some() || preload.is_some() => {
            return Err(invalid(format!(
                "the artifact has dependencies but no {JS_BYTECODE_SECTION} section"
            )));
        }
        (None, None) => ArtifactKind::Module,
        (Some(bytecode), Some(runtime)) => {
            if bytecode.len() > MAX_BYTECODE_BYTES {
                return Err(invalid(format!(
                    "the bytecode is {} bytes, more than the maximum of {MAX_BYTECODE_BYTES} bytes",
                    bytecode.len()
                )));
            }
            if standard_sections > 0 {
                return Err(invalid(format!(
                    "a JavaScript artifact carries no code, but this one has {standard_sections} standard sections beside its bytecode"
                )));
            }
            ArtifactKind::JavaScript {
                bytecode: bytecode.to_vec(),
                runtime: parse_runtime(runtime)?,
                dependencies: parse_dependencies(dependencies, preload)?,
            }
        }
        (Some(_), None) => {
            return Err(invalid(format!(
                "the artifact has a {JS_BYTECODE_SECTION} section but no {JS_RUNTIME_SECTION} section"
            )));
        }
        (None, Some(_)) => {
            return Err(invalid(format!(
                "the artifact has a {JS_RUNTIME_SECTION} section but no {JS_BYTECODE_SECTION} section"
            )));
        }
    };
    Ok(Artifact { manifest, kind })
}

/// Writes a JavaScript artifact.
pub fn write_js(
    manifest: &str,
    bytecode: &[u8],
    runtime: &[u8; 32],
    dependencies: Option<&JsDependencies>,
) -> Vec<u8> {
    let runtime_text = format!("{JS_RUNTIME_PREFIX}{}", hex(runtime));
    let extra = dependencies.map_or(0, |dependencies| dependencies.bytecode.len());
    let mut out = Vec::with_capacity(bytecode.len() + extra + manifest.len() + 256);
    out.extend_from_slice(WASM_MAGIC);
    out.extend_from_slice(WASM_VERSION);
    push_custom_section(&mut out, JS_RUNTIME_SECTION, runtime_text.as_bytes());
    push_custom_section(&mut out, MANIFEST_SECTION, manifest.as_bytes());
    if let Some(dependencies) = dependencies {
        // A plan of strings always serializes.
        let plan = serde_json::to_vec(&dependencies.plan).unwrap_or_default();
        push_custom_section(&mut out, JS_PRELOAD_SECTION, &plan);
        push_custom_section(&mut out, JS_DEPENDENCIES_SECTION, &dependencies.bytecode);
    }
    push_custom_section(&mut out, JS_BYTECODE_SECTION, bytecode);
    out
}

/// Adds `manifest` to the WebAssembly module `wasm` as a custom section.
///
/// # Errors
///
/// When `wasm` is not a valid artifact of the module kind, or already has a
/// manifest.
pub fn with_manifest(wasm: &[u8], manifest: &str) -> Result<Vec<u8>, ArtifactError> {
    let parsed = parse(wasm)?;
    if parsed.kind != ArtifactKind::Module {
        return Err(invalid(
            "a JavaScript artifact gets its manifest from write_js",
        ));
    }
    if parsed.manifest.is_some() {
        return Err(invalid(format!(
            "the module already has a {MANIFEST_SECTION} section"
        )));
    }
    let mut out = Vec::with_capacity(wasm.len() + manifest.len() + 32);
    out.extend_from_slice(wasm);
    push_custom_section(&mut out, MANIFEST_SECTION, manifest.as_bytes());
    Ok(out)
}

/// Formats a runtime digest as the lower-case hex text artifacts carry.
pub fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads the dependency sections, which come together or not at all.
fn parse_dependencies(
    bytecode: Option<&[u8]>,
    plan: Option<&[u8]>,
) -> Result<Option<JsDependencies>, ArtifactError> {
    let (bytecode, plan) = match (bytecode, plan) {
        (None, None) => return Ok(None),
        (Some(bytecode), Some(plan)) => (bytecode, plan),
        (Some(_), None) => {
            return Err(invalid(format!(
                "the artifact has a {JS_DEPENDENCIES_SECTION} section but no {JS_PRELOAD_SECTION} section"
            )));
        }
        (None, Some(_)) => {
            return Err(invalid(format!(
                "the artifact has a {JS_PRELOAD_SECTION} section but no {JS_DEPENDENCIES_SECTION} section"
            )));
        }
    };
    if bytecode.len() > MAX_BYTECODE_BYTES {
        return Err(invalid(format!(
            "the dependency bytecode is {} bytes, more than the maximum of {MAX_BYTECODE_BYTES} bytes",
            bytecode.len()
        )));
    }
    let plan: PreloadPlan = serde_json::from_slice(plan).map_err(|error| {
        invalid(format!(
            "the {JS_PRELOAD_SECTION} section is invalid: {error}"
        ))
    })?;
    Ok(Some(JsDependencies {
        bytecode: bytecode.to_vec(),
        plan,
    }))
}

fn parse_runtime(payload: &[u8]) -> Result<[u8; 32], ArtifactError> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| invalid(format!("the {JS_RUNTIME_SECTION} section is not UTF-8")))?;
    let Some(digits) = text.strip_prefix(JS_RUNTIME_PREFIX) else {
        return Err(invalid(format!(
            "the {JS_RUNTIME_SECTION} section names an unknown runtime ABI: {text:?}; this engine runs {JS_RUNTIME_PREFIX}…"
        )));
    };
    let mut digest = [0u8; 32];
    if digits.len() != 64 {
        return Err(invalid(format!(
            "the runtime digest in {JS_RUNTIME_SECTION} has {} hex digits instead of 64",
            digits.len()
        )));
    }
    for (index, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * index..2 * index + 2], 16).map_err(|_| {
            invalid(format!(
                "the runtime digest in {JS_RUNTIME_SECTION} is not hex: {digits:?}"
            ))
        })?;
    }
    Ok(digest)
}

enum Section<'a> {
    Standard,
    Custom { name: &'a str, payload: &'a [u8] },
}

/// Iterates over the sections after the header.
fn sections(mut rest: &[u8]) -> impl Iterator<Item = Result<Section<'_>, ArtifactError>> {
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let result = (|| {
            let id = rest[0];
            let (size, used) = read_u32(&rest[1..])
                .ok_or_else(|| invalid("a section size is not a valid LEB128 number"))?;
            let start = 1 + used;
            let end = start
                .checked_add(size as usize)
                .filter(|&end| end <= rest.len())
                .ok_or_else(|| invalid("a section runs past the end of the file"))?;
            let body = &rest[start..end];
            rest = &rest[end..];
            if id != CUSTOM_SECTION_ID {
                return Ok(Section::Standard);
            }
            let (name_len, used) = read_u32(body)
                .ok_or_else(|| invalid("a custom section's name length is not valid"))?;
            let name_end = used
                .checked_add(name_len as usize)
                .filter(|&end| end <= body.len())
                .ok_or_else(|| invalid("a custom section's name runs past the section"))?;
            let name = std::str::from_utf8(&body[used..name_end])
                .map_err(|_| invalid("a custom section's name is not UTF-8"))?;
            Ok(Section::Custom {
                name,
                payload: &body[name_end..],
            })
        })();
        if result.is_err() {
            // Stop after the first framing error.
            rest = &[];
        }
        Some(result)
    })
}

/// Reads an unsigned LEB128 `u32`; returns it and the bytes it used.
fn read_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value: u32 = 0;
    for (index, &byte) in bytes.iter().enumerate().take(5) {
        let bits = u32::from(byte & 0x7f);
        if index == 4 && bits > 0x0f {
            return None;
        }
        value |= bits << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

fn push_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn push_custom_section(out: &mut Vec<u8>, name: &str, payload: &[u8]) {
    let mut body = Vec::with_capacity(name.len() + payload.len() + 5);
    push_u32(&mut body, len_u32(name.len()));
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    out.push(CUSTOM_SECTION_ID);
    push_u32(out, len_u32(body.len()));
    out.extend_from_slice(&body);
}

fn len_u32(len: usize) -> u32 {
    // A WebAssembly section is at most 4 GiB; callers pass manifests and
    // bytecode far below that, and the engine caps modules at 32 MiB.
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";
    /// `(module (func))`: a type, a function and a code section.
    const ONE_FUNCTION: &[u8] = &[
        0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 4, 1, 2, 0, 11,
    ];

    #[test]
    fn js_artifact_round_trips() {
        let runtime = [7u8; 32];
        let bytes = write_js(r#"{"slug":"x"}"#, b"bytecode", &runtime, None);
        let artifact = parse(&bytes).expect("valid");
        assert_eq!(artifact.manifest.as_deref(), Some(r#"{"slug":"x"}"#));
        assert_eq!(
            artifact.kind,
            ArtifactKind::JavaScript {
                bytecode: b"bytecode".to_vec(),
                runtime,
                dependencies: None,
            }
        );
    }

    #[test]
    fn js_artifact_with_dependencies_round_trips() {
        let dependencies = JsDependencies {
            bytecode: b"bundle".to_vec(),
            plan: PreloadPlan {
                evaluate: vec!["cheerio".to_owned(), "moment".to_owned()],
                per_job: vec![PerJobDependency {
                    name: "clocky".to_owned(),
                    reason: "it reads the clock while it loads".to_owned(),
                }],
            },
        };
        let bytes = write_js("{}", b"own", &[3; 32], Some(&dependencies));
        match parse(&bytes).expect("valid").kind {
            ArtifactKind::JavaScript {
                bytecode,
                dependencies: Some(read),
                ..
            } => {
                assert_eq!(bytecode, b"own");
                assert_eq!(read, dependencies);
            }
            other => panic!("expected dependencies, got {other:?}"),
        }
    }

    #[test]
    fn dependency_sections_come_together() {
        let mut bytes = write_js("{}", b"own", &[3; 32], None);
        push_custom_section(&mut bytes, JS_DEPENDENCIES_SECTION, b"bundle");
        let error = parse(&bytes).expect_err("no plan");
        assert!(error.to_string().contains(JS_PRELOAD_SECTION), "{error}");

        let mut bytes = write_js("{}", b"own", &[3; 32], None);
        push_custom_section(&mut bytes, JS_DEPENDENCIES_SECTION, b"bundle");
        push_custom_section(&mut bytes, JS_PRELOAD_SECTION, b"not json");
        let error = parse(&bytes).expect_err("bad plan");
        assert!(error.to_string().contains("is invalid"), "{error}");

        let mut module = EMPTY_MODULE.to_vec();
        push_custom_section(&mut module, JS_PRELOAD_SECTION, b"{}");
        let error = parse(&module).expect_err("plan without bytecode");
        assert!(error.to_string().contains(JS_BYTECODE_SECTION), "{error}");
    }

    #[test]
    fn large_sections_use_multi_byte_sizes() {
        let bytecode = vec![0xab; 300_000];
        let bytes = write_js("{}", &bytecode, &[1; 32], None);
        match parse(&bytes).expect("valid").kind {
            ArtifactKind::JavaScript { bytecode: read, .. } => assert_eq!(read, bytecode),
            ArtifactKind::Module => panic!("expected JavaScript"),
        }
    }

    #[test]
    fn module_gets_a_manifest() {
        let plain = parse(ONE_FUNCTION).expect("valid");
        assert_eq!(plain.manifest, None);
        assert_eq!(plain.kind, ArtifactKind::Module);

        let with = with_manifest(ONE_FUNCTION, "{}").expect("added");
        assert!(with.starts_with(ONE_FUNCTION));
        let parsed = parse(&with).expect("valid");
        assert_eq!(parsed.manifest.as_deref(), Some("{}"));
        assert_eq!(parsed.kind, ArtifactKind::Module);

        let error = with_manifest(&with, "{}").expect_err("twice");
        assert!(error.to_string().contains("already has"), "{error}");
    }

    #[test]
    fn js_artifact_with_code_is_refused() {
        let mut bytes = ONE_FUNCTION.to_vec();
        push_custom_section(&mut bytes, JS_BYTECODE_SECTION, b"x");
        push_custom_section(
            &mut bytes,
            JS_RUNTIME_SECTION,
            format!("{JS_RUNTIME_PREFIX}{}", hex(&[0; 32])).as_bytes(),
        );
        let error = parse(&bytes).expect_err("code");
        assert!(error.to_string().contains("carries no code"), "{error}");
    }

    #[test]
    fn bytecode_without_runtime_is_refused() {
        let mut bytes = EMPTY_MODULE.to_vec();
        push_custom_section(&mut bytes, JS_BYTECODE_SECTION, b"x");
        let error = parse(&bytes).expect_err("no runtime");
        assert!(error.to_string().contains(JS_RUNTIME_SECTION), "{error}");
    }

    #[test]
    fn unknown_runtime_abi_is_refused() {
        let mut bytes = EMPTY_MODULE.to_vec();
        push_custom_section(&mut bytes, JS_BYTECODE_SECTION, b"x");
        push_custom_section(&mut bytes, JS_RUNTIME_SECTION, b"konnector_js_v9 sha256:00");
        let error = parse(&bytes).expect_err("abi");
        assert!(error.to_string().contains("unknown runtime ABI"), "{error}");
    }

    #[test]
    fn truncated_and_duplicated_sections_are_refused() {
        let bytes = write_js("{}", b"bytecode", &[0; 32], None);
        let error = parse(&bytes[..bytes.len() - 3]).expect_err("truncated");
        assert!(error.to_string().contains("past the end"), "{error}");

        let mut twice = bytes.clone();
        push_custom_section(&mut twice, MANIFEST_SECTION, b"{}");
        let error = parse(&twice).expect_err("twice");
        assert!(error.to_string().contains("appears twice"), "{error}");

        assert!(parse(b"(module)").is_err());
        assert!(parse(b"\0asm\x02\0\0\0").is_err());
    }

    #[test]
    fn leb128_round_trips() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u32::MAX] {
            let mut out = Vec::new();
            push_u32(&mut out, value);
            assert_eq!(read_u32(&out), Some((value, out.len())));
        }
        assert_eq!(read_u32(&[0x80, 0x80, 0x80, 0x80, 0x80]), None);
        assert_eq!(read_u32(&[0x80]), None);
    }
}
