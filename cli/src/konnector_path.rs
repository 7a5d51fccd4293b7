//! Inputs of `konnector run PATH` and `konnector build DIR`: a konnector
//! folder, an artifact, or a plain module.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use konnector_engine::JobCode;
use konnector_engine::host_api::artifact;
use konnector_engine::manifest::Manifest;
use konnector_toolchain::{BuildOptions, Built, Language};

use crate::js_runtime;

/// Name of the manifest file in a konnector folder.
pub(crate) const MANIFEST_FILE: &str = konnector_toolchain::artifact_build::MANIFEST_FILE;

/// Name of the artifact in a built folder (`DIR/build/konnector.wasm` is
/// where `konnector build DIR` writes it by default).
pub(crate) const ARTIFACT_FILE: &str = "konnector.wasm";

/// A konnector ready to run: its code and its manifest.
pub(crate) struct Konnector {
    pub(crate) code: JobCode,
    pub(crate) manifest: Manifest,
    /// Path it was read or built from, for messages.
    pub(crate) path: PathBuf,
}

impl Konnector {
    /// Returns whether it runs on the JavaScript runtime.
    pub(crate) fn is_javascript(&self) -> bool {
        matches!(self.code, JobCode::JavaScript { .. })
    }
}

/// Loads a konnector from a folder (building it when it has sources), from
/// an artifact, or from a plain `.wasm` / `.wat` module, which runs with no
/// permission at all.
pub(crate) fn load(path: &Path) -> anyhow::Result<Konnector> {
    if path.is_dir() {
        if Language::of(path).is_some() {
            let built = build_folder(path, &mut |step| errln!("{step}"))?;
            return from_artifact(built.artifact, path, None);
        }
        let artifact_path = path.join(ARTIFACT_FILE);
        if artifact_path.is_file() {
            return load_file(&artifact_path);
        }
        bail!(
            "{} is not a konnector folder: expected {MANIFEST_FILE} with a Cargo.toml (Rust) or a package.json, src/index.js or index.js (JavaScript), or a built {ARTIFACT_FILE}",
            path.display()
        );
    }
    load_file(path)
}

/// Loads an artifact or a plain module file. A built folder of an older
/// layout keeps its manifest beside the module, which is used when the
/// module carries none.
fn load_file(path: &Path) -> anyhow::Result<Konnector> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("failed to read {}", path.display()))?
        .len();
    if size > artifact::MAX_ARTIFACT_BYTES {
        bail!(
            "{} is {size} bytes, more than the {} bytes of the largest artifact the engine runs",
            path.display(),
            artifact::MAX_ARTIFACT_BYTES
        );
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    let beside = path
        .parent()
        .map(|dir| dir.join(MANIFEST_FILE))
        .filter(|manifest| manifest.is_file());
    if !artifact::is_binary(&bytes) {
        // WAT text: a plain module for tests and experiments.
        let manifest = match &beside {
            Some(manifest) => Manifest::load(manifest)?,
            None => Manifest::unprivileged(&slug_of(path)),
        };
        return Ok(Konnector {
            code: JobCode::Wasm(Arc::from(bytes)),
            manifest,
            path: path.to_owned(),
        });
    }
    from_artifact(bytes, path, beside.as_deref())
}

fn from_artifact(bytes: Vec<u8>, path: &Path, beside: Option<&Path>) -> anyhow::Result<Konnector> {
    let parsed = artifact::parse(&bytes)
        .with_context(|| format!("{} is not a valid konnector artifact", path.display()))?;
    if let (Some(text), Some(beside)) = (&parsed.manifest, beside) {
        // The person and the stack read the manifest beside the artifact, so
        // an embedded one that grants something else must not win silently.
        let inside: Option<serde_json::Value> = serde_json::from_str(text).ok();
        let outside: Option<serde_json::Value> = std::fs::read_to_string(beside)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        if inside != outside {
            bail!(
                "the manifest inside {} differs from {}; rebuild the artifact with `konnector build` so that they match",
                path.display(),
                beside.display()
            );
        }
    }
    let manifest = match (&parsed.manifest, beside) {
        (Some(text), _) => Manifest::parse(text)
            .with_context(|| format!("the manifest inside {} is invalid", path.display()))?,
        (None, Some(manifest)) => Manifest::load(manifest)?,
        (None, None) => Manifest::unprivileged(&slug_of(path)),
    };
    Ok(Konnector {
        code: JobCode::from_artifact(Arc::from(bytes), parsed.kind),
        manifest,
        path: path.to_owned(),
    })
}

/// Loads the manifest of konnector folder `dir`, with a clear error when
/// `dir` is not a folder or has no manifest.
pub(crate) fn load_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    if !dir.is_dir() {
        bail!(
            "{} is not a folder; give a konnector folder that has a {MANIFEST_FILE}",
            dir.display()
        );
    }
    let manifest_path = dir.join(MANIFEST_FILE);
    if !manifest_path.is_file() {
        bail!(
            "{} has no {MANIFEST_FILE}; a konnector folder needs one (or pass a .wasm or .wat file to `konnector run` to run it with no permission)",
            dir.display()
        );
    }
    Ok(Manifest::load(&manifest_path)?)
}

/// Builds the konnector folder `dir` into an artifact, calling `progress`
/// with a line for each step. The manifest is checked first, so that a
/// mistake there shows before a long build.
pub(crate) fn build_folder(dir: &Path, progress: &mut dyn FnMut(&str)) -> anyhow::Result<Built> {
    load_manifest(dir)?;
    let options = BuildOptions {
        cargo_target_dir: dir.join("target"),
        js_runtime: js_runtime::RUNTIME,
        progress,
    };
    konnector_toolchain::build_konnector(dir, options)
        .with_context(|| format!("failed to build {}", dir.display()))
}

/// Makes a slug of a file's name.
fn slug_of(path: &Path) -> String {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .map(sanitize_slug)
        .unwrap_or_else(|| "unnamed".into())
}

/// Keeps the characters a slug may have, so a file name becomes a slug.
fn sanitize_slug(stem: &str) -> String {
    let slug: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if slug.is_empty() {
        "unnamed".into()
    } else {
        slug
    }
}
