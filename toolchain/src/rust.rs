//! Rust konnectors: cargo packages built for [`WASM_TARGET`].
//!
//! The build runs cargo in a child process, in the konnector's folder so that
//! its own `rust-toolchain.toml` and `.cargo/config.toml` apply. The child
//! does not inherit the variables that a parent cargo sets for build scripts
//! and tests (see [`is_parent_cargo_var`]), so a build script can build guests
//! too.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use serde_json::Value;

/// The target that konnectors are compiled for.
pub const WASM_TARGET: &str = "wasm32-wasip1";

/// Number of lines at the end of cargo's standard error that a
/// [`BuildError::CargoFailed`] keeps.
const STDERR_TAIL_LINES: usize = 40;

/// Error of [`build_rust_konnector`].
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The folder's `Cargo.toml` could not be read.
    #[error("failed to read {}", path.display())]
    ReadCargoToml {
        /// Path of the `Cargo.toml`.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The folder's `Cargo.toml` is not TOML, or has no `[package] name`.
    #[error("invalid {}: {reason}", path.display())]
    InvalidCargoToml {
        /// Path of the `Cargo.toml`.
        path: PathBuf,
        /// The problem found in it.
        reason: String,
    },
    /// Cargo could not be started.
    #[error("failed to run {} for {}", cargo.to_string_lossy(), dir.display())]
    SpawnCargo {
        /// The konnector's folder.
        dir: PathBuf,
        /// The cargo program that was run (`$CARGO`, else `cargo`).
        cargo: OsString,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Cargo ran and failed.
    #[error(
        "failed to build the Rust konnector in {}: cargo exited with {status}; \
         the end of its output:\n{stderr_tail}",
        dir.display()
    )]
    CargoFailed {
        /// The konnector's folder.
        dir: PathBuf,
        /// Cargo's exit status.
        status: ExitStatus,
        /// The last lines of cargo's standard error, with the compiler's
        /// diagnostics.
        stderr_tail: String,
    },
    /// Cargo succeeded but reported no `.wasm` binary of the package.
    #[error(
        "cargo built {} but produced no .wasm binary named {package} \
         (binaries built: {built:?})",
        dir.display()
    )]
    MissingWasm {
        /// The konnector's folder.
        dir: PathBuf,
        /// The package name from `Cargo.toml`.
        package: String,
        /// Names of the `.wasm` binaries cargo reported: none, or several
        /// with other names.
        built: Vec<String>,
    },
}

/// Whether `dir` contains a Rust konnector, that is a `Cargo.toml`.
pub fn is_rust_konnector(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file()
}

/// Builds the Rust konnector in `dir` with
/// `cargo build --release --target wasm32-wasip1`, putting cargo's output in
/// `target_dir`, and returns the path of the `.wasm` module.
///
/// The module is the package's binary named like the package (cargo keeps
/// the `-` of a binary's name, so package `rust-bills` gives
/// `rust-bills.wasm`), or the package's only binary. Cargo is `$CARGO` when
/// set (inside a build script it is the cargo running the build), else
/// `cargo` from `PATH`. The call blocks until cargo is done, and cargo may
/// download the konnector's dependencies.
///
/// # Errors
///
/// When `Cargo.toml` is missing or has no package name, cargo cannot be run,
/// the build fails (the error then contains the end of cargo's output), or no
/// `.wasm` binary of the package comes out.
pub fn build_rust_konnector(dir: &Path, target_dir: &Path) -> Result<PathBuf, BuildError> {
    build_cargo_package(dir, target_dir, &[])
}

/// Builds the cargo package in `dir` like [`build_rust_konnector`], with the
/// variables `env` added to cargo's environment.
pub(crate) fn build_cargo_package(
    dir: &Path,
    target_dir: &Path,
    env: &[(&str, &Path)],
) -> Result<PathBuf, BuildError> {
    let manifest_path = dir.join("Cargo.toml");
    let package = read_package_name(&manifest_path)?;

    // Cargo runs in `dir`, so relative paths would change meaning.
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .current_dir(dir)
        .args(["build", "--release", "--target", WASM_TARGET])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(absolute(&manifest_path))
        .arg("--target-dir")
        .arg(absolute(target_dir))
        .stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_parent_cargo_var) {
            command.env_remove(&name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }

    let output = command.output().map_err(|source| BuildError::SpawnCargo {
        dir: dir.to_owned(),
        cargo,
        source,
    })?;
    if !output.status.success() {
        return Err(BuildError::CargoFailed {
            dir: dir.to_owned(),
            status: output.status,
            stderr_tail: tail_lines(&String::from_utf8_lossy(&output.stderr), STDERR_TAIL_LINES),
        });
    }

    let binaries = wasm_binaries(&output.stdout);
    pick_binary(&binaries, &package).ok_or_else(|| BuildError::MissingWasm {
        dir: dir.to_owned(),
        package,
        built: binaries.into_iter().map(|(name, _)| name).collect(),
    })
}

/// Reads `[package] name` from a `Cargo.toml`.
fn read_package_name(manifest_path: &Path) -> Result<String, BuildError> {
    let text =
        std::fs::read_to_string(manifest_path).map_err(|source| BuildError::ReadCargoToml {
            path: manifest_path.to_owned(),
            source,
        })?;
    let invalid = |reason: String| BuildError::InvalidCargoToml {
        path: manifest_path.to_owned(),
        reason,
    };

    let table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| invalid(error.message().to_owned()))?;
    let name = table
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(|name| name.as_str());
    match name {
        Some(name) => Ok(name.to_owned()),
        None => Err(invalid("missing [package] name".to_owned())),
    }
}

/// Whether a variable comes from a parent cargo and must not reach a nested
/// build. Cargo sets such variables for the build scripts and tests it runs:
/// the target directory, flags, jobserver and wrappers of the parent build,
/// and the parent package's `CARGO_PKG_*`, `CARGO_MANIFEST_*` and
/// `CARGO_CFG_*`.
///
/// `CARGO_HOME` and the variables that set how cargo reaches registries
/// (`CARGO_NET_*`, `CARGO_HTTP_*`, `CARGO_REGISTRY_*`, `CARGO_REGISTRIES_*`)
/// are kept, so that the nested build downloads the way its parent does.
/// `CARGO` and `RUSTC` are kept too, so that it uses the same toolchain.
pub fn is_parent_cargo_var(name: &str) -> bool {
    const KEPT_PREFIXES: &[&str] = &[
        "CARGO_HOME",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRY_",
        "CARGO_REGISTRIES_",
    ];
    const REMOVED: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "MAKEFLAGS",
        "MFLAGS",
    ];

    if REMOVED.contains(&name) || name.starts_with("__CARGO") {
        return true;
    }
    name.starts_with("CARGO_") && !KEPT_PREFIXES.iter().any(|kept| name.starts_with(kept))
}

/// Lists the `.wasm` binaries in cargo's JSON messages, as
/// `(binary name, path)`.
fn wasm_binaries(stdout: &[u8]) -> Vec<(String, PathBuf)> {
    let mut binaries = Vec::new();
    for line in stdout.split(|byte| *byte == b'\n') {
        // Lines that are not cargo messages (a build script's stray output)
        // are skipped.
        let Ok(message) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_bin = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"));
        let name = message["target"]["name"].as_str();
        let executable = message["executable"].as_str().map(PathBuf::from);
        if let (true, Some(name), Some(executable)) = (is_bin, name, executable)
            && executable.extension().is_some_and(|ext| ext == "wasm")
        {
            binaries.push((name.to_owned(), executable));
        }
    }
    binaries
}

/// Picks the package's default binary (named like the package), or its only
/// binary.
fn pick_binary(binaries: &[(String, PathBuf)], package: &str) -> Option<PathBuf> {
    let named = binaries.iter().find(|(name, _)| name == package);
    match (named, binaries) {
        (Some((_, path)), _) => Some(path.clone()),
        (None, [(_, only)]) => Some(only.clone()),
        (None, _) => None,
    }
}

fn tail_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(count);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a package with its own workspace and `main.rs` into `dir`.
    fn write_package(dir: &Path, cargo_toml: &str, main_rs: &str) {
        std::fs::create_dir_all(dir.join("src")).expect("create src");
        std::fs::write(dir.join("Cargo.toml"), cargo_toml).expect("write Cargo.toml");
        std::fs::write(dir.join("src/main.rs"), main_rs).expect("write main.rs");
    }

    const MINIMAL_TOML: &str = "[package]\nname = \"tiny-guest\"\nversion = \"0.1.0\"\n\
                                edition = \"2024\"\n\n[workspace]\n";

    #[test]
    fn parent_cargo_vars() {
        for removed in [
            "CARGO_TARGET_DIR",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_MAKEFLAGS",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_CFG_TARGET_ARCH",
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "__CARGO_FIX_PLZ",
        ] {
            assert!(is_parent_cargo_var(removed), "{removed} should be removed");
        }
        for inherited in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_NET_OFFLINE",
            "CARGO_HTTP_TIMEOUT",
            "CARGO_REGISTRY_DEFAULT",
            "CARGO_REGISTRIES_CRATES_IO_PROTOCOL",
            "RUSTC",
            "RUSTUP_TOOLCHAIN",
            "PATH",
        ] {
            assert!(
                !is_parent_cargo_var(inherited),
                "{inherited} should be kept"
            );
        }
    }

    #[test]
    fn rust_konnector_needs_cargo_toml() {
        let dir = tempfile::tempdir().expect("temporary folder");
        assert!(!is_rust_konnector(dir.path()));
        std::fs::write(dir.path().join("Cargo.toml"), MINIMAL_TOML).expect("write");
        assert!(is_rust_konnector(dir.path()));
    }

    #[test]
    fn missing_cargo_toml_names_path() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let error = build_rust_konnector(dir.path(), &dir.path().join("target"))
            .expect_err("no Cargo.toml");
        assert!(
            matches!(error, BuildError::ReadCargoToml { .. }),
            "{error:?}"
        );
        let expected = format!("failed to read {}", dir.path().join("Cargo.toml").display());
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn workspace_only_toml_rejected() {
        let dir = tempfile::tempdir().expect("temporary folder");
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").expect("write");
        let error =
            build_rust_konnector(dir.path(), &dir.path().join("target")).expect_err("no package");
        assert!(
            error.to_string().ends_with(": missing [package] name"),
            "{error}"
        );
    }

    #[test]
    fn builds_binary_keeping_dash() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let package = dir.path().join("tiny");
        write_package(&package, MINIMAL_TOML, "fn main() {}\n");

        let wasm = build_rust_konnector(&package, &dir.path().join("target")).expect("build");
        let expected = dir
            .path()
            .join("target/wasm32-wasip1/release/tiny-guest.wasm");
        assert_eq!(wasm, expected);
        let bytes = std::fs::read(&wasm).expect("read the module");
        assert!(bytes.starts_with(b"\0asm"), "not a WebAssembly module");
    }

    #[test]
    fn compile_error_in_message() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let package = dir.path().join("broken");
        write_package(
            &package,
            MINIMAL_TOML,
            "fn main() { let x: u8 = \"text\"; }\n",
        );

        let error =
            build_rust_konnector(&package, &dir.path().join("target")).expect_err("type error");
        let BuildError::CargoFailed { stderr_tail, .. } = &error else {
            panic!("expected CargoFailed, got {error:?}");
        };
        assert!(stderr_tail.contains("mismatched types"), "{stderr_tail}");
        let prefix = format!(
            "failed to build the Rust konnector in {}",
            package.display()
        );
        assert!(error.to_string().starts_with(&prefix), "{error}");
    }

    #[test]
    fn picks_default_or_only_binary() {
        let path = |name: &str| PathBuf::from(format!("/t/{name}.wasm"));
        let both = [
            ("helper".to_owned(), path("helper")),
            ("rust-bills".to_owned(), path("rust-bills")),
        ];
        assert_eq!(pick_binary(&both, "rust-bills"), Some(path("rust-bills")));
        assert_eq!(pick_binary(&both, "other"), None);
        assert_eq!(pick_binary(&both[..1], "other"), Some(path("helper")));
        assert_eq!(pick_binary(&[], "other"), None);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a", 5), "a");
        assert_eq!(tail_lines("", 5), "");
    }

    /// The sample Rust konnector imports nothing but WASI and the host API.
    /// It is built into the folder that `konnector-tests` builds it into,
    /// so this is quick once either has run.
    #[test]
    fn rust_bills_sample_imports() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let wasm = build_rust_konnector(
            &workspace.join("samples/rust-bills"),
            &workspace.join("target/wasm-guests"),
        )
        .expect("build samples/rust-bills");
        let bytes = std::fs::read(&wasm).expect("read the module");

        let mut imports = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
            let payload = payload.expect("valid module");
            if let wasmparser::Payload::ImportSection(section) = payload {
                for import in section.into_imports() {
                    let import = import.expect("valid import");
                    imports.push((import.module.to_owned(), import.name.to_owned()));
                }
            }
        }

        assert!(!imports.is_empty(), "the sample imports nothing");
        for (module, name) in &imports {
            let allowed = match module.as_str() {
                konnector_host_api::IMPORT_MODULE => {
                    konnector_host_api::FUNCTIONS.contains(&name.as_str())
                }
                "wasi_snapshot_preview1" => true,
                _ => false,
            };
            assert!(allowed, "unexpected import {module}::{name}");
        }
    }
}
