//! The fields of a konnector's `package.json` that bundling reads, and the
//! entry file they name.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::BundleError;

/// Entry files tried, in order, when `package.json` has no `main`.
const DEFAULT_ENTRIES: &[&str] = &["src/index.js", "index.js"];

/// The fields of a `package.json` that bundling reads.
#[derive(Debug)]
pub(super) struct PackageJson {
    /// Path of the file.
    pub path: PathBuf,
    /// The `main` field.
    pub main: Option<String>,
    /// Whether `dependencies` names at least one package.
    pub has_dependencies: bool,
    /// Whether `dependencies` names `cozy-konnector-libs`, which the
    /// engine provides itself.
    pub depends_on_libs: bool,
    /// The whole file, for the staged copy of [`super::libs`].
    pub value: Value,
}

/// Reads `dir/package.json`, or returns `None` when there is none.
pub(super) fn read(dir: &Path) -> Result<Option<PackageJson>, BundleError> {
    let path = dir.join("package.json");
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(BundleError::Read { path, source }),
    };
    let value: Value = match serde_json::from_slice(&text) {
        Ok(value) => value,
        Err(source) => return Err(BundleError::InvalidPackageJson { path, source }),
    };
    let invalid = |field, reason: &str| BundleError::InvalidPackageField {
        path: path.clone(),
        field,
        reason: reason.to_owned(),
    };
    if !value.is_object() {
        return Err(invalid("top-level value", "expected a JSON object"));
    }

    let main = match &value["main"] {
        Value::Null => None,
        Value::String(main) => Some(main.clone()),
        _ => return Err(invalid("main", "expected a string")),
    };
    let (has_dependencies, depends_on_libs) = match &value["dependencies"] {
        Value::Null => (false, false),
        Value::Object(dependencies) => (
            !dependencies.is_empty(),
            dependencies.contains_key(super::libs::LIBS_PACKAGE),
        ),
        _ => return Err(invalid("dependencies", "expected an object")),
    };
    Ok(Some(PackageJson {
        path,
        main,
        has_dependencies,
        depends_on_libs,
        value,
    }))
}

/// Finds the entry file of the konnector in `dir` and returns its path
/// (`dir` joined with the entry's relative path).
///
/// The entry is `package.json`'s `main` when set, else `src/index.js`, else
/// `index.js`. Like Node.js, a `main` that names no file is tried with `.js`
/// appended, then as a folder with `index.js` in it.
///
/// # Errors
///
/// * [`BundleError::Read`], [`BundleError::InvalidPackageJson`] (whose
///   source gives the position) or [`BundleError::InvalidPackageField`]
///   when `package.json` cannot be read, is not JSON, or has a `main` that
///   is not a string or `dependencies` that is not an object.
/// * [`BundleError::MainOutsideFolder`] when `main` is an absolute path, a
///   path whose `..` leaves `dir`, or a symbolic link to a file outside it.
/// * [`BundleError::MainNotFound`] when `main` names no file.
/// * [`BundleError::NoEntry`] when there is no `main` and no default entry.
pub fn entry(dir: &Path) -> Result<PathBuf, BundleError> {
    let package = read(dir)?;
    let relative = entry_relative(dir, package.as_ref())?;
    Ok(dir.join(relative))
}

/// Finds the entry file like [`entry`] and returns its path relative to
/// `dir`, with `/` separators.
pub(super) fn entry_relative(
    dir: &Path,
    package: Option<&PackageJson>,
) -> Result<String, BundleError> {
    if let Some(PackageJson {
        path,
        main: Some(main),
        ..
    }) = package
    {
        return main_entry(dir, path, main);
    }
    for candidate in DEFAULT_ENTRIES {
        let file = dir.join(candidate);
        if file.is_file() {
            // A symbolic link may lead out of the folder.
            if let (Ok(canonical_dir), Ok(canonical_file)) =
                (dir.canonicalize(), file.canonicalize())
                && !canonical_file.starts_with(&canonical_dir)
            {
                return Err(BundleError::EntryOutsideFolder { path: file });
            }
            return Ok((*candidate).to_owned());
        }
    }
    Err(BundleError::NoEntry {
        dir: dir.to_owned(),
    })
}

/// Resolves `main` from the `package.json` at `path`.
fn main_entry(dir: &Path, path: &Path, main: &str) -> Result<String, BundleError> {
    let outside = || BundleError::MainOutsideFolder {
        path: path.to_owned(),
        main: main.to_owned(),
    };
    let normalized = normalize(main).ok_or_else(outside)?;

    let mut candidates = vec![normalized.clone()];
    if !normalized.is_empty() {
        candidates.push(format!("{normalized}.js"));
    }
    candidates.push(join(&normalized, "index.js"));

    for candidate in &candidates {
        let file = dir.join(candidate);
        if !file.is_file() {
            continue;
        }
        // A symbolic link may still lead out of the folder.
        let canonical_dir = dir.canonicalize();
        let canonical_file = file.canonicalize();
        if let (Ok(canonical_dir), Ok(canonical_file)) = (canonical_dir, canonical_file)
            && !canonical_file.starts_with(&canonical_dir)
        {
            return Err(outside());
        }
        return Ok(candidate.clone());
    }
    Err(BundleError::MainNotFound {
        path: path.to_owned(),
        main: main.to_owned(),
        tried: candidates,
    })
}

/// Normalizes a relative path: drops `.` and resolves `..` by removing the
/// previous component. Returns `None` for an absolute path or one that
/// leaves its folder. The result has `/` separators, and is empty for the
/// folder itself.
fn normalize(path: &str) -> Option<String> {
    let mut components: Vec<&str> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                components.pop()?;
            }
            Component::Normal(name) => components.push(name.to_str()?),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(components.join("/"))
}

fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_owned()
    } else {
        format!("{folder}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_relative_paths() {
        assert_eq!(normalize("src/index.js").as_deref(), Some("src/index.js"));
        assert_eq!(
            normalize("./src/./index.js").as_deref(),
            Some("src/index.js")
        );
        assert_eq!(normalize("src/../index.js").as_deref(), Some("index.js"));
        assert_eq!(normalize(".").as_deref(), Some(""));
    }

    #[test]
    fn normalize_rejects_escapes() {
        assert_eq!(normalize("../index.js"), None);
        assert_eq!(normalize("src/../../index.js"), None);
        assert_eq!(normalize("/etc/passwd"), None);
    }
}
