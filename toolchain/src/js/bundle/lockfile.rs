//! Copies of a konnector's `package.json` and npm lockfile without some
//! dependencies, for the staged install of [`super::libs`].
//!
//! Removing a dependency from `package.json` alone would make `npm ci`
//! refuse the lockfile, which must match it. So the lockfile loses the
//! dependency too, and every package that only it needed: the packages left
//! are those that the remaining dependencies reach. A package's dependency
//! is found the way Node.js finds it: in the package's own `node_modules`,
//! then in each enclosing one up to the root.
//!
//! Only lockfiles of version 2 and 3 (npm 7 and later) have the `packages`
//! map this needs. The copy is written as version 3, without the
//! `dependencies` tree that version 2 keeps for npm 6.

use std::collections::{BTreeSet, VecDeque};

use serde_json::{Map, Value};

/// The fields of a package that name the dependencies npm installs for
/// it. `devDependencies` count only for the root, and the staged copy
/// drops them (installs omit them anyway).
const INSTALLED_DEPENDENCY_FIELDS: &[&str] =
    &["dependencies", "optionalDependencies", "peerDependencies"];

/// Error of [`prune_lockfile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PruneError {
    /// The lockfile is not an object with a `packages` map of version 2 or
    /// 3. The text describes the problem.
    Unsupported(String),
}

/// Returns a copy of the `package.json` value `package` without the
/// dependencies `removed` and without `devDependencies`, whose relative
/// `file:` dependencies point from `depth` folders further down.
pub(super) fn strip_package(package: &Value, removed: &[&str], depth: usize) -> Value {
    let mut copy = package.clone();
    let Some(object) = copy.as_object_mut() else {
        return copy;
    };
    object.remove("devDependencies");
    for field in INSTALLED_DEPENDENCY_FIELDS {
        if let Some(Value::Object(dependencies)) = object.get_mut(*field) {
            for name in removed {
                dependencies.remove(*name);
            }
            rebase_file_specs(dependencies, depth);
        }
    }
    copy
}

/// Returns a copy of the lockfile `lock` without the dependencies
/// `removed` of the root package, without its `devDependencies`, and
/// without the packages that nothing left reaches. Relative `file:` paths
/// point from `depth` folders further down.
pub(super) fn prune_lockfile(
    lock: &Value,
    removed: &[&str],
    depth: usize,
) -> Result<Value, PruneError> {
    let version = lock["lockfileVersion"].as_u64();
    if !matches!(version, Some(2 | 3)) {
        return Err(PruneError::Unsupported(format!(
            "lockfileVersion {} is not 2 or 3",
            lock["lockfileVersion"]
        )));
    }
    let Some(packages) = lock["packages"].as_object() else {
        return Err(PruneError::Unsupported("no packages map".to_owned()));
    };
    let Some(root) = packages.get("") else {
        return Err(PruneError::Unsupported(
            "no root package in packages".to_owned(),
        ));
    };

    let root = strip_package(root, removed, depth);
    let mut pruned = packages.clone();
    pruned.insert(String::new(), root);
    let reachable = reachable_packages(&pruned);
    pruned.retain(|path, _| reachable.contains(path));
    for (path, entry) in pruned.iter_mut() {
        if path.is_empty() {
            continue;
        }
        if let Some(Value::String(resolved)) = entry.get_mut("resolved")
            && let Some(rebased) = rebase_file_spec(resolved, depth)
        {
            *resolved = rebased;
        }
    }

    let mut copy = lock.as_object().cloned().unwrap_or_default();
    copy.insert("lockfileVersion".to_owned(), Value::from(3));
    copy.insert("packages".to_owned(), Value::Object(pruned));
    copy.remove("dependencies");
    Ok(Value::Object(copy))
}

/// Lists the paths of `packages` (keys such as `node_modules/a`) that the
/// root package reaches through installed dependencies, the root included.
fn reachable_packages(packages: &Map<String, Value>) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let mut queue = VecDeque::from([String::new()]);
    while let Some(path) = queue.pop_front() {
        if !reached.insert(path.clone()) {
            continue;
        }
        let Some(entry) = packages.get(&path) else {
            continue;
        };
        // A linked package (a workspace or a `file:` folder installed as a
        // link) is described under the path it links to.
        if entry["link"] == Value::Bool(true)
            && let Some(target) = entry["resolved"].as_str()
        {
            queue.push_back(target.to_owned());
        }
        for field in INSTALLED_DEPENDENCY_FIELDS {
            let Some(dependencies) = entry[*field].as_object() else {
                continue;
            };
            for name in dependencies.keys() {
                if let Some(found) = resolve(packages, &path, name) {
                    queue.push_back(found);
                }
            }
        }
    }
    reached
}

/// Finds the package `name` as Node.js does from the package at `from`:
/// `from/node_modules/name`, then the same in each enclosing package, up
/// to `node_modules/name`. Returns `None` when no such path is locked, as
/// for an optional dependency that was not installed.
fn resolve(packages: &Map<String, Value>, from: &str, name: &str) -> Option<String> {
    let mut base = from.to_owned();
    loop {
        let candidate = if base.is_empty() {
            format!("node_modules/{name}")
        } else {
            format!("{base}/node_modules/{name}")
        };
        if packages.contains_key(&candidate) {
            return Some(candidate);
        }
        if base.is_empty() {
            return None;
        }
        base = match base.rfind("/node_modules/") {
            Some(index) => base[..index].to_owned(),
            None => String::new(),
        };
    }
}

fn rebase_file_specs(dependencies: &mut Map<String, Value>, depth: usize) {
    for spec in dependencies.values_mut() {
        if let Value::String(text) = spec
            && let Some(rebased) = rebase_file_spec(text, depth)
        {
            *text = rebased;
        }
    }
}

/// Rewrites a relative `file:` spec such as `file:../dep` for a copy
/// `depth` folders further down (`file:../../../dep` for 2). Returns
/// `None` for any other spec.
fn rebase_file_spec(spec: &str, depth: usize) -> Option<String> {
    let path = spec.strip_prefix("file:")?;
    if path.starts_with('/') || path.starts_with('~') {
        return None;
    }
    let path = path.strip_prefix("./").unwrap_or(path);
    Some(format!("file:{}{path}", "../".repeat(depth)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Returns a lockfile where the root depends on `libs` and `cheerio`. `libs`
    /// needs `lodash` and a nested `cheerio@0.22`; `cheerio` needs
    /// `parse5`, which both share with `libs` through `shared`.
    fn lock() -> Value {
        json!({
            "name": "k",
            "lockfileVersion": 2,
            "requires": true,
            "packages": {
                "": {
                    "name": "k",
                    "dependencies": {"cozy-konnector-libs": "5.0.0", "cheerio": "1.0.0-rc.12"},
                    "devDependencies": {"jest": "29"}
                },
                "node_modules/cozy-konnector-libs": {
                    "version": "5.0.0",
                    "dependencies": {"lodash": "4", "cheerio": "0.22", "shared": "1"}
                },
                "node_modules/cozy-konnector-libs/node_modules/cheerio": {"version": "0.22.0"},
                "node_modules/lodash": {"version": "4.17.21"},
                "node_modules/cheerio": {
                    "version": "1.0.0-rc.12",
                    "dependencies": {"parse5": "7", "shared": "1"},
                    "optionalDependencies": {"absent": "1"}
                },
                "node_modules/parse5": {"version": "7.1.2"},
                "node_modules/shared": {"version": "1.0.0", "dependencies": {"@scope/inner": "1"}},
                "node_modules/@scope/inner": {"version": "1.0.0"},
                "node_modules/jest": {"version": "29.0.0", "dev": true, "dependencies": {"lodash": "4"}},
                "node_modules/local": {"version": "1.0.0", "resolved": "file:../local"}
            },
            "dependencies": {"cheerio": {"version": "1.0.0-rc.12"}}
        })
    }

    fn keys(value: &Value) -> Vec<&str> {
        value["packages"]
            .as_object()
            .expect("packages")
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn prune_keeps_reachable_packages() {
        let pruned = prune_lockfile(&lock(), &["cozy-konnector-libs"], 0).expect("prune");
        assert_eq!(
            keys(&pruned),
            [
                "",
                "node_modules/@scope/inner",
                "node_modules/cheerio",
                "node_modules/parse5",
                "node_modules/shared"
            ]
        );
        assert_eq!(
            pruned["packages"][""]["dependencies"],
            json!({"cheerio": "1.0.0-rc.12"})
        );
        assert_eq!(pruned["packages"][""]["devDependencies"], Value::Null);
    }

    #[test]
    fn prune_writes_version_3() {
        let pruned = prune_lockfile(&lock(), &["cozy-konnector-libs"], 0).expect("prune");
        assert_eq!(pruned["lockfileVersion"], 3);
        assert_eq!(pruned["dependencies"], Value::Null);
        assert_eq!(pruned["name"], "k");
    }

    #[test]
    fn prune_rejects_version_1() {
        let old = json!({"lockfileVersion": 1, "dependencies": {}});
        let error = prune_lockfile(&old, &["cozy-konnector-libs"], 0).expect_err("version 1");
        assert_eq!(
            error,
            PruneError::Unsupported("lockfileVersion 1 is not 2 or 3".to_owned())
        );
    }

    #[test]
    fn nested_package_resolves_first() {
        let lock = lock();
        let packages = lock["packages"].as_object().expect("packages");
        assert_eq!(
            resolve(packages, "node_modules/cozy-konnector-libs", "cheerio").as_deref(),
            Some("node_modules/cozy-konnector-libs/node_modules/cheerio")
        );
        assert_eq!(
            resolve(packages, "node_modules/cozy-konnector-libs", "lodash").as_deref(),
            Some("node_modules/lodash")
        );
        assert_eq!(resolve(packages, "node_modules/cheerio", "absent"), None);
    }

    #[test]
    fn file_specs_rebased() {
        let package = json!({
            "dependencies": {"a": "file:../a", "b": "file:./b", "c": "^1.0.0", "d": "file:/abs/d"},
            "devDependencies": {"jest": "29"}
        });
        let copy = strip_package(&package, &[], 2);
        assert_eq!(
            copy["dependencies"],
            json!({"a": "file:../../../a", "b": "file:../../b", "c": "^1.0.0", "d": "file:/abs/d"})
        );
        assert_eq!(copy["devDependencies"], Value::Null);

        let mut lock = lock();
        lock["packages"][""]["dependencies"]["local"] = json!("file:../local");
        let pruned = prune_lockfile(&lock, &["cozy-konnector-libs"], 2).expect("prune");
        assert_eq!(
            pruned["packages"][""]["dependencies"]["local"],
            "file:../../../local"
        );
        assert_eq!(
            pruned["packages"]["node_modules/local"]["resolved"],
            "file:../../../local"
        );
    }
}
