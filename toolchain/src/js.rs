//! JavaScript konnectors: the shared QuickJS runtime module, its
//! pre-initialisation, and the compilation of JavaScript sources into its
//! bytecode.
//!
//! The runtime is the Rust package in `js-runtime/` (rquickjs, built for
//! [`crate::WASM_TARGET`]). Its exports and the imports they use are described in
//! `js-runtime/src/main.rs`. Building it takes three steps:
//!
//! 1. [`build_runtime`] compiles it with cargo. QuickJS is C, so rquickjs-sys
//!    needs clang and a wasi-libc sysroot, which `js-runtime/wasi-sdk.sh`
//!    lays out from Debian's packages (see [`prepare_wasi_sdk`]).
//! 2. [`preinitialize`] runs its `wizer.initialize` export once with
//!    wasmtime-wizer and snapshots the memory: jobs then start with the
//!    QuickJS runtime, context and built-in environment already created.
//! 3. [`JsRuntime::compile`] runs its `compile` export to turn a
//!    konnector's source into bytecode, which the same module runs at job
//!    time.
//!
//! [`preinitialized_runtime`] does steps 1 and 2 and caches the result.
//! [`plan_preload`] runs the runtime's `konnector.preload` export to find
//! which of a konnector's bundled dependencies can be evaluated ahead of
//! time.

pub mod bundle;
mod host;
mod preload;

use std::ffi::OsString;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::task::{Context, Poll, Waker};

use konnector_host_api::LogLevel;
use wasmtime::{Engine, Instance, Linker, Module, Store};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use host::HostState;
pub use host::preload::PreloadRefusal;
pub use host::{
    BUILD_IMPORT_MODULE, ERROR, GuestExit, JS_IMPORT_MODULE, OUTPUT, SCRIPT, SOURCE, SOURCE_NAME,
};
pub use preload::{PRELOAD_EXPORT, PRELOAD_FUEL, PRELOAD_MEMORY_BYTES, PreloadTrial, plan_preload};

use crate::rust::{BuildError, build_cargo_package};

/// Folder of the runtime's cargo package.
///
/// NOTE: this is the path of this crate's sources when it was compiled, so
/// building the runtime needs the repository's checkout.
pub const RUNTIME_PACKAGE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/js-runtime");

/// Export that pre-initialisation calls, then removes.
pub const INIT_EXPORT: &str = "wizer.initialize";
/// Export that compiles JavaScript source into bytecode.
pub const COMPILE_EXPORT: &str = "compile";
/// Export that runs a job.
pub const START_EXPORT: &str = "_start";

/// Native stack in bytes that the runtime's WebAssembly frames may use on
/// the build-time host: the engine's default guest stack.
const GUEST_STACK_BYTES: usize = 1 << 20;

/// Error of building, pre-initialising or running the runtime module.
#[derive(Debug, thiserror::Error)]
pub enum JsError {
    /// `wasi-sdk.sh` could not be run or failed.
    #[error("failed to prepare the WASI SDK folder {}: {reason}", dir.display())]
    WasiSdk {
        /// The folder it was to prepare.
        dir: PathBuf,
        /// The script's error output, or why it could not start.
        reason: String,
    },
    /// Cargo failed to build the runtime package.
    #[error("failed to build the QuickJS runtime: {0}")]
    Build(#[from] BuildError),
    /// A file of the build or of the cache could not be read or written.
    #[error("failed to access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Wasmtime rejected the module, or one of its exports trapped.
    #[error("{context}: {message}")]
    Wasm {
        /// The step that failed.
        context: &'static str,
        /// Wasmtime's error with its causes, and what the guest wrote to
        /// standard error (a Rust panic message, for example).
        message: String,
    },
}

/// Error of [`JsRuntime::compile`].
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The source is not a valid ES module. The message has the form
    /// `file:line:column: SyntaxError: message`, or `file: message` when
    /// QuickJS gave no position.
    #[error("{0}")]
    Invalid(String),
    /// The runtime module failed to run its `compile` export.
    #[error(transparent)]
    Runtime(#[from] JsError),
}

/// Outcome of a job run by [`JsRuntime::run`].
#[derive(Debug)]
pub struct JobRun {
    /// Log lines, in order.
    pub logs: Vec<(LogLevel, String)>,
    /// Error code and message of `konnector_v1::job_fail`, if called.
    pub failure: Option<(String, String)>,
}

/// Prepares the WASI SDK folder that rquickjs-sys compiles QuickJS with,
/// and returns its path.
///
/// When the `WASI_SDK` variable is set, its value is returned as it is.
/// Otherwise `js-runtime/wasi-sdk.sh` lays out `dir` from Debian's clang-19,
/// llvm-ar-19 and wasi-libc (the packages `clang-19 lld-19 wasi-libc
/// libclang-rt-19-dev-wasm32`). Nothing is downloaded.
///
/// # Errors
///
/// When bash cannot be started, or the script fails, for example because a
/// package is missing.
pub fn prepare_wasi_sdk(dir: &Path) -> Result<PathBuf, JsError> {
    if let Some(wasi_sdk) = std::env::var_os("WASI_SDK") {
        return Ok(PathBuf::from(wasi_sdk));
    }
    let script = Path::new(RUNTIME_PACKAGE_DIR).join("wasi-sdk.sh");
    let failed = |reason: String| JsError::WasiSdk {
        dir: dir.to_owned(),
        reason,
    };
    let output = Command::new("bash")
        .arg(&script)
        .arg(dir)
        .output()
        .map_err(|error| failed(format!("failed to run bash {}: {error}", script.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(stderr.trim().to_owned()));
    }
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Ok(PathBuf::from(OsString::from(path)))
}

/// Builds the runtime package with cargo into `target_dir`, and returns the
/// path of the module (not yet pre-initialised).
///
/// The WASI SDK folder is `target_dir/wasi-sdk` (see [`prepare_wasi_sdk`]).
/// Cargo may download the package's dependencies from crates.io on the first
/// build. Later builds only check that nothing changed.
///
/// # Errors
///
/// When the WASI SDK folder cannot be prepared or cargo fails.
pub fn build_runtime(target_dir: &Path) -> Result<PathBuf, JsError> {
    let wasi_sdk = prepare_wasi_sdk(&target_dir.join("wasi-sdk"))?;
    let wasm = build_cargo_package(
        Path::new(RUNTIME_PACKAGE_DIR),
        target_dir,
        &[("WASI_SDK", &wasi_sdk)],
    )?;
    Ok(wasm)
}

/// Pre-initialises the runtime module: runs its `wizer.initialize` export
/// and returns a module whose memory and globals start in the state it
/// left, without that export.
///
/// The initialisation runs on the build-time host, whose clocks read 0 and
/// whose `random_get` returns the same bytes every time, so the result
/// depends only on the module. The runtime reads the clock once there
/// (QuickJS seeds its own `Math.random` from it, which `prelude.js`
/// replaces) and `random_get` once (Rust's `HashMap` keys, for rquickjs's
/// map of class prototypes, keyed by `TypeId` and never by script input).
///
/// # Errors
///
/// When the module is invalid or unsupported by wasmtime-wizer (it must not
/// import memories, tables or globals), or its initialisation traps.
pub fn preinitialize(wasm: &[u8]) -> Result<Vec<u8>, JsError> {
    let wasm_error = |context| {
        move |error: wasmtime::Error| JsError::Wasm {
            context,
            message: format!("{error:#}"),
        }
    };
    let mut wizer = Wizer::new();
    wizer.init_func(INIT_EXPORT);
    let (module_context, instrumented) = wizer.instrument(wasm).map_err(wasm_error(
        "failed to instrument the runtime for pre-initialisation",
    ))?;

    let engine = Engine::default();
    let module =
        Module::new(&engine, &instrumented).map_err(wasm_error("failed to compile the runtime"))?;
    let mut store = Store::new(&engine, HostState::default());
    let instance = host::linker(&engine, &module)
        .and_then(|linker| linker.instantiate(&mut store, &module))
        .map_err(wasm_error("failed to instantiate the runtime"))?;
    let initialized = instance
        .get_typed_func::<(), ()>(&mut store, INIT_EXPORT)
        .and_then(|init| init.call(&mut store, ()));
    if let Err(error) = initialized {
        return Err(JsError::Wasm {
            context: "the runtime's wizer.initialize failed",
            message: with_stdio(&error, store.data()),
        });
    }

    let mut state = Snapshotter {
        store: &mut store,
        instance,
    };
    block_on(wizer.snapshot(&module_context, &mut state))
        .map_err(wasm_error("failed to snapshot the runtime"))
}

/// Builds the runtime into `target_dir` and pre-initialises it, reusing the
/// pre-initialised module of a previous call while the built module is the
/// same. The cache is the folder `target_dir/js-runtime`.
///
/// # Errors
///
/// As [`build_runtime`] and [`preinitialize`], and when the cache cannot be
/// read or written.
pub fn preinitialized_runtime(target_dir: &Path) -> Result<Vec<u8>, JsError> {
    let built = build_runtime(target_dir)?;
    let raw = read(&built)?;

    let cache_dir = target_dir.join("js-runtime");
    let cached_raw = cache_dir.join("runtime.raw.wasm");
    let cached = cache_dir.join("runtime.wasm");
    if std::fs::read(&cached_raw).is_ok_and(|bytes| bytes == raw)
        && let Ok(module) = std::fs::read(&cached)
    {
        return Ok(module);
    }

    let module = preinitialize(&raw)?;
    std::fs::create_dir_all(&cache_dir).map_err(|source| JsError::Io {
        path: cache_dir.clone(),
        source,
    })?;
    // The pre-initialised module is written first, so a cache whose raw
    // module matches always has the matching pre-initialised one. Each file
    // is renamed into place, so concurrent builds never read half a file.
    write_atomically(&cached, &module)?;
    write_atomically(&cached_raw, &raw)?;
    Ok(module)
}

/// The runtime module compiled by wasmtime, ready to compile sources and run
/// jobs on the build-time host.
pub struct JsRuntime {
    engine: Engine,
    module: Module,
}

impl JsRuntime {
    /// Compiles the runtime module `wasm` (usually pre-initialised) with
    /// Cranelift, which takes about a second for a module of 1 MB.
    ///
    /// # Errors
    ///
    /// When wasmtime rejects the module.
    pub fn new(wasm: &[u8]) -> Result<JsRuntime, JsError> {
        let mut config = wasmtime::Config::new();
        config.max_wasm_stack(GUEST_STACK_BYTES);
        // Only preloads get a budget (PRELOAD_FUEL); other calls get all
        // the fuel there is.
        config.consume_fuel(true);
        let engine = Engine::new(&config).map_err(|error| JsError::Wasm {
            context: "failed to configure wasmtime",
            message: format!("{error:#}"),
        })?;
        let module = Module::new(&engine, wasm).map_err(|error| JsError::Wasm {
            context: "failed to compile the runtime",
            message: format!("{error:#}"),
        })?;
        Ok(JsRuntime { engine, module })
    }

    /// Returns the compiled module. Its engine consumes fuel, so a store
    /// needs fuel before it runs the module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Compiles `source` as an ES module into QuickJS bytecode, naming it
    /// `name` in stack traces and errors. Each call runs in a new instance.
    ///
    /// # Errors
    ///
    /// [`CompileError::Invalid`] with `name:line:column: message` when the
    /// source is not a valid module, and [`CompileError::Runtime`] when the
    /// runtime fails.
    pub fn compile(&self, name: &str, source: &[u8]) -> Result<Vec<u8>, CompileError> {
        let state = HostState {
            source_name: name.to_owned(),
            source: source.to_vec(),
            ..HostState::default()
        };
        let (state, called) = self.call(state, COMPILE_EXPORT)?;
        if let Err(message) = called {
            return Err(JsError::Wasm {
                context: "the runtime's compile export failed",
                message,
            }
            .into());
        }
        match (state.output, state.error) {
            (_, Some(message)) => Err(CompileError::Invalid(message)),
            (Some(bytecode), None) => Ok(bytecode),
            (None, None) => Err(JsError::Wasm {
                context: "the runtime's compile export failed",
                message: "it returned neither bytecode nor an error".to_owned(),
            }
            .into()),
        }
    }

    /// Runs a job of `bytecode` through `_start` like [`JsRuntime::run`],
    /// with `dependencies` as the bytecode of its dependency bundle, which
    /// `_start` evaluates before the job's code.
    ///
    /// # Errors
    ///
    /// When `_start` traps or exits with a non-zero status.
    pub fn run_with_dependencies(
        &self,
        bytecode: &[u8],
        dependencies: &[u8],
        random_seed: u64,
    ) -> Result<JobRun, JsError> {
        let state = HostState {
            script: Some(bytecode.to_vec()),
            dependencies: Some(dependencies.to_vec()),
            random_state: random_seed,
            ..HostState::default()
        };
        self.run_job(state)
    }

    /// Runs a job of `bytecode` through `_start` on the build-time host,
    /// where `random_get` is a stream from `random_seed`, clocks read a
    /// virtual time that starts at 0 and that only `poll_oneoff` advances
    /// (so timers fire at once, in order), and only the result buffer,
    /// `log`, `job_fail` and `konnector_js_v1::script` work: the other
    /// host functions answer `unsupported`. It is meant for checks of the
    /// runtime, not for real jobs, which the engine runs.
    ///
    /// # Errors
    ///
    /// When `_start` traps or exits with a non-zero status.
    pub fn run(&self, bytecode: &[u8], random_seed: u64) -> Result<JobRun, JsError> {
        let state = HostState {
            script: Some(bytecode.to_vec()),
            random_state: random_seed,
            ..HostState::default()
        };
        self.run_job(state)
    }

    fn run_job(&self, state: HostState) -> Result<JobRun, JsError> {
        let (state, called) = self.call(state, START_EXPORT)?;
        if let Err(message) = called {
            return Err(JsError::Wasm {
                context: "the runtime's _start failed",
                message,
            });
        }
        Ok(JobRun {
            logs: state.logs,
            failure: state.failure,
        })
    }

    /// Instantiates the module with `state` and calls the export `name`,
    /// which takes and returns nothing. A `proc_exit(0)` counts as a return.
    fn call(
        &self,
        state: HostState,
        name: &str,
    ) -> Result<(HostState, Result<(), String>), JsError> {
        let linker = host::linker(&self.engine, &self.module).map_err(instantiate_error)?;
        let (state, called) = self.call_on(&linker, state, name, u64::MAX)?;
        let called = match called {
            Ok(()) => Ok(()),
            Err(error)
                if error
                    .downcast_ref::<GuestExit>()
                    .is_some_and(|exit| exit.0 == 0) =>
            {
                Ok(())
            }
            Err(error) => Err(with_stdio(&error, &state)),
        };
        Ok((state, called))
    }

    /// Instantiates the module with `linker` and `state`, and calls the
    /// export `name` with `fuel` units of fuel. Returns the state and the
    /// call's trap, if any.
    fn call_on(
        &self,
        linker: &Linker<HostState>,
        state: HostState,
        name: &str,
        fuel: u64,
    ) -> Result<(HostState, Result<(), wasmtime::Error>), JsError> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_fuel(fuel).map_err(instantiate_error)?;
        let instance = linker
            .instantiate(&mut store, &self.module)
            .map_err(instantiate_error)?;
        let called = instance
            .get_typed_func::<(), ()>(&mut store, name)
            .and_then(|function| function.call(&mut store, ()));
        Ok((store.into_data(), called))
    }
}

fn instantiate_error(error: wasmtime::Error) -> JsError {
    JsError::Wasm {
        context: "failed to instantiate the runtime",
        message: format!("{error:#}"),
    }
}

/// Formats a trap with what the guest wrote to standard output and error.
fn with_stdio(error: &wasmtime::Error, state: &HostState) -> String {
    let stdio = String::from_utf8_lossy(&state.stdio);
    if stdio.trim().is_empty() {
        format!("{error:#}")
    } else {
        format!("{error:#}; the guest wrote: {}", stdio.trim())
    }
}

/// The initialised instance, as wasmtime-wizer reads it for the snapshot.
struct Snapshotter<'a> {
    store: &'a mut Store<HostState>,
    instance: Instance,
}

impl InstanceState for Snapshotter<'_> {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        // wasmtime-wizer requests only the globals its instrumentation
        // exported, whose types it checked.
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("wasmtime-wizer requests an exported global");
        match global.get(&mut *self.store) {
            wasmtime::Val::I32(x) => SnapshotVal::I32(x),
            wasmtime::Val::I64(x) => SnapshotVal::I64(x),
            wasmtime::Val::F32(x) => SnapshotVal::F32(x),
            wasmtime::Val::F64(x) => SnapshotVal::F64(x),
            wasmtime::Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            other => panic!("global {name} has the unsupported value {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("wasmtime-wizer requests an exported memory");
        contents(memory.data(&*self.store));
    }
}

/// Runs a future that never waits. wasmtime-wizer's snapshot is `async`
/// only for embedders whose instance state is, and [`Snapshotter`] returns
/// at once.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, JsError> {
    std::fs::read(path).map_err(|source| JsError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), JsError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let io_error = |source| JsError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::write(&temporary, bytes).map_err(io_error)?;
    std::fs::rename(&temporary, path).map_err(io_error)
}

#[cfg(test)]
mod tests;
