//! Turning a JavaScript konnector folder into the ES module sources that
//! [`super::JsRuntime::compile`] compiles: the konnector's own code, and
//! the bundle of the npm packages it imports, when it imports any.
//!
//! [`prepare`] takes one of two paths:
//!
//! * A konnector with no npm dependencies and a single JavaScript file is
//!   returned as it is, so that neither Node.js nor npm is needed. "No npm
//!   dependencies" means no `package.json`, or one whose `dependencies` is
//!   absent or empty. "A single JavaScript file" means that the entry (see
//!   [`entry`]) is the only `.js`, `.mjs` or `.cjs` file in the folder,
//!   leaving out `node_modules` folders, the top-level `build` folder (the
//!   default output of `konnector build`) and names starting with a dot.
//! * Any other konnector is bundled. npm first installs its `dependencies`
//!   with install scripts disabled. Then esbuild, run by the Node.js script
//!   `toolchain/bundler/bundle.mjs`, bundles the entry and the files it
//!   imports into one ES module. Node.js built-in modules and the runtime's
//!   `konnector:*` modules stay external, so the bundle imports them at run
//!   time. Last, the inputs are checked for native addons, which cannot run
//!   in the WebAssembly sandbox.
//!
//! A bundled konnector's imports of npm packages (bare names such as
//! `cheerio` or `moment/locale/fr`, and `cozy-konnector-libs`) are split
//! off ([`DependencyBundle`]). In its own bundle each becomes a call of the
//! runtime's global `require(name)`. A second bundle defines each name for
//! the runtime's `konnector:dependencies` module, so that the engine can
//! evaluate the packages once per konnector instead of in each job.
//! The bundle script's header describes how imports of ES modules and
//! CommonJS modules both keep their default and named exports.
//!
//! Bundling trusts the folder, although no install script runs. npm reads
//! the folder's own `.npmrc`, which can name another registry or the `git`
//! program npm runs for git dependencies. esbuild bundles any readable
//! JavaScript, TypeScript, JSON or text file that an import names, even
//! outside the folder ([`Bundle::inputs`] lists such files with a leading
//! `../`). Build konnectors from unknown authors in a disposable
//! environment.
//!
//! A konnector that uses `cozy-konnector-libs` gets the engine's own
//! (`toolchain/konnector-libs`), never the npm package, and is always
//! bundled: a single file is, when its text names `cozy-konnector-libs`.
//! When its `package.json` lists the package in `dependencies`, npm
//! installs the other dependencies in the staging folder `build/npm` rather
//! than in the konnector's folder (see [`libs`]). Then the konnector's
//! own bare imports resolve from the staging folder only, so a package it
//! does not list fails the build even when an old `node_modules` has it.
//! The libs' `require("cheerio")` gets the konnector's cheerio, or a
//! stand-in module when there is none, so that the libs' functions that
//! parse HTML throw an error that names the missing package.
//!
//! NOTE: only JavaScript files count, so a single-file konnector that
//! imports a JSON file is returned as it is, and that import fails at run
//! time.

mod addons;
mod esbuild;
mod libs;
mod lockfile;
mod npm;
mod package;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

pub use esbuild::{BUNDLER_DIR, BUNDLER_DIR_VAR};
pub use libs::{KONNECTOR_LIBS_DIR, KONNECTOR_LIBS_DIR_VAR, LIBS_PACKAGE, STAGING_DIR, libs_dir};
pub use package::entry;

/// File name that stack traces and errors give a bundled konnector.
pub const BUNDLE_NAME: &str = "bundle.js";

/// File name that stack traces and errors give the dependency bundle.
pub const DEPENDENCIES_NAME: &str = "dependencies.js";

/// File extensions of JavaScript sources.
const JS_EXTENSIONS: &[&str] = &["js", "mjs", "cjs"];

/// The ES module sources made from a konnector folder.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The source of the konnector's own code, UTF-8.
    pub source: Vec<u8>,
    /// File name for stack traces and syntax errors: the entry's path
    /// relative to the folder (such as `src/index.js`) when the source is
    /// the entry as it is, else [`BUNDLE_NAME`].
    pub name: String,
    /// Whether esbuild made the source.
    pub bundled: bool,
    /// Files the sources were made from (the dependency bundle's
    /// included), relative to the folder with `/` separators. A file outside the folder starts with `../`. Files of
    /// the engine's `cozy-konnector-libs` are named
    /// `konnector-libs:PATH`, with PATH relative to its folder, and the
    /// stand-in for a missing cheerio `konnector-libs-missing:cheerio`.
    pub inputs: Vec<String>,
    /// Names of the npm packages bundled into the sources, sorted, each
    /// once.
    /// `cozy-konnector-libs` is among them when the engine's own was
    /// bundled.
    pub packages: Vec<String>,
    /// Warnings from esbuild, such as an import that may fail at run time.
    pub warnings: Vec<Diagnostic>,
    /// The npm packages that the konnector's own files import, bundled
    /// apart, or `None` when they import none.
    pub dependencies: Option<DependencyBundle>,
}

/// The npm packages of a konnector, bundled apart from its own code: an ES
/// module that imports `define` from the runtime's `konnector:dependencies`
/// and defines each name, whose package is evaluated at its first
/// `require`.
#[derive(Debug, Clone)]
pub struct DependencyBundle {
    /// The module's source, UTF-8, named [`DEPENDENCIES_NAME`].
    pub source: Vec<u8>,
    /// The names it defines, each once: the names the konnector's own files
    /// import, in the order of their first import in its bundle, then the
    /// names that only `cozy-konnector-libs` imports (`cheerio`).
    pub names: Vec<String>,
}

/// A step of [`prepare`] that may take a while, reported before it starts.
///
/// `Display` gives a lower-case line for the command line, such as
/// `installing npm dependencies with npm ci`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// npm installs esbuild in the bundler folder, the first time a
    /// konnector is bundled.
    InstallingBundler {
        /// The bundler folder.
        dir: PathBuf,
    },
    /// npm installs the konnector's dependencies: `npm ci` when a lockfile
    /// exists, else `npm install`.
    InstallingDependencies {
        /// Whether the folder has a lockfile (`package-lock.json` or
        /// `npm-shrinkwrap.json`).
        lockfile: bool,
    },
    /// npm installs the dependencies of a konnector that depends on
    /// `cozy-konnector-libs`, without it, in the staging folder
    /// `build/npm`: `npm ci` when a lockfile was copied there, else `npm
    /// install`.
    InstallingStagedDependencies {
        /// Whether a lockfile was copied.
        lockfile: bool,
    },
    /// The staging folder holds the dependencies installed from the same
    /// `package.json` and lockfile by an earlier build, so npm does not
    /// run.
    StagedDependenciesUpToDate,
    /// esbuild bundles the entry and its imports.
    Bundling,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::InstallingBundler { dir } => {
                write!(f, "installing esbuild in {}", dir.display())
            }
            Step::InstallingDependencies { lockfile: true } => {
                f.write_str("installing npm dependencies with npm ci")
            }
            Step::InstallingDependencies { lockfile: false } => {
                f.write_str("installing npm dependencies with npm install")
            }
            Step::InstallingStagedDependencies { lockfile } => {
                let command = if *lockfile { "npm ci" } else { "npm install" };
                write!(
                    f,
                    "installing npm dependencies except {LIBS_PACKAGE} in {STAGING_DIR} with {command}"
                )
            }
            Step::StagedDependenciesUpToDate => {
                write!(f, "npm dependencies in {STAGING_DIR} are up to date")
            }
            Step::Bundling => f.write_str("bundling with esbuild"),
        }
    }
}

/// An error or warning of esbuild.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Diagnostic {
    /// The file, relative to the konnector's folder with `/` separators, or
    /// `None` when esbuild gave no position.
    pub file: Option<String>,
    /// Line, 1-based (0 without a file).
    pub line: u32,
    /// Column, 1-based, counted in Unicode code points (0 without a file).
    pub column: u32,
    /// esbuild's message.
    pub text: String,
}

impl fmt::Display for Diagnostic {
    /// Formats `file:line:column: text`, or only `text` without a file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{file}:{}:{}: {}", self.line, self.column, self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// Error of [`entry`] and [`prepare`].
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file or folder of the konnector could not be read.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// `package.json` is not JSON. The source error gives the line and
    /// column.
    #[error("invalid JSON in {}", path.display())]
    InvalidPackageJson {
        /// Path of the `package.json`.
        path: PathBuf,
        /// The parser's error, with its position.
        #[source]
        source: serde_json::Error,
    },
    /// A field of `package.json` has the wrong type.
    #[error("invalid {} in {}: {reason}", field, path.display())]
    InvalidPackageField {
        /// Path of the `package.json`.
        path: PathBuf,
        /// The field, such as `main`.
        field: &'static str,
        /// The problem, such as `expected a string`.
        reason: String,
    },
    /// `main` names a path outside the konnector's folder.
    #[error(
        "main {main:?} in {} is outside the konnector folder; \
         name a file inside it, such as src/index.js",
        path.display()
    )]
    MainOutsideFolder {
        /// Path of the `package.json`.
        path: PathBuf,
        /// The `main` field.
        main: String,
    },
    /// `main` names no file.
    #[error(
        "main {main:?} in {} names no file (tried {}); \
         fix main or create the file",
        path.display(),
        tried.join(", ")
    )]
    MainNotFound {
        /// Path of the `package.json`.
        path: PathBuf,
        /// The `main` field.
        main: String,
        /// The paths tried, relative to the folder.
        tried: Vec<String>,
    },
    /// There is no `main` and no default entry file.
    #[error(
        "no entry file in {}: package.json has no main, and neither src/index.js \
         nor index.js exists; create one of them or set main in package.json",
        dir.display()
    )]
    NoEntry {
        /// The konnector's folder.
        dir: PathBuf,
    },
    /// The default entry is a symbolic link to a file outside the folder.
    #[error(
        "{} is a symbolic link to a file outside the konnector's folder; copy the file into the folder instead",
        path.display()
    )]
    EntryOutsideFolder {
        /// The entry's path.
        path: PathBuf,
    },
    /// `node` or `npm` is not installed.
    #[error(
        "{program} not found on PATH; install Node.js 18 or later with npm, which \
         only konnectors with npm dependencies or several JavaScript files need"
    )]
    MissingProgram {
        /// `node` or `npm`.
        program: &'static str,
    },
    /// `node` or `npm` could not be started for another reason.
    #[error("failed to run {program} in {}", dir.display())]
    Spawn {
        /// `node` or `npm`.
        program: &'static str,
        /// The folder it was to run in.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file of the staging folder could not be written.
    #[error("failed to write {}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The lockfile could not be copied without `cozy-konnector-libs`: it
    /// is not JSON, or lacks the `packages` map of lockfile versions 2
    /// and 3.
    #[error(
        "cannot remove cozy-konnector-libs from {}: {reason}; \
         regenerate the lockfile with npm 7 or later",
        path.display()
    )]
    InvalidLockfile {
        /// The lockfile.
        path: PathBuf,
        /// The problem.
        reason: String,
    },
    /// npm ran and failed.
    #[error(
        "{command} failed in {} with {status}; the end of its output:\n{stderr_tail}",
        dir.display()
    )]
    Npm {
        /// The command line, such as `npm ci --ignore-scripts`.
        command: String,
        /// The folder npm ran in.
        dir: PathBuf,
        /// npm's exit status.
        status: ExitStatus,
        /// The last lines of npm's standard error.
        stderr_tail: String,
    },
    /// The bundler folder's `package-lock.json` is missing or locks no
    /// esbuild version, or the bundler script failed without reporting
    /// esbuild errors.
    #[error("bundler in {} failed: {reason}", dir.display())]
    Bundler {
        /// The bundler folder.
        dir: PathBuf,
        /// The cause, with the script's error output if any.
        reason: String,
    },
    /// esbuild rejected the sources: syntax errors, imports it could not
    /// resolve. Each error is one line `file:line:column: message`.
    #[error("failed to bundle {}:\n{}", dir.display(), lines(errors))]
    Esbuild {
        /// The konnector's folder.
        dir: PathBuf,
        /// esbuild's errors, in its order.
        errors: Vec<Diagnostic>,
    },
    /// The bundle would contain a native addon.
    #[error("{}", native_addon_message(package.as_deref(), file))]
    NativeAddon {
        /// The npm package containing it, or `None` for the konnector's own
        /// file.
        package: Option<String>,
        /// The addon file (`.node`) or the package's `binding.gyp`, relative
        /// to the konnector's folder.
        file: String,
    },
}

fn lines(diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(Diagnostic::to_string).collect();
    lines.join("\n")
}

fn native_addon_message(package: Option<&str>, file: &str) -> String {
    let consequence = "native addons cannot run in the WebAssembly sandbox";
    match package {
        Some(package) => format!(
            "npm package {package} is a native addon ({file}); {consequence}; \
             replace it with a pure-JavaScript package"
        ),
        None => format!(
            "the konnector loads the native addon {file}; {consequence}; \
             use pure JavaScript instead"
        ),
    }
}

/// Turns the konnector folder `dir` into one ES module source, calling
/// `progress` before each slow step.
///
/// See the module documentation for when the entry is returned as it is and
/// when it is bundled. Bundling runs `npm` and `node` from `PATH`, and may
/// download packages from the npm registry that npm is configured with. It
/// writes `node_modules` (and `package-lock.json` when there is none) in
/// `dir`. When `package.json` depends on `cozy-konnector-libs`, it writes
/// only the staging folder `dir/build/npm` instead. The first bundling also installs esbuild in the bundler folder
/// (see [`BUNDLER_DIR`]).
///
/// # Errors
///
/// * The errors of [`entry`].
/// * [`BundleError::Read`] when a source file or folder cannot be read.
/// * [`BundleError::Write`] or [`BundleError::InvalidLockfile`] when the
///   staging folder cannot be written or the lockfile cannot be copied
///   without `cozy-konnector-libs`.
/// * [`BundleError::MissingProgram`], [`BundleError::Spawn`],
///   [`BundleError::Npm`] or [`BundleError::Bundler`] when `node` or `npm`
///   is missing or fails.
/// * [`BundleError::Esbuild`] when esbuild rejects the sources.
/// * [`BundleError::NativeAddon`] when the bundle would contain a native
///   addon.
pub fn prepare(dir: &Path, progress: &mut dyn FnMut(Step)) -> Result<Bundle, BundleError> {
    let package = package::read(dir)?;
    let entry = package::entry_relative(dir, package.as_ref())?;
    let has_dependencies = package
        .as_ref()
        .is_some_and(|package| package.has_dependencies);

    if !has_dependencies && is_single_source(dir, &entry)? && !needs_bundler(dir, &entry)? {
        return unbundled(dir, &entry);
    }

    let dir = std::path::absolute(dir).map_err(|source| BundleError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let modules_dir = install(&dir, package.as_ref(), progress)?;
    let bundler = esbuild::Bundler::locate(progress)?;

    progress(Step::Bundling);
    let resolution = esbuild::Resolution {
        libs_dir: libs::libs_dir(),
        modules_dir,
    };
    let report = bundler.bundle(&dir, &entry, &resolution)?;
    let output = match report.output {
        Some(output) if report.errors.is_empty() => output,
        _ => {
            return Err(BundleError::Esbuild {
                dir,
                errors: report.errors,
            });
        }
    };
    let mut inputs = report.inputs;
    let dependencies = report.dependencies.map(|dependencies| {
        inputs.extend(dependencies.inputs);
        DependencyBundle {
            source: dependencies.output.into_bytes(),
            names: dependencies.names,
        }
    });
    addons::reject_native_addons(&dir, &inputs)?;

    let mut packages = addons::packages(&inputs);
    if inputs
        .iter()
        .any(|input| input.starts_with("konnector-libs:"))
    {
        packages.push(LIBS_PACKAGE.to_owned());
        packages.sort();
    }
    Ok(Bundle {
        source: output.into_bytes(),
        name: BUNDLE_NAME.to_owned(),
        bundled: true,
        packages,
        inputs,
        warnings: report.warnings,
        dependencies,
    })
}

/// Installs the konnector's npm dependencies, and returns the folder whose
/// `node_modules` contains them (`None` when nothing is installed).
fn install(
    dir: &Path,
    package: Option<&package::PackageJson>,
    progress: &mut dyn FnMut(Step),
) -> Result<Option<PathBuf>, BundleError> {
    let Some(package) = package.filter(|package| package.has_dependencies) else {
        return Ok(Some(dir.to_owned()));
    };
    if !package.depends_on_libs {
        let lockfile = npm::has_lockfile(dir);
        progress(Step::InstallingDependencies { lockfile });
        npm::install_dependencies(dir, lockfile)?;
        return Ok(Some(dir.to_owned()));
    }
    let Some(staging) = libs::stage(dir, &package.value)? else {
        return Ok(None);
    };
    if staging.up_to_date {
        progress(Step::StagedDependenciesUpToDate);
    } else {
        progress(Step::InstallingStagedDependencies {
            lockfile: staging.lockfile,
        });
    }
    libs::install(&staging)?;
    Ok(Some(staging.dir))
}

/// Checks whether a single entry file still needs esbuild: when its text
/// names `cozy-konnector-libs`, or when it is CommonJS (`module.exports`,
/// `exports.`), which esbuild wraps into the ES module QuickJS runs.
fn needs_bundler(dir: &Path, entry: &str) -> Result<bool, BundleError> {
    let path = dir.join(entry);
    let source = std::fs::read(&path).map_err(|source| BundleError::Read { path, source })?;
    let mentions = |needle: &str| {
        source
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    Ok(mentions(LIBS_PACKAGE) || mentions("module.exports") || mentions("exports."))
}

/// Returns the entry file as it is.
fn unbundled(dir: &Path, entry: &str) -> Result<Bundle, BundleError> {
    let path = dir.join(entry);
    let source = std::fs::read(&path).map_err(|source| BundleError::Read { path, source })?;
    Ok(Bundle {
        source,
        name: entry.to_owned(),
        bundled: false,
        inputs: vec![entry.to_owned()],
        packages: Vec::new(),
        warnings: Vec::new(),
        dependencies: None,
    })
}

/// Checks whether `entry` is a JavaScript file and the folder's only one.
fn is_single_source(dir: &Path, entry: &str) -> Result<bool, BundleError> {
    if !is_js_file(Path::new(entry)) {
        return Ok(false);
    }
    let mut sources = Vec::new();
    // A second file settles the question, so the walk stops there.
    find_js_sources(dir, Path::new(""), 2, &mut sources)?;
    Ok(sources.iter().all(|source| source == Path::new(entry)))
}

/// Adds the JavaScript files under `dir.join(relative)` to `found`, as paths
/// relative to `dir`, until `found` has `limit` of them. Symbolic links to
/// folders are not followed.
fn find_js_sources(
    dir: &Path,
    relative: &Path,
    limit: usize,
    found: &mut Vec<PathBuf>,
) -> Result<(), BundleError> {
    let folder = dir.join(relative);
    let read_error = |source| BundleError::Read {
        path: folder.clone(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&folder).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let file_type = entry.file_type().map_err(read_error)?;
        entries.push((entry.file_name(), file_type));
    }
    // Sorted, so that the same folder always gives the same files.
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    for (name, file_type) in entries {
        if found.len() >= limit {
            break;
        }
        let path = relative.join(&name);
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if file_type.is_dir() {
            let skipped =
                name == "node_modules" || (relative.as_os_str().is_empty() && name == "build");
            if !skipped {
                find_js_sources(dir, &path, limit, found)?;
            }
        } else if is_js_file(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn is_js_file(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| JS_EXTENSIONS.contains(&extension))
}

#[cfg(test)]
mod tests;
