//! Builds the sample Rust konnectors for wasm32-wasip1 and gives the tests
//! their paths.
//!
//! Every folder `samples/<name>` with a `Cargo.toml` and a
//! `manifest.konnector` is built with `konnector-toolchain` into
//! `<workspace>/target/wasm-guests`, a folder that stays the same between
//! builds and that the `konnector` command uses too (`OUT_DIR` changes with
//! every build configuration). The module's path is passed to the crate as
//! `SAMPLE_<NAME>_WASM`, with `<NAME>` the folder's name in upper case and
//! `-` turned into `_`: `samples/rust-bills` gives `SAMPLE_RUST_BILLS_WASM`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(tests_dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        eprintln!("error: CARGO_MANIFEST_DIR is not set; run this script through cargo");
        return ExitCode::FAILURE;
    };
    let workspace = tests_dir.parent().unwrap_or(&tests_dir);
    let samples = workspace.join("samples");
    let target_dir = workspace.join("target").join("wasm-guests");

    // Watch the whole folder so that a new sample is picked up. Changes to
    // the fixture site under it also rerun this script, and cargo then finds
    // the guests up to date.
    println!("cargo:rerun-if-changed={}", samples.display());
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("host-api/src").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("host-api/Cargo.toml").display()
    );

    let guests = match rust_guests(&samples) {
        Ok(guests) => guests,
        Err(error) => {
            eprintln!("error: failed to list {}: {error}", samples.display());
            return ExitCode::FAILURE;
        }
    };
    for dir in guests {
        match konnector_toolchain::build_rust_konnector(&dir, &target_dir) {
            Ok(wasm) => println!("cargo:rustc-env={}={}", env_var_name(&dir), wasm.display()),
            Err(error) => {
                eprintln!("error: {}", error_chain(&error));
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Lists the sample folders that are Rust konnectors, sorted by name.
/// Other folders, such as the fixture vendor site, have no
/// `manifest.konnector`.
fn rust_guests(samples: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut guests = Vec::new();
    for entry in std::fs::read_dir(samples)? {
        let dir = entry?.path();
        if konnector_toolchain::is_rust_konnector(&dir) && dir.join("manifest.konnector").is_file()
        {
            guests.push(dir);
        }
    }
    guests.sort();
    Ok(guests)
}

/// `SAMPLE_<NAME>_WASM` for the folder `samples/<name>`.
fn env_var_name(dir: &Path) -> String {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SAMPLE_{name}_WASM")
}

/// Formats the error's message followed by the messages of its sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
