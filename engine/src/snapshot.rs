//! Per-konnector snapshots of the JavaScript runtime.
//!
//! A JavaScript konnector's npm dependencies (its bundled packages and the
//! built-in cozy-konnector-libs) cost most of its start: cheerio alone is
//! about 200 million fuel units to evaluate. The artifact carries them
//! apart from the konnector's own code, with the list of packages that
//! `konnector build` found safe to evaluate ahead of time
//! ([`konnector_host_api::artifact::PreloadPlan`]). Before a konnector's
//! first job, the engine runs the runtime's `konnector.preload` export on
//! that bundle and snapshots the instance with wasmtime-wizer: the result
//! is a module whose memory starts with those packages evaluated. Each job
//! of the konnector then instantiates that module and evaluates only its
//! own code, under the same limits as before.
//!
//! Nothing of a job can be in a snapshot, because no job exists while it
//! is taken: preloading gets the bundle and the plan and nothing else.
//! Every other import (clocks, random bytes, the job's input, logs, the
//! network, documents) stops the preload, and so does `Math.random` inside
//! the runtime. So no value that each job should draw anew is frozen in
//! the snapshot. The runtime also reseeds `Math.random` at the start of
//! every job.
//! A preload that fails for any reason, including a plan that names a
//! package that calls the host while it loads, leaves the konnector
//! without a snapshot: its jobs evaluate every package themselves, as
//! they would have without this module.
//!
//! Snapshots are cached in memory, keyed by [`snapshot_key`]: the runtime's
//! digest, the plan and the dependency bytecode, so konnectors with the
//! same dependencies share one. With a cache folder, they are also saved on
//! disk as WebAssembly files with their digest, and the module cache keeps
//! their compiled code, keyed by that digest and the engine's settings.
//!
//! NOTE: a snapshot file read from the cache folder is trusted to be the
//! one this engine wrote. It runs sandboxed like any module, but someone
//! who can write that folder can change what a konnector's jobs start
//! with, so the folder must be writable only by the engine's user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use konnector_host_api::artifact::JsDependencies;
use konnector_host_api::{self as abi, Status};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use wasmtime::{Caller, Engine, Extern, Instance, Linker, Module, Store, Val};
use wasmtime_wasi::I32Exit;
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use crate::engine::{EngineError, KonnectorEngine, Prepared};
use crate::guest_memory;
use crate::limiter::JobLimiter;

/// The runtime's export that evaluates the dependencies ahead of time.
pub(crate) const PRELOAD_EXPORT: &str = "konnector.preload";

/// Limits of the preload that takes a konnector's snapshot, which runs
/// the konnector's dependency bundle before any of its jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreloadLimits {
    /// Fuel the preload may burn. Default 5 billion units, 25 times what
    /// cheerio, moment and the cozy-konnector-libs module take together.
    pub fuel: u64,
    /// Wall-clock time it may take, in milliseconds. Default 30,000.
    pub deadline_ms: u64,
    /// Linear memory it may use, in bytes. Default 256 MiB, the default
    /// memory limit of a job: a job starts with the snapshot's memory in
    /// use, so a job whose memory limit is below the snapshot's size fails
    /// with `memory_limit_reached` before it runs.
    pub memory_bytes: u64,
}

impl Default for PreloadLimits {
    fn default() -> Self {
        PreloadLimits {
            fuel: 5_000_000_000,
            deadline_ms: 30_000,
            memory_bytes: 256 << 20,
        }
    }
}

/// Bytes of standard output and error a preload may write that are kept
/// for the reason of a failure: 4 KiB.
const MAX_PRELOAD_OUTPUT_BYTES: usize = 4 * 1024;

/// Name of the on-disk folder of snapshots, inside the engine's cache folder.
const SNAPSHOT_DIR: &str = "js-snapshots";

/// The reason a konnector has no snapshot.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PreloadError {
    message: String,
    /// Whether a later job may try again: the preload could not get an
    /// instance slot, which a busy engine frees again.
    transient: bool,
}

impl PreloadError {
    /// Returns an error that later jobs do not retry.
    fn new(message: String) -> PreloadError {
        PreloadError {
            message,
            transient: false,
        }
    }
}

/// A snapshot being built or built: `None` inside when there is none.
type SnapshotCell = Arc<OnceCell<Option<Prepared>>>;

/// Snapshots by [`snapshot_key`]; each is built once, by the first job that
/// needs it, while later jobs wait for it.
#[derive(Default)]
pub(crate) struct Snapshots {
    entries: Mutex<HashMap<[u8; 32], SnapshotCell>>,
    /// Keys already computed, by dependency bundle still in use: hashing a
    /// 2 MB bundle takes about a millisecond, most of a warm job's start.
    keys: Mutex<Vec<KnownKey>>,
}

/// A key computed for a bundle that is still in use.
struct KnownKey {
    /// The bundle. A `Weak` keeps its allocation, so no other bundle can
    /// have the same address while this entry exists.
    dependencies: Weak<JsDependencies>,
    runtime: [u8; 32],
    key: [u8; 32],
}

impl Snapshots {
    /// Returns [`snapshot_key`] of `dependencies` on `runtime`, computed
    /// once for as long as the bundle is in use.
    fn key(&self, runtime: &[u8; 32], dependencies: &Arc<JsDependencies>) -> [u8; 32] {
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.retain(|known| known.dependencies.strong_count() > 0);
        let found = keys.iter().find(|known| {
            known.runtime == *runtime
                && std::ptr::eq(known.dependencies.as_ptr(), Arc::as_ptr(dependencies))
        });
        if let Some(known) = found {
            return known.key;
        }
        let key = snapshot_key(runtime, dependencies);
        keys.push(KnownKey {
            dependencies: Arc::downgrade(dependencies),
            runtime: *runtime,
            key,
        });
        key
    }

    fn cell(&self, key: [u8; 32]) -> SnapshotCell {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }
}

/// Returns the key of the snapshot of `dependencies` on the runtime whose
/// digest is `runtime`: what decides the snapshot's contents.
pub fn snapshot_key(runtime: &[u8; 32], dependencies: &JsDependencies) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"konnector js snapshot 1\0");
    hasher.update(runtime);
    for name in &dependencies.plan.evaluate {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
    }
    hasher.update((dependencies.plan.evaluate.len() as u64).to_le_bytes());
    hasher.update(&dependencies.bytecode);
    hasher.finalize().into()
}

impl KonnectorEngine {
    /// Returns the snapshot of the runtime with `dependencies` evaluated,
    /// and builds it at the first call. Returns `None` when the plan
    /// evaluates nothing ahead of time or the preload failed: jobs then
    /// evaluate the dependencies themselves.
    pub(crate) async fn js_snapshot(
        &self,
        runtime: &Prepared,
        dependencies: &Arc<JsDependencies>,
    ) -> Option<Prepared> {
        if dependencies.plan.evaluate.is_empty() {
            return None;
        }
        let runtime_wasm = self.config.js_runtime.clone()?;
        let key = self.snapshots.key(&runtime.digest, dependencies);
        let cell = self.snapshots.cell(key);
        let built = cell
            .get_or_try_init(|| async {
                let started = std::time::Instant::now();
                match self
                    .load_or_take_snapshot(&runtime_wasm, dependencies, &key)
                    .await
                {
                    Ok(prepared) => {
                        tracing::info!(
                            snapshot = %hex::encode(&key[..8]),
                            source = ?prepared.source,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            packages = dependencies.plan.evaluate.len(),
                            "dependency snapshot ready"
                        );
                        Ok(Some(prepared))
                    }
                    Err(error) => {
                        tracing::warn!(
                            snapshot = %hex::encode(&key[..8]),
                            %error,
                            retried = error.transient,
                            "no dependency snapshot; this job evaluates the dependencies"
                        );
                        if error.transient { Err(()) } else { Ok(None) }
                    }
                }
            })
            .await;
        built.ok().and_then(Clone::clone)
    }

    /// Makes ready what jobs of `code` start from: its compiled module, or
    /// for a JavaScript konnector with dependencies, its snapshot. A
    /// caller with a deadline of its own, such as a stack job's time limit,
    /// calls this first so that the first job's preload counts against it;
    /// [`KonnectorEngine::run`] does the same work when nothing did.
    ///
    /// # Errors
    ///
    /// As [`KonnectorEngine::run`] when the job could not start: invalid
    /// module bytes, or a JavaScript runtime missing or different.
    pub async fn prepare_code(&self, code: &crate::JobCode) -> Result<(), EngineError> {
        match code {
            crate::JobCode::Wasm(wasm) => self.prepare(wasm).map(|_| ()),
            crate::JobCode::JavaScript {
                runtime,
                dependencies,
                ..
            } => {
                let prepared = self.js_runtime(runtime)?;
                if let Some(dependencies) = dependencies {
                    self.js_snapshot(&prepared, dependencies).await;
                }
                Ok(())
            }
        }
    }

    async fn load_or_take_snapshot(
        &self,
        runtime_wasm: &[u8],
        dependencies: &JsDependencies,
        key: &[u8; 32],
    ) -> Result<Prepared, PreloadError> {
        let path = self
            .config
            .cache_dir
            .as_deref()
            .map(|dir| snapshot_path(dir, key));

        // The snapshot's digest, written beside it, finds its compiled code
        // without reading and hashing the snapshot: that was half the time
        // of a `konnector run` of a konnector with cheerio.
        if let Some(path) = &path
            && let Some(digest) = read_digest(&path.with_extension("digest"))
            && let Some(prepared) = self.prepare_compiled(&digest)
            && prepared.pre.is_ok()
        {
            return Ok(prepared);
        }
        if let Some(path) = &path
            && let Ok(wasm) = std::fs::read(path)
        {
            match self.prepare(&wasm) {
                Ok(prepared) if prepared.pre.is_ok() => {
                    // A snapshot saved without its digest gets it now.
                    let digest_path = path.with_extension("digest");
                    if read_digest(&digest_path) != Some(prepared.digest) {
                        let digest = hex::encode(prepared.digest);
                        if let Err(error) = write_atomically(&digest_path, digest.as_bytes()) {
                            tracing::warn!(path = %digest_path.display(), %error, "failed to save the snapshot's digest");
                        }
                    }
                    return Ok(prepared);
                }
                Ok(_) | Err(_) => tracing::warn!(
                    path = %path.display(),
                    "the cached snapshot does not load; taking it again"
                ),
            }
        }

        // The instrumented runtime is the same for every konnector, so its
        // compiled code comes from the module cache after the first time.
        let compile = |instrumented: &[u8]| {
            self.cache
                .get_or_compile(&self.engine, instrumented)
                .map(|(module, _, _)| module)
        };
        let wasm = take_snapshot(
            &self.engine,
            self.config.epoch_tick_ms,
            self.config.preload_limits,
            compile,
            runtime_wasm,
            dependencies,
        )
        .await?;
        let prepared = self.prepare(&wasm).map_err(|error| {
            PreloadError::new(format!("the snapshot does not compile: {error}"))
        })?;
        if let Err(error) = &prepared.pre {
            return Err(PreloadError::new(format!(
                "the snapshot does not link against the host API: {error}"
            )));
        }

        if let Some(path) = &path {
            // The snapshot goes first, so a digest file always names a
            // snapshot that is there.
            let digest = hex::encode(prepared.digest);
            let written = write_atomically(path, &wasm)
                .and_then(|()| write_atomically(&path.with_extension("digest"), digest.as_bytes()));
            if let Err(error) = written {
                tracing::warn!(path = %path.display(), %error, "failed to cache the snapshot");
            }
        }
        Ok(prepared)
    }
}

/// Reads a digest file: 64 hexadecimal digits.
fn read_digest(path: &Path) -> Option<[u8; 32]> {
    let text = std::fs::read_to_string(path).ok()?;
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

/// Path of the snapshot `key` in the cache folder `dir`.
fn snapshot_path(dir: &Path, key: &[u8; 32]) -> PathBuf {
    dir.join(SNAPSHOT_DIR)
        .join(format!("{}.wasm", hex::encode(key)))
}

/// Store data of a preload.
struct PreloadState {
    limiter: JobLimiter,
    /// The `konnector_v1` result buffer.
    result: Vec<u8>,
    dependencies: Vec<u8>,
    /// The plan's names, as the JSON array `preload_plan` returns.
    plan: Vec<u8>,
    /// The package being evaluated, from `preload_step`.
    step: String,
    /// The first import called that a preload may not use.
    refused: Option<String>,
    /// Output the runtime wrote to standard output and error.
    output: Vec<u8>,
}

/// Runs `konnector.preload` on the runtime with `dependencies` and returns
/// the snapshot, a WebAssembly module.
async fn take_snapshot(
    engine: &Engine,
    epoch_tick_ms: u64,
    limits: PreloadLimits,
    compile: impl Fn(&[u8]) -> wasmtime::Result<Module>,
    runtime_wasm: &[u8],
    dependencies: &JsDependencies,
) -> Result<Vec<u8>, PreloadError> {
    let fail = |what: &str| {
        let what = what.to_owned();
        move |error: wasmtime::Error| PreloadError::new(format!("{what}: {error:#}"))
    };
    let mut wizer = Wizer::new();
    wizer.init_func(PRELOAD_EXPORT);
    let (context, instrumented) = wizer
        .instrument(runtime_wasm)
        .map_err(fail("failed to instrument the runtime"))?;
    let module = compile(&instrumented).map_err(fail("failed to compile the runtime"))?;
    let linker = preload_linker(engine, &module).map_err(fail("failed to link the runtime"))?;

    let plan = serde_json::to_vec(&dependencies.plan.evaluate).unwrap_or_default();
    let state = PreloadState {
        limiter: JobLimiter::new(limits.memory_bytes, 100_000, 1),
        result: Vec::new(),
        dependencies: dependencies.bytecode.clone(),
        plan,
        step: String::new(),
        refused: None,
        output: Vec::new(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store
        .set_fuel(limits.fuel)
        .map_err(fail("failed to set the preload's fuel"))?;
    store.set_epoch_deadline(limits.deadline_ms.div_ceil(epoch_tick_ms.max(1)) + 1);
    store.epoch_deadline_trap();

    let instance = linker
        .instantiate_async(&mut store, &module)
        .await
        .map_err(|error| PreloadError {
            message: format!("failed to instantiate the runtime for the preload: {error:#}"),
            transient: true,
        })?;
    let run = async {
        let preload = instance.get_typed_func::<(), ()>(&mut store, PRELOAD_EXPORT)?;
        preload.call_async(&mut store, ()).await?;
        Ok::<Instance, wasmtime::Error>(instance)
    };
    let deadline = Duration::from_millis(limits.deadline_ms);
    let instance = match tokio::time::timeout(deadline, run).await {
        Ok(Ok(instance)) => instance,
        Ok(Err(error)) => return Err(explain(&error, store.data(), &limits)),
        Err(_elapsed) => {
            return Err(PreloadError::new(format!(
                "evaluating {} took more than {} ms",
                describe_step(&store.data().step),
                limits.deadline_ms
            )));
        }
    };
    let mut snapshotter = Snapshotter {
        store: &mut store,
        instance,
    };
    wizer
        .snapshot(&context, &mut snapshotter)
        .await
        .map_err(fail("failed to snapshot the runtime"))
}

/// Describes the package being evaluated.
fn describe_step(step: &str) -> String {
    if step.is_empty() {
        "the dependency bundle".to_owned()
    } else {
        format!("dependency {step:?}")
    }
}

/// Turns the preload's error into the reason there is no snapshot.
fn explain(error: &wasmtime::Error, state: &PreloadState, limits: &PreloadLimits) -> PreloadError {
    let step = describe_step(&state.step);
    let output = String::from_utf8_lossy(&state.output);
    let output = output.trim();
    if let Some(import) = &state.refused {
        return PreloadError::new(format!(
            "{step} called {import} while it was evaluated ahead of time"
        ));
    }
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return PreloadError::new(format!(
            "{step} failed to evaluate ahead of time (status {}): {output}",
            exit.0
        ));
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => {
            return PreloadError::new(format!(
                "{step} used more than {} fuel units while it was evaluated ahead of time",
                limits.fuel
            ));
        }
        Some(wasmtime::Trap::Interrupt) => {
            return PreloadError::new(format!(
                "evaluating {step} took more than {} ms",
                limits.deadline_ms
            ));
        }
        _ => {}
    }
    if state.limiter.memory_denied {
        return PreloadError::new(format!(
            "{step} needed more than {} bytes of memory while it was evaluated ahead of time",
            limits.memory_bytes
        ));
    }
    PreloadError::new(format!(
        "{step} failed to evaluate ahead of time: {error:#}{}",
        if output.is_empty() {
            String::new()
        } else {
            format!("; it wrote: {output}")
        }
    ))
}

/// Builds the linker of a preload: the result buffer, the bundle, the plan
/// and the step, the output and exit that the runtime's own rejection
/// uses, and an error for every other import of `module`.
fn preload_linker(engine: &Engine, module: &Module) -> wasmtime::Result<Linker<PreloadState>> {
    let mut linker: Linker<PreloadState> = Linker::new(engine);
    linker.func_wrap(
        abi::IMPORT_MODULE,
        abi::RESULT_LEN,
        |caller: Caller<'_, PreloadState>| -> i32 {
            i32::try_from(caller.data().result.len()).unwrap_or(i32::MAX)
        },
    )?;
    linker.func_wrap(
        abi::IMPORT_MODULE,
        abi::RESULT_READ,
        |mut caller: Caller<'_, PreloadState>, ptr: i32, len: i32| -> i32 {
            let wanted = len as u32 as usize;
            let result = std::mem::take(&mut caller.data_mut().result);
            let written = result
                .get(..wanted)
                .map(|bytes| guest_memory::write(&mut caller, ptr, bytes));
            caller.data_mut().result = result;
            match written {
                Some(Ok(())) => Status::Ok as i32,
                _ => Status::InvalidArgument as i32,
            }
        },
    )?;
    linker.func_wrap(
        abi::JS_IMPORT_MODULE,
        abi::JS_DEPENDENCIES,
        |mut caller: Caller<'_, PreloadState>| -> i32 {
            let state = caller.data_mut();
            state.result = state.dependencies.clone();
            Status::Ok as i32
        },
    )?;
    linker.func_wrap(
        abi::JS_IMPORT_MODULE,
        abi::JS_PRELOAD_PLAN,
        |mut caller: Caller<'_, PreloadState>| -> i32 {
            let state = caller.data_mut();
            state.result = state.plan.clone();
            Status::Ok as i32
        },
    )?;
    linker.func_wrap(
        abi::JS_IMPORT_MODULE,
        abi::JS_PRELOAD_STEP,
        |mut caller: Caller<'_, PreloadState>, ptr: i32, len: i32| -> i32 {
            match guest_memory::read(&mut caller, ptr, len, 4096, "package name") {
                Ok(name) => {
                    caller.data_mut().step = String::from_utf8_lossy(&name).into_owned();
                    Status::Ok as i32
                }
                Err(_) => Status::InvalidArgument as i32,
            }
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "fd_write",
        |mut caller: Caller<'_, PreloadState>,
         fd: i32,
         iovs: i32,
         iovs_len: i32,
         written: i32|
         -> i32 {
            if fd != 1 && fd != 2 {
                return ERRNO_BADF;
            }
            let Ok(vectors) = guest_memory::read(
                &mut caller,
                iovs,
                iovs_len.saturating_mul(8),
                64 * 1024,
                "iovec array",
            ) else {
                return ERRNO_FAULT;
            };
            let mut total: u32 = 0;
            for vector in vectors.chunks_exact(8) {
                let ptr = i32::from_le_bytes([vector[0], vector[1], vector[2], vector[3]]);
                let len = i32::from_le_bytes([vector[4], vector[5], vector[6], vector[7]]);
                let Ok(bytes) = guest_memory::read(&mut caller, ptr, len, usize::MAX, "output")
                else {
                    return ERRNO_FAULT;
                };
                let output = &mut caller.data_mut().output;
                let room = MAX_PRELOAD_OUTPUT_BYTES.saturating_sub(output.len());
                output.extend_from_slice(&bytes[..bytes.len().min(room)]);
                total = total.saturating_add(bytes.len() as u32);
            }
            match guest_memory::write(&mut caller, written, &total.to_le_bytes()) {
                Ok(()) => 0,
                Err(_) => ERRNO_FAULT,
            }
        },
    )?;
    linker.func_wrap(
        WASI_MODULE,
        "proc_exit",
        |_: Caller<'_, PreloadState>, status: i32| -> wasmtime::Result<()> {
            Err(I32Exit(status).into())
        },
    )?;
    let defined = [
        (abi::IMPORT_MODULE, abi::RESULT_LEN),
        (abi::IMPORT_MODULE, abi::RESULT_READ),
        (abi::JS_IMPORT_MODULE, abi::JS_DEPENDENCIES),
        (abi::JS_IMPORT_MODULE, abi::JS_PRELOAD_PLAN),
        (abi::JS_IMPORT_MODULE, abi::JS_PRELOAD_STEP),
        (WASI_MODULE, "fd_write"),
        (WASI_MODULE, "proc_exit"),
    ];
    for import in module.imports() {
        let wasmtime::ExternType::Func(ty) = import.ty() else {
            continue;
        };
        if defined.contains(&(import.module(), import.name())) {
            continue;
        }
        let name = format!("{}::{}", import.module(), import.name());
        linker.func_new(
            import.module(),
            import.name(),
            ty,
            move |mut caller: Caller<'_, PreloadState>, _, _| {
                let state = caller.data_mut();
                if state.refused.is_none() {
                    state.refused = Some(name.clone());
                }
                Err(wasmtime::Error::msg(format!(
                    "{name} is not available while dependencies are evaluated ahead of time"
                )))
            },
        )?;
    }
    Ok(linker)
}

const WASI_MODULE: &str = "wasi_snapshot_preview1";
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;

/// The instance after the preload, as wasmtime-wizer reads it.
struct Snapshotter<'a> {
    store: &'a mut Store<PreloadState>,
    instance: Instance,
}

impl InstanceState for Snapshotter<'_> {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        // wasmtime-wizer reads only the globals that its instrumentation of
        // the engine's own runtime exported, all of numeric types.
        let value = match self.instance.get_export(&mut *self.store, name) {
            Some(Extern::Global(global)) => global.get(&mut *self.store),
            _ => Val::I32(0),
        };
        match value {
            Val::I64(x) => SnapshotVal::I64(x),
            Val::F32(x) => SnapshotVal::F32(x),
            Val::F64(x) => SnapshotVal::F64(x),
            Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            Val::I32(x) => SnapshotVal::I32(x),
            _ => SnapshotVal::I32(0),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(memory) => contents(memory.data(&*self.store)),
            None => contents(&[]),
        }
    }
}

/// Writes `bytes` next to `path` and renames the file into place, so that
/// a reader never sees half a snapshot.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("snapshot");
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}
