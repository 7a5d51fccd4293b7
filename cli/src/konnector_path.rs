//! Inputs of `konnector run PATH` and `konnector build DIR`: a folder
//! with a manifest, or a plain module.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use konnector_engine::manifest::Manifest;

/// Name of the manifest file in a konnector folder.
pub(crate) const MANIFEST_FILE: &str = "manifest.konnector";

/// Name of the built module in a built konnector folder (what
/// `konnector build` writes beside a copy of the manifest).
pub(crate) const MODULE_FILE: &str = "konnector.wasm";

/// A konnector ready to run: its module's bytes and its manifest.
pub(crate) struct Konnector {
    pub(crate) wasm: Vec<u8>,
    pub(crate) manifest: Manifest,
    /// Path the module was read from, for messages.
    pub(crate) module_path: PathBuf,
}

/// Loads a konnector from a folder (building it when it is a Rust package)
/// or from a `.wasm` / `.wat` file, which runs with no permission at all.
pub(crate) fn load(path: &Path) -> anyhow::Result<Konnector> {
    if path.is_dir() {
        return load_folder(path);
    }
    let wasm = std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    let slug = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .map(sanitize_slug)
        .unwrap_or_else(|| "unnamed".into());
    Ok(Konnector {
        wasm,
        manifest: Manifest::unprivileged(&slug),
        module_path: path.to_owned(),
    })
}

fn load_folder(dir: &Path) -> anyhow::Result<Konnector> {
    let manifest = load_manifest(dir)?;
    let module_path = build_folder(dir)?;
    let wasm = std::fs::read(&module_path)
        .with_context(|| format!("failed to read {}", module_path.display()))?;
    Ok(Konnector {
        wasm,
        manifest,
        module_path,
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

/// Builds the module of a konnector folder and returns its path; a built
/// folder's module is returned as it is.
pub(crate) fn build_folder(dir: &Path) -> anyhow::Result<PathBuf> {
    let built = dir.join(MODULE_FILE);
    if built.is_file() && !konnector_toolchain::is_rust_konnector(dir) {
        return Ok(built);
    }
    if konnector_toolchain::is_rust_konnector(dir) {
        eprintln!(
            "building {} for {}",
            dir.display(),
            konnector_toolchain::WASM_TARGET
        );
        let target_dir = dir.join("target");
        let wasm = konnector_toolchain::build_rust_konnector(dir, &target_dir)
            .with_context(|| format!("failed to build {}", dir.display()))?;
        return Ok(wasm);
    }
    bail!(
        "{} is not a konnector this version can build or run: expected a Rust package (Cargo.toml) or a built {MODULE_FILE} beside {MANIFEST_FILE}",
        dir.display()
    )
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
