//! The natives of the `konnector:host` module (`prelude/host.js`) and of
//! `console`: the job input, log lines, the job's error code, document and
//! file writes, and the account's saved data.
//!
//! Documents cross as JSON text: `prelude/host.js` calls `JSON.stringify`,
//! and these functions parse it into the guest SDK's types. A host error
//! throws an `Error` whose message is the guest SDK's (the failed call,
//! then the host's message) and whose `code` is the host status's name,
//! such as `permission_denied`.

use std::cell::Cell;

use konnector_host_api::guest::{self, Error as GuestError};
use konnector_host_api::{FileRequest, KNOWN_ERROR_CODES, LogLevel, WriteResult, WriteStatus};
use rquickjs::function::Opt;
use rquickjs::{Ctx, Function, Object, TypedArray};
use serde_json::{Map, Value};

use crate::{error, host};

thread_local! {
    // Whether the konnector reported its error code with `fail`.
    static FAILED: Cell<bool> = const { Cell::new(false) };
}

/// Adds the natives of `konnector:host` and `console` to the native
/// functions.
pub fn register<'js>(ctx: &Ctx<'js>, native: &Object<'js>) -> rquickjs::Result<()> {
    native.set("log", Function::new(ctx.clone(), log)?.with_name("log")?)?;
    native.set("jobInput", Function::new(ctx.clone(), job_input)?)?;
    native.set("fail", Function::new(ctx.clone(), fail)?)?;
    native.set("createDocument", Function::new(ctx.clone(), create)?)?;
    native.set("updateDocument", Function::new(ctx.clone(), update)?)?;
    native.set("upsertDocument", Function::new(ctx.clone(), upsert)?)?;
    native.set("saveFile", Function::new(ctx.clone(), save_file)?)?;
    native.set("accountData", Function::new(ctx.clone(), account_data)?)?;
    native.set(
        "setAccountData",
        Function::new(ctx.clone(), set_account_data)?,
    )?;
    native.set("errorCodes", Function::new(ctx.clone(), error_codes)?)?;
    Ok(())
}

/// Returns whether the konnector already ended the job with an error code
/// through `fail`, so that the job loop does not report a second one.
pub fn job_failed() -> bool {
    FAILED.with(Cell::get)
}

/// Appends a log line at `level`, a raw [`LogLevel`].
fn log(level: i32, message: String) {
    let level = LogLevel::from_raw(level).unwrap_or(LogLevel::Info);
    guest::log(level, &message);
}

/// Returns the job input JSON.
fn job_input(ctx: Ctx<'_>) -> rquickjs::Result<rquickjs::String<'_>> {
    let input = host::job_input().map_err(|host_error| {
        error::throw_host(&ctx, "Error", "failed to read the job input", &host_error)
    })?;
    let Ok(json) = std::str::from_utf8(&input) else {
        let message = "failed to read the job input: it is not UTF-8";
        return Err(error::throw(&ctx, "Error", message, None));
    };
    rquickjs::String::from_str(ctx, json)
}

/// Ends the job with the Cozy error `code` and `message`.
fn fail(ctx: Ctx<'_>, code: String, message: String) -> rquickjs::Result<()> {
    guest::fail(&code, &message).map_err(|guest_error| throw_guest(&ctx, &guest_error))?;
    FAILED.with(|failed| failed.set(true));
    Ok(())
}

/// Creates a document of `doctype` from the JSON object `doc`.
fn create<'js>(ctx: Ctx<'js>, doctype: String, doc: String) -> rquickjs::Result<Object<'js>> {
    let doc = parse_object(&ctx, "the document", &doc)?;
    let written = guest::create(&doctype, doc);
    write_result(&ctx, written)
}

/// Replaces the document `id` of `doctype` with the JSON object `doc`,
/// checking its revision when `rev` is given.
fn update<'js>(
    ctx: Ctx<'js>,
    doctype: String,
    id: String,
    doc: String,
    rev: Opt<String>,
) -> rquickjs::Result<Object<'js>> {
    let doc = parse_object(&ctx, "the document", &doc)?;
    let written = guest::update(&doctype, &id, rev.0.as_deref(), doc);
    write_result(&ctx, written)
}

/// Creates or merges the JSON object `doc` in `doctype`, identified by the
/// values of its `keys` fields.
fn upsert<'js>(
    ctx: Ctx<'js>,
    doctype: String,
    keys: Vec<String>,
    doc: String,
) -> rquickjs::Result<Object<'js>> {
    let doc = parse_object(&ctx, "the document", &doc)?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let written = guest::upsert(&doctype, &keys, doc);
    write_result(&ctx, written)
}

/// Saves a file: `file` is the JSON of a [`FileRequest`], `contents` its
/// bytes.
fn save_file<'js>(
    ctx: Ctx<'js>,
    file: String,
    contents: TypedArray<'js, u8>,
) -> rquickjs::Result<Object<'js>> {
    let file: FileRequest = serde_json::from_str(&file).map_err(|json_error| {
        let message = format!("invalid file description: {json_error}");
        error::throw(&ctx, "TypeError", &message, None)
    })?;
    // SAFETY: no JavaScript runs while `bytes` lives: the host call copies
    // the contents out of guest memory before it returns.
    let bytes = unsafe { contents.as_bytes() }.unwrap_or_default();
    let written = guest::save_file(&file, bytes);
    write_result(&ctx, written)
}

/// Returns the account's saved data as JSON.
fn account_data(ctx: Ctx<'_>) -> rquickjs::Result<rquickjs::String<'_>> {
    let data = guest::account_data().map_err(|guest_error| throw_guest(&ctx, &guest_error))?;
    // A map of JSON values always serializes.
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".to_owned());
    rquickjs::String::from_str(ctx, &json)
}

/// Replaces the account's saved data with the JSON object `data`.
fn set_account_data(ctx: Ctx<'_>, data: String) -> rquickjs::Result<()> {
    let data = parse_object(&ctx, "the account data", &data)?;
    guest::set_account_data(&data).map_err(|guest_error| throw_guest(&ctx, &guest_error))
}

/// Returns the Cozy error codes of [`KNOWN_ERROR_CODES`].
fn error_codes() -> Vec<&'static str> {
    KNOWN_ERROR_CODES.to_vec()
}

/// Parses a JSON object, or throws a `TypeError` that names `subject`.
fn parse_object(ctx: &Ctx<'_>, subject: &str, json: &str) -> rquickjs::Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => {
            let message = format!("{subject} must be an object, not {}", json_type(&other));
            Err(error::throw(ctx, "TypeError", &message, None))
        }
        Err(json_error) => {
            let message = format!("{subject} is not valid JSON: {json_error}");
            Err(error::throw(ctx, "TypeError", &message, None))
        }
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Turns a write's result into `{id, rev, status}`, or throws its error.
fn write_result<'js>(
    ctx: &Ctx<'js>,
    written: Result<WriteResult, GuestError>,
) -> rquickjs::Result<Object<'js>> {
    let written = written.map_err(|guest_error| throw_guest(ctx, &guest_error))?;
    let status = match written.status {
        WriteStatus::Created => "created",
        WriteStatus::Updated => "updated",
        WriteStatus::Unchanged => "unchanged",
    };
    let result = Object::new(ctx.clone())?;
    result.set("id", written.id)?;
    result.set("rev", written.rev)?;
    result.set("status", status)?;
    Ok(result)
}

/// Throws a guest SDK error as an `Error` with the status's name as `code`.
fn throw_guest(ctx: &Ctx<'_>, guest_error: &GuestError) -> rquickjs::Error {
    let code = guest_error.status.name();
    error::throw(ctx, "Error", &guest_error.message, Some(code))
}
