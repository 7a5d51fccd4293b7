//! The natives of `fetch` (`prelude/fetch.js`) over the host's
//! `http_fetch` and `http_body_read`.
//!
//! The host follows redirects, keeps the job's cookies and decodes
//! compressed bodies. `fetch` reads a response body from the host only when
//! the konnector reads it (`text()`, `json()`, ...), so an ignored body
//! never enters guest memory.
//!
//! NOTE: each host call blocks the guest until the host is done, so
//! requests run one after the other even when a konnector starts several
//! and awaits them together.

use rquickjs::{ArrayBuffer, Ctx, Function, Object, TypedArray};

use crate::{error, host};

/// Adds `httpFetch` and `httpBodyRead` to the native functions.
pub fn register<'js>(ctx: &Ctx<'js>, native: &Object<'js>) -> rquickjs::Result<()> {
    native.set("httpFetch", Function::new(ctx.clone(), fetch)?)?;
    native.set("httpBodyRead", Function::new(ctx.clone(), body_read)?)?;
    native.set("downloadFile", Function::new(ctx.clone(), download)?)?;
    native.set("cookieList", Function::new(ctx.clone(), cookie_list)?)?;
    native.set("cookieSet", Function::new(ctx.clone(), cookie_set)?)?;
    Ok(())
}

/// Returns the JSON array of the job's cookies for `url`, or of all of
/// them when `url` is empty. A host error throws a `TypeError` with the
/// host's message and the status's name as `code`.
fn cookie_list(ctx: Ctx<'_>, url: String) -> rquickjs::Result<rquickjs::String<'_>> {
    let listed = host::cookie_list(url.as_bytes()).map_err(|host_error| {
        let context = if url.is_empty() {
            "failed to list the cookies".to_owned()
        } else {
            format!("failed to list the cookies of {url}")
        };
        error::throw_host(&ctx, "TypeError", &context, &host_error)
    })?;
    let Ok(json) = std::str::from_utf8(&listed) else {
        let message = "failed to list the cookies: the host's response is not UTF-8";
        return Err(error::throw(&ctx, "TypeError", message, None));
    };
    rquickjs::String::from_str(ctx, json)
}

/// Stores the `Set-Cookie` value `text` as if `url` had sent it.
fn cookie_set(ctx: Ctx<'_>, url: String, text: String) -> rquickjs::Result<()> {
    host::cookie_set(url.as_bytes(), text.as_bytes()).map_err(|host_error| {
        let context = format!("failed to set a cookie for {url}");
        error::throw_host(&ctx, "TypeError", &context, &host_error)
    })?;
    Ok(())
}

/// Sends the `FetchRequest` JSON `request` of the ABI with the bytes of
/// `body`, and returns the host's `FetchResponse` JSON. A host error (a
/// request the network policy refused, a failed connection, a limit)
/// throws a `TypeError`, as `fetch` does for a network error, with the
/// host's message and the status's name as `code`.
fn fetch<'js>(
    ctx: Ctx<'js>,
    url: String,
    request: String,
    body: TypedArray<'js, u8>,
) -> rquickjs::Result<rquickjs::String<'js>> {
    let context = format!("failed to fetch {url}");
    call_with_body(ctx, "TypeError", &context, &request, &body, host::http_fetch)
}

/// Sends the `DownloadRequest` JSON `request` with the bytes of `body`, and
/// returns the host's `WriteResult` JSON. A host error throws an `Error`
/// with the host's message and the status's name as `code`.
fn download<'js>(
    ctx: Ctx<'js>,
    url: String,
    request: String,
    body: TypedArray<'js, u8>,
) -> rquickjs::Result<rquickjs::String<'js>> {
    let context = format!("failed to download {url}");
    call_with_body(ctx, "Error", &context, &request, &body, host::file_download)
}

/// Calls the host function `call` with the JSON `request` and the bytes of
/// `body`, and returns its JSON result as a string. A host error, or a
/// result that is not UTF-8, throws an error of class `class` whose message
/// starts with `context`.
fn call_with_body<'js>(
    ctx: Ctx<'js>,
    class: &str,
    context: &str,
    request: &str,
    body: &TypedArray<'js, u8>,
    call: fn(&[u8], &[u8]) -> Result<Vec<u8>, host::HostError>,
) -> rquickjs::Result<rquickjs::String<'js>> {
    // SAFETY: no JavaScript runs while `bytes` lives: the host call copies
    // the body out of guest memory before it returns.
    let bytes = unsafe { body.as_bytes() }.unwrap_or_default();
    let result = call(request.as_bytes(), bytes)
        .map_err(|host_error| error::throw_host(&ctx, class, context, &host_error))?;
    let Ok(json) = std::str::from_utf8(&result) else {
        let message = format!("{context}: the host's response is not UTF-8");
        return Err(error::throw(&ctx, class, &message, None));
    };
    rquickjs::String::from_str(ctx, json)
}

/// Reads the whole body of the response `handle` (`body_size` bytes, as the
/// host announced) into an `ArrayBuffer`.
fn body_read<'js>(
    ctx: Ctx<'js>,
    url: String,
    handle: u32,
    body_size: f64,
) -> rquickjs::Result<ArrayBuffer<'js>> {
    // The announced size only saves reallocations. When it does not fit in
    // memory, reading stops with the memory limit's trap further down.
    let mut body = Vec::new();
    let _ = body.try_reserve_exact(body_size as usize);
    host::http_body_read(handle, &mut body).map_err(|host_error| {
        let context = format!("failed to read the body of {url}");
        error::throw_host(&ctx, "TypeError", &context, &host_error)
    })?;
    ArrayBuffer::new(ctx, body)
}
