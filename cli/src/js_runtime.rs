//! The QuickJS runtime of JavaScript konnectors, built into this command
//! (see `build.rs`): `konnector build` compiles sources with it and the
//! engine runs their bytecode on it, so an artifact always matches the
//! runtime that runs it.

/// The pre-initialised runtime module.
pub(crate) const RUNTIME: &[u8] = include_bytes!(env!("KONNECTOR_JS_RUNTIME"));
