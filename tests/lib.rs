//! Integration tests of the konnector engine, and what they share.

/// The sample konnectors under `samples/`, whose Rust guests this crate's
/// build script compiles.
pub mod samples {
    use std::path::{Path, PathBuf};

    /// Path of the `rust-bills` sample's WebAssembly module.
    pub const RUST_BILLS_WASM: &str = env!("SAMPLE_RUST_BILLS_WASM");

    /// Path of the sample folder `samples/<name>`, such as `rust-bills`.
    pub fn dir(name: &str) -> PathBuf {
        let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let workspace = tests_dir.parent().unwrap_or(tests_dir);
        workspace.join("samples").join(name)
    }
}
