//! The build-time host of the QuickJS runtime module: the imports it needs
//! for pre-initialisation, for its `compile` and `konnector.preload`
//! exports, and for test runs of `_start`, implemented in wasmtime without
//! the engine.
//!
//! It serves `konnector_v1`'s result buffer, `log` and `job_fail`, the
//! `konnector_js_v1` functions, `konnector_build_v1`, and a deterministic
//! subset of WASI preview 1. The other `konnector_v1` functions (job input,
//! documents, files, account data, HTTP) return [`Status::Unsupported`] with
//! a message. In the WASI subset clocks read a virtual time that starts at
//! 0 and that only `poll_oneoff` advances, by the time it was asked to
//! wait, so timers run at once and in order. There are no arguments,
//! environment variables or preopened folders. Standard output and error
//! are collected, and `random_get` returns a stream from a fixed seed. Any
//! other import traps when called.
//!
//! While `konnector.preload` runs, [`preload::linker`] makes every import
//! trap except the few that evaluating the dependencies needs (see
//! [`preload`]).

pub mod preload;

use konnector_host_api::{
    ACCOUNT_DATA_GET, ACCOUNT_DATA_SET, COOKIE_LIST, COOKIE_SET, DOC_CREATE, DOC_UPDATE,
    DOC_UPSERT, FILE_DOWNLOAD, FILE_SAVE, HTTP_BODY_READ, HTTP_FETCH, IMPORT_MODULE, JOB_FAIL,
    JOB_INPUT, LOG, LogLevel, RESULT_LEN, RESULT_READ, Status,
};
use wasmtime::{Caller, Engine, Linker, Module};

/// Import module of the function that hands the runtime its bytecode.
pub const JS_IMPORT_MODULE: &str = "konnector_js_v1";
/// `() -> status`: puts the konnector's QuickJS bytecode in the result
/// buffer.
pub const SCRIPT: &str = "script";
/// `() -> status`: puts the QuickJS bytecode of the konnector's dependency
/// bundle in the result buffer, [`Status::Unsupported`] when it has none.
pub const DEPENDENCIES: &str = "dependencies";
/// `() -> status`: puts the names of the dependencies to evaluate ahead of
/// time, a JSON array of strings, in the result buffer;
/// [`Status::Unsupported`] when no preload runs.
pub const PRELOAD_PLAN: &str = "preload_plan";
/// `(ptr, len) -> status`: names the dependency that `konnector.preload`
/// evaluates next, empty once it has evaluated them all.
pub const PRELOAD_STEP: &str = "preload_step";
/// Import module of the functions that `compile` uses at build time.
pub const BUILD_IMPORT_MODULE: &str = "konnector_build_v1";
/// `() -> status`: puts the JavaScript source to compile in the result
/// buffer.
pub const SOURCE: &str = "source";
/// `() -> status`: puts the source's file name, as stack traces and syntax
/// errors show it, in the result buffer.
pub const SOURCE_NAME: &str = "source_name";
/// `(ptr, len) -> status`: receives the compiled bytecode.
pub const OUTPUT: &str = "output";
/// `(ptr, len) -> status`: receives a compilation error, UTF-8 text of the
/// form `file:line:column: message`.
pub const ERROR: &str = "error";

const WASI_MODULE: &str = "wasi_snapshot_preview1";
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOTSUP: i32 = 58;

/// Size of a WASI `subscription`, in bytes.
const SUBSCRIPTION_BYTES: usize = 48;
/// Size of a WASI `event`, in bytes.
const EVENT_BYTES: usize = 32;
/// `eventtype::clock`, the tag of a clock subscription and its event.
const EVENTTYPE_CLOCK: u8 = 0;
/// `subclockflags::subscription_clock_abstime`: the timeout is a time of
/// the clock, not a duration.
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;

/// Exit of the guest through WASI's `proc_exit`, with its status.
#[derive(Debug, thiserror::Error)]
#[error("the guest exited with status {0}")]
pub struct GuestExit(pub i32);

/// State of one instance of the runtime module on the build-time host.
#[derive(Debug, Default)]
pub struct HostState {
    /// The `konnector_v1` result buffer.
    pub(super) result: Vec<u8>,
    /// State of the generator of `random_get`'s bytes.
    pub random_state: u64,
    /// The file name that `konnector_build_v1::source_name` returns.
    pub source_name: String,
    /// The source that `konnector_build_v1::source` returns.
    pub source: Vec<u8>,
    /// Bytecode passed to `konnector_build_v1::output`.
    pub output: Option<Vec<u8>>,
    /// Message passed to `konnector_build_v1::error`.
    pub error: Option<String>,
    /// The bytecode that `konnector_js_v1::script` returns; `None` makes it
    /// return [`Status::Unsupported`].
    pub script: Option<Vec<u8>>,
    /// The bytecode that `konnector_js_v1::dependencies` returns; `None`
    /// makes it return [`Status::Unsupported`].
    pub dependencies: Option<Vec<u8>>,
    /// The JSON array of names that `konnector_js_v1::preload_plan`
    /// returns; `None` makes it and `preload_step` return
    /// [`Status::Unsupported`].
    pub preload_plan: Option<Vec<u8>>,
    /// The last name passed to `konnector_js_v1::preload_step`: the
    /// dependency being evaluated, or empty once all are.
    pub preload_step: Option<String>,
    /// Caps on the instance's memories and tables.
    pub limits: wasmtime::StoreLimits,
    /// Log lines from `konnector_v1::log`.
    pub logs: Vec<(LogLevel, String)>,
    /// Error code and message of the first `konnector_v1::job_fail`.
    pub failure: Option<(String, String)>,
    /// Bytes written to standard output and error, such as a Rust panic
    /// message.
    pub stdio: Vec<u8>,
    /// Names of the WASI functions the guest called, in order, once each.
    pub wasi_calls: Vec<&'static str>,
    /// Virtual time in nanoseconds that every WASI clock reads: 0 plus the
    /// time that `poll_oneoff` waited.
    pub virtual_time_ns: u64,
}

impl HostState {
    fn note_wasi_call(&mut self, name: &'static str) {
        if !self.wasi_calls.contains(&name) {
            self.wasi_calls.push(name);
        }
    }

    fn set_result(&mut self, status: Status, bytes: impl Into<Vec<u8>>) -> i32 {
        self.result = bytes.into();
        status as i32
    }
}

/// Creates a linker with every import of `module`: the functions of this
/// host, and a trap for any other.
pub fn linker(engine: &Engine, module: &Module) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    define_konnector(&mut linker)?;
    define_unsupported(&mut linker)?;
    define_build(&mut linker)?;
    define_wasi(&mut linker)?;
    linker.define_unknown_imports_as_traps(module)?;
    Ok(linker)
}

fn define_konnector(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        RESULT_LEN,
        |caller: Caller<'_, HostState>| {
            i32::try_from(caller.data().result.len()).unwrap_or(i32::MAX)
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        RESULT_READ,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            let Ok(len) = usize::try_from(len) else {
                return Status::InvalidArgument as i32;
            };
            if len > caller.data().result.len() {
                return Status::InvalidArgument as i32;
            }
            let bytes = caller.data().result[..len].to_vec();
            match write_memory(&mut caller, ptr, &bytes) {
                Ok(()) => Status::Ok as i32,
                Err(status) => status as i32,
            }
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        LOG,
        |mut caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| {
            let Some(level) = LogLevel::from_raw(level) else {
                return caller
                    .data_mut()
                    .set_result(Status::InvalidArgument, "invalid log level");
            };
            match read_text(&mut caller, ptr, len) {
                Ok(text) => {
                    caller.data_mut().logs.push((level, text));
                    caller.data_mut().set_result(Status::Ok, [])
                }
                Err(status) => caller.data_mut().set_result(status, "invalid log line"),
            }
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        JOB_FAIL,
        |mut caller: Caller<'_, HostState>,
         code_ptr: i32,
         code_len: i32,
         message_ptr: i32,
         message_len: i32| {
            let code = read_text(&mut caller, code_ptr, code_len);
            let message = read_text(&mut caller, message_ptr, message_len);
            let (Ok(code), Ok(message)) = (code, message) else {
                return caller
                    .data_mut()
                    .set_result(Status::InvalidArgument, "invalid text");
            };
            if !konnector_host_api::is_valid_error_code(&code) {
                let message = format!("invalid error code {code:?}");
                return caller
                    .data_mut()
                    .set_result(Status::InvalidArgument, message);
            }
            if caller.data().failure.is_some() {
                let message = "the job has already failed";
                return caller
                    .data_mut()
                    .set_result(Status::InvalidArgument, message);
            }
            caller.data_mut().failure = Some((code, message));
            caller.data_mut().set_result(Status::Ok, [])
        },
    )?;
    linker.func_wrap(
        JS_IMPORT_MODULE,
        SCRIPT,
        |mut caller: Caller<'_, HostState>| {
            let state = caller.data_mut();
            match state.script.clone() {
                Some(script) => state.set_result(Status::Ok, script),
                None => state.set_result(Status::Unsupported, "no script on the build-time host"),
            }
        },
    )?;
    linker.func_wrap(
        JS_IMPORT_MODULE,
        DEPENDENCIES,
        |mut caller: Caller<'_, HostState>| {
            let state = caller.data_mut();
            match state.dependencies.clone() {
                Some(bundle) => state.set_result(Status::Ok, bundle),
                None => state.set_result(Status::Unsupported, "the konnector has no dependencies"),
            }
        },
    )?;
    linker.func_wrap(
        JS_IMPORT_MODULE,
        PRELOAD_PLAN,
        |mut caller: Caller<'_, HostState>| {
            let state = caller.data_mut();
            match state.preload_plan.clone() {
                Some(plan) => state.set_result(Status::Ok, plan),
                None => state.set_result(Status::Unsupported, "no preload runs"),
            }
        },
    )?;
    linker.func_wrap(
        JS_IMPORT_MODULE,
        PRELOAD_STEP,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            if caller.data().preload_plan.is_none() {
                return caller
                    .data_mut()
                    .set_result(Status::Unsupported, "no preload runs");
            }
            match read_text(&mut caller, ptr, len) {
                Ok(name) => {
                    caller.data_mut().preload_step = Some(name);
                    caller.data_mut().set_result(Status::Ok, [])
                }
                Err(status) => caller
                    .data_mut()
                    .set_result(status, "invalid dependency name"),
            }
        },
    )?;
    Ok(())
}

/// Defines the `konnector_v1` functions that need a job, which the
/// build-time host does not run: each returns [`Status::Unsupported`] with
/// a message that names it.
fn define_unsupported(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    fn unsupported(caller: &mut Caller<'_, HostState>, name: &str) -> i32 {
        let message = format!("konnector_v1::{name} is not available on the build-time host");
        caller.data_mut().set_result(Status::Unsupported, message)
    }

    for name in [JOB_INPUT, ACCOUNT_DATA_GET] {
        linker.func_wrap(
            IMPORT_MODULE,
            name,
            move |mut caller: Caller<'_, HostState>| unsupported(&mut caller, name),
        )?;
    }
    for name in [
        DOC_CREATE,
        DOC_UPDATE,
        DOC_UPSERT,
        ACCOUNT_DATA_SET,
        HTTP_BODY_READ,
        COOKIE_LIST,
    ] {
        linker.func_wrap(
            IMPORT_MODULE,
            name,
            move |mut caller: Caller<'_, HostState>, _: i32, _: i32| unsupported(&mut caller, name),
        )?;
    }
    for name in [FILE_SAVE, FILE_DOWNLOAD, HTTP_FETCH, COOKIE_SET] {
        linker.func_wrap(
            IMPORT_MODULE,
            name,
            move |mut caller: Caller<'_, HostState>, _: i32, _: i32, _: i32, _: i32| {
                unsupported(&mut caller, name)
            },
        )?;
    }
    Ok(())
}

fn define_build(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        BUILD_IMPORT_MODULE,
        SOURCE,
        |mut caller: Caller<'_, HostState>| {
            let state = caller.data_mut();
            let source = state.source.clone();
            state.set_result(Status::Ok, source)
        },
    )?;
    linker.func_wrap(
        BUILD_IMPORT_MODULE,
        SOURCE_NAME,
        |mut caller: Caller<'_, HostState>| {
            let state = caller.data_mut();
            let name = state.source_name.clone();
            state.set_result(Status::Ok, name)
        },
    )?;
    linker.func_wrap(
        BUILD_IMPORT_MODULE,
        OUTPUT,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| match read_memory(
            &mut caller,
            ptr,
            len,
        ) {
            Ok(bytecode) => {
                caller.data_mut().output = Some(bytecode);
                caller.data_mut().set_result(Status::Ok, [])
            }
            Err(status) => caller.data_mut().set_result(status, "invalid output range"),
        },
    )?;
    linker.func_wrap(
        BUILD_IMPORT_MODULE,
        ERROR,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| match read_text(
            &mut caller,
            ptr,
            len,
        ) {
            Ok(message) => {
                caller.data_mut().error = Some(message);
                caller.data_mut().set_result(Status::Ok, [])
            }
            Err(status) => caller
                .data_mut()
                .set_result(status, "invalid error message"),
        },
    )?;
    Ok(())
}

fn define_wasi(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        WASI_MODULE,
        "clock_time_get",
        |mut caller: Caller<'_, HostState>, _clock: i32, _precision: i64, out: i32| {
            caller.data_mut().note_wasi_call("clock_time_get");
            let now = caller.data().virtual_time_ns;
            errno(write_memory(&mut caller, out, &now.to_le_bytes()))
        },
    )?;
    linker.func_wrap(WASI_MODULE, "poll_oneoff", poll_oneoff)?;
    linker.func_wrap(
        WASI_MODULE,
        "random_get",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            caller.data_mut().note_wasi_call("random_get");
            let Ok(len) = usize::try_from(len) else {
                return ERRNO_INVAL;
            };
            let state = &mut caller.data_mut().random_state;
            let bytes: Vec<u8> = (0..len.div_ceil(8))
                .flat_map(|_| splitmix64(state).to_le_bytes())
                .take(len)
                .collect();
            errno(write_memory(&mut caller, ptr, &bytes))
        },
    )?;
    linker.func_wrap(WASI_MODULE, "fd_write", fd_write)?;
    linker.func_wrap(
        WASI_MODULE,
        "proc_exit",
        |mut caller: Caller<'_, HostState>, status: i32| -> wasmtime::Result<()> {
            caller.data_mut().note_wasi_call("proc_exit");
            Err(wasmtime::Error::new(GuestExit(status)))
        },
    )?;
    // No arguments and no environment variables: counts and sizes of 0.
    for name in ["args_sizes_get", "environ_sizes_get"] {
        linker.func_wrap(
            WASI_MODULE,
            name,
            move |mut caller: Caller<'_, HostState>, count: i32, size: i32| {
                caller.data_mut().note_wasi_call(name);
                let zero = 0u32.to_le_bytes();
                let written = write_memory(&mut caller, count, &zero)
                    .and_then(|()| write_memory(&mut caller, size, &zero));
                errno(written)
            },
        )?;
    }
    for name in ["args_get", "environ_get"] {
        linker.func_wrap(
            WASI_MODULE,
            name,
            move |mut caller: Caller<'_, HostState>, _pointers: i32, _buffer: i32| {
                caller.data_mut().note_wasi_call(name);
                ERRNO_SUCCESS
            },
        )?;
    }
    // No preopened folder: file descriptor 3 and above are not open.
    linker.func_wrap(
        WASI_MODULE,
        "fd_prestat_get",
        |mut caller: Caller<'_, HostState>, _fd: i32, _prestat: i32| {
            caller.data_mut().note_wasi_call("fd_prestat_get");
            ERRNO_BADF
        },
    )?;
    Ok(())
}

/// WASI's `fd_write` to standard output and error, which both go to
/// [`HostState::stdio`].
fn fd_write(
    mut caller: Caller<'_, HostState>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    written: i32,
) -> i32 {
    caller.data_mut().note_wasi_call("fd_write");
    if fd != 1 && fd != 2 {
        return ERRNO_BADF;
    }
    let Ok(vectors) = read_memory(&mut caller, iovs, iovs_len.saturating_mul(8)) else {
        return ERRNO_FAULT;
    };
    let mut total: u32 = 0;
    for vector in vectors.chunks_exact(8) {
        let ptr = i32::from_le_bytes([vector[0], vector[1], vector[2], vector[3]]);
        let len = i32::from_le_bytes([vector[4], vector[5], vector[6], vector[7]]);
        let Ok(bytes) = read_memory(&mut caller, ptr, len) else {
            return ERRNO_FAULT;
        };
        total = total.saturating_add(bytes.len() as u32);
        caller.data_mut().stdio.extend_from_slice(&bytes);
    }
    errno(write_memory(&mut caller, written, &total.to_le_bytes()))
}

/// WASI's `poll_oneoff` for clock subscriptions only: advances the virtual
/// time to the earliest timeout at once, and reports that subscription's
/// event. Subscriptions to file descriptors are not supported.
fn poll_oneoff(
    mut caller: Caller<'_, HostState>,
    subscriptions: i32,
    events: i32,
    count: i32,
    event_count_out: i32,
) -> i32 {
    caller.data_mut().note_wasi_call("poll_oneoff");
    let Ok(count) = usize::try_from(count) else {
        return ERRNO_INVAL;
    };
    if count == 0 {
        return ERRNO_INVAL;
    }
    let Some(size) = count
        .checked_mul(SUBSCRIPTION_BYTES)
        .and_then(|size| i32::try_from(size).ok())
    else {
        return ERRNO_INVAL;
    };
    let Ok(bytes) = read_memory(&mut caller, subscriptions, size) else {
        return ERRNO_FAULT;
    };

    // The earliest timeout, as (time it ends, userdata).
    let now = caller.data().virtual_time_ns;
    let mut earliest: Option<(u64, [u8; 8])> = None;
    for subscription in bytes.chunks_exact(SUBSCRIPTION_BYTES) {
        if subscription[8] != EVENTTYPE_CLOCK {
            return ERRNO_NOTSUP;
        }
        // The layout of `subscription`: userdata at 0, the tag at 8, then
        // `subscription_clock`'s timeout at 24 and flags at 40.
        let userdata = le_bytes::<8>(subscription, 0);
        let timeout = u64::from_le_bytes(le_bytes(subscription, 24));
        let flags = u16::from_le_bytes(le_bytes(subscription, 40));
        let ends = if flags & SUBCLOCKFLAGS_ABSTIME != 0 {
            timeout.max(now)
        } else {
            now.saturating_add(timeout)
        };
        if earliest.is_none_or(|(time, _)| ends < time) {
            earliest = Some((ends, userdata));
        }
    }
    let Some((ends, userdata)) = earliest else {
        return ERRNO_INVAL;
    };
    caller.data_mut().virtual_time_ns = ends;

    // One event with the subscription's userdata, error 0 and type clock.
    // The rest of it is zero.
    let mut event = [0u8; EVENT_BYTES];
    event[0..8].copy_from_slice(&userdata);
    event[10] = EVENTTYPE_CLOCK;
    let written = write_memory(&mut caller, events, &event)
        .and_then(|()| write_memory(&mut caller, event_count_out, &1u32.to_le_bytes()));
    errno(written)
}

/// Returns the `N` bytes at `offset` of a subscription, which the caller
/// knows to be in range.
fn le_bytes<const N: usize>(subscription: &[u8], offset: usize) -> [u8; N] {
    let mut bytes = [0; N];
    if let Some(field) = subscription.get(offset..offset + N) {
        bytes.copy_from_slice(field);
    }
    bytes
}

fn errno(result: Result<(), Status>) -> i32 {
    match result {
        Ok(()) => ERRNO_SUCCESS,
        Err(_) => ERRNO_FAULT,
    }
}

/// The splitmix64 generator, enough for a seeded stream of test bytes.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Checks `(ptr, len)` against the guest's memory and returns its byte
/// range.
fn guest_range(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> Result<(wasmtime::Memory, std::ops::Range<usize>), Status> {
    let memory = caller
        .get_export("memory")
        .and_then(|export| export.into_memory())
        .ok_or(Status::InvalidArgument)?;
    let start = u32::try_from(ptr).map_err(|_| Status::InvalidArgument)? as usize;
    let len = u32::try_from(len).map_err(|_| Status::InvalidArgument)? as usize;
    let end = start.checked_add(len).ok_or(Status::InvalidArgument)?;
    if end > memory.data_size(&caller) {
        return Err(Status::InvalidArgument);
    }
    Ok((memory, start..end))
}

fn read_memory(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<Vec<u8>, Status> {
    let (memory, range) = guest_range(caller, ptr, len)?;
    Ok(memory.data(&caller)[range].to_vec())
}

fn read_text(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> Result<String, Status> {
    let bytes = read_memory(caller, ptr, len)?;
    String::from_utf8(bytes).map_err(|_| Status::InvalidArgument)
}

fn write_memory(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> Result<(), Status> {
    let len = i32::try_from(bytes.len()).map_err(|_| Status::InvalidArgument)?;
    let (memory, range) = guest_range(caller, ptr, len)?;
    memory.data_mut(caller)[range].copy_from_slice(bytes);
    Ok(())
}
