//! The QuickJS runtime of JavaScript konnectors, a `wasm32-wasip1` command
//! module shared by every JavaScript konnector.
//!
//! Exports:
//!
//! * `wizer.initialize`: creates the QuickJS runtime and context and
//!   evaluates the built-in environment ([`builtins`]: `console`, `atob`,
//!   `btoa`, a `Math.random` that each job reseeds, `TextEncoder`,
//!   `TextDecoder`, `URL`, `URLSearchParams`, `crypto`, the timers,
//!   `process`, `require`, `fetch`, `Buffer`, the `konnector:host` module
//!   and small versions of Node.js's `buffer`, `path`, `url`, `util`,
//!   `querystring` and `events` modules). The
//!   toolchain calls it once and snapshots the result (pre-initialisation),
//!   so jobs start with it done. It reads no clock, random source or job
//!   data of its own.
//! * `_start`: runs one job. It reseeds `Math.random` from WASI
//!   `random_get`, evaluates the konnector's dependency bundle unless a
//!   snapshot has it already, reads the konnector's bytecode from
//!   `konnector_js_v1::script` (through the `konnector_v1` result buffer),
//!   evaluates it as an ES module (strict mode, top-level `await` allowed,
//!   imports of built-in modules only), and runs its event loop: promise
//!   jobs, then timers, until none is left. An uncaught exception, a
//!   promise rejected with no handler, or a top-level `await` that never
//!   settles logs the error and its JavaScript stack at level error and
//!   ends the job with `konnector_v1::job_fail`: with the error's message
//!   when it is a Cozy error code such as `LOGIN_FAILED`, else with
//!   `UNKNOWN_ERROR` (see [`job`]).
//! * `konnector.preload`: evaluates the konnector's bundled dependencies
//!   ahead of time, for the engine's snapshot of one konnector (see
//!   [`dependencies`]). It reads the bundle from
//!   `konnector_js_v1::dependencies` and the packages to evaluate from
//!   `konnector_js_v1::preload_plan`, names each one with
//!   `konnector_js_v1::preload_step` before evaluating it, and exits with a
//!   non-zero status, its reason on standard error, when one fails.
//! * `compile`: compiles the JavaScript source of
//!   `konnector_build_v1::source` (named after
//!   `konnector_build_v1::source_name`) into module bytecode and hands it to
//!   `konnector_build_v1::output`. A syntax error goes to
//!   `konnector_build_v1::error` as `file:line:column: message`, and an
//!   import of a module that is not built in as `file: Error: cannot find
//!   module ...`, because QuickJS resolves imports as it compiles. The
//!   bytecode comes from this very runtime, so its format always matches
//!   the one `_start` reads.

mod base64;
mod builtins;
mod compile;
mod dependencies;
mod error;
mod host;
mod host_api;
mod http;
mod job;
mod js;
mod modules;
mod random;
mod text;
mod timers;
mod url;

/// Runs one job (the module's `_start`).
fn main() {
    job::run();
}

/// Creates the runtime and evaluates the built-in environment, for
/// pre-initialisation.
#[unsafe(export_name = "wizer.initialize")]
pub extern "C" fn initialize() {
    js::with(|_| ());
}

/// Evaluates the konnector's dependencies ahead of time, for the snapshot
/// of one konnector.
#[unsafe(export_name = "konnector.preload")]
pub extern "C" fn preload() {
    dependencies::preload();
}

/// Compiles JavaScript source into QuickJS bytecode, at build time.
#[unsafe(no_mangle)]
pub extern "C" fn compile() {
    compile::run();
}
