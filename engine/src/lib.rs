//! The konnector engine: runs one konnector job in wasmtime under hard limits.
//!
//! A *konnector* is a WASI preview 1 command module that imports the
//! `konnector_v1` host API (see the `konnector-host-api` crate). A *job* is
//! one run of one konnector for one account: [`KonnectorEngine::run`] takes a
//! [`Job`] and returns a [`JobReport`] whose [`Outcome`] the caller matches.
//!
//! # The model
//!
//! * One [`KonnectorEngine`] per process holds the wasmtime `Engine` (pooling
//!   allocator, copy-on-write memory images, fuel and epoch interruption),
//!   the `Linker`, a cache of compiled modules and their `InstancePre`, and
//!   a thread that advances the epoch.
//! * Each job gets a fresh `Store`: nothing survives from one job to the
//!   next, and no two jobs share guest memory. Host functions are async on
//!   tokio, so a job waiting on its sink holds no thread.
//! * The guest's only capabilities are the host API's functions and WASI
//!   with nothing in it: no preopened directory, no environment variable, no
//!   argument but the program name, no socket. Its stdout and stderr become
//!   log lines.
//!
//! # Limits
//!
//! [`Limits`] documents every limit, its default and where it is enforced;
//! the operator's ceilings are in [`EngineConfig`]. In short: fuel stops a
//! guest that computes too long, an epoch deadline plus a tokio timeout stop
//! a job that runs past its wall-clock deadline (also while it waits in a
//! host call), a `ResourceLimiter` caps memory, tables and instances, and
//! the log and write counters cap output.
//!
//! Limitations with malicious guests: fuel is checked at loop headers and
//! function entries, so a guest overshoots its budget by at most a few
//! instructions; the epoch is checked at the same places and advances every
//! [`EngineConfig::epoch_tick_ms`], so a computing guest overshoots its
//! deadline by about one tick. Time spent inside a host call is bounded by
//! the deadline's timeout, which drops the call's future.
//!
//! # Writes
//!
//! Every document and file write is checked against the manifest's
//! permissions ([`manifest::Manifest::check`]) before it reaches the
//! [`sink::DocumentSink`]; the embedded [`store::SqliteStore`] is the default
//! sink, and [`stack::StackSink`] writes through a cozy-stack's HTTP API.

mod cache;
mod engine;
mod guest_memory;
mod hostcalls;
mod job;
mod limiter;
mod limits;
mod logs;
pub mod manifest;
mod metadata;
mod module_check;
pub mod net;
mod outcome;
pub mod sink;
mod snapshot;
pub mod stack;
pub mod store;

pub use cache::CacheSource;
pub use engine::{EngineConfig, EngineError, KonnectorEngine};
pub use hostcalls::{MAX_FILE_BYTES, MAX_REQUEST_BYTES};
pub use job::{Job, JobCode};
pub use konnector_host_api as host_api;
pub use limits::{LimitError, LimitRequest, Limits};
pub use logs::{JobLog, LineObserver, LogLine, LogSource, MAX_LINE_BYTES};
pub use module_check::{MAX_BLOCK_NESTING, MAX_MODULE_BYTES};
pub use outcome::{Counters, JobReport, Outcome, TrapKind};
pub use snapshot::{PreloadLimits, snapshot_key};
pub use stack::{StackAccount, StackConfig, StackError, StackSink, StackToken};
