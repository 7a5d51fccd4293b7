//! The guest/host ABI of the konnector engine, version 1.
//!
//! A konnector is a WASI preview 1 command module (`_start`, one exported
//! linear memory named `memory`). Besides WASI, which the engine provides with
//! nothing in it (no preopened directory, no environment variable, no socket),
//! the only functions it can import are those of the module named
//! [`IMPORT_MODULE`]. This crate defines their names, their calling
//! convention, the status codes they return and the JSON documents they carry;
//! the engine implements them and, with the `guest` feature, [`guest`] wraps
//! them for konnectors written in Rust.
//!
//! # Calling convention
//!
//! * Every pointer and length is an `i32` offset or size in the guest's
//!   memory. The host checks each `(ptr, len)` range against the memory's
//!   current size and copies the bytes out once before it looks at them; a
//!   range past the end is answered with [`Status::InvalidArgument`], never a
//!   host panic.
//! * Every function returns an `i32` [`Status`]: `0` is success, a positive
//!   value is an error the guest can handle.
//! * Functions that produce data (a JSON document, or an error message) put it
//!   in the job's single *result buffer*, replacing what was there. The guest
//!   reads its size with [`RESULT_LEN`] and copies it into memory it owns with
//!   [`RESULT_READ`]. The host never writes into guest memory on its own and
//!   never calls the guest's allocator, so guest memory is owned by the guest
//!   at all times.
//! * On an error status the result buffer holds a UTF-8 message that names
//!   the value and the rule, for example
//!   `permission denied: POST on doctype io.cozy.bills is not granted by the manifest`.
//! * Text is UTF-8; structured requests and results are JSON objects whose
//!   shapes are the types of this crate. Unknown fields are ignored so that a
//!   newer guest still runs on an older host within one major version.
//!
//! # Functions of `konnector_v1`
//!
//! | Function | Signature | Result buffer on success |
//! |---|---|---|
//! | [`RESULT_LEN`] | `() -> i32` | untouched; returns the buffer's size in bytes |
//! | [`RESULT_READ`] | `(ptr, len) -> status` | untouched; copies its first `len` bytes to `ptr` |
//! | [`JOB_INPUT`] | `() -> status` | [`JobInput`] |
//! | [`LOG`] | `(level, ptr, len) -> status` | empty; `level` is a [`LogLevel`] |
//! | [`JOB_FAIL`] | `(code_ptr, code_len, msg_ptr, msg_len) -> status` | empty |
//! | [`DOC_CREATE`] | `(ptr, len) -> status` with a [`CreateRequest`] | [`WriteResult`] |
//! | [`DOC_UPDATE`] | `(ptr, len) -> status` with an [`UpdateRequest`] | [`WriteResult`] |
//! | [`DOC_UPSERT`] | `(ptr, len) -> status` with an [`UpsertRequest`] | [`WriteResult`] |
//! | [`FILE_SAVE`] | `(meta_ptr, meta_len, data_ptr, data_len) -> status` with a [`FileRequest`] | [`WriteResult`] |
//! | [`FILE_DOWNLOAD`] | `(req_ptr, req_len, body_ptr, body_len) -> status` with a [`DownloadRequest`] | [`WriteResult`] |
//! | [`ACCOUNT_DATA_GET`] | `() -> status` | the account's saved data, a JSON object (`{}` when none) |
//! | [`ACCOUNT_DATA_SET`] | `(ptr, len) -> status` with a JSON object | empty |
//! | [`HTTP_FETCH`] | `(req_ptr, req_len, body_ptr, body_len) -> status` with a [`FetchRequest`] | [`FetchResponse`] |
//! | [`HTTP_BODY_READ`] | `(handle, max_len) -> status` | the next piece of a response body; empty at its end |
//! | [`COOKIE_LIST`] | `(url_ptr, url_len) -> status` | the job's cookies for that URL, or all of them, as a JSON array of [`Cookie`] |
//! | [`COOKIE_SET`] | `(url_ptr, url_len, text_ptr, text_len) -> status` | empty; stores a `Set-Cookie` value as if `url` had sent it |
//!
//! The HTTP functions and the network policy they obey are described in
//! the `http` module's documentation ([`HTTP_FETCH`]).
//!
//! # Ending a job
//!
//! The job succeeds when `_start` returns (or calls `proc_exit(0)`) and the
//! guest has not called [`JOB_FAIL`]. After [`JOB_FAIL`] the guest should
//! return; the job then ends with that error code whatever the exit status.
//! The first [`JOB_FAIL`] wins, and later calls return
//! [`Status::InvalidArgument`].
//!
//! # Versioning
//!
//! The import module's name carries the major version. A host that serves
//! `konnector_v1` keeps every function and field listed here; additions
//! (new functions, new optional fields) do not change the name. A module that
//! imports a function the host does not have is rejected before it runs.

pub mod artifact;
#[cfg(feature = "guest")]
pub mod guest;

mod http;
mod types;

pub use http::*;
pub use types::*;

/// Name of the import module of this ABI version.
pub const IMPORT_MODULE: &str = "konnector_v1";

/// `() -> i32`: size in bytes of the result buffer.
pub const RESULT_LEN: &str = "result_len";
/// `(ptr: i32, len: i32) -> status`: copies the first `len` bytes of the
/// result buffer to `ptr`; `len` larger than the buffer is invalid.
pub const RESULT_READ: &str = "result_read";
/// `() -> status`: puts the job's [`JobInput`] in the result buffer.
pub const JOB_INPUT: &str = "job_input";
/// `(level: i32, ptr: i32, len: i32) -> status`: appends one log line.
pub const LOG: &str = "log";
/// `(code_ptr, code_len, msg_ptr, msg_len) -> status`: ends the job with a
/// Cozy error code such as `LOGIN_FAILED` and an optional message
/// (`msg_len` 0 for none).
pub const JOB_FAIL: &str = "job_fail";
/// `(ptr, len) -> status`: creates a document from a [`CreateRequest`].
pub const DOC_CREATE: &str = "doc_create";
/// `(ptr, len) -> status`: replaces a document from an [`UpdateRequest`].
pub const DOC_UPDATE: &str = "doc_update";
/// `(ptr, len) -> status`: creates or updates the document that has the same
/// values for the request's key fields, from an [`UpsertRequest`].
pub const DOC_UPSERT: &str = "doc_upsert";
/// `(meta_ptr, meta_len, data_ptr, data_len) -> status`: saves a file's
/// contents with the [`FileRequest`] at `meta_ptr`.
pub const FILE_SAVE: &str = "file_save";
/// `(req_ptr, req_len, body_ptr, body_len) -> status`: downloads the URL of
/// the [`DownloadRequest`] at `req_ptr` (sending the request body at
/// `body_ptr`) and saves the response body as a file, without passing it
/// through the guest. The request obeys the network policy as
/// [`HTTP_FETCH`] does, and the save the rules of [`FILE_SAVE`]. A response
/// whose status is not 2xx saves nothing and returns
/// [`Status::Network`] with a message that gives the status.
pub const FILE_DOWNLOAD: &str = "file_download";
/// `() -> status`: puts the job's account data (a JSON object) in the
/// result buffer.
pub const ACCOUNT_DATA_GET: &str = "account_data_get";
/// `(ptr, len) -> status`: replaces the job's account data with the JSON
/// object at `ptr`.
pub const ACCOUNT_DATA_SET: &str = "account_data_set";

/// `(url_ptr, url_len) -> status`: puts the job's cookies in the result
/// buffer as a JSON array of [`Cookie`]: those a request to the URL would
/// send, or, with `url_len` 0, every cookie of the jar that has not
/// expired. The jar belongs to the job: it starts empty and is gone when
/// the job ends, so a konnector that keeps a session across jobs saves it
/// in its account data.
pub const COOKIE_LIST: &str = "cookie_list";
/// `(url_ptr, url_len, text_ptr, text_len) -> status`: stores the
/// `Set-Cookie` header value at `text_ptr` as if a response from the URL
/// had carried it, with the same rules (its `Domain` must match the URL's
/// host). [`Status::InvalidArgument`] for a URL that is not http or https or
/// a cookie the rules refuse, [`Status::LimitExceeded`] when the jar is
/// full.
pub const COOKIE_SET: &str = "cookie_set";

/// Import module of the shared JavaScript runtime: how it gets the job's
/// konnector, as QuickJS bytecode.
pub const JS_IMPORT_MODULE: &str = "konnector_js_v1";
/// `() -> status`: puts the job's QuickJS bytecode in the result buffer;
/// [`Status::Unsupported`] when the job is not a JavaScript konnector.
pub const JS_SCRIPT: &str = "script";
/// `() -> status`: puts the QuickJS bytecode of the konnector's dependency
/// bundle in the result buffer; [`Status::Unsupported`] when it has none.
pub const JS_DEPENDENCIES: &str = "dependencies";
/// `() -> status`: while the engine pre-initialises a konnector's
/// snapshot, puts the names of the dependencies to evaluate, a JSON array
/// of strings, in the result buffer. Jobs get [`Status::Unsupported`].
pub const JS_PRELOAD_PLAN: &str = "preload_plan";
/// `(ptr, len) -> status`: while the engine pre-initialises a konnector's
/// snapshot, names the dependency the runtime evaluates next (empty once
/// it is done), so that the engine can name the one that called the host. Jobs
/// get [`Status::Unsupported`].
pub const JS_PRELOAD_STEP: &str = "preload_step";
/// Every function of [`JS_IMPORT_MODULE`].
pub const JS_FUNCTIONS: &[&str] = &[JS_SCRIPT, JS_DEPENDENCIES, JS_PRELOAD_PLAN, JS_PRELOAD_STEP];

/// Import module the JavaScript runtime uses only while `konnector build`
/// compiles source to bytecode. The engine links each of these functions to
/// a stub that returns [`Status::Unsupported`].
pub const BUILD_IMPORT_MODULE: &str = "konnector_build_v1";
/// Functions of [`BUILD_IMPORT_MODULE`]: `source() -> status`,
/// `source_name() -> status`, `output(ptr, len) -> status` and
/// `error(ptr, len) -> status`.
pub const BUILD_FUNCTIONS: &[&str] = &["source", "source_name", "output", "error"];

/// Every function of [`IMPORT_MODULE`] that the host serves in this version.
pub const FUNCTIONS: &[&str] = &[
    RESULT_LEN,
    RESULT_READ,
    JOB_INPUT,
    LOG,
    JOB_FAIL,
    DOC_CREATE,
    DOC_UPDATE,
    DOC_UPSERT,
    FILE_SAVE,
    FILE_DOWNLOAD,
    ACCOUNT_DATA_GET,
    ACCOUNT_DATA_SET,
    HTTP_FETCH,
    HTTP_BODY_READ,
    COOKIE_LIST,
    COOKIE_SET,
];

/// Status returned by every function of the ABI except [`RESULT_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    /// The call succeeded.
    Ok = 0,
    /// A pointer range, UTF-8 text, JSON document or field value was invalid.
    InvalidArgument = 1,
    /// The manifest does not grant this doctype or verb.
    PermissionDenied = 2,
    /// The document to update does not exist.
    NotFound = 3,
    /// The document changed since the revision the guest gave.
    Conflict = 4,
    /// A per-job cap (documents, bytes, requests) is reached.
    LimitExceeded = 5,
    /// The document store failed; the write did not happen.
    Storage = 6,
    /// A network request failed or was refused by the network policy.
    Network = 7,
    /// The host does not offer this function for this job.
    Unsupported = 8,
}

impl Status {
    /// Converts a raw status; unknown values become `None`.
    pub fn from_raw(raw: i32) -> Option<Status> {
        Some(match raw {
            0 => Status::Ok,
            1 => Status::InvalidArgument,
            2 => Status::PermissionDenied,
            3 => Status::NotFound,
            4 => Status::Conflict,
            5 => Status::LimitExceeded,
            6 => Status::Storage,
            7 => Status::Network,
            8 => Status::Unsupported,
            _ => return None,
        })
    }

    /// Stable lower-case name, as used in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::InvalidArgument => "invalid_argument",
            Status::PermissionDenied => "permission_denied",
            Status::NotFound => "not_found",
            Status::Conflict => "conflict",
            Status::LimitExceeded => "limit_exceeded",
            Status::Storage => "storage",
            Status::Network => "network",
            Status::Unsupported => "unsupported",
        }
    }
}

/// Severity of a log line, as the stack's JSON log lines spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum LogLevel {
    /// Detail for the konnector's author.
    Debug = 0,
    /// Normal progress.
    Info = 1,
    /// Something unexpected that the konnector recovered from.
    Warning = 2,
    /// An error; the job may still succeed.
    Error = 3,
    /// An error that ends the job.
    Critical = 4,
}

impl LogLevel {
    /// Converts a raw level; unknown values become `None`.
    pub fn from_raw(raw: i32) -> Option<LogLevel> {
        Some(match raw {
            0 => LogLevel::Debug,
            1 => LogLevel::Info,
            2 => LogLevel::Warning,
            3 => LogLevel::Error,
            4 => LogLevel::Critical,
            _ => return None,
        })
    }

    /// Returns the `type` of the stack's JSON log line for this level.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }
}

/// The error codes the stack and cozy-home know; a konnector may report
/// others of the same shape (see [`is_valid_error_code`]).
pub const KNOWN_ERROR_CODES: &[&str] = &[
    "LOGIN_FAILED",
    "LOGIN_FAILED.NEEDS_SECRET",
    "LOGIN_FAILED.TOO_MANY_ATTEMPTS",
    "NOT_EXISTING_DIRECTORY",
    "FILE_DOWNLOAD_FAILED",
    "SAVE_FILE_FAILED",
    "DISK_QUOTA_EXCEEDED",
    "CHALLENGE_ASKED",
    "USER_ACTION_NEEDED",
    "USER_ACTION_NEEDED.OAUTH_OUTDATED",
    "USER_ACTION_NEEDED.ACCOUNT_REMOVED",
    "USER_ACTION_NEEDED.CHANGE_PASSWORD",
    "USER_ACTION_NEEDED.PERMISSIONS_CHANGED",
    "USER_ACTION_NEEDED.CGU_FORM",
    "USER_ACTION_NEEDED.SCA_REQUIRED",
    "USER_ACTION_NEEDED.TWOFA_EXPIRED",
    "USER_ACTION_NEEDED.WEBAUTH_REQUIRED",
    "USER_ACTION_NEEDED.WRONG_TWOFA_CODE",
    "CAPTCHA_RESOLUTION_FAILED",
    "MAINTENANCE",
    "TERMS_VERSION_MISMATCH",
    "UNKNOWN_ERROR",
    "UNKNOWN_ERROR.PARTIAL_SYNC",
    "VENDOR_DOWN",
    "VENDOR_DOWN.BANK_DOWN",
    "VENDOR_DOWN.LINXO_DOWN",
];

/// Maximum length in bytes of an error code given to [`JOB_FAIL`].
pub const MAX_ERROR_CODE_BYTES: usize = 128;

/// Checks whether `code` has the shape of a Cozy error code: upper-case ASCII
/// letters, digits and `_`, in dot-separated parts, starting with a letter,
/// at most [`MAX_ERROR_CODE_BYTES`] bytes.
pub fn is_valid_error_code(code: &str) -> bool {
    let starts_with_letter = code.bytes().next().is_some_and(|b| b.is_ascii_uppercase());
    starts_with_letter
        && code.len() <= MAX_ERROR_CODE_BYTES
        && code.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_shapes() {
        for code in KNOWN_ERROR_CODES {
            assert!(is_valid_error_code(code), "{code}");
        }
        for bad in [
            "",
            "login_failed",
            "LOGIN..FAILED",
            ".X",
            "X.",
            "1X",
            "A B",
            "É",
        ] {
            assert!(!is_valid_error_code(bad), "{bad:?}");
        }
        assert!(!is_valid_error_code(&"A".repeat(MAX_ERROR_CODE_BYTES + 1)));
    }

    #[test]
    fn status_round_trip() {
        for raw in 0..=8 {
            let status = Status::from_raw(raw).expect("known status");
            assert_eq!(status as i32, raw);
        }
        assert_eq!(Status::from_raw(9), None);
        assert_eq!(Status::from_raw(-1), None);
    }
}
