//! The `konnector_v1` host functions, and the import check that runs before
//! a module is instantiated.
//!
//! Each function copies its arguments out of guest memory once
//! ([`crate::guest_memory`]), decides, and returns a [`Status`] with the
//! result buffer. A malformed argument is [`Status::InvalidArgument`] with a
//! message; nothing a guest passes can make a host function panic.

mod cookies;

use std::sync::Arc;

use konnector_host_api::{
    self as abi, CreateRequest, FileRequest, LogLevel, Status, UpdateRequest, UpsertRequest,
    WriteResult, WriteStatus,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wasmtime::{Caller, Engine, ExternType, Linker, Module};

use crate::guest_memory::{self, MemoryError};
use crate::job::{HostState, JobState, PendingBody};
use crate::logs::{LogSource, MAX_LINE_BYTES};
use crate::manifest::Verb;
use crate::net::FetchRequest;
use crate::outcome::Outcome;
use crate::sink::{FileWrite, SinkError};

/// Largest JSON request a guest may pass, in bytes.
pub const MAX_REQUEST_BYTES: usize = 2 << 20;
/// Largest file a guest may save in one call, in bytes.
pub const MAX_FILE_BYTES: usize = 256 << 20;
/// Maximum length of the message kept from `job_fail`, in bytes.
const MAX_FAILURE_MESSAGE_BYTES: usize = 4000;

/// WASI preview 1's import module.
const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Doctypes a konnector may not write through the document functions, and
/// why: account data has its own functions limited to the job's account,
/// and files must go through `file_save` so their contents and documents
/// stay consistent.
const RESERVED_DOCTYPES: &[(&str, &str)] = &[
    (
        "io.cozy.accounts",
        "use account_data_set for the job's own account",
    ),
    ("io.cozy.files", "use file_save to write files"),
];

type CallResult = wasmtime::Result<i32>;

/// The Cozy error code of a job whose write found the destination full.
const DISK_QUOTA_EXCEEDED: &str = "DISK_QUOTA_EXCEEDED";

/// An error returned to the guest: a status and a message.
struct Refusal(Status, String);

impl From<MemoryError> for Refusal {
    fn from(error: MemoryError) -> Self {
        Refusal(Status::InvalidArgument, error.to_string())
    }
}

impl From<SinkError> for Refusal {
    fn from(error: SinkError) -> Self {
        let status = match &error {
            SinkError::NotFound { .. } => Status::NotFound,
            SinkError::Conflict { .. } => Status::Conflict,
            SinkError::Invalid(_) => Status::InvalidArgument,
            SinkError::QuotaExceeded(_) => Status::LimitExceeded,
            SinkError::Storage(detail) => {
                // The detail names host paths and database errors: it is for
                // the operator, not for the konnector.
                // Debug formatting escapes control characters, since the
                // detail can contain guest text such as folder names.
                tracing::warn!(error = ?detail, "store write failed");
                return Refusal(Status::Storage, "the store failed to write; nothing was written, and the engine's log has the details".into());
            }
        };
        Refusal(status, error.to_string())
    }
}

/// Stores the outcome of a call in the result buffer and returns its status.
fn answer(host: &mut HostState, result: Result<Vec<u8>, Refusal>) -> i32 {
    match result {
        Ok(bytes) => {
            host.result = bytes;
            Status::Ok as i32
        }
        Err(Refusal(status, message)) => {
            tracing::debug!(status = status.name(), %message, "host call rejected");
            host.result = message.into_bytes();
            status as i32
        }
    }
}

/// Builds the linker every job is instantiated with: WASI preview 1 and
/// `konnector_v1`.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<JobState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut JobState| &mut state.wasi)?;
    let module = abi::IMPORT_MODULE;

    linker.func_wrap(
        module,
        abi::RESULT_LEN,
        |caller: Caller<'_, JobState>| -> i32 {
            i32::try_from(caller.data().host.result.len()).unwrap_or(i32::MAX)
        },
    )?;
    linker.func_wrap(module, abi::RESULT_READ, result_read)?;
    linker.func_wrap(
        module,
        abi::JOB_INPUT,
        |mut caller: Caller<'_, JobState>| -> i32 {
            let host = &mut caller.data_mut().host;
            let input = host.input_json.clone();
            answer(host, Ok(input))
        },
    )?;
    linker.func_wrap(module, abi::LOG, log)?;
    linker.func_wrap(
        abi::JS_IMPORT_MODULE,
        abi::JS_SCRIPT,
        |mut caller: Caller<'_, JobState>| -> i32 {
            let host = &mut caller.data_mut().host;
            let result = match &host.script {
                Some(script) => Ok(script.to_vec()),
                None => Err(Refusal(
                    Status::Unsupported,
                    "the job is not a JavaScript konnector, so it has no script".into(),
                )),
            };
            answer(host, result)
        },
    )?;
    linker.func_wrap(
        abi::JS_IMPORT_MODULE,
        abi::JS_DEPENDENCIES,
        |mut caller: Caller<'_, JobState>| -> i32 {
            let host = &mut caller.data_mut().host;
            let result = match &host.dependencies {
                Some(dependencies) => Ok(dependencies.bytecode.clone()),
                None => Err(Refusal(
                    Status::Unsupported,
                    "the konnector has no dependency bundle".into(),
                )),
            };
            answer(host, result)
        },
    )?;
    linker.func_wrap(abi::JS_IMPORT_MODULE, abi::JS_PRELOAD_PLAN, || -> i32 {
        Status::Unsupported as i32
    })?;
    linker.func_wrap(
        abi::JS_IMPORT_MODULE,
        abi::JS_PRELOAD_STEP,
        |_: i32, _: i32| -> i32 { Status::Unsupported as i32 },
    )?;
    for name in ["source", "source_name"] {
        linker.func_wrap(abi::BUILD_IMPORT_MODULE, name, || -> i32 {
            Status::Unsupported as i32
        })?;
    }
    for name in ["output", "error"] {
        linker.func_wrap(abi::BUILD_IMPORT_MODULE, name, |_: i32, _: i32| -> i32 {
            Status::Unsupported as i32
        })?;
    }
    linker.func_wrap(module, abi::JOB_FAIL, job_fail)?;

    linker.func_wrap_async(module, abi::DOC_CREATE, |caller, (ptr, len): (i32, i32)| {
        Box::new(doc_create(caller, ptr, len))
    })?;
    linker.func_wrap_async(module, abi::DOC_UPDATE, |caller, (ptr, len): (i32, i32)| {
        Box::new(doc_update(caller, ptr, len))
    })?;
    linker.func_wrap_async(module, abi::DOC_UPSERT, |caller, (ptr, len): (i32, i32)| {
        Box::new(doc_upsert(caller, ptr, len))
    })?;
    linker.func_wrap_async(
        module,
        abi::FILE_SAVE,
        |caller, (meta_ptr, meta_len, data_ptr, data_len): (i32, i32, i32, i32)| {
            Box::new(file_save(caller, meta_ptr, meta_len, data_ptr, data_len))
        },
    )?;
    linker.func_wrap_async(
        module,
        abi::HTTP_FETCH,
        |caller, (req_ptr, req_len, body_ptr, body_len): (i32, i32, i32, i32)| {
            Box::new(http_fetch(caller, req_ptr, req_len, body_ptr, body_len))
        },
    )?;
    linker.func_wrap(module, abi::HTTP_BODY_READ, http_body_read)?;
    linker.func_wrap_async(
        module,
        abi::FILE_DOWNLOAD,
        |caller, (req_ptr, req_len, body_ptr, body_len): (i32, i32, i32, i32)| {
            Box::new(file_download(caller, req_ptr, req_len, body_ptr, body_len))
        },
    )?;
    linker.func_wrap(module, abi::COOKIE_LIST, cookies::cookie_list)?;
    linker.func_wrap(module, abi::COOKIE_SET, cookies::cookie_set)?;
    linker.func_wrap_async(module, abi::ACCOUNT_DATA_GET, |caller, (): ()| {
        Box::new(account_data_get(caller))
    })?;
    linker.func_wrap_async(
        module,
        abi::ACCOUNT_DATA_SET,
        |caller, (ptr, len): (i32, i32)| Box::new(account_data_set(caller, ptr, len)),
    )?;
    Ok(linker)
}

/// Checks a module's imports and exports before it runs: only functions of
/// WASI preview 1 and of `konnector_v1`, no imported memory or table, and an
/// exported `_start` function. Returns the refusal, or `None` when it may run.
pub(crate) fn check_module(module: &Module) -> Option<Outcome> {
    let refuse = |rule: &str, message: String| {
        Some(Outcome::PolicyRefusal {
            rule: rule.into(),
            message,
        })
    };
    for import in module.imports() {
        let (from, name) = (import.module(), import.name());
        if !matches!(import.ty(), ExternType::Func(_)) {
            return refuse(
                "unknown_import",
                format!(
                    "import {from}::{name} is not a function; a konnector may import only functions"
                ),
            );
        }
        let known = match from {
            abi::IMPORT_MODULE => abi::FUNCTIONS.contains(&name),
            abi::JS_IMPORT_MODULE => abi::JS_FUNCTIONS.contains(&name),
            abi::BUILD_IMPORT_MODULE => abi::BUILD_FUNCTIONS.contains(&name),
            WASI_MODULE => true,
            _ => false,
        };
        if !known {
            return refuse(
                "unknown_import",
                format!(
                    "import {from}::{name} is not offered by this engine; a konnector may import only {WASI_MODULE} and {} functions",
                    abi::IMPORT_MODULE
                ),
            );
        }
    }
    match module.get_export("_start") {
        Some(ExternType::Func(_)) => None,
        _ => refuse(
            "missing_start",
            "the module exports no _start function; build it as a WASI command".into(),
        ),
    }
}

fn result_read(mut caller: Caller<'_, JobState>, ptr: i32, len: i32) -> i32 {
    let available = caller.data().host.result.len();
    let wanted = len as u32 as usize;
    if wanted > available {
        let message =
            format!("result_read of {wanted} bytes, but the result buffer holds {available} bytes");
        return answer(
            &mut caller.data_mut().host,
            Err(Refusal(Status::InvalidArgument, message)),
        );
    }
    // The buffer is taken out while guest memory is borrowed mutably, then
    // put back: a guest may read it again.
    let result = std::mem::take(&mut caller.data_mut().host.result);
    let written = guest_memory::write(&mut caller, ptr, &result[..wanted]);
    caller.data_mut().host.result = result;
    match written {
        Ok(()) => Status::Ok as i32,
        Err(error) => {
            // Keep the buffer: the guest may retry with a valid pointer.
            tracing::debug!(%error, "result_read rejected");
            Status::InvalidArgument as i32
        }
    }
}

fn log(mut caller: Caller<'_, JobState>, level: i32, ptr: i32, len: i32) -> i32 {
    let Some(level) = LogLevel::from_raw(level) else {
        let message = format!("invalid log level {level}; expected 0 (debug) to 4 (critical)");
        return answer(
            &mut caller.data_mut().host,
            Err(Refusal(Status::InvalidArgument, message)),
        );
    };
    match guest_memory::read_prefix(&mut caller, ptr, len, MAX_LINE_BYTES) {
        Ok((message, left_out)) => {
            let host = &mut caller.data_mut().host;
            host.log
                .push_cut(level, LogSource::Guest, &message, left_out);
            answer(host, Ok(Vec::new()))
        }
        Err(error) => answer(&mut caller.data_mut().host, Err(error.into())),
    }
}

fn job_fail(
    mut caller: Caller<'_, JobState>,
    code_ptr: i32,
    code_len: i32,
    msg_ptr: i32,
    msg_len: i32,
) -> i32 {
    let result = (|| {
        let code = guest_memory::read(
            &mut caller,
            code_ptr,
            code_len,
            abi::MAX_ERROR_CODE_BYTES,
            "error code",
        )?;
        let code = String::from_utf8(code)
            .ok()
            .filter(|code| abi::is_valid_error_code(code))
            .ok_or_else(|| Refusal(Status::InvalidArgument, "invalid error code; expected upper-case words separated by dots, such as LOGIN_FAILED or USER_ACTION_NEEDED.OAUTH_OUTDATED".into()))?;
        let (message, _) =
            guest_memory::read_prefix(&mut caller, msg_ptr, msg_len, MAX_FAILURE_MESSAGE_BYTES)?;
        let message = (!message.is_empty()).then(|| String::from_utf8_lossy(&message).into_owned());
        let host = &mut caller.data_mut().host;
        if let Some((first, _)) = &host.failure {
            return Err(Refusal(
                Status::InvalidArgument,
                format!("the job already failed with {first}; only the first error code counts"),
            ));
        }
        tracing::info!(code = %code, "konnector reported an error");
        host.failure = Some((code, message));
        Ok(Vec::new())
    })();
    answer(&mut caller.data_mut().host, result)
}

/// Reads and parses a JSON request from guest memory.
fn read_request<T: DeserializeOwned>(
    caller: &mut Caller<'_, JobState>,
    ptr: i32,
    len: i32,
    what: &'static str,
) -> Result<T, Refusal> {
    let bytes = guest_memory::read(caller, ptr, len, MAX_REQUEST_BYTES, what)?;
    serde_json::from_slice(&bytes)
        .map_err(|error| Refusal(Status::InvalidArgument, format!("invalid {what}: {error}")))
}

/// Checks a write of `doctype` with `verbs` against the manifest, the
/// reserved doctypes and the job's write cap, and counts it.
fn admit_write(host: &mut HostState, doctype: &str, verbs: &[Verb]) -> Result<(), Refusal> {
    if let Some((_, instead)) = RESERVED_DOCTYPES
        .iter()
        .find(|(reserved, _)| *reserved == doctype)
    {
        host.writes_refused += 1;
        return Err(Refusal(
            Status::PermissionDenied,
            format!(
                "permission denied: documents of {doctype} cannot be written directly; {instead}"
            ),
        ));
    }
    for verb in verbs {
        if let Err(denied) = host.manifest.check(doctype, *verb) {
            host.writes_refused += 1;
            tracing::debug!(
                doctype,
                verb = verb.name(),
                "write rejected by the manifest"
            );
            return Err(Refusal(Status::PermissionDenied, denied.to_string()));
        }
    }
    if host.writes >= host.max_writes {
        return Err(Refusal(
            Status::LimitExceeded,
            format!(
                "the job reached its limit of {} document writes",
                host.max_writes
            ),
        ));
    }
    host.writes += 1;
    Ok(())
}

/// Serialises a sink's result and counts what it changed.
fn record_write(
    host: &mut HostState,
    result: Result<WriteResult, SinkError>,
) -> Result<Vec<u8>, Refusal> {
    if let Err(SinkError::QuotaExceeded(detail)) = &result
        && host.failure.is_none()
    {
        // A full Cozy means this and later files are lost, whether or not
        // the konnector catches the error: the job ends with the code
        // cozy-konnector-libs gives it, unless the guest reported one first.
        host.failure = Some((
            DISK_QUOTA_EXCEEDED.to_owned(),
            Some(format!("disk quota exceeded: {detail}")),
        ));
    }
    let written = result?;
    if written.status != WriteStatus::Unchanged {
        host.documents_written += 1;
    }
    serde_json::to_vec(&written).map_err(|error| {
        Refusal(
            Status::Storage,
            format!("failed to encode the write result: {error}"),
        )
    })
}

async fn doc_create(mut caller: Caller<'_, JobState>, ptr: i32, len: i32) -> CallResult {
    let admitted = read_request::<CreateRequest>(&mut caller, ptr, len, "create request").and_then(
        |request| {
            admit_write(&mut caller.data_mut().host, &request.doctype, &[Verb::Post])?;
            Ok(request)
        },
    );
    let result = match admitted {
        Ok(request) => {
            let (sink, context) = sink_of(&caller);
            let written = sink.create(&context, &request.doctype, request.doc).await;
            record_write(&mut caller.data_mut().host, written)
        }
        Err(refusal) => Err(refusal),
    };
    Ok(answer(&mut caller.data_mut().host, result))
}

async fn doc_update(mut caller: Caller<'_, JobState>, ptr: i32, len: i32) -> CallResult {
    let admitted = read_request::<UpdateRequest>(&mut caller, ptr, len, "update request").and_then(
        |request| {
            admit_write(&mut caller.data_mut().host, &request.doctype, &[Verb::Put])?;
            Ok(request)
        },
    );
    let result = match admitted {
        Ok(request) => {
            let (sink, context) = sink_of(&caller);
            let written = sink
                .update(
                    &context,
                    &request.doctype,
                    &request.id,
                    request.rev.as_deref(),
                    request.doc,
                )
                .await;
            record_write(&mut caller.data_mut().host, written)
        }
        Err(refusal) => Err(refusal),
    };
    Ok(answer(&mut caller.data_mut().host, result))
}

async fn doc_upsert(mut caller: Caller<'_, JobState>, ptr: i32, len: i32) -> CallResult {
    let admitted = read_request::<UpsertRequest>(&mut caller, ptr, len, "upsert request").and_then(|request| {
        if request.keys.is_empty() {
            return Err(Refusal(Status::InvalidArgument, "invalid upsert request: keys is empty; name at least one field, such as [\"vendorRef\"]".into()));
        }
        // An upsert may create or update, so it needs both verbs.
        admit_write(&mut caller.data_mut().host, &request.doctype, &[Verb::Post, Verb::Put])?;
        Ok(request)
    });
    let result = match admitted {
        Ok(request) => {
            let (sink, context) = sink_of(&caller);
            let written = sink
                .upsert(&context, &request.doctype, &request.keys, request.doc)
                .await;
            record_write(&mut caller.data_mut().host, written)
        }
        Err(refusal) => Err(refusal),
    };
    Ok(answer(&mut caller.data_mut().host, result))
}

async fn file_save(
    mut caller: Caller<'_, JobState>,
    meta_ptr: i32,
    meta_len: i32,
    data_ptr: i32,
    data_len: i32,
) -> CallResult {
    let admitted = (|| {
        let request = read_request::<FileRequest>(&mut caller, meta_ptr, meta_len, "file request")?;
        // The permission and the caps are checked before the contents are
        // copied, so a refused save costs the host no copy.
        let size = data_len as u32 as u64;
        admit_file_write(&mut caller.data_mut().host, size)?;
        let bytes = guest_memory::read(&mut caller, data_ptr, data_len, MAX_FILE_BYTES, "file")?;
        let host = &mut caller.data_mut().host;
        let dir_path = file_dir_path(host, &request)?;
        host.file_bytes += size;
        let content_type = request
            .content_type
            .clone()
            .unwrap_or_else(|| guess_content_type(&request.name).to_owned());
        Ok(FileWrite {
            dir_path,
            name: request.name,
            content_type,
            metadata: request.metadata,
            bytes,
        })
    })();
    let result = match admitted {
        Ok(file) => {
            let (sink, context) = sink_of(&caller);
            let written = sink.save_file(&context, file).await;
            record_write(&mut caller.data_mut().host, written)
        }
        Err(refusal) => Err(refusal),
    };
    Ok(answer(&mut caller.data_mut().host, result))
}

/// Deepest folder path a file may be saved in, in levels.
pub const MAX_DIR_DEPTH: usize = 32;

/// Returns the folder a file goes to: the request's, else the account's
/// folder, refused when deeper than [`MAX_DIR_DEPTH`].
fn file_dir_path(host: &HostState, request: &FileRequest) -> Result<String, Refusal> {
    let dir_path = request
        .dir_path
        .clone()
        .unwrap_or_else(|| host.default_dir_path.clone());
    let depth = dir_path.split('/').filter(|part| !part.is_empty()).count();
    if depth > MAX_DIR_DEPTH {
        return Err(Refusal(
            Status::InvalidArgument,
            format!("folder path has {depth} levels, more than the maximum of {MAX_DIR_DEPTH}"),
        ));
    }
    Ok(dir_path)
}

async fn file_download(
    mut caller: Caller<'_, JobState>,
    req_ptr: i32,
    req_len: i32,
    body_ptr: i32,
    body_len: i32,
) -> CallResult {
    let admitted = (|| {
        let download = read_request::<abi::DownloadRequest>(
            &mut caller,
            req_ptr,
            req_len,
            "download request",
        )?;
        let max_body = usize::try_from(client_body_cap(&caller)).unwrap_or(usize::MAX);
        let body = guest_memory::read(&mut caller, body_ptr, body_len, max_body, "request body")?;
        let host = &mut caller.data_mut().host;
        // The permission and the write cap are checked before anything is
        // sent; the size is known, and checked, once the body has arrived.
        admit_file_write(host, 0)?;
        let dir_path = file_dir_path(host, &download.file)?;
        let client = host
            .http
            .client()
            .map_err(|reason| Refusal(Status::Unsupported, reason))?;
        Ok(Download {
            client,
            request: FetchRequest::from_guest(download.request, body),
            file: download.file,
            dir_path,
            keep_existing: download.keep_existing,
        })
    })();
    let result = match admitted {
        Ok(download) => download_into_sink(&mut caller, download).await,
        Err(refusal) => Err(refusal),
    };
    Ok(answer(&mut caller.data_mut().host, result))
}

/// An admitted `file_download`.
struct Download {
    client: Arc<crate::net::HttpClient>,
    request: FetchRequest,
    file: FileRequest,
    dir_path: String,
    keep_existing: bool,
}

/// Downloads the file, unless it is there already and the guest asked to
/// keep it, and saves it in the sink.
async fn download_into_sink(
    caller: &mut Caller<'_, JobState>,
    download: Download,
) -> Result<Vec<u8>, Refusal> {
    let Download {
        client,
        request,
        file,
        dir_path,
        keep_existing,
    } = download;
    if keep_existing {
        let (sink, context) = sink_of(caller);
        let found = sink.find_file(&context, &dir_path, &file.name).await?;
        if let Some(found) = found {
            tracing::trace!(id = found.id, "file already saved; download skipped");
            return record_write(&mut caller.data_mut().host, Ok(found));
        }
    }

    let response = client.fetch(request).await.map_err(|error| {
        tracing::debug!(
            kind = error.kind().name(),
            url = error.url(),
            reason = error.reason(),
            "download failed"
        );
        Refusal(error.kind().status(), error.to_string())
    })?;
    if !(200..300).contains(&response.status) {
        return Err(Refusal(
            Status::Network,
            format!(
                "download of {} failed: the server answered status {}, so file {} was not saved",
                response.url, response.status, file.name
            ),
        ));
    }

    let host = &mut caller.data_mut().host;
    let size = response.body.len() as u64;
    if size > MAX_FILE_BYTES as u64 || host.file_bytes.saturating_add(size) > host.max_file_bytes {
        return Err(Refusal(
            Status::LimitExceeded,
            format!(
                "the download of {} is {size} bytes, which would pass the job's limit of {} bytes of files",
                response.url, host.max_file_bytes
            ),
        ));
    }
    host.file_bytes += size;
    let content_type = file
        .content_type
        .clone()
        .or_else(|| response_content_type(&response.headers))
        .unwrap_or_else(|| guess_content_type(&file.name).to_owned());
    let write = FileWrite {
        dir_path,
        name: file.name,
        content_type,
        metadata: file.metadata,
        bytes: response.body,
    };
    let (sink, context) = sink_of(caller);
    let written = sink.save_file(&context, write).await;
    record_write(&mut caller.data_mut().host, written)
}

/// Returns the MIME type of a response's `Content-Type` header, without
/// its parameters; `None` when absent or not of the form `type/subtype`.
fn response_content_type(headers: &[(String, String)]) -> Option<String> {
    let (_, value) = headers.iter().find(|(name, _)| name == "content-type")?;
    let mime = value.split(';').next()?.trim().to_ascii_lowercase();
    let valid = mime.split_once('/').is_some_and(|(kind, subtype)| {
        !kind.is_empty() && !subtype.is_empty() && !mime.contains(char::is_whitespace)
    });
    valid.then_some(mime)
}

fn admit_file_write(host: &mut HostState, size: u64) -> Result<(), Refusal> {
    // Saving may replace a file of the same name, so it needs both verbs.
    for verb in [Verb::Post, Verb::Put] {
        if let Err(denied) = host.manifest.check("io.cozy.files", verb) {
            host.writes_refused += 1;
            return Err(Refusal(Status::PermissionDenied, denied.to_string()));
        }
    }
    if host.file_bytes.saturating_add(size) > host.max_file_bytes {
        let message = format!(
            "saving {size} more bytes of files would pass the job's limit of {} bytes",
            host.max_file_bytes
        );
        return Err(Refusal(Status::LimitExceeded, message));
    }
    if host.writes >= host.max_writes {
        return Err(Refusal(
            Status::LimitExceeded,
            format!(
                "the job reached its limit of {} document writes",
                host.max_writes
            ),
        ));
    }
    host.writes += 1;
    Ok(())
}

async fn account_data_get(mut caller: Caller<'_, JobState>) -> CallResult {
    let result = match account_of(&caller) {
        Ok(account) => {
            let (sink, context) = sink_of(&caller);
            match sink.account_data(&context, &account).await {
                Ok(data) => serde_json::to_vec(&data).map_err(|error| {
                    Refusal(
                        Status::Storage,
                        format!("failed to encode account data: {error}"),
                    )
                }),
                Err(error) => Err(error.into()),
            }
        }
        Err(refusal) => Err(refusal),
    };
    Ok(answer(&mut caller.data_mut().host, result))
}

async fn account_data_set(mut caller: Caller<'_, JobState>, ptr: i32, len: i32) -> CallResult {
    let admitted = account_of(&caller).and_then(|account| {
        let data = read_request::<Map<String, Value>>(&mut caller, ptr, len, "account data")?;
        let host = &mut caller.data_mut().host;
        if host.writes >= host.max_writes {
            return Err(Refusal(
                Status::LimitExceeded,
                format!(
                    "the job reached its limit of {} document writes",
                    host.max_writes
                ),
            ));
        }
        host.writes += 1;
        Ok((account, data))
    });
    let result = match admitted {
        Ok((account, data)) => {
            let (sink, context) = sink_of(&caller);
            match sink.set_account_data(&context, &account, data).await {
                Ok(()) => Ok(Vec::new()),
                Err(error) => Err(error.into()),
            }
        }
        Err(refusal) => Err(refusal),
    };
    Ok(answer(&mut caller.data_mut().host, result))
}

/// Response bytes a job may keep in the host, unread, across its open
/// bodies. A fetch while more than half of it is held fails with
/// `limit_exceeded`: the guest must read earlier bodies to their end first.
/// 64 MiB is two responses at the default `max_response_bytes`.
pub const MAX_HELD_BODY_BYTES: usize = 64 << 20;

/// Largest piece `http_body_read` returns at once, in bytes.
const MAX_BODY_PIECE_BYTES: usize = 1 << 20;

async fn http_fetch(
    mut caller: Caller<'_, JobState>,
    req_ptr: i32,
    req_len: i32,
    body_ptr: i32,
    body_len: i32,
) -> CallResult {
    let admitted = (|| {
        let request =
            read_request::<abi::FetchRequest>(&mut caller, req_ptr, req_len, "fetch request")?;
        let max_body = usize::try_from(client_body_cap(&caller)).unwrap_or(usize::MAX);
        let body = guest_memory::read(&mut caller, body_ptr, body_len, max_body, "request body")?;
        let host = &mut caller.data_mut().host;
        let held: usize = host
            .bodies
            .values()
            .map(|body| body.bytes.len() - body.offset)
            .sum();
        // The new response may add up to half the cap (a default
        // `max_response_bytes`), so what is held before it must fit in the
        // other half.
        if held > MAX_HELD_BODY_BYTES / 2 {
            return Err(Refusal(
                Status::LimitExceeded,
                format!(
                    "request to {} not sent: {held} bytes of earlier responses are unread; read their bodies to the end first",
                    request.url
                ),
            ));
        }
        let client = host
            .http
            .client()
            .map_err(|reason| Refusal(Status::Unsupported, reason))?;
        Ok((client, FetchRequest::from_guest(request, body)))
    })();
    let result = match admitted {
        Ok((client, request)) => match client.fetch(request).await {
            Ok(response) => {
                let host = &mut caller.data_mut().host;
                let handle = host.next_body_handle;
                host.next_body_handle = host.next_body_handle.wrapping_add(1).max(1);
                let answer = abi::FetchResponse {
                    status: response.status,
                    url: response.url,
                    headers: response.headers,
                    body_handle: handle,
                    body_size: response.body.len() as u64,
                };
                host.bodies.insert(
                    handle,
                    PendingBody {
                        bytes: response.body,
                        offset: 0,
                    },
                );
                serde_json::to_vec(&answer).map_err(|error| {
                    Refusal(
                        Status::Network,
                        format!("failed to encode the response: {error}"),
                    )
                })
            }
            Err(error) => {
                tracing::debug!(
                    kind = error.kind().name(),
                    url = error.url(),
                    reason = error.reason(),
                    "fetch failed"
                );
                Err(Refusal(error.kind().status(), error.to_string()))
            }
        },
        Err(refusal) => Err(refusal),
    };
    Ok(answer(&mut caller.data_mut().host, result))
}

fn http_body_read(mut caller: Caller<'_, JobState>, handle: i32, max_len: i32) -> i32 {
    let host = &mut caller.data_mut().host;
    let handle = handle as u32;
    let Some(body) = host.bodies.get_mut(&handle) else {
        let message = format!(
            "no response body with handle {handle}; it was never returned or was already read to the end"
        );
        return answer(host, Err(Refusal(Status::InvalidArgument, message)));
    };
    let wanted = (max_len as u32 as usize).min(MAX_BODY_PIECE_BYTES);
    let end = body.offset.saturating_add(wanted).min(body.bytes.len());
    let piece = body.bytes[body.offset..end].to_vec();
    body.offset = end;
    if piece.is_empty() {
        host.bodies.remove(&handle);
    }
    answer(host, Ok(piece))
}

fn sink_of(
    caller: &Caller<'_, JobState>,
) -> (
    Arc<dyn crate::sink::DocumentSink>,
    crate::sink::WriteContext,
) {
    let host = &caller.data().host;
    (host.sink.clone(), host.write_context.clone())
}

fn account_of(caller: &Caller<'_, JobState>) -> Result<String, Refusal> {
    caller
        .data()
        .host
        .write_context
        .account_id
        .clone()
        .ok_or_else(|| {
            Refusal(
                Status::Unsupported,
                "the job has no account, so it has no account data".into(),
            )
        })
}

/// Guesses a MIME type from a file name's extension;
/// `application/octet-stream` when unknown.
fn guess_content_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    match extension.as_deref() {
        Some("pdf") => "application/pdf",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("txt") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        _ => "application/octet-stream",
    }
}

/// Largest request body the job's HTTP client accepts; a larger range is
/// refused before it is copied.
fn client_body_cap(caller: &Caller<'_, JobState>) -> u64 {
    caller.data().host.max_request_body_bytes
}
