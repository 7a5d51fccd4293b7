//! One run of one konnector: the store, its limits, and the outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use konnector_host_api::JobInput;
use konnector_host_api::artifact::{self, ArtifactKind, JsDependencies};
use tracing::Instrument;
use wasmtime::{Store, Trap};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::engine::{EngineError, KonnectorEngine};
use crate::limiter::JobLimiter;
use crate::limits::{LimitRequest, Limits};
use crate::logs::{JobLog, LineObserver, LogSource};
use crate::manifest::Manifest;
use crate::net::{HttpClient, NetCounters, NetLimits, NetworkPolicy, OperatorNetConfig, Resolver};
use crate::outcome::{Counters, JobReport, Outcome, TrapKind};
use crate::sink::{DocumentSink, WriteContext};

/// Fuel a guest may burn before its fiber yields to the tokio runtime, so
/// one computing job cannot starve the others of a worker thread. About a
/// millisecond of guest code.
const FUEL_YIELD_INTERVAL: u64 = 2_000_000;

/// How long after the job's deadline the HTTP client and the sink stop
/// their work on their own; see `run_job`.
const HOST_DEADLINE_GRACE: Duration = Duration::from_millis(250);

/// Maximum length of a trap message kept in an outcome, in bytes; a guest's function
/// names appear in the backtrace and could be of any length.
const MAX_TRAP_MESSAGE_BYTES: usize = 16 * 1024;

/// Everything needed to run a job.
pub struct Job {
    /// The job's id; also given to the guest and put in every log event.
    pub id: String,
    /// The code the job runs: a module, or JavaScript bytecode for the
    /// engine's runtime.
    pub code: JobCode,
    /// The konnector's manifest; [`Manifest::unprivileged`] for a module
    /// without one.
    pub manifest: Arc<Manifest>,
    /// The job's input. `job_id` and `konnector` are filled in from `id` and
    /// the manifest.
    pub input: JobInput,
    /// Limits the job requests, checked against the engine's ceilings.
    pub limits: LimitRequest,
    /// Destination of documents and files.
    pub sink: Arc<dyn DocumentSink>,
    /// Called with each kept log line as the job runs.
    pub log_observer: Option<LineObserver>,
}

/// The code a job runs.
#[derive(Clone)]
pub enum JobCode {
    /// A WebAssembly module (binary or WAT text) that is a WASI preview 1
    /// command.
    Wasm(Arc<[u8]>),
    /// QuickJS bytecode of a JavaScript konnector, run by the engine's
    /// JavaScript runtime ([`crate::EngineConfig::js_runtime`]), which reads
    /// it through `konnector_js_v1::script`.
    JavaScript {
        /// The bytecode.
        bytecode: Arc<[u8]>,
        /// SHA-256 digest of the runtime module that compiled it; the job
        /// is refused unless it is the engine's runtime.
        runtime: [u8; 32],
        /// The konnector's bundled npm dependencies, which the runtime reads
        /// through `konnector_js_v1::dependencies`.
        dependencies: Option<Arc<JsDependencies>>,
    },
}

impl JobCode {
    /// Returns the code of an artifact (see
    /// [`konnector_host_api::artifact`]): its own bytes for a module, its
    /// bytecode for a JavaScript artifact.
    pub fn from_artifact(bytes: Arc<[u8]>, artifact: ArtifactKind) -> JobCode {
        match artifact {
            ArtifactKind::Module => JobCode::Wasm(bytes),
            ArtifactKind::JavaScript {
                bytecode,
                runtime,
                dependencies,
            } => JobCode::JavaScript {
                bytecode: Arc::from(bytecode),
                runtime,
                dependencies: dependencies.map(Arc::new),
            },
        }
    }
}

impl std::fmt::Debug for JobCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobCode::Wasm(wasm) => write!(f, "Wasm({} bytes)", wasm.len()),
            JobCode::JavaScript {
                bytecode,
                runtime,
                dependencies,
            } => write!(
                f,
                "JavaScript({} bytes and {} bytes of dependencies for runtime {})",
                bytecode.len(),
                dependencies
                    .as_ref()
                    .map_or(0, |dependencies| dependencies.bytecode.len()),
                &artifact::hex(runtime)[..16]
            ),
        }
    }
}

/// Store data of a job: WASI, the limiter and the host API's state.
pub(crate) struct JobState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limiter: JobLimiter,
    pub(crate) host: HostState,
}

/// State of the `konnector_v1` host functions for one job.
pub(crate) struct HostState {
    pub(crate) input_json: Vec<u8>,
    /// The result buffer of the ABI.
    pub(crate) result: Vec<u8>,
    /// The job's QuickJS bytecode, for a JavaScript konnector.
    pub(crate) script: Option<Arc<[u8]>>,
    /// The konnector's dependency bundle, for a JavaScript konnector that
    /// has one.
    pub(crate) dependencies: Option<Arc<JsDependencies>>,
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) sink: Arc<dyn DocumentSink>,
    pub(crate) write_context: WriteContext,
    /// Folder for files that name none: the account's `folder_path` field.
    pub(crate) default_dir_path: String,
    pub(crate) log: JobLog,
    /// The first error code the guest reported, with its message.
    pub(crate) failure: Option<(String, Option<String>)>,
    /// Writes that reached the sink, counted against `max_writes`.
    pub(crate) writes: u64,
    pub(crate) max_writes: u64,
    /// Bytes of file contents saved so far, counted against `max_file_bytes`.
    pub(crate) file_bytes: u64,
    pub(crate) max_file_bytes: u64,
    pub(crate) documents_written: u64,
    pub(crate) writes_refused: u64,
    /// The job's HTTP client, built at the first fetch so that jobs that
    /// fetch nothing do not pay for its TLS set-up.
    pub(crate) http: LazyHttp,
    /// Bodies of responses the guest has not read to the end, by handle.
    pub(crate) bodies: HashMap<u32, PendingBody>,
    pub(crate) next_body_handle: u32,
    /// The HTTP client's `max_request_body_bytes`.
    pub(crate) max_request_body_bytes: u64,
}

/// A job's HTTP client: the settings to build it, then the client itself.
pub(crate) enum LazyHttp {
    /// Not built yet; no request was sent.
    Pending(Box<HttpSetup>),
    /// Built, or the reason it could not be (a bad CA file), which every
    /// fetch then returns.
    Ready(Result<Arc<HttpClient>, String>),
}

/// Everything [`HttpClient::new`] needs.
pub(crate) struct HttpSetup {
    pub(crate) policy: NetworkPolicy,
    pub(crate) operator: Arc<OperatorNetConfig>,
    pub(crate) limits: NetLimits,
    pub(crate) deadline: Instant,
    pub(crate) resolver: Arc<dyn Resolver>,
}

impl LazyHttp {
    /// Returns the client, building it on the first call.
    pub(crate) fn client(&mut self) -> Result<Arc<HttpClient>, String> {
        if let LazyHttp::Pending(setup) = self {
            let setup = &**setup;
            let built = HttpClient::new(
                setup.policy.clone(),
                setup.operator.clone(),
                setup.limits.clone(),
                setup.deadline,
                setup.resolver.clone(),
            )
            .map(Arc::new)
            .map_err(|error| format!("the network is not available to this job: {error}"));
            *self = LazyHttp::Ready(built);
        }
        match self {
            LazyHttp::Ready(client) => client.clone(),
            LazyHttp::Pending(_) => Err("the HTTP client was not built".into()),
        }
    }

    /// Returns the client's counters; `None` when no request was sent.
    pub(crate) fn counters(&self) -> Option<NetCounters> {
        match self {
            LazyHttp::Ready(Ok(client)) => Some(client.counters()),
            LazyHttp::Ready(Err(_)) | LazyHttp::Pending(_) => None,
        }
    }
}

/// A response body waiting in the host for `http_body_read`.
pub(crate) struct PendingBody {
    pub(crate) bytes: Vec<u8>,
    /// Bytes already read.
    pub(crate) offset: usize,
}

impl KonnectorEngine {
    /// Runs a job to its end and reports how it ended.
    ///
    /// Every way a guest can fail (a trap, a limit, a refused import) is an
    /// [`Outcome`] in the report; this returns an error only when the job
    /// could not start: invalid module bytes, or limits above the ceilings.
    pub async fn run(&self, job: Job) -> Result<JobReport, EngineError> {
        let span = tracing::info_span!("job", job_id = %job.id, konnector = %job.manifest.slug);
        self.run_job(job).instrument(span).await
    }

    async fn run_job(&self, job: Job) -> Result<JobReport, EngineError> {
        let limits = Limits::default().with_requests(&job.limits, &self.config.ceiling)?;
        let (prepared, script, dependencies) = match &job.code {
            JobCode::Wasm(wasm) => (self.prepare(wasm)?, None, None),
            JobCode::JavaScript {
                bytecode,
                runtime,
                dependencies,
            } => {
                // The bytecodes are copied into the job's result buffer
                // whole, so their sizes are capped before anything runs.
                let sizes = [
                    ("bytecode", bytecode.len()),
                    (
                        "dependency bytecode",
                        dependencies
                            .as_ref()
                            .map_or(0, |found| found.bytecode.len()),
                    ),
                ];
                for (what, size) in sizes {
                    if size > artifact::MAX_BYTECODE_BYTES {
                        return Err(EngineError::InvalidModule(wasmtime::Error::msg(format!(
                            "the JavaScript {what} is {size} bytes, more than the maximum of {} bytes",
                            artifact::MAX_BYTECODE_BYTES
                        ))));
                    }
                }
                let mut prepared = self.js_runtime(runtime)?;
                if let Some(dependencies) = dependencies
                    && let Some(snapshot) = self.js_snapshot(&prepared, dependencies).await
                {
                    prepared = snapshot;
                }
                (prepared, Some(bytecode.clone()), dependencies.clone())
            }
        };
        tracing::debug!(module = %hex::encode(&prepared.digest[..8]), source = ?prepared.source, "module ready");

        let log = JobLog::new(limits.log_bytes, limits.log_lines, job.log_observer.clone());
        let mut input = job.input;
        input.job_id = job.id.clone();
        input.konnector = job.manifest.slug.clone();
        let started = Instant::now();

        // Imports are checked before anything runs, so a module asking for
        // a capability the engine does not offer never starts.
        let refusal = crate::hostcalls::check_module(&prepared.module);
        let pre = match (refusal, &prepared.pre) {
            (None, Ok(pre)) => pre.clone(),
            (refusal, linked) => {
                let outcome = refusal.unwrap_or_else(|| Outcome::PolicyRefusal {
                    rule: "import_mismatch".into(),
                    message: format!(
                        "the module's imports do not match the host API: {}",
                        linked.as_ref().err().map_or("", String::as_str)
                    ),
                });
                tracing::info!(%outcome, "job rejected before it started");
                let counters = Counters {
                    wall_time_ms: elapsed_ms(started),
                    ..Counters::default()
                };
                return Ok(JobReport {
                    job_id: job.id,
                    konnector: job.manifest.slug.clone(),
                    outcome,
                    counters,
                    logs: Vec::new(),
                });
            }
        };

        // The job's timeout ends a host call that is still waiting at the
        // deadline, and the job is DeadlinePassed. The HTTP client and the
        // sink stop their own work a little later, as a backstop, so that
        // they do not race the timeout and hand the guest an error instead.
        let backstop = started + Duration::from_millis(limits.deadline_ms) + HOST_DEADLINE_GRACE;
        let mut host = host_state(
            &input,
            &job.manifest,
            job.sink.clone(),
            log.clone(),
            &limits,
        );
        host.http = LazyHttp::Pending(Box::new(HttpSetup {
            policy: job.manifest.network.clone(),
            operator: self.config.network.clone(),
            limits: self.config.net_limits.clone(),
            deadline: backstop,
            resolver: self.config.resolver.clone(),
        }));
        host.max_request_body_bytes = self.config.net_limits.max_request_body_bytes;
        host.write_context.deadline = Some(backstop);
        host.script = script;
        host.dependencies = dependencies;
        let state = JobState {
            wasi: wasi_context(&job.manifest.slug, &log),
            limiter: JobLimiter::new(limits.memory_bytes, limits.table_elements, limits.instances),
            host,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let setup = store
            .set_fuel(limits.fuel)
            .and_then(|()| store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL)));
        if let Err(error) = setup {
            return Err(EngineError::Wasmtime(error));
        }
        // The epoch deadline stops a guest that computes; the timeout below
        // stops one that waits in a host call. One tick is added so that the
        // epoch never fires before the timeout's deadline.
        let tick_ms = self.config.epoch_tick_ms;
        store.set_epoch_deadline(limits.deadline_ms.div_ceil(tick_ms) + 1);
        store.epoch_deadline_trap();

        tracing::info!(
            fuel = limits.fuel,
            deadline_ms = limits.deadline_ms,
            memory_bytes = limits.memory_bytes,
            "job started"
        );
        let deadline = Duration::from_millis(limits.deadline_ms);
        let run = async {
            let instance = pre.instantiate_async(&mut store).await?;
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call_async(&mut store, ()).await
        };
        let result = tokio::time::timeout(deadline, run).await;
        let wall_time_ms = elapsed_ms(started);

        log.flush_streams();
        let state = store.data();
        let outcome = classify(result, state);
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data();
        let (log_lines, log_bytes_dropped, log_lines_dropped) = log.counts();
        let net = state.host.http.counters();
        let counters = Counters {
            http_requests: net.as_ref().map_or(0, |net| net.requests),
            http_refused: net.as_ref().map_or(0, |net| net.refused),
            http_bytes_received: net.as_ref().map_or(0, |net| net.bytes_received),
            fuel_used: limits.fuel.saturating_sub(fuel_left),
            peak_memory_bytes: state.limiter.peak_memory_bytes as u64,
            wall_time_ms,
            documents_written: state.host.documents_written,
            writes_refused: state.host.writes_refused,
            log_lines,
            log_bytes_dropped,
            log_lines_dropped,
        };
        tracing::info!(
            outcome = outcome.kind_name(),
            fuel_used = counters.fuel_used,
            peak_memory_bytes = counters.peak_memory_bytes,
            wall_time_ms,
            documents_written = counters.documents_written,
            "job ended"
        );
        Ok(JobReport {
            job_id: job.id,
            konnector: job.manifest.slug.clone(),
            outcome,
            counters,
            logs: log.take_lines(),
        })
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn host_state(
    input: &JobInput,
    manifest: &Arc<Manifest>,
    sink: Arc<dyn DocumentSink>,
    log: JobLog,
    limits: &Limits,
) -> HostState {
    let string_field = |name: &str| {
        input
            .fields
            .get(name)
            .and_then(|value| value.as_str())
            .map(str::to_owned)
    };
    let write_context = WriteContext {
        slug: manifest.slug.clone(),
        konnector_version: manifest.version.clone(),
        account_id: input.account.clone(),
        source_account_identifier: string_field("login")
            .or_else(|| string_field("email"))
            .or_else(|| string_field("identifier")),
        deadline: None,
    };
    HostState {
        // Serialising a struct of strings and JSON values cannot fail.
        input_json: serde_json::to_vec(input).unwrap_or_default(),
        result: Vec::new(),
        script: None,
        dependencies: None,
        manifest: manifest.clone(),
        sink,
        write_context,
        default_dir_path: string_field("folder_path").unwrap_or_else(|| "/".into()),
        log,
        failure: None,
        writes: 0,
        max_writes: limits.documents,
        file_bytes: 0,
        max_file_bytes: limits.file_bytes,
        documents_written: 0,
        writes_refused: 0,
        http: LazyHttp::Ready(Err("the network is not set up".into())),
        bodies: HashMap::new(),
        next_body_handle: 1,
        max_request_body_bytes: 0,
    }
}

/// WASI with nothing in it: no preopened directory, no environment variable,
/// no argument but the program name, no socket, stdin closed; stdout and
/// stderr go to the job's log. Clocks and random numbers are the host's.
fn wasi_context(slug: &str, log: &JobLog) -> WasiP1Ctx {
    let mut builder = wasmtime_wasi::WasiCtxBuilder::new();
    builder
        .arg(slug)
        .stdout(log.stdio(LogSource::Stdout))
        .stderr(log.stdio(LogSource::Stderr))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder.build_p1()
}

fn classify(
    result: Result<wasmtime::Result<()>, tokio::time::error::Elapsed>,
    state: &JobState,
) -> Outcome {
    let reported = || {
        state
            .host
            .failure
            .as_ref()
            .map(|(code, message)| Outcome::KonnectorError {
                code: code.clone(),
                message: message.clone(),
            })
    };
    let error = match result {
        Err(_elapsed) => return Outcome::DeadlinePassed,
        Ok(Ok(())) => {
            return match reported() {
                // A runtime such as QuickJS turns a failed allocation into an
                // exception and reports it as UNKNOWN_ERROR: after a denied
                // grow, that failure is the memory limit's.
                Some(Outcome::KonnectorError { code, .. })
                    if state.limiter.memory_denied && code == "UNKNOWN_ERROR" =>
                {
                    Outcome::MemoryLimitReached
                }
                Some(reported) => reported,
                None => Outcome::Succeeded,
            };
        }
        Ok(Err(error)) => error,
    };
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return match (exit.0, reported()) {
            (_, Some(reported)) => reported,
            (0, None) => Outcome::Succeeded,
            (status, None) => Outcome::Trap {
                trap: TrapKind::Exit(status),
                message: format!("the konnector exited with status {status}"),
            },
        };
    }
    let trap = error.downcast_ref::<Trap>().copied();
    match trap {
        Some(Trap::OutOfFuel) => return Outcome::CpuBudgetExhausted,
        Some(Trap::Interrupt) => return Outcome::DeadlinePassed,
        _ => {}
    }
    // A guest that was denied memory and then aborted failed because of it:
    // Rust's and C's allocators abort with `unreachable` on a failed grow,
    // and an initial memory above the limit fails instantiation (no trap).
    let aborted = matches!(trap, Some(Trap::UnreachableCodeReached) | None);
    if state.limiter.memory_denied && aborted {
        return Outcome::MemoryLimitReached;
    }
    if let Some(reported) = reported() {
        return reported;
    }
    let kind = match trap {
        Some(Trap::UnreachableCodeReached) => TrapKind::Unreachable,
        Some(Trap::StackOverflow) => TrapKind::StackOverflow,
        Some(Trap::MemoryOutOfBounds | Trap::HeapMisaligned) => TrapKind::MemoryOutOfBounds,
        Some(Trap::TableOutOfBounds | Trap::IndirectCallToNull) => TrapKind::TableOutOfBounds,
        Some(Trap::BadSignature) => TrapKind::BadSignature,
        Some(Trap::IntegerDivisionByZero) => TrapKind::IntegerDivisionByZero,
        Some(Trap::IntegerOverflow | Trap::BadConversionToInteger) => TrapKind::IntegerOverflow,
        Some(_) => TrapKind::Other,
        None if state.limiter.table_denied => TrapKind::TableOutOfBounds,
        None => TrapKind::Host,
    };
    let mut message = format!("{error:#}");
    if message.len() > MAX_TRAP_MESSAGE_BYTES {
        let mut end = MAX_TRAP_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(" [cut]");
    }
    Outcome::Trap {
        trap: kind,
        message,
    }
}
