//! The process-wide engine: one wasmtime `Engine` with the pooling
//! allocator, the module cache, the linker and the epoch ticker.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module, OptLevel,
    PoolingAllocationConfig,
};

use konnector_host_api::artifact;

use crate::cache::{CacheSource, ModuleCache};
use crate::job::JobState;
use crate::limits::Limits;
use crate::net::{NetLimits, OperatorNetConfig, Resolver, SystemResolver};
use crate::snapshot::PreloadLimits;

/// Operator settings of an engine.
#[derive(Clone)]
pub struct EngineConfig {
    /// Maximum of every limit a job may request. Default [`Limits::ceiling`].
    pub ceiling: Limits,
    /// Guest stack in bytes for every job of this engine (wasmtime fixes it
    /// per engine). Default 1 MiB, at most `ceiling.stack_bytes`.
    pub stack_bytes: u64,
    /// Jobs that may run at once: the pooling allocator reserves this many
    /// instance, memory, table and stack slots up front. Default 256. A job
    /// started when every slot is taken fails with an instantiation error.
    pub max_concurrent_jobs: u32,
    /// Folder of the on-disk cache of compiled modules; `None` keeps
    /// compiled modules in memory only. Default `None`.
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances, in milliseconds: the resolution of the
    /// wall-clock deadline for a guest that computes. Default 10.
    pub epoch_tick_ms: u64,
    /// Network settings only the operator gives: resolve and connect-to
    /// overrides, private addresses allowed, extra CA files, the stack's
    /// origins. Default: none of them.
    pub network: Arc<OperatorNetConfig>,
    /// Caps on each job's HTTP traffic. Default [`NetLimits::default`].
    pub net_limits: NetLimits,
    /// Resolver of host names for fetch. Default the system resolver.
    pub resolver: Arc<dyn Resolver>,
    /// The pre-initialised QuickJS runtime module that runs every
    /// JavaScript job ([`crate::JobCode::JavaScript`]); the engine compiles
    /// it once, when it starts. Default `None`: JavaScript jobs are refused.
    pub js_runtime: Option<Arc<[u8]>>,
    /// Limits of the preload that evaluates a JavaScript konnector's
    /// dependencies before its first job. Default [`PreloadLimits::default`].
    pub preload_limits: PreloadLimits,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("ceiling", &self.ceiling)
            .field("stack_bytes", &self.stack_bytes)
            .field("max_concurrent_jobs", &self.max_concurrent_jobs)
            .field("cache_dir", &self.cache_dir)
            .field("epoch_tick_ms", &self.epoch_tick_ms)
            .field("network", &self.network)
            .field("net_limits", &self.net_limits)
            .field(
                "js_runtime",
                &self.js_runtime.as_ref().map(|wasm| wasm.len()),
            )
            .field("preload_limits", &self.preload_limits)
            .finish_non_exhaustive()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            ceiling: Limits::ceiling(),
            stack_bytes: Limits::default().stack_bytes,
            max_concurrent_jobs: 256,
            cache_dir: None,
            epoch_tick_ms: 10,
            network: Arc::new(OperatorNetConfig::default()),
            net_limits: NetLimits::default(),
            resolver: Arc::new(SystemResolver),
            js_runtime: None,
            preload_limits: PreloadLimits::default(),
        }
    }
}

/// Error building the engine or preparing a module.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine's configuration is inconsistent.
    #[error("invalid engine configuration: {0}")]
    Config(String),
    /// wasmtime could not create the engine or the linker.
    #[error("failed to create the wasmtime engine: {0:#}")]
    Wasmtime(wasmtime::Error),
    /// The bytes are not a valid WebAssembly module (or WAT text).
    #[error("invalid WebAssembly module: {0:#}")]
    InvalidModule(wasmtime::Error),
    /// The job's limits are above the operator's ceilings.
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
    /// A JavaScript job on an engine without a JavaScript runtime.
    #[error(
        "this engine has no JavaScript runtime, so it cannot run a JavaScript konnector; configure EngineConfig::js_runtime"
    )]
    NoJsRuntime,
    /// A JavaScript job compiled by another runtime than the engine's.
    #[error(
        "the konnector's bytecode was compiled by the JavaScript runtime {artifact}, but this engine runs {engine}; rebuild the konnector with this version's `konnector build`"
    )]
    JsRuntimeMismatch {
        /// Digest prefix of the runtime the artifact names.
        artifact: String,
        /// Digest prefix of the engine's runtime.
        engine: String,
    },
}

/// A compiled module ready to instantiate.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) module: Module,
    /// The linker's error when linking failed (an import of the right name
    /// but the wrong type); the job then ends with a policy refusal.
    pub(crate) pre: Result<InstancePre<JobState>, String>,
    pub(crate) digest: [u8; 32],
    pub(crate) source: CacheSource,
}

/// The engine shared by every job of a process.
pub struct KonnectorEngine {
    pub(crate) engine: Engine,
    pub(crate) config: EngineConfig,
    linker: Linker<JobState>,
    pub(crate) cache: ModuleCache,
    prepared: Mutex<HashMap<[u8; 32], Prepared>>,
    /// The JavaScript runtime, compiled and linked when the engine started.
    js_runtime: Option<Prepared>,
    /// Snapshots of the runtime with a konnector's dependencies evaluated.
    pub(crate) snapshots: crate::snapshot::Snapshots,
    ticker_stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl KonnectorEngine {
    /// Builds the engine, its linker with WASI preview 1 and the host API,
    /// and starts the epoch ticker thread.
    ///
    /// # Errors
    ///
    /// Fails when the configuration is inconsistent (such as a stack above
    /// its ceiling) or wasmtime cannot reserve the pooling allocator's slots.
    pub fn new(config: EngineConfig) -> Result<KonnectorEngine, EngineError> {
        if config.stack_bytes > config.ceiling.stack_bytes {
            return Err(EngineError::Config(format!(
                "stack of {} bytes is above the ceiling of {} bytes",
                config.stack_bytes, config.ceiling.stack_bytes
            )));
        }
        if config.epoch_tick_ms == 0 || config.max_concurrent_jobs == 0 {
            return Err(EngineError::Config(
                "epoch_tick_ms and max_concurrent_jobs must be at least 1".into(),
            ));
        }
        let engine = Engine::new(&wasmtime_config(&config)?).map_err(EngineError::Wasmtime)?;
        let linker = crate::hostcalls::linker(&engine).map_err(EngineError::Wasmtime)?;
        let cache = ModuleCache::new(&engine, config.cache_dir.clone());

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            let tick = Duration::from_millis(config.epoch_tick_ms);
            std::thread::Builder::new()
                .name("konnector-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|error| {
                    EngineError::Config(format!("failed to start the epoch thread: {error}"))
                })?
        };

        let mut konnector_engine = KonnectorEngine {
            engine,
            config,
            linker,
            cache,
            prepared: Mutex::new(HashMap::new()),
            js_runtime: None,
            snapshots: crate::snapshot::Snapshots::default(),
            ticker_stop,
            ticker: Some(ticker),
        };
        if let Some(runtime) = konnector_engine.config.js_runtime.clone() {
            let prepared = konnector_engine.prepare(&runtime)?;
            if let Err(error) = &prepared.pre {
                return Err(EngineError::Config(format!(
                    "the JavaScript runtime does not link against the host API: {error}"
                )));
            }
            konnector_engine.js_runtime = Some(prepared);
        }
        Ok(konnector_engine)
    }

    /// Returns the SHA-256 digest of the engine's JavaScript runtime
    /// module, which JavaScript artifacts must name; `None` when the engine
    /// has none.
    pub fn js_runtime_digest(&self) -> Option<[u8; 32]> {
        self.js_runtime.as_ref().map(|runtime| runtime.digest)
    }

    /// Returns the JavaScript runtime, checked against the digest a job's
    /// bytecode names.
    pub(crate) fn js_runtime(&self, wanted: &[u8; 32]) -> Result<Prepared, EngineError> {
        let runtime = self.js_runtime.as_ref().ok_or(EngineError::NoJsRuntime)?;
        if &runtime.digest != wanted {
            return Err(EngineError::JsRuntimeMismatch {
                artifact: artifact::hex(wanted)[..16].to_owned(),
                engine: artifact::hex(&runtime.digest)[..16].to_owned(),
            });
        }
        Ok(Prepared {
            source: CacheSource::Memory,
            ..runtime.clone()
        })
    }

    /// Returns the engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Returns the module whose WebAssembly bytes have the SHA-256 `digest`,
    /// linked, when this engine or its cache folder compiled it before;
    /// `None` otherwise.
    pub(crate) fn prepare_compiled(&self, digest: &[u8; 32]) -> Option<Prepared> {
        if let Some(found) = self
            .prepared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(digest)
        {
            return Some(Prepared {
                source: CacheSource::Memory,
                ..found.clone()
            });
        }
        let (module, source) = self.cache.get_compiled(&self.engine, digest)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|error| format!("{error:#}"));
        let entry = Prepared {
            module,
            pre,
            digest: *digest,
            source,
        };
        self.prepared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(*digest, entry.clone());
        Some(entry)
    }

    /// Compiles `wasm` (binary or WAT text) once and links it once; later
    /// calls with the same bytes return the cached result.
    pub(crate) fn prepare(&self, wasm: &[u8]) -> Result<Prepared, EngineError> {
        let wasm =
            wat::parse_bytes(wasm).map_err(|error| EngineError::InvalidModule(error.into()))?;
        let (module, digest, source) = self
            .cache
            .get_or_compile(&self.engine, &wasm)
            .map_err(EngineError::InvalidModule)?;
        let mut prepared = self
            .prepared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = prepared.get(&digest) {
            return Ok(Prepared {
                source: CacheSource::Memory,
                ..found.clone()
            });
        }
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|error| format!("{error:#}"));
        let entry = Prepared {
            module,
            pre,
            digest,
            source,
        };
        prepared.insert(digest, entry.clone());
        Ok(entry)
    }
}

impl Drop for KonnectorEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

fn wasmtime_config(config: &EngineConfig) -> Result<Config, EngineError> {
    let slots = config.max_concurrent_jobs;
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        .total_stacks(slots)
        .total_component_instances(0)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .max_memory_size(usize::try_from(config.ceiling.memory_bytes).unwrap_or(usize::MAX))
        .table_elements(usize::try_from(config.ceiling.table_elements).unwrap_or(usize::MAX));

    let stack = usize::try_from(config.stack_bytes).unwrap_or(usize::MAX);
    let mut wasmtime = Config::new();
    wasmtime
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(stack)
        // Host functions run on the same fiber stack as the guest.
        .async_stack_size(stack + (2 << 20))
        .memory_init_cow(true)
        .cranelift_opt_level(OptLevel::Speed)
        // Shared memories (the threads proposal) are not compiled into this
        // wasmtime build, so guest memory never outlives the job's store.
        .wasm_component_model(false)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Ok(wasmtime)
}
