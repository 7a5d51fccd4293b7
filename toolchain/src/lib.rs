//! Builds konnector folders into WebAssembly modules that the engine runs.
//!
//! A konnector folder contains a `manifest.konnector` and the konnector's
//! sources. Its build is a `wasm32-wasip1` command module whose only imports
//! outside WASI are the `konnector_v1` host functions (see
//! `konnector-host-api`).
//!
//! * Rust konnectors ([`rust`]) are cargo packages that depend on
//!   `konnector-host-api` with its `guest` feature; cargo builds them as they
//!   are, in release mode.
//!
//! * JavaScript konnectors ([`js`]) run in one shared QuickJS runtime
//!   module, which this crate builds, pre-initialises and uses to compile
//!   sources into bytecode.
//!
//! * [`artifact_build`] turns either kind of folder into an artifact, the
//!   one file `konnector run` and the engine take, and checks its imports.

pub mod artifact_build;
pub mod js;
pub mod rust;

pub use artifact_build::{BuildOptions, Built, BuiltDependencies, Language, build_konnector};

pub use rust::{BuildError, WASM_TARGET, build_rust_konnector, is_rust_konnector};
