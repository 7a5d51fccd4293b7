//! Builds a konnector folder into an artifact (see
//! [`konnector_host_api::artifact`]): a Rust package into its module with
//! the manifest added, a JavaScript konnector into its QuickJS bytecode and
//! manifest, without QuickJS.
//!
//! A JavaScript konnector whose own files import npm packages gets two
//! bytecodes: its own code's, and its dependency bundle's (see
//! [`crate::js::bundle`]). The build then runs the runtime's
//! `konnector.preload` on the bundle ([`crate::js::plan_preload`]) to find
//! the packages the engine may evaluate once, into a snapshot, rather than
//! in each job, and writes that plan in the artifact.
//!
//! Every artifact is read back and checked before it is returned: a
//! module's imports must be WASI preview 1 or functions of the host API this
//! version serves, and a JavaScript artifact must carry no code, name the
//! runtime that compiled it, and carry its dependencies as written.

use std::path::{Path, PathBuf};

use konnector_host_api::artifact::{self, ArtifactKind, JsDependencies, PreloadPlan};
use sha2::{Digest, Sha256};

use crate::js::bundle::{self, DEPENDENCIES_NAME};
use crate::js::{CompileError, JsError, JsRuntime, plan_preload};
use crate::rust::{BuildError, build_rust_konnector, is_rust_konnector};

/// Name of the manifest file in a konnector folder.
pub const MANIFEST_FILE: &str = "manifest.konnector";

/// Import module of WASI preview 1, which the engine serves empty.
const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// The language of a konnector folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// A cargo package (`Cargo.toml`).
    Rust,
    /// A JavaScript konnector: a `package.json`, `src/index.js` or
    /// `index.js`, and no `Cargo.toml`.
    JavaScript,
}

impl Language {
    /// Returns the language of the konnector folder `dir`, or `None` when it
    /// has neither a `Cargo.toml` nor a JavaScript entry.
    pub fn of(dir: &Path) -> Option<Language> {
        if is_rust_konnector(dir) {
            return Some(Language::Rust);
        }
        let javascript = ["package.json", "src/index.js", "index.js"]
            .iter()
            .any(|name| dir.join(name).is_file());
        javascript.then_some(Language::JavaScript)
    }
}

/// A built artifact.
#[derive(Debug)]
pub struct Built {
    /// The artifact's bytes.
    pub artifact: Vec<u8>,
    /// The language it was built from.
    pub language: Language,
    /// For JavaScript: whether esbuild bundled several files or npm
    /// packages, and the npm packages it bundled.
    pub bundled: bool,
    /// npm packages in the bundle, by name.
    pub packages: Vec<String>,
    /// Size of the QuickJS bytecode of the konnector's own code in bytes (0
    /// for a module).
    pub bytecode_bytes: usize,
    /// The dependency bundle of a JavaScript konnector whose own files
    /// import npm packages.
    pub dependencies: Option<BuiltDependencies>,
}

/// The dependency bundle in a built artifact.
#[derive(Debug)]
pub struct BuiltDependencies {
    /// Size of its QuickJS bytecode in bytes.
    pub bytecode_bytes: usize,
    /// The preload plan: the packages the engine evaluates ahead of time,
    /// and those each job evaluates, with the reason.
    pub plan: PreloadPlan,
}

/// Error of [`build_konnector`].
#[derive(Debug, thiserror::Error)]
pub enum ArtifactBuildError {
    /// The folder is not a konnector this version can build.
    #[error(
        "{} is not a konnector folder this version can build: it needs {MANIFEST_FILE} and either a Cargo.toml (Rust) or a package.json, src/index.js or index.js (JavaScript)",
        dir.display()
    )]
    UnknownLanguage {
        /// The folder.
        dir: PathBuf,
    },
    /// The manifest or the built module could not be read.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Cargo failed to build a Rust konnector.
    #[error(transparent)]
    Rust(#[from] BuildError),
    /// The JavaScript sources could not be bundled.
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// QuickJS refused the JavaScript source; the message starts with
    /// `file:line:column`.
    #[error("{0}")]
    Syntax(String),
    /// The runtime failed to compile the source.
    #[error(transparent)]
    Runtime(#[from] JsError),
    /// The built artifact failed its check: a bug of the toolchain, or a
    /// Rust konnector that imports functions the engine does not serve.
    #[error("the artifact failed its check: {0}")]
    Check(String),
}

/// The settings of [`build_konnector`] besides the folder.
pub struct BuildOptions<'a> {
    /// Target folder of cargo builds of Rust konnectors.
    pub cargo_target_dir: PathBuf,
    /// The pre-initialised JavaScript runtime module that jobs will run
    /// the bytecode on, and the build-time host that compiles with it,
    /// created on first use.
    pub js_runtime: &'a [u8],
    /// Called with a line for each step, such as `bundling with esbuild`.
    pub progress: &'a mut dyn FnMut(&str),
}

/// Builds the konnector folder `dir` into an artifact.
///
/// # Errors
///
/// When the folder is not a Rust or JavaScript konnector, a build step
/// fails, or the artifact fails its check.
pub fn build_konnector(dir: &Path, options: BuildOptions<'_>) -> Result<Built, ArtifactBuildError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest =
        std::fs::read_to_string(&manifest_path).map_err(|source| ArtifactBuildError::Read {
            path: manifest_path.clone(),
            source,
        })?;
    let language = Language::of(dir).ok_or_else(|| ArtifactBuildError::UnknownLanguage {
        dir: dir.to_owned(),
    })?;
    let progress = options.progress;
    match language {
        Language::Rust => {
            progress(&format!(
                "building the cargo package for {}",
                crate::WASM_TARGET
            ));
            let wasm_path = build_rust_konnector(dir, &options.cargo_target_dir)?;
            let wasm = std::fs::read(&wasm_path).map_err(|source| ArtifactBuildError::Read {
                path: wasm_path.clone(),
                source,
            })?;
            progress("checking the module's imports");
            check_imports(&wasm)?;
            let artifact = artifact::with_manifest(&wasm, &manifest)
                .map_err(|error| ArtifactBuildError::Check(error.to_string()))?;
            Ok(Built {
                artifact,
                language,
                bundled: false,
                packages: Vec::new(),
                bytecode_bytes: 0,
                dependencies: None,
            })
        }
        Language::JavaScript => build_javascript(dir, &manifest, options.js_runtime, progress),
    }
}

/// Builds a JavaScript konnector: bundles it, compiles its code and its
/// dependency bundle, plans the preload, and writes the artifact.
fn build_javascript(
    dir: &Path,
    manifest: &str,
    js_runtime: &[u8],
    progress: &mut dyn FnMut(&str),
) -> Result<Built, ArtifactBuildError> {
    let prepared = bundle::prepare(dir, &mut |step| progress(&step.to_string()))?;
    progress("compiling to QuickJS bytecode");
    let runtime = JsRuntime::new(js_runtime)?;
    let bytecode = compile(&runtime, &prepared.name, &prepared.source)?;

    let dependencies = match &prepared.dependencies {
        None => None,
        Some(dependencies) => {
            progress("compiling the dependency bundle to QuickJS bytecode");
            let bytecode = compile(&runtime, DEPENDENCIES_NAME, &dependencies.source)?;
            progress(&format!(
                "evaluating {} dependencies to find which can be evaluated ahead of time",
                dependencies.names.len()
            ));
            let plan = plan_preload(&runtime, &bytecode, &dependencies.names)?;
            Some(JsDependencies { bytecode, plan })
        }
    };

    progress("writing and checking the artifact");
    let digest = runtime_digest(js_runtime);
    let artifact = artifact::write_js(manifest, &bytecode, &digest, dependencies.as_ref());
    check_js_artifact(&artifact, &bytecode, &digest, dependencies.as_ref())?;
    Ok(Built {
        artifact,
        language: Language::JavaScript,
        bundled: prepared.bundled,
        packages: prepared.packages,
        bytecode_bytes: bytecode.len(),
        dependencies: dependencies.map(|dependencies| BuiltDependencies {
            bytecode_bytes: dependencies.bytecode.len(),
            plan: dependencies.plan,
        }),
    })
}

/// Compiles the module `source`, named `name`, and checks its size.
fn compile(runtime: &JsRuntime, name: &str, source: &[u8]) -> Result<Vec<u8>, ArtifactBuildError> {
    let bytecode = runtime.compile(name, source).map_err(|error| match error {
        CompileError::Invalid(message) => ArtifactBuildError::Syntax(message),
        CompileError::Runtime(error) => ArtifactBuildError::Runtime(error),
    })?;
    if bytecode.len() > artifact::MAX_BYTECODE_BYTES {
        return Err(ArtifactBuildError::Check(format!(
            "the bytecode of {name} is {} bytes, more than the {} bytes the engine runs; bundle fewer or smaller dependencies",
            bytecode.len(),
            artifact::MAX_BYTECODE_BYTES
        )));
    }
    Ok(bytecode)
}

/// Returns the SHA-256 digest of a runtime module, as JavaScript artifacts
/// name it.
pub fn runtime_digest(runtime: &[u8]) -> [u8; 32] {
    Sha256::digest(runtime).into()
}

/// Checks that a JavaScript artifact reads back as written: no code, no
/// import, the bytecode, the runtime digest, and the dependency bundle with
/// its preload plan.
fn check_js_artifact(
    bytes: &[u8],
    bytecode: &[u8],
    digest: &[u8; 32],
    dependencies: Option<&JsDependencies>,
) -> Result<(), ArtifactBuildError> {
    let check = |message: String| ArtifactBuildError::Check(message);
    let parsed = artifact::parse(bytes).map_err(|error| check(error.to_string()))?;
    match parsed.kind {
        ArtifactKind::JavaScript {
            bytecode: read,
            runtime,
            dependencies: read_dependencies,
        } => {
            if read != bytecode || &runtime != digest {
                return Err(check("the bytecode or runtime did not read back".into()));
            }
            if read_dependencies.as_ref() != dependencies {
                return Err(check(
                    "the dependency bundle or its preload plan did not read back".into(),
                ));
            }
        }
        ArtifactKind::Module => {
            return Err(check("the artifact reads back as a module".into()));
        }
    }
    let imports = imports(bytes).map_err(check)?;
    if !imports.is_empty() {
        return Err(check(format!(
            "a JavaScript artifact imports nothing, but this one imports {}",
            imports.join(", ")
        )));
    }
    Ok(())
}

/// Checks that a module imports only functions the engine serves: WASI
/// preview 1 and the host API's `konnector_v1` functions.
///
/// # Errors
///
/// [`ArtifactBuildError::Check`] naming every other import.
pub fn check_imports(wasm: &[u8]) -> Result<(), ArtifactBuildError> {
    let imports = imports(wasm).map_err(ArtifactBuildError::Check)?;
    let unknown: Vec<String> = imports
        .into_iter()
        .filter(|import| {
            let (module, name) = import.split_once("::").unwrap_or((import, ""));
            !(module == WASI_MODULE
                || module == konnector_host_api::IMPORT_MODULE
                    && konnector_host_api::FUNCTIONS.contains(&name))
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ArtifactBuildError::Check(format!(
            "the module imports {}, which the engine does not serve; a konnector may import WASI preview 1 and the {} functions of konnector-host-api {}",
            unknown.join(", "),
            konnector_host_api::IMPORT_MODULE,
            env!("CARGO_PKG_VERSION"),
        )))
    }
}

/// Lists a module's imports as `module::name`.
fn imports(wasm: &[u8]) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|error| format!("invalid module: {error}"))?;
        if let wasmparser::Payload::ImportSection(reader) = payload {
            for import in reader.into_imports() {
                let import = import.map_err(|error| format!("invalid import: {error}"))?;
                found.push(format!("{}::{}", import.module, import.name));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_imports_are_checked() {
        let wasm = wat::parse_str(
            r#"(module
                (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                (import "konnector_v1" "log" (func (param i32 i32 i32) (result i32)))
                (import "env" "socket" (func))
                (import "konnector_v1" "spawn" (func)))"#,
        )
        .expect("valid wat");
        let error = check_imports(&wasm).expect_err("unknown imports");
        let message = error.to_string();
        assert!(message.contains("env::socket"), "{message}");
        assert!(message.contains("konnector_v1::spawn"), "{message}");
        assert!(!message.contains("fd_write"), "{message}");
        assert!(!message.contains("::log"), "{message}");

        let fine = wat::parse_str(
            r#"(module (import "konnector_v1" "http_fetch" (func (param i32 i32 i32 i32) (result i32))))"#,
        )
        .expect("valid wat");
        check_imports(&fine).expect("served imports");
    }

    #[test]
    fn js_artifact_check_catches_a_wrong_digest() {
        let bytes = artifact::write_js("{}", b"code", &[1; 32], None);
        check_js_artifact(&bytes, b"code", &[1; 32], None).expect("reads back");
        let error = check_js_artifact(&bytes, b"code", &[2; 32], None).expect_err("digest");
        assert!(matches!(error, ArtifactBuildError::Check(_)), "{error}");
    }

    #[test]
    fn js_artifact_check_reads_the_plan_back() {
        let dependencies = JsDependencies {
            bytecode: b"deps".to_vec(),
            plan: PreloadPlan {
                evaluate: vec!["cheerio".to_owned()],
                per_job: vec![konnector_host_api::artifact::PerJobDependency {
                    name: "clock".to_owned(),
                    reason: "it reads the clock while it loads".to_owned(),
                }],
            },
        };
        let bytes = artifact::write_js("{}", b"code", &[1; 32], Some(&dependencies));
        check_js_artifact(&bytes, b"code", &[1; 32], Some(&dependencies)).expect("reads back");

        let mut other = dependencies.clone();
        other.plan.evaluate.clear();
        let error = check_js_artifact(&bytes, b"code", &[1; 32], Some(&other)).expect_err("plan");
        assert!(error.to_string().contains("preload plan"), "{error}");
        let error = check_js_artifact(&bytes, b"code", &[1; 32], None).expect_err("no bundle");
        assert!(error.to_string().contains("dependency bundle"), "{error}");
    }

    #[test]
    fn language_comes_from_the_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(Language::of(dir.path()), None);
        std::fs::write(dir.path().join("index.js"), "").expect("write");
        assert_eq!(Language::of(dir.path()), Some(Language::JavaScript));
        std::fs::write(dir.path().join("Cargo.toml"), "[package]").expect("write");
        assert_eq!(Language::of(dir.path()), Some(Language::Rust));
    }
}
