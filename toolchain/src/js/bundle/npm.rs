//! Running `npm` and `node`, and installing npm dependencies.
//!
//! Installs always pass `--ignore-scripts`: no package's `preinstall`,
//! `install`, `postinstall` or `prepare` script runs, and neither does the
//! implicit `node-gyp rebuild` of a package with a `binding.gyp`. Packages
//! come from the registry that npm is configured with (`npm config get
//! registry`); no other address is given to npm.

use std::io;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::BundleError;

/// Number of lines at the end of npm's standard error that a
/// [`BundleError::Npm`] keeps.
const STDERR_TAIL_LINES: usize = 40;

/// Options of every install. Besides disabling scripts:
///
/// * `--omit=dev`: only `dependencies` can be bundled, so development tools
///   (test frameworks, `cozy-jobs-cli`) are not installed.
/// * `--install-links`: a `file:` dependency is packed and copied into
///   `node_modules` like a registry package, instead of being linked to a
///   folder outside the konnector.
/// * `--no-audit --no-fund`: no audit request and no funding message.
const INSTALL_OPTIONS: &[&str] = &[
    "--ignore-scripts",
    "--omit=dev",
    "--install-links",
    "--no-audit",
    "--no-fund",
];

/// Options of the bundler's own install, which needs esbuild only.
pub(super) const BUNDLER_INSTALL_OPTIONS: &[&str] =
    &["--ignore-scripts", "--no-audit", "--no-fund"];

/// Lockfiles that `npm ci` installs from.
const LOCKFILES: &[&str] = &["package-lock.json", "npm-shrinkwrap.json"];

/// Checks whether the folder has a lockfile that `npm ci` can install from.
pub(super) fn has_lockfile(dir: &Path) -> bool {
    LOCKFILES.iter().any(|name| dir.join(name).is_file())
}

/// Installs the dependencies of the package in `dir`: `npm ci` from its
/// lockfile when `lockfile` is true, else `npm install`, which also writes
/// `package-lock.json`.
pub(super) fn install_dependencies(dir: &Path, lockfile: bool) -> Result<(), BundleError> {
    let subcommand = if lockfile { "ci" } else { "install" };
    npm(dir, subcommand, INSTALL_OPTIONS)
}

/// Runs `npm SUBCOMMAND OPTIONS...` in `dir`.
pub(super) fn npm(dir: &Path, subcommand: &str, options: &[&str]) -> Result<(), BundleError> {
    let mut command = Command::new("npm");
    command.current_dir(dir).arg(subcommand).args(options);
    let output = run(&mut command, "npm", dir)?;
    if output.status.success() {
        return Ok(());
    }
    Err(BundleError::Npm {
        command: format!("npm {subcommand} {}", options.join(" ")),
        dir: dir.to_owned(),
        status: output.status,
        stderr_tail: npm_errors(&String::from_utf8_lossy(&output.stderr)),
    })
}

/// Returns the lines of npm's output that name the failure: its `npm error`
/// lines up to its usage text (which `npm ci` prints after the cause), else
/// the last lines.
fn npm_errors(stderr: &str) -> String {
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("npm error") || line.starts_with("npm ERR!"))
        .take_while(|line| !line.contains("Clean install a project") && !line.ends_with("Usage:"))
        .take(STDERR_TAIL_LINES)
        .collect();
    if errors.is_empty() {
        tail_lines(stderr, STDERR_TAIL_LINES)
    } else {
        errors.join("\n")
    }
}

/// Runs `command` (the program `program`, in `dir`) to completion with no
/// standard input, and collects its output.
pub(super) fn run(
    command: &mut Command,
    program: &'static str,
    dir: &Path,
) -> Result<Output, BundleError> {
    command.stdin(Stdio::null());
    command.output().map_err(|source| {
        // A missing working folder gives the same error kind as a missing
        // program.
        if source.kind() == io::ErrorKind::NotFound && dir.is_dir() {
            BundleError::MissingProgram { program }
        } else {
            BundleError::Spawn {
                program,
                dir: dir.to_owned(),
                source,
            }
        }
    })
}

/// Returns the last `count` lines of `text`, trimmed.
pub(super) fn tail_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(count);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::npm_errors;

    #[test]
    fn npm_cause_kept_before_usage() {
        let stderr = "npm error code EUSAGE\nnpm error\nnpm error `npm ci` can only install packages when your package.json and package-lock.json are in sync.\nnpm error Missing: money-fmt@1.0.0 from lock file\nnpm error\nnpm error Clean install a project\nnpm error\nnpm error Usage:\nnpm error npm ci\n";
        let kept = npm_errors(stderr);
        assert!(kept.contains("are in sync"), "{kept}");
        assert!(kept.contains("Missing: money-fmt"), "{kept}");
        assert!(!kept.contains("Usage"), "{kept}");
        assert_eq!(npm_errors("plain failure\n"), "plain failure");
    }
}
