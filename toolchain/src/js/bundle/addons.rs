//! The npm packages of a bundle's inputs, and the rejection of native
//! addons.
//!
//! A native addon is a compiled library (a `.node` file) that Node.js loads
//! into its process. The WebAssembly sandbox cannot load one, so a bundle
//! that would contain one is rejected at build time rather than failing at
//! run time. Two signs are checked:
//!
//! * an input ending in `.node`: esbuild found a `require` of the addon file
//!   itself;
//! * a bundled package with a `binding.gyp`, the build file of node-gyp, for
//!   packages that load their addon through a computed path (the `bindings`
//!   or `node-gyp-build` helpers), which esbuild cannot follow.
//!
//! NOTE: a package that loads a prebuilt addon through a computed path and
//! publishes no `binding.gyp` passes both checks. Its `require` then fails
//! at run time.

use std::collections::BTreeSet;
use std::path::Path;

use super::BundleError;

/// Rejects the inputs when one is a native addon or belongs to a package
/// with a `binding.gyp`. `dir` is the konnector's folder, which the inputs
/// are relative to.
pub(super) fn reject_native_addons(dir: &Path, inputs: &[String]) -> Result<(), BundleError> {
    for input in inputs {
        if input.ends_with(".node") {
            return Err(BundleError::NativeAddon {
                package: package_of(input).map(|(name, _)| name.to_owned()),
                file: input.clone(),
            });
        }
    }

    let packages: BTreeSet<(&str, &str)> = inputs
        .iter()
        .filter_map(|input| package_of(input))
        .collect();
    for (name, folder) in packages {
        let binding = format!("{folder}/binding.gyp");
        if dir.join(&binding).is_file() {
            return Err(BundleError::NativeAddon {
                package: Some(name.to_owned()),
                file: binding,
            });
        }
    }
    Ok(())
}

/// Lists the names of the packages of `inputs`, sorted, each once.
pub(super) fn packages(inputs: &[String]) -> Vec<String> {
    let names: BTreeSet<&str> = inputs
        .iter()
        .filter_map(|input| package_of(input))
        .map(|(name, _)| name)
        .collect();
    names.into_iter().map(str::to_owned).collect()
}

/// Returns the package of an input path (with `/` separators) and the
/// package's folder, from the path's last `node_modules` component:
/// `node_modules/a/node_modules/@s/b/index.js` gives `("@s/b",
/// "node_modules/a/node_modules/@s/b")`. An input outside any
/// `node_modules` folder belongs to no package.
fn package_of(input: &str) -> Option<(&str, &str)> {
    let start = if let Some(index) = input.rfind("/node_modules/") {
        index + "/node_modules/".len()
    } else if let Some(rest) = input.strip_prefix("node_modules/") {
        input.len() - rest.len()
    } else {
        return None;
    };

    let rest = &input[start..];
    let mut parts = rest.splitn(3, '/');
    let first = parts.next().filter(|part| !part.is_empty())?;
    let length = if first.starts_with('@') {
        let second = parts.next().filter(|part| !part.is_empty())?;
        first.len() + 1 + second.len()
    } else {
        first.len()
    };
    // A path that ends at the package's name is a file, not a package.
    if rest.len() == length {
        return None;
    }
    let name = &rest[..length];
    Some((name, &input[..start + length]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_of_paths() {
        assert_eq!(
            package_of("node_modules/moment/moment.js"),
            Some(("moment", "node_modules/moment"))
        );
        assert_eq!(
            package_of("node_modules/@scope/name/lib/index.js"),
            Some(("@scope/name", "node_modules/@scope/name"))
        );
        assert_eq!(
            package_of("node_modules/a/node_modules/@s/b/index.js"),
            Some(("@s/b", "node_modules/a/node_modules/@s/b"))
        );
        assert_eq!(
            package_of("../shared/node_modules/c/index.js"),
            Some(("c", "../shared/node_modules/c"))
        );
    }

    #[test]
    fn package_of_own_files() {
        assert_eq!(package_of("src/index.js"), None);
        assert_eq!(package_of("src/node_modules_list.js"), None);
        assert_eq!(package_of("node_modules/file.js"), None);
        assert_eq!(package_of("node_modules/@scope/file.js"), None);
    }

    #[test]
    fn packages_sorted_once() {
        let inputs = [
            "src/index.js",
            "node_modules/moment/moment.js",
            "node_modules/cheerio/lib/index.js",
            "node_modules/moment/locale/fr.js",
        ]
        .map(str::to_owned);
        assert_eq!(packages(&inputs), ["cheerio", "moment"]);
    }
}
