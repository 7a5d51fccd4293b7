//! The imports that the runtime calls itself rather than through the Rust
//! guest SDK of `konnector-host-api`: the result buffer, the job input and
//! the HTTP functions as raw bytes, the konnector's bytecode
//! (`konnector_js_v1`), the build-time functions (`konnector_build_v1`) and
//! WASI's `random_get` and `clock_time_get`.
//!
//! Every `konnector_*` function here follows the `konnector_v1` calling
//! convention: an `i32` status, and data from the host in the result buffer.

use konnector_host_api::Status;

mod raw {
    #[link(wasm_import_module = "konnector_v1")]
    unsafe extern "C" {
        pub fn result_len() -> i32;
        pub fn result_read(ptr: i32, len: i32) -> i32;
        pub fn job_input() -> i32;
        pub fn http_fetch(req_ptr: i32, req_len: i32, body_ptr: i32, body_len: i32) -> i32;
        pub fn http_body_read(handle: i32, max_len: i32) -> i32;
        pub fn file_download(req_ptr: i32, req_len: i32, body_ptr: i32, body_len: i32) -> i32;
        pub fn cookie_list(url_ptr: i32, url_len: i32) -> i32;
        pub fn cookie_set(url_ptr: i32, url_len: i32, text_ptr: i32, text_len: i32) -> i32;
    }

    #[link(wasm_import_module = "konnector_js_v1")]
    unsafe extern "C" {
        pub fn script() -> i32;
        pub fn dependencies() -> i32;
        pub fn preload_plan() -> i32;
        pub fn preload_step(ptr: i32, len: i32) -> i32;
    }

    #[link(wasm_import_module = "konnector_build_v1")]
    unsafe extern "C" {
        pub fn source() -> i32;
        pub fn source_name() -> i32;
        pub fn output(ptr: i32, len: i32) -> i32;
        pub fn error(ptr: i32, len: i32) -> i32;
    }

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    unsafe extern "C" {
        pub fn random_get(buf: i32, len: i32) -> i32;
        pub fn clock_time_get(id: i32, precision: i64, time: i32) -> i32;
    }
}

/// WASI's monotonic clock id.
const CLOCK_MONOTONIC: i32 = 1;

/// Size of the pieces a response body is read in, in bytes.
const BODY_PIECE_BYTES: i32 = 256 * 1024;

/// A host call that returned an error status.
#[derive(Debug)]
pub struct HostError {
    /// The status's name, such as `permission_denied` (see
    /// [`Status::name`]), or `unknown_status_N` for a status this runtime
    /// does not know.
    pub code: String,
    /// The host's message, which names the value and the rule.
    pub message: String,
}

/// Reads the job's input, a [`konnector_host_api::JobInput`] as JSON
/// (`konnector_v1::job_input`).
pub fn job_input() -> Result<Vec<u8>, HostError> {
    // SAFETY: the import takes no argument.
    let status = unsafe { raw::job_input() };
    call_result(status)
}

/// Sends the [`konnector_host_api::FetchRequest`] JSON `request` with
/// `body`, and returns the [`konnector_host_api::FetchResponse`] JSON
/// (`konnector_v1::http_fetch`).
pub fn http_fetch(request: &[u8], body: &[u8]) -> Result<Vec<u8>, HostError> {
    // SAFETY: the host only reads the two ranges, which are `request` and
    // `body`, both borrowed for the call.
    let status = unsafe { raw::http_fetch(ptr(request), len(request), ptr(body), len(body)) };
    call_result(status)
}

/// Downloads a URL straight into the file store
/// (`konnector_v1::file_download`), from the `DownloadRequest` JSON
/// `request` and the request body `body`, and returns the `WriteResult`
/// JSON.
pub fn file_download(request: &[u8], body: &[u8]) -> Result<Vec<u8>, HostError> {
    // SAFETY: the host only reads the two ranges, which are `request` and
    // `body`, both borrowed for the call.
    let status = unsafe { raw::file_download(ptr(request), len(request), ptr(body), len(body)) };
    call_result(status)
}

/// Returns the `Cookie` JSON array of the job's cookies for `url`, or of
/// all of them when `url` is empty (`konnector_v1::cookie_list`).
pub fn cookie_list(url: &[u8]) -> Result<Vec<u8>, HostError> {
    // SAFETY: the host only reads the range, which is `url`, borrowed for
    // the call.
    let status = unsafe { raw::cookie_list(ptr(url), len(url)) };
    call_result(status)
}

/// Stores the `Set-Cookie` value `text` as if `url` had sent it
/// (`konnector_v1::cookie_set`).
pub fn cookie_set(url: &[u8], text: &[u8]) -> Result<(), HostError> {
    // SAFETY: the host only reads the two ranges, which are `url` and
    // `text`, both borrowed for the call.
    let status = unsafe { raw::cookie_set(ptr(url), len(url), ptr(text), len(text)) };
    call_result(status).map(|_| ())
}

/// Reads the whole body of the response `handle` into `body`
/// (`konnector_v1::http_body_read` until it returns an empty piece), which
/// releases the handle in the host.
pub fn http_body_read(handle: u32, body: &mut Vec<u8>) -> Result<(), HostError> {
    loop {
        // SAFETY: the import takes no pointer. The handle is passed as the
        // host's `u32`, bit for bit.
        let status = unsafe { raw::http_body_read(handle as i32, BODY_PIECE_BYTES) };
        let piece = call_result(status)?;
        if piece.is_empty() {
            return Ok(());
        }
        body.extend_from_slice(&piece);
    }
}

/// Reads WASI's monotonic clock, in nanoseconds from an arbitrary start.
pub fn monotonic_now_ns() -> Result<u64, String> {
    let mut time: u64 = 0;
    let out = std::ptr::from_mut(&mut time) as i32;
    // SAFETY: the host writes one 8-byte timestamp at `out`, which is
    // `time`.
    let errno = unsafe { raw::clock_time_get(CLOCK_MONOTONIC, 1, out) };
    if errno == 0 {
        Ok(time)
    } else {
        Err(format!("WASI clock_time_get failed with errno {errno}"))
    }
}

/// Reads the konnector's QuickJS bytecode (`konnector_js_v1::script`).
pub fn script() -> Result<Vec<u8>, String> {
    // SAFETY: the import takes no argument.
    let status = unsafe { raw::script() };
    take_result(status, "konnector_js_v1::script")
}

/// Reads the bytecode of the konnector's dependency bundle
/// (`konnector_js_v1::dependencies`). `Ok(None)` when the konnector has
/// none, which the host reports with [`Status::Unsupported`].
pub fn dependencies() -> Result<Option<Vec<u8>>, String> {
    // SAFETY: the import takes no argument.
    let status = unsafe { raw::dependencies() };
    if status == Status::Unsupported as i32 {
        return Ok(None);
    }
    take_result(status, "konnector_js_v1::dependencies").map(Some)
}

/// Reads the names of the dependencies to evaluate ahead of time, a JSON
/// array of strings (`konnector_js_v1::preload_plan`).
pub fn preload_plan() -> Result<Vec<u8>, String> {
    // SAFETY: the import takes no argument.
    let status = unsafe { raw::preload_plan() };
    take_result(status, "konnector_js_v1::preload_plan")
}

/// Tells the host which dependency is evaluated next, or that the
/// evaluation is over with an empty name (`konnector_js_v1::preload_step`).
pub fn preload_step(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    // SAFETY: the host only reads the range, which is `name`.
    let status = unsafe { raw::preload_step(ptr(bytes), len(bytes)) };
    check(status, "konnector_js_v1::preload_step")
}

/// Reads the JavaScript source to compile (`konnector_build_v1::source`).
pub fn source() -> Result<Vec<u8>, String> {
    // SAFETY: the import takes no argument.
    let status = unsafe { raw::source() };
    take_result(status, "konnector_build_v1::source")
}

/// Reads the file name that stack traces and syntax errors give the source
/// (`konnector_build_v1::source_name`).
pub fn source_name() -> Result<String, String> {
    // SAFETY: the import takes no argument.
    let status = unsafe { raw::source_name() };
    let bytes = take_result(status, "konnector_build_v1::source_name")?;
    String::from_utf8(bytes).map_err(|_| "the source name is not UTF-8".to_owned())
}

/// Hands the compiled bytecode to the host (`konnector_build_v1::output`).
pub fn output(bytecode: &[u8]) -> Result<(), String> {
    // SAFETY: the host only reads the range, which is `bytecode`.
    let status = unsafe { raw::output(ptr(bytecode), len(bytecode)) };
    check(status, "konnector_build_v1::output")
}

/// Reports why the source does not compile (`konnector_build_v1::error`).
pub fn error(message: &str) -> Result<(), String> {
    // SAFETY: the host only reads the range, which is `message`.
    let status = unsafe { raw::error(ptr(message.as_bytes()), len(message.as_bytes())) };
    check(status, "konnector_build_v1::error")
}

/// Fills `buffer` with random bytes from WASI's `random_get`.
pub fn random_bytes(buffer: &mut [u8]) -> Result<(), String> {
    // SAFETY: the host writes at most `buffer.len()` bytes at `buffer`.
    let errno = unsafe { raw::random_get(buffer.as_mut_ptr() as i32, len(buffer)) };
    if errno == 0 {
        Ok(())
    } else {
        Err(format!("WASI random_get failed with errno {errno}"))
    }
}

/// Copies the result buffer out after a call that returned `status`, and
/// turns an error status into a message with the host's explanation.
fn take_result(status: i32, function: &str) -> Result<Vec<u8>, String> {
    call_result(status)
        .map_err(|error| format!("{function} failed ({}): {}", error.code, error.message))
}

/// Copies the result buffer out after a call that returned `status`: the
/// call's output, or the host's message of an error status.
fn call_result(status: i32) -> Result<Vec<u8>, HostError> {
    // SAFETY: the import takes no argument.
    let size = unsafe { raw::result_len() };
    let mut buffer = vec![0; usize::try_from(size).unwrap_or(0)];
    // SAFETY: the host writes `buffer.len()` bytes at `buffer`.
    let read_status = unsafe { raw::result_read(buffer.as_mut_ptr() as i32, len(&buffer)) };
    if read_status != Status::Ok as i32 {
        return Err(HostError {
            code: status_name(read_status),
            message: "failed to read the result buffer (konnector_v1::result_read)".to_owned(),
        });
    }
    if status != Status::Ok as i32 {
        return Err(HostError {
            code: status_name(status),
            message: String::from_utf8_lossy(&buffer).into_owned(),
        });
    }
    Ok(buffer)
}

fn check(status: i32, function: &str) -> Result<(), String> {
    if status == Status::Ok as i32 {
        Ok(())
    } else {
        Err(format!("{function} failed ({})", status_name(status)))
    }
}

fn status_name(status: i32) -> String {
    match Status::from_raw(status) {
        Some(status) => status.name().to_owned(),
        None => format!("unknown_status_{status}"),
    }
}

fn ptr(bytes: &[u8]) -> i32 {
    bytes.as_ptr() as i32
}

fn len(bytes: &[u8]) -> i32 {
    // Slices in a 32-bit linear memory are shorter than 2 GiB.
    bytes.len() as i32
}
