//! The imports that the runtime needs besides the Rust guest SDK of
//! `konnector-host-api`: the result buffer, the konnector's bytecode
//! (`konnector_js_v1`), the build-time functions (`konnector_build_v1`) and
//! WASI's `random_get`.
//!
//! Every function here follows the `konnector_v1` calling convention: an
//! `i32` status, and data from the host in the result buffer.

use konnector_host_api::Status;

mod raw {
    #[link(wasm_import_module = "konnector_v1")]
    unsafe extern "C" {
        pub fn result_len() -> i32;
        pub fn result_read(ptr: i32, len: i32) -> i32;
    }

    #[link(wasm_import_module = "konnector_js_v1")]
    unsafe extern "C" {
        pub fn script() -> i32;
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
    }
}

/// Reads the konnector's QuickJS bytecode (`konnector_js_v1::script`).
pub fn script() -> Result<Vec<u8>, String> {
    // SAFETY: the import takes no argument.
    let status = unsafe { raw::script() };
    take_result(status, "konnector_js_v1::script")
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
    // SAFETY: the import takes no argument.
    let size = unsafe { raw::result_len() };
    let mut buffer = vec![0; usize::try_from(size).unwrap_or(0)];
    // SAFETY: the host writes `buffer.len()` bytes at `buffer`.
    let read_status = unsafe { raw::result_read(buffer.as_mut_ptr() as i32, len(&buffer)) };
    check(read_status, "konnector_v1::result_read")?;
    if status != Status::Ok as i32 {
        let message = String::from_utf8_lossy(&buffer);
        return Err(format!(
            "{function} failed ({}): {message}",
            status_name(status)
        ));
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
        None => format!("unknown status {status}"),
    }
}

fn ptr(bytes: &[u8]) -> i32 {
    bytes.as_ptr() as i32
}

fn len(bytes: &[u8]) -> i32 {
    // Slices in a 32-bit linear memory are shorter than 2 GiB.
    bytes.len() as i32
}
