//! Running esbuild through the bundler folder's Node.js script,
//! `bundle.mjs`, which calls esbuild's JavaScript API and prints one JSON
//! report on standard output. The script's header lists the esbuild options.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use super::npm::{self, BUNDLER_INSTALL_OPTIONS};
use super::{BundleError, Diagnostic, Step};

/// Default bundler folder: `toolchain/bundler` in the sources this crate was
/// compiled from, so the default needs the repository's checkout.
pub const BUNDLER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bundler");

/// Environment variable that overrides [`BUNDLER_DIR`].
pub const BUNDLER_DIR_VAR: &str = "KONNECTOR_BUNDLER_DIR";

/// The script, in the bundler folder.
const SCRIPT: &str = "bundle.mjs";

/// Number of lines at the end of the script's standard error that a
/// [`BundleError::Bundler`] keeps.
const STDERR_TAIL_LINES: usize = 20;

/// The JSON object that the script prints.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Report {
    /// Errors, empty on success.
    pub errors: Vec<Diagnostic>,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
    /// The files bundled, relative to the konnector's folder, with `/`
    /// separators. Empty when there are errors.
    pub inputs: Vec<String>,
    /// The konnector's own bundle, `None` when there are errors.
    pub output: Option<String>,
    /// The dependency bundle, `None` when there are errors or the
    /// konnector's own files import no package.
    pub dependencies: Option<DependencyReport>,
}

/// The dependency bundle in the script's report.
#[derive(Debug, serde::Deserialize)]
pub(super) struct DependencyReport {
    /// The names it defines, in the order the konnector's bundle first
    /// requires them, then the names that only the libs require.
    pub names: Vec<String>,
    /// The files bundled, named as [`Report::inputs`] names them.
    pub inputs: Vec<String>,
    /// The bundle.
    pub output: String,
}

/// The folders that the script resolves the konnector's imports from.
#[derive(Debug)]
pub(super) struct Resolution {
    /// The engine's `cozy-konnector-libs`, which every
    /// `require("cozy-konnector-libs")` gets.
    pub libs_dir: PathBuf,
    /// The folder whose `node_modules` the konnector's own bare imports,
    /// and the libs' `cheerio`, resolve from: the konnector's folder, the
    /// staging folder, or `None` when the konnector has no dependency
    /// installed.
    pub modules_dir: Option<PathBuf>,
}

/// A bundler folder with esbuild installed.
pub(super) struct Bundler {
    dir: PathBuf,
}

impl Bundler {
    /// Finds the bundler folder (`$KONNECTOR_BUNDLER_DIR`, else
    /// [`BUNDLER_DIR`]), and installs esbuild there with `npm ci` when its
    /// `node_modules` lacks the version in the folder's `package-lock.json`.
    pub fn locate(progress: &mut dyn FnMut(Step)) -> Result<Bundler, BundleError> {
        let dir = std::env::var_os(BUNDLER_DIR_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(BUNDLER_DIR));
        let bundler = Bundler { dir };
        bundler.install(progress)?;
        Ok(bundler)
    }

    fn install(&self, progress: &mut dyn FnMut(Step)) -> Result<(), BundleError> {
        // Threads of one process that bundle at once install only once.
        // NOTE: two processes may still run `npm ci` in the folder at the
        // same time, and then one of them may fail. `scripts/setup` installs
        // the bundler beforehand.
        static INSTALL: Mutex<()> = Mutex::new(());
        let _guard = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);

        let locked = self.locked_version()?;
        if self.installed_version().as_deref() == Some(locked.as_str()) {
            return Ok(());
        }
        progress(Step::InstallingBundler {
            dir: self.dir.clone(),
        });
        npm::npm(&self.dir, "ci", BUNDLER_INSTALL_OPTIONS)
    }

    /// Reads the esbuild version in the folder's `package-lock.json`.
    fn locked_version(&self) -> Result<String, BundleError> {
        let path = self.dir.join("package-lock.json");
        let failed = |reason: String| BundleError::Bundler {
            dir: self.dir.clone(),
            reason: format!(
                "{reason}; set {BUNDLER_DIR_VAR} to the toolchain/bundler folder \
                 of the konnector engine's sources"
            ),
        };
        let text = std::fs::read(&path)
            .map_err(|error| failed(format!("failed to read {}: {error}", path.display())))?;
        let lock: Value = serde_json::from_slice(&text)
            .map_err(|error| failed(format!("invalid JSON in {}: {error}", path.display())))?;
        match lock["packages"]["node_modules/esbuild"]["version"].as_str() {
            Some(version) => Ok(version.to_owned()),
            None => Err(failed(format!(
                "{} locks no esbuild version",
                path.display()
            ))),
        }
    }

    /// Reads the version of the esbuild package installed, if any.
    fn installed_version(&self) -> Option<String> {
        let path = self.dir.join("node_modules/esbuild/package.json");
        let text = std::fs::read(path).ok()?;
        let package: Value = serde_json::from_slice(&text).ok()?;
        package["version"].as_str().map(str::to_owned)
    }

    /// Bundles `entry`, a path relative to the konnector folder `dir`
    /// (absolute), and returns the script's report.
    pub fn bundle(
        &self,
        dir: &Path,
        entry: &str,
        resolution: &Resolution,
    ) -> Result<Report, BundleError> {
        let script = self.dir.join(SCRIPT);
        let options = serde_json::json!({
            "libsDir": resolution.libs_dir,
            "modulesDir": resolution.modules_dir,
        });
        let mut command = Command::new("node");
        command
            .current_dir(dir)
            .arg(&script)
            .arg(dir)
            .arg(entry)
            .arg(options.to_string());
        let output = npm::run(&mut command, "node", dir)?;

        let failed = |reason: String| BundleError::Bundler {
            dir: self.dir.clone(),
            reason,
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(failed(format!(
                "node {} exited with {}:\n{}",
                script.display(),
                output.status,
                npm::tail_lines(&stderr, STDERR_TAIL_LINES)
            )));
        }
        serde_json::from_slice(&output.stdout).map_err(|error| {
            failed(format!(
                "node {} printed no valid report: {error}",
                script.display()
            ))
        })
    }
}
