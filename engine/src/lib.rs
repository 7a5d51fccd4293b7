//! The konnector engine: runs one konnector job in wasmtime under hard limits.
//!
//! (Crate documentation is written with the job module.)

pub mod manifest;
pub mod sink;
pub mod store;
