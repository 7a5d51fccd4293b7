//! The Rust guest SDK: safe wrappers over the `konnector_v1` imports.
//!
//! A konnector written in Rust is a `wasm32-wasip1` binary whose `main` hands
//! its work to [`run`]. The closure gets the job's [`JobInput`] and returns a
//! [`KonnectorError`] to end the job with a Cozy error code such as
//! `LOGIN_FAILED`. Any [`Error`] from a host call converts into a
//! `KonnectorError` with the code `UNKNOWN_ERROR`, so `?` works throughout.
//!
//! ```no_run
//! use konnector_host_api::guest::{self, KonnectorError};
//! use serde_json::json;
//!
//! fn main() {
//!     guest::run(|input| {
//!         let Some(login) = input.fields.get("login").and_then(|v| v.as_str()) else {
//!             return Err(KonnectorError::new("LOGIN_FAILED", "the login field is missing"));
//!         };
//!         guest::info(&format!("fetching the bills of {login}"));
//!
//!         let bill = json!({ "vendor": "example", "date": "2025-01-31", "amount": 12.5 });
//!         let result = guest::upsert(
//!             "io.cozy.bills",
//!             &["vendor", "date", "amount"],
//!             guest::to_object(&bill)?,
//!         )?;
//!         guest::debug(&format!("bill {} is {:?}", result.id, result.status));
//!         Ok(())
//!     });
//! }
//! ```
//!
//! Every function makes one host call and copies any result out of the host's
//! result buffer into a `Vec` the guest owns, so nothing here keeps state
//! between calls. On targets other than `wasm32` the imports do not exist:
//! the same API compiles, and every call fails with [`Status::Unsupported`]
//! (logging does nothing), so that code using it still builds and its pure
//! parts can be unit-tested on the host.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{
    Cookie, CreateRequest, DownloadRequest, FetchRequest, FetchResponse, FileRequest, JobInput,
    LogLevel, Status, UpdateRequest, UpsertRequest, WriteResult,
};

/// Error of a host call: the status the host returned and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Status returned by the host. It is [`Status::InvalidArgument`] for a
    /// request or result that this SDK could not encode or decode, and for a
    /// status from a newer host that this SDK does not know.
    pub status: Status,
    /// Description of the failed call, followed by the host's message, which
    /// names the value and the rule.
    pub message: String,
}

impl Error {
    fn new(status: Status, message: String) -> Error {
        Error { status, message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Error that ends a job: a Cozy error code and a message for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KonnectorError {
    /// Code such as `LOGIN_FAILED` or `VENDOR_DOWN`
    /// (see [`crate::KNOWN_ERROR_CODES`]).
    pub code: String,
    /// Detail for the log; may be empty.
    pub message: String,
}

impl KonnectorError {
    /// Creates an error with a code such as `LOGIN_FAILED` and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> KonnectorError {
        KonnectorError {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for KonnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for KonnectorError {}

/// A failed host call ends the job with `UNKNOWN_ERROR` and the call's
/// message.
impl From<Error> for KonnectorError {
    fn from(error: Error) -> KonnectorError {
        KonnectorError::new("UNKNOWN_ERROR", error.message)
    }
}

/// Runs a konnector: reads the job input, calls `konnector` with it, and
/// reports its error, if any, with [`fail`].
///
/// Returns normally in both cases, so `main` can simply end after it. When
/// the host rejects the error code (for example a code of the wrong shape),
/// the job is failed with `UNKNOWN_ERROR` and the same message instead.
/// Panics are not caught: on `wasm32` they abort the guest, which the engine
/// reports as a trap.
pub fn run(konnector: impl FnOnce(JobInput) -> Result<(), KonnectorError>) {
    let result = input().map_err(KonnectorError::from).and_then(konnector);
    let Err(error) = result else {
        return;
    };

    if let Err(fail_error) = fail(&error.code, &error.message) {
        log(LogLevel::Error, &fail_error.to_string());
        // The job still has to fail. This call is rejected too when the
        // konnector already called `fail` itself, and then the first code is
        // kept.
        let _ = fail("UNKNOWN_ERROR", &error.message);
    }
}

/// Reads the job's input: account fields, parameters, ids, locale.
///
/// # Errors
///
/// When the host has no input to give or sends JSON that does not match
/// [`JobInput`].
pub fn input() -> Result<JobInput, Error> {
    let context = || "failed to read the job input".to_owned();
    check(sys::job_input(), context)?;
    decode(&read_result()?, context)
}

/// Appends one line to the job's log.
///
/// A line the host does not keep (its log cap is reached, or the call is
/// unsupported) is dropped without an error, because the log is the only
/// place such an error could be reported.
pub fn log(level: LogLevel, message: &str) {
    let _ = sys::log(level as i32, message.as_bytes());
}

/// Logs a line at [`LogLevel::Debug`].
pub fn debug(message: &str) {
    log(LogLevel::Debug, message);
}

/// Logs a line at [`LogLevel::Info`].
pub fn info(message: &str) {
    log(LogLevel::Info, message);
}

/// Logs a line at [`LogLevel::Warning`].
pub fn warn(message: &str) {
    log(LogLevel::Warning, message);
}

/// Logs a line at [`LogLevel::Error`].
pub fn error(message: &str) {
    log(LogLevel::Error, message);
}

/// Ends the job with a Cozy error code such as `LOGIN_FAILED` and a message
/// (empty for none). The guest should return from `main` afterwards.
///
/// # Errors
///
/// [`Status::InvalidArgument`] when the code does not have the shape of
/// [`crate::is_valid_error_code`], or when the job already failed (the first
/// code wins).
pub fn fail(code: &str, message: &str) -> Result<(), Error> {
    let status = sys::job_fail(code.as_bytes(), message.as_bytes());
    check(status, || {
        format!("failed to end the job with error code {code}")
    })
}

/// Creates a document of `doctype`.
///
/// # Errors
///
/// When the manifest does not grant the write, a cap is reached, the body
/// is invalid (fields starting with `_`) or the store fails.
pub fn create(doctype: &str, doc: Map<String, Value>) -> Result<WriteResult, Error> {
    let request = CreateRequest {
        doctype: doctype.to_owned(),
        doc,
    };
    let context = || format!("failed to create a document in {doctype}");
    write(sys::doc_create, &request, context)
}

/// Replaces the document `id` of `doctype` with `doc`. With `rev`, the
/// update fails with [`Status::Conflict`] when the document has changed
/// since that revision.
///
/// # Errors
///
/// As [`create`], plus [`Status::NotFound`] and [`Status::Conflict`].
pub fn update(
    doctype: &str,
    id: &str,
    rev: Option<&str>,
    doc: Map<String, Value>,
) -> Result<WriteResult, Error> {
    let request = UpdateRequest {
        doctype: doctype.to_owned(),
        id: id.to_owned(),
        rev: rev.map(str::to_owned),
        doc,
    };
    let context = || format!("failed to update document {id} in {doctype}");
    write(sys::doc_update, &request, context)
}

/// Creates `doc` in `doctype`, or merges it into the document that has the
/// same values for the `keys` fields (dotted paths such as `vendorRef.id`
/// allowed). The result's status is [`crate::WriteStatus::Unchanged`] when
/// that document already had these values.
///
/// # Errors
///
/// As [`create`]; also when `keys` is empty.
pub fn upsert(doctype: &str, keys: &[&str], doc: Map<String, Value>) -> Result<WriteResult, Error> {
    let request = UpsertRequest {
        doctype: doctype.to_owned(),
        keys: keys.iter().map(|key| (*key).to_owned()).collect(),
        doc,
    };
    let context = || format!("failed to upsert a document in {doctype}");
    write(sys::doc_upsert, &request, context)
}

/// Saves a file with the given contents. The result's id is the file's
/// `io.cozy.files` id, to link it from a document as
/// `"io.cozy.files:<id>"`.
///
/// # Errors
///
/// When the manifest does not grant `io.cozy.files`, the name is invalid,
/// a cap is reached or the store fails.
pub fn save_file(file: &FileRequest, contents: &[u8]) -> Result<WriteResult, Error> {
    let context = || format!("failed to save file {}", file.name);
    let meta = encode(file, context)?;
    check(sys::file_save(&meta, contents), context)?;
    decode(&read_result()?, context)
}

/// Downloads `request` (with `body`) straight into the file store as
/// `file`: the contents never enter guest memory.
///
/// # Errors
///
/// As [`fetch`] and [`save_file`], and [`Status::Network`] when the response
/// status is not 2xx.
pub fn download_file(
    request: &FetchRequest,
    body: &[u8],
    file: &FileRequest,
) -> Result<WriteResult, Error> {
    download(request, body, file, false)
}

/// Downloads `request` into the file store as `file`, as
/// [`download_file`] does, unless a file of that name is already in the
/// folder: then nothing is sent, and the result is that file, unchanged.
///
/// # Errors
///
/// As [`download_file`].
pub fn download_file_once(
    request: &FetchRequest,
    body: &[u8],
    file: &FileRequest,
) -> Result<WriteResult, Error> {
    download(request, body, file, true)
}

/// Sends a `file_download` with `keep_existing`.
fn download(
    request: &FetchRequest,
    body: &[u8],
    file: &FileRequest,
    keep_existing: bool,
) -> Result<WriteResult, Error> {
    let context = || format!("failed to download {} as file {}", request.url, file.name);
    let download = DownloadRequest {
        request: request.clone(),
        file: file.clone(),
        keep_existing,
    };
    let encoded = encode(&download, context)?;
    check(sys::file_download(&encoded, body), context)?;
    decode(&read_result()?, context)
}

/// Returns the job's cookies that a request to `url` would carry, or every
/// cookie of the job's jar when `url` is `None`.
///
/// # Errors
///
/// [`Status::InvalidArgument`] when `url` is not an http or https URL.
pub fn cookies(url: Option<&str>) -> Result<Vec<Cookie>, Error> {
    let context = || match url {
        Some(url) => format!("failed to list the cookies of {url}"),
        None => "failed to list the cookies".to_owned(),
    };
    check(sys::cookie_list(url.unwrap_or("").as_bytes()), context)?;
    decode(&read_result()?, context)
}

/// Stores the `Set-Cookie` value `text` in the job's jar as if a response
/// from `url` had carried it.
///
/// # Errors
///
/// [`Status::InvalidArgument`] when the URL or the cookie is invalid,
/// [`Status::LimitExceeded`] when the jar is full.
pub fn set_cookie(url: &str, text: &str) -> Result<(), Error> {
    let context = || format!("failed to set a cookie for {url}");
    check(sys::cookie_set(url.as_bytes(), text.as_bytes()), context)
}

/// Reads the data the konnector saved for this account with
/// [`set_account_data`] (an empty object when none).
///
/// # Errors
///
/// When the job has no account or the store fails.
pub fn account_data() -> Result<Map<String, Value>, Error> {
    let context = || "failed to read the account data".to_owned();
    check(sys::account_data_get(), context)?;
    decode(&read_result()?, context)
}

/// Replaces the data saved for this account, such as the date of the last
/// synchronisation.
///
/// # Errors
///
/// When the job has no account, the object is too large or the store fails.
pub fn set_account_data(data: &Map<String, Value>) -> Result<(), Error> {
    let context = || "failed to save the account data".to_owned();
    let body = encode(data, context)?;
    check(sys::account_data_set(&body), context)
}

/// A response read to the end: what [`fetch`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status of the last hop (4xx and 5xx included).
    pub status: u16,
    /// URL of the last hop, after the redirects the host followed.
    pub url: String,
    /// Response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// Returns the value of the first header named `name` (compared ignoring case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Returns the body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Size of the pieces [`fetch`] reads a body in.
const BODY_PIECE_BYTES: i32 = 256 * 1024;

/// Sends an HTTP request through the host and reads the whole response.
///
/// The host checks the URL and every redirect against the konnector's
/// network policy, follows redirects, keeps the job's cookies and decodes
/// compressed bodies.
///
/// # Errors
///
/// [`Status::Network`] when the policy refused the request or the vendor
/// could not be reached, [`Status::InvalidArgument`] for a malformed request,
/// [`Status::LimitExceeded`] when a per-job cap stopped it. The message names
/// the URL and the rule.
pub fn fetch(request: &FetchRequest, body: &[u8]) -> Result<Response, Error> {
    let context = || format!("failed to fetch {}", request.url);
    let encoded = encode(request, context)?;
    check(sys::http_fetch(&encoded, body), context)?;
    let head: FetchResponse = decode(&read_result()?, context)?;
    let mut bytes = Vec::with_capacity(usize::try_from(head.body_size).unwrap_or(0));
    loop {
        check(
            sys::http_body_read(head.body_handle, BODY_PIECE_BYTES),
            context,
        )?;
        let piece = read_result()?;
        if piece.is_empty() {
            break;
        }
        bytes.extend_from_slice(&piece);
    }
    Ok(Response {
        status: head.status,
        url: head.url,
        headers: head.headers,
        body: bytes,
    })
}

/// Converts a value (a `serde_json::json!` object or a `Serialize` struct)
/// into the JSON object that [`create`], [`update`] and [`upsert`] take.
///
/// # Errors
///
/// [`Status::InvalidArgument`] when the value does not serialize to a JSON
/// object.
pub fn to_object(value: &impl Serialize) -> Result<Map<String, Value>, Error> {
    let invalid = |reason: String| {
        let message = format!("failed to convert a value into a document: {reason}");
        Error::new(Status::InvalidArgument, message)
    };
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(invalid(format!("expected a JSON object, got {other}"))),
        Err(error) => Err(invalid(error.to_string())),
    }
}

/// Sends one write request and decodes its [`WriteResult`].
fn write(
    call: fn(&[u8]) -> i32,
    request: &impl Serialize,
    context: impl Fn() -> String,
) -> Result<WriteResult, Error> {
    let body = encode(request, &context)?;
    check(call(&body), &context)?;
    decode(&read_result()?, &context)
}

/// Turns a raw status into a result; on an error status the host's message
/// is read from the result buffer and put after `context`.
fn check(raw: i32, context: impl Fn() -> String) -> Result<(), Error> {
    if raw == Status::Ok as i32 {
        return Ok(());
    }
    let host_message = match read_result() {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => error.message,
    };
    let (status, cause) = match Status::from_raw(raw) {
        Some(status) if host_message.is_empty() => (status, status.name().to_owned()),
        Some(status) => (status, host_message),
        // A newer host may return a status this SDK does not know.
        None => (
            Status::InvalidArgument,
            format!("unknown status {raw}: {host_message}"),
        ),
    };
    Err(Error::new(status, format!("{}: {cause}", context())))
}

/// Copies the result buffer into a new `Vec`.
fn read_result() -> Result<Vec<u8>, Error> {
    let len = sys::result_len();
    let Ok(size) = usize::try_from(len) else {
        let message = format!("failed to read the result buffer: invalid size {len}");
        return Err(Error::new(Status::InvalidArgument, message));
    };
    let mut buffer = vec![0; size];
    if size > 0 {
        let raw = sys::result_read(&mut buffer);
        if raw != Status::Ok as i32 {
            // The buffer now contains the error message of `result_read` itself.
            // Reading it would call `result_read` again, so it is left there.
            let status = Status::from_raw(raw).unwrap_or(Status::InvalidArgument);
            let message = format!("failed to read the result buffer: status {raw}");
            return Err(Error::new(status, message));
        }
    }
    Ok(buffer)
}

fn encode(value: &impl Serialize, context: impl Fn() -> String) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|error| {
        let message = format!("{}: failed to encode the request: {error}", context());
        Error::new(Status::InvalidArgument, message)
    })
}

fn decode<T: DeserializeOwned>(bytes: &[u8], context: impl Fn() -> String) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|error| {
        let message = format!("{}: invalid result from the host: {error}", context());
        Error::new(Status::InvalidArgument, message)
    })
}

/// The `konnector_v1` imports behind slice-based functions, so that each
/// pointer and length pair comes from one live slice.
#[cfg(target_arch = "wasm32")]
mod sys {
    mod imports {
        #[link(wasm_import_module = "konnector_v1")]
        unsafe extern "C" {
            pub fn result_len() -> i32;
            pub fn result_read(ptr: i32, len: i32) -> i32;
            pub fn job_input() -> i32;
            pub fn log(level: i32, ptr: i32, len: i32) -> i32;
            pub fn job_fail(code_ptr: i32, code_len: i32, msg_ptr: i32, msg_len: i32) -> i32;
            pub fn doc_create(ptr: i32, len: i32) -> i32;
            pub fn doc_update(ptr: i32, len: i32) -> i32;
            pub fn doc_upsert(ptr: i32, len: i32) -> i32;
            pub fn file_save(meta_ptr: i32, meta_len: i32, data_ptr: i32, data_len: i32) -> i32;
            pub fn file_download(req_ptr: i32, req_len: i32, body_ptr: i32, body_len: i32) -> i32;
            pub fn account_data_get() -> i32;
            pub fn account_data_set(ptr: i32, len: i32) -> i32;
            pub fn http_fetch(req_ptr: i32, req_len: i32, body_ptr: i32, body_len: i32) -> i32;
            pub fn http_body_read(handle: i32, max_len: i32) -> i32;
            pub fn cookie_list(url_ptr: i32, url_len: i32) -> i32;
            pub fn cookie_set(url_ptr: i32, url_len: i32, text_ptr: i32, text_len: i32) -> i32;
        }
    }

    // On wasm32, addresses and sizes are 32 bits wide, so these casts keep
    // every bit; the host reads the `i32` back as an unsigned offset.
    fn ptr(bytes: &[u8]) -> i32 {
        bytes.as_ptr() as usize as i32
    }

    fn len(bytes: &[u8]) -> i32 {
        bytes.len() as i32
    }

    pub fn result_len() -> i32 {
        // SAFETY: takes no pointer and only reads host state.
        unsafe { imports::result_len() }
    }

    pub fn result_read(buffer: &mut [u8]) -> i32 {
        let ptr = buffer.as_mut_ptr() as usize as i32;
        // SAFETY: the host writes at most `buffer.len()` bytes at `ptr`,
        // which is exactly the memory `buffer` owns and borrows mutably for
        // the duration of the call.
        unsafe { imports::result_read(ptr, len(buffer)) }
    }

    pub fn job_input() -> i32 {
        // SAFETY: takes no pointer; the host only fills its result buffer.
        unsafe { imports::job_input() }
    }

    pub fn log(level: i32, message: &[u8]) -> i32 {
        // SAFETY: the host only reads `message`, which stays borrowed and
        // valid for the duration of the call.
        unsafe { imports::log(level, ptr(message), len(message)) }
    }

    pub fn job_fail(code: &[u8], message: &[u8]) -> i32 {
        // SAFETY: the host only reads `code` and `message`, both borrowed
        // for the duration of the call.
        unsafe { imports::job_fail(ptr(code), len(code), ptr(message), len(message)) }
    }

    pub fn doc_create(request: &[u8]) -> i32 {
        // SAFETY: the host only reads `request`, borrowed for the call.
        unsafe { imports::doc_create(ptr(request), len(request)) }
    }

    pub fn doc_update(request: &[u8]) -> i32 {
        // SAFETY: the host only reads `request`, borrowed for the call.
        unsafe { imports::doc_update(ptr(request), len(request)) }
    }

    pub fn doc_upsert(request: &[u8]) -> i32 {
        // SAFETY: the host only reads `request`, borrowed for the call.
        unsafe { imports::doc_upsert(ptr(request), len(request)) }
    }

    pub fn file_save(meta: &[u8], contents: &[u8]) -> i32 {
        // SAFETY: the host only reads `meta` and `contents`, both borrowed
        // for the duration of the call.
        unsafe { imports::file_save(ptr(meta), len(meta), ptr(contents), len(contents)) }
    }

    pub fn file_download(request: &[u8], body: &[u8]) -> i32 {
        // SAFETY: the host only reads `request` and `body`, both borrowed
        // for the call.
        unsafe { imports::file_download(ptr(request), len(request), ptr(body), len(body)) }
    }

    pub fn account_data_get() -> i32 {
        // SAFETY: takes no pointer; the host only fills its result buffer.
        unsafe { imports::account_data_get() }
    }

    pub fn account_data_set(data: &[u8]) -> i32 {
        // SAFETY: the host only reads `data`, borrowed for the call.
        unsafe { imports::account_data_set(ptr(data), len(data)) }
    }

    pub fn http_fetch(request: &[u8], body: &[u8]) -> i32 {
        // SAFETY: the host only reads `request` and `body`, both borrowed
        // for the call.
        unsafe { imports::http_fetch(ptr(request), len(request), ptr(body), len(body)) }
    }

    pub fn http_body_read(handle: u32, max_len: i32) -> i32 {
        // SAFETY: takes no pointer; the host only fills its result buffer.
        unsafe { imports::http_body_read(handle as i32, max_len) }
    }

    pub fn cookie_list(url: &[u8]) -> i32 {
        // SAFETY: the host only reads `url`, borrowed for the call.
        unsafe { imports::cookie_list(ptr(url), len(url)) }
    }

    pub fn cookie_set(url: &[u8], text: &[u8]) -> i32 {
        // SAFETY: the host only reads `url` and `text`, both borrowed for
        // the call.
        unsafe { imports::cookie_set(ptr(url), len(url), ptr(text), len(text)) }
    }
}

/// Stand-ins for the imports on targets that cannot have them: every call
/// fails with [`Status::Unsupported`] and the result buffer contains a message
/// that explains why.
#[cfg(not(target_arch = "wasm32"))]
mod sys {
    use crate::Status;

    const MESSAGE: &[u8] = b"the konnector_v1 host functions exist only on wasm32 targets";
    const UNSUPPORTED: i32 = Status::Unsupported as i32;

    pub fn result_len() -> i32 {
        MESSAGE.len() as i32
    }

    pub fn result_read(buffer: &mut [u8]) -> i32 {
        match MESSAGE.get(..buffer.len()) {
            Some(bytes) => {
                buffer.copy_from_slice(bytes);
                Status::Ok as i32
            }
            None => Status::InvalidArgument as i32,
        }
    }

    pub fn job_input() -> i32 {
        UNSUPPORTED
    }

    pub fn log(_level: i32, _message: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn job_fail(_code: &[u8], _message: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn doc_create(_request: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn doc_update(_request: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn doc_upsert(_request: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn file_save(_meta: &[u8], _contents: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn file_download(_request: &[u8], _body: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn account_data_get() -> i32 {
        UNSUPPORTED
    }

    pub fn account_data_set(_data: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn http_fetch(_request: &[u8], _body: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn http_body_read(_handle: u32, _max_len: i32) -> i32 {
        UNSUPPORTED
    }

    pub fn cookie_list(_url: &[u8]) -> i32 {
        UNSUPPORTED
    }

    pub fn cookie_set(_url: &[u8], _text: &[u8]) -> i32 {
        UNSUPPORTED
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_calls_unsupported_off_wasm() {
        let error = input().expect_err("no host off wasm32");
        assert_eq!(error.status, Status::Unsupported);
        assert_eq!(
            error.message,
            "failed to read the job input: \
             the konnector_v1 host functions exist only on wasm32 targets"
        );

        let error = upsert("io.cozy.bills", &["vendor"], Map::new()).expect_err("no host");
        assert_eq!(error.status, Status::Unsupported);
        assert!(
            error
                .message
                .starts_with("failed to upsert a document in io.cozy.bills: ")
        );

        let file = FileRequest {
            name: "bill.pdf".to_owned(),
            dir_path: None,
            content_type: None,
            metadata: Map::new(),
        };
        let error = save_file(&file, b"%PDF").expect_err("no host");
        assert!(error.message.starts_with("failed to save file bill.pdf: "));
    }

    #[test]
    fn run_returns_after_failed_input() {
        let mut called = false;
        run(|_| {
            called = true;
            Ok(())
        });
        assert!(!called, "the konnector must not run without its input");
    }

    #[test]
    fn host_error_becomes_unknown_error() {
        let error = Error::new(
            Status::Storage,
            "failed to save file a.pdf: disk".to_owned(),
        );
        let konnector_error = KonnectorError::from(error);
        assert_eq!(konnector_error.code, "UNKNOWN_ERROR");
        assert_eq!(konnector_error.message, "failed to save file a.pdf: disk");
        assert_eq!(
            konnector_error.to_string(),
            "UNKNOWN_ERROR: failed to save file a.pdf: disk"
        );
    }

    #[test]
    fn konnector_error_display() {
        assert_eq!(
            KonnectorError::new("LOGIN_FAILED", "").to_string(),
            "LOGIN_FAILED"
        );
        assert_eq!(
            KonnectorError::new("VENDOR_DOWN", "HTTP 503").to_string(),
            "VENDOR_DOWN: HTTP 503"
        );
    }

    #[test]
    fn to_object_accepts_only_objects() {
        let object = to_object(&json!({ "amount": 12.5 })).expect("an object");
        assert_eq!(object.get("amount"), Some(&json!(12.5)));

        let error = to_object(&json!([1, 2])).expect_err("an array is no document");
        assert_eq!(error.status, Status::InvalidArgument);
        assert_eq!(
            error.message,
            "failed to convert a value into a document: expected a JSON object, got [1,2]"
        );
    }
}
