//! JavaScript errors thrown by native functions.

use rquickjs::{Constructor, Ctx, Object};

use crate::host::HostError;

/// Throws `new <constructor>(message)` (a global such as `Error` or
/// `TypeError`) with a `code` property when `code` is given, and returns
/// the error that makes a native function throw it.
///
/// The messages of rquickjs's `Exception::throw_type` and the like are cut
/// at 255 bytes, and host messages with URLs can be longer.
pub fn throw(
    ctx: &Ctx<'_>,
    constructor: &str,
    message: &str,
    code: Option<&str>,
) -> rquickjs::Error {
    let built = ctx
        .globals()
        .get::<_, Constructor>(constructor)
        .and_then(|constructor| constructor.construct::<_, Object>((message,)))
        .and_then(|error| {
            if let Some(code) = code {
                error.set("code", code)?;
            }
            Ok(error)
        });
    match built {
        Ok(error) => ctx.throw(error.into_value()),
        // Building the error failed with an exception (out of memory, say),
        // which is left pending and thrown instead.
        Err(error) => error,
    }
}

/// Throws a host error as `new <constructor>(context: message)` with the
/// host status's name as its `code`.
pub fn throw_host(
    ctx: &Ctx<'_>,
    constructor: &str,
    context: &str,
    error: &HostError,
) -> rquickjs::Error {
    let message = format!("{context}: {}", error.message);
    throw(ctx, constructor, &message, Some(&error.code))
}
