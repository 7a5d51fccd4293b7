//! The engine's own `cozy-konnector-libs`, and the install of the
//! dependencies of a konnector that depends on the npm one.
//!
//! esbuild resolves every `require("cozy-konnector-libs")` to the folder
//! [`libs_dir`] (`toolchain/konnector-libs`), never to the npm package,
//! which cannot be installed here: two of its dependencies come from
//! GitHub, and it pulls about 480 packages. So npm must not install it.
//!
//! When `package.json` lists it in `dependencies`, npm installs the other
//! dependencies in the staging folder [`STAGING_DIR`] (`build/npm` in the
//! konnector's folder, beside the default artifact) from copies of
//! `package.json` and of the lockfile, if any, without `cozy-konnector-libs`
//! and without `devDependencies`. The lockfile copy also loses every
//! package that only those needed (see [`super::lockfile`]), so `npm ci`
//! accepts it and installs exactly the locked versions of the rest. The
//! konnector's own files are not changed: no `package-lock.json` is written
//! and no `node_modules` is created beside them. The folder's `.npmrc` is
//! copied too, because npm reads it from the folder it installs in.
//!
//! NOTE: a lockfile of version 1 (npm 6) cannot be pruned, so such a
//! konnector is installed with `npm install` as if it had no lockfile.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::lockfile::{self, PruneError};
use super::{BundleError, npm};

/// The npm package that the engine provides itself.
pub const LIBS_PACKAGE: &str = "cozy-konnector-libs";

/// Default folder of the engine's `cozy-konnector-libs`:
/// `toolchain/konnector-libs` in the sources this crate was compiled from,
/// so the default needs the repository's checkout.
pub const KONNECTOR_LIBS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/konnector-libs");

/// Environment variable that overrides [`KONNECTOR_LIBS_DIR`].
pub const KONNECTOR_LIBS_DIR_VAR: &str = "KONNECTOR_LIBS_DIR";

/// The staging folder, relative to the konnector's folder.
pub const STAGING_DIR: &str = "build/npm";

/// Number of folders between the konnector's folder and [`STAGING_DIR`],
/// by which relative `file:` paths are rebased.
const STAGING_DEPTH: usize = 2;

/// File of the staging folder that describes the konnector's `file:`
/// dependencies as they were at the last install: npm copies them, so an
/// edit to one must install again.
const LOCAL_PACKAGES_FILE: &str = "local-packages.txt";

/// Lockfiles that the staging copies, in order of preference: the first
/// that exists wins.
const LOCKFILES: &[&str] = &["npm-shrinkwrap.json", "package-lock.json"];

/// Returns the folder of the engine's `cozy-konnector-libs`:
/// `$KONNECTOR_LIBS_DIR`, else [`KONNECTOR_LIBS_DIR`].
pub fn libs_dir() -> PathBuf {
    std::env::var_os(KONNECTOR_LIBS_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(KONNECTOR_LIBS_DIR))
}

/// The staging folder, ready for npm.
#[derive(Debug)]
pub(super) struct Staging {
    /// The folder.
    pub dir: PathBuf,
    /// Whether a pruned lockfile was written, so that `npm ci` installs.
    pub lockfile: bool,
    /// Whether `node_modules` was installed from the very same files
    /// before, so that installing again would change nothing.
    pub up_to_date: bool,
}

/// Writes the staging folder of the konnector in `dir`, whose
/// `package.json` is `package`. Returns `None` when no dependency is left
/// to install.
pub(super) fn stage(dir: &Path, package: &Value) -> Result<Option<Staging>, BundleError> {
    let stripped = lockfile::strip_package(package, &[LIBS_PACKAGE], STAGING_DEPTH);
    let has_dependencies = ["dependencies", "optionalDependencies"]
        .iter()
        .any(|field| {
            stripped[*field]
                .as_object()
                .is_some_and(|map| !map.is_empty())
        });
    if !has_dependencies {
        return Ok(None);
    }

    let staging = dir.join(STAGING_DIR);
    let lock = read_pruned_lockfile(dir)?;
    let files = [
        ("package.json", Some(to_json(&stripped))),
        ("package-lock.json", lock.as_ref().map(to_json)),
        (".npmrc", read_optional(&dir.join(".npmrc"))?),
        (LOCAL_PACKAGES_FILE, local_packages(dir, package)),
    ];
    // The hidden lockfile that npm writes in node_modules after an install.
    let installed = staging.join("node_modules/.package-lock.json").is_file();
    let mut unchanged = lock.is_some() && installed;
    std::fs::create_dir_all(&staging).map_err(|source| BundleError::Write {
        path: staging.clone(),
        source,
    })?;
    for (name, contents) in files {
        let path = staging.join(name);
        let current = read_optional(&path)?;
        unchanged &= current == contents;
        match contents {
            Some(contents) if current.as_ref() != Some(&contents) => {
                std::fs::write(&path, contents).map_err(|source| BundleError::Write {
                    path: path.clone(),
                    source,
                })?;
            }
            Some(_) => {}
            None => remove_file(&path)?,
        }
    }
    Ok(Some(Staging {
        dir: staging,
        lockfile: lock.is_some(),
        up_to_date: unchanged,
    }))
}

/// Installs the staged dependencies, unless they are up to date.
pub(super) fn install(staging: &Staging) -> Result<(), BundleError> {
    if staging.up_to_date {
        return Ok(());
    }
    npm::install_dependencies(&staging.dir, staging.lockfile)
}

/// Reads the folder's lockfile and returns its pruned copy, or `None` when
/// there is no lockfile or it is of version 1.
fn read_pruned_lockfile(dir: &Path) -> Result<Option<Value>, BundleError> {
    let Some(path) = LOCKFILES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
    else {
        return Ok(None);
    };
    let text = std::fs::read(&path).map_err(|source| BundleError::Read {
        path: path.clone(),
        source,
    })?;
    let lock: Value =
        serde_json::from_slice(&text).map_err(|source| BundleError::InvalidLockfile {
            path: path.clone(),
            reason: source.to_string(),
        })?;
    // An npm 6 lockfile: installed as if there were none.
    if lock["lockfileVersion"] == 1 {
        return Ok(None);
    }
    match lockfile::prune_lockfile(&lock, &[LIBS_PACKAGE], STAGING_DEPTH) {
        Ok(pruned) => Ok(Some(pruned)),
        Err(PruneError::Unsupported(reason)) => Err(BundleError::InvalidLockfile { path, reason }),
    }
}

/// Describes the `file:` dependencies of `package`, a line per dependency
/// with the size and modification time of each of its files (outside
/// `node_modules`), or `None` when it has none.
fn local_packages(dir: &Path, package: &Value) -> Option<Vec<u8>> {
    let mut lines = Vec::new();
    for field in ["dependencies", "optionalDependencies"] {
        let Some(map) = package[field].as_object() else {
            continue;
        };
        for (name, spec) in map {
            let Some(path) = spec.as_str().and_then(|spec| spec.strip_prefix("file:")) else {
                continue;
            };
            let mut files = Vec::new();
            describe_files(&dir.join(path), Path::new(""), &mut files);
            files.sort();
            lines.push(format!("{name} {path}\n{}", files.join("")));
        }
    }
    if lines.is_empty() {
        return None;
    }
    lines.sort();
    Some(lines.concat().into_bytes())
}

/// Appends a line `path size mtime` for each file under `path` (the file
/// itself for a tarball), skipping `node_modules`. Unreadable entries are
/// skipped: npm reports them when it installs.
fn describe_files(path: &Path, relative: &Path, lines: &mut Vec<String>) {
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    if metadata.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == "node_modules" {
                continue;
            }
            describe_files(&entry.path(), &relative.join(&name), lines);
        }
        return;
    }
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos());
    lines.push(format!(
        "  {} {} {modified}\n",
        relative.display(),
        metadata.len()
    ));
}

fn to_json(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).unwrap_or_default();
    text.push(b'\n');
    text
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, BundleError> {
    match std::fs::read(path) {
        Ok(contents) => Ok(Some(contents)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BundleError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn remove_file(path: &Path) -> Result<(), BundleError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BundleError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}
