//! `compile`: turns JavaScript source into QuickJS bytecode at build time.

use rquickjs::{Ctx, Module, WriteOptions};

use crate::{host, js};

/// Compiles the source from `konnector_build_v1::source` as an ES module and
/// hands its bytecode to `konnector_build_v1::output`, or reports why it
/// does not compile to `konnector_build_v1::error`.
pub fn run() {
    let result = host::source_name().and_then(|name| {
        let source = host::source()?;
        js::with(|js| js.context.with(|ctx| compile(&ctx, &name, source)))
    });
    let reported = match result {
        Ok(bytecode) => host::output(&bytecode),
        Err(message) => host::error(&message),
    };
    // The host gave the source, so it serves output and error too: a
    // failure here is a host bug that the host sees from its own side.
    let _ = reported;
}

/// Compiles `source` as a module named `name`, or returns the error as
/// `name:line:column: message`.
fn compile(ctx: &Ctx<'_>, name: &str, source: Vec<u8>) -> Result<Vec<u8>, String> {
    let module = match Module::declare(ctx.clone(), name, source) {
        Ok(module) => module,
        Err(rquickjs::Error::Exception) => {
            return Err(describe_syntax_error(ctx, name));
        }
        Err(error) => return Err(format!("{name}: {error}")),
    };
    // Debug information stays, so that stack traces have file, line and
    // column. The source text stays too, for Function.prototype.toString.
    module
        .write(WriteOptions::default())
        .map_err(|error| format!("{name}: failed to write the bytecode: {error}"))
}

/// Formats the exception of a failed compilation as
/// `name:line:column: message`. QuickJS puts the position as the first line
/// of the error's stack, `    at name:line:column`.
fn describe_syntax_error(ctx: &Ctx<'_>, name: &str) -> String {
    let exception = ctx.catch();
    let Some(object) = exception.as_object() else {
        return format!("{name}: {exception:?}");
    };
    let message: String = object
        .get::<_, Option<String>>("message")
        .ok()
        .flatten()
        .unwrap_or_else(|| "invalid source".to_owned());
    let kind: String = object
        .get::<_, Option<String>>("name")
        .ok()
        .flatten()
        .unwrap_or_else(|| "Error".to_owned());
    let stack: String = object
        .get::<_, Option<String>>("stack")
        .ok()
        .flatten()
        .unwrap_or_default();

    let position = stack
        .lines()
        .next()
        .and_then(|line| line.trim_start().strip_prefix("at "))
        .and_then(|location| location.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix(':'))
        .filter(|line_column| {
            let mut parts = line_column.split(':');
            let line = parts.next().is_some_and(|part| part.parse::<u32>().is_ok());
            let column = parts.next().is_some_and(|part| part.parse::<u32>().is_ok());
            line && column && parts.next().is_none()
        });
    match position {
        Some(line_column) => format!("{name}:{line_column}: {kind}: {message}"),
        None => format!("{name}: {kind}: {message}"),
    }
}
