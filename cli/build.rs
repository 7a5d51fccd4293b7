//! Builds the QuickJS runtime of JavaScript konnectors and embeds it in the
//! `konnector` command.
//!
//! The runtime (`toolchain/js-runtime`) is built for wasm32-wasip1 and
//! pre-initialised by `konnector-toolchain` into
//! `<workspace>/target/wasm-guests`, the folder the integration tests use
//! too, and its path is passed to the crate as `KONNECTOR_JS_RUNTIME`, which
//! `include_bytes!` reads. Building it needs Debian's clang-19 and wasi-libc
//! (`scripts/setup` installs them).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(cli_dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        eprintln!("error: CARGO_MANIFEST_DIR is not set; run this script through cargo");
        return ExitCode::FAILURE;
    };
    let workspace = cli_dir.parent().unwrap_or(&cli_dir);
    let target_dir = workspace.join("target").join("wasm-guests");
    for watched in [
        "toolchain/js-runtime/src",
        "toolchain/js-runtime/Cargo.toml",
        "toolchain/js-runtime/Cargo.lock",
        "host-api/src",
        "host-api/Cargo.toml",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let runtime = match konnector_toolchain::js::preinitialized_runtime(&target_dir) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!(
                "error: failed to build the JavaScript runtime: {}",
                error_chain(&error)
            );
            return ExitCode::FAILURE;
        }
    };
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        eprintln!("error: OUT_DIR is not set; run this script through cargo");
        return ExitCode::FAILURE;
    };
    let path = out_dir.join("js-runtime.wasm");
    if let Err(error) = std::fs::write(&path, runtime) {
        eprintln!("error: failed to write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    println!("cargo:rustc-env=KONNECTOR_JS_RUNTIME={}", path.display());
    ExitCode::SUCCESS
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
