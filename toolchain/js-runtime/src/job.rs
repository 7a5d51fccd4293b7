//! `_start`: runs the konnector's bytecode as an ES module.

use konnector_host_api::guest;
use rquickjs::promise::PromiseState;
use rquickjs::{Ctx, Module, Persistent, Promise, Value};

use crate::{builtins, host, js};

/// The Cozy error code of a job that ends on a JavaScript error.
const UNCAUGHT_ERROR_CODE: &str = "UNKNOWN_ERROR";

/// Runs one job: reads the konnector's bytecode, evaluates it as a module,
/// runs promise jobs until none is left, and ends the job with
/// `UNKNOWN_ERROR` on an uncaught exception or unhandled rejection.
pub fn run() {
    if let Err(message) = builtins::reseed_random() {
        fail(&format!("failed to seed Math.random: {message}"));
        return;
    }
    let bytecode = match host::script() {
        Ok(bytecode) => bytecode,
        Err(message) => {
            fail(&format!(
                "failed to read the konnector's bytecode: {message}"
            ));
            return;
        }
    };

    js::with(|js| {
        let Some(promise) = js.context.with(|ctx| start_module(&ctx, &bytecode)) else {
            return;
        };
        if !run_pending_jobs(js) {
            return;
        }
        js.context.with(|ctx| finish_module(&ctx, promise));
    });
}

/// Loads and evaluates the module, and returns the promise of its
/// evaluation, which settles when its top-level code (with any top-level
/// `await`) is done. Returns `None` after reporting an error.
fn start_module(ctx: &Ctx<'_>, bytecode: &[u8]) -> Option<Persistent<Promise<'static>>> {
    // SAFETY: QuickJS trusts bytecode, and a malformed one can corrupt the
    // runtime's memory. That memory is this module instance's linear memory,
    // which the engine isolates, so the damage stays inside the job.
    let loaded = unsafe { Module::load(ctx.clone(), bytecode) };
    let evaluated = loaded.and_then(|module| module.eval());
    match evaluated {
        Ok((_module, promise)) => Some(Persistent::save(ctx, promise)),
        Err(error) => {
            let exception = ctx.catch();
            if exception.is_undefined() || exception.is_null() {
                fail(&format!("failed to load the konnector's bytecode: {error}"));
            } else {
                report_uncaught(ctx, "uncaught exception", exception);
            }
            None
        }
    }
}

/// Runs promise jobs until the queue is empty. Returns `false` after
/// reporting an exception that a job threw.
fn run_pending_jobs(js: &js::Js) -> bool {
    loop {
        match js.runtime.execute_pending_job() {
            Ok(true) => {}
            Ok(false) => return true,
            Err(exception) => {
                exception.0.with(|ctx| {
                    let value = ctx.catch();
                    report_uncaught(&ctx, "uncaught exception in a promise job", value);
                });
                return false;
            }
        }
    }
}

/// Checks how the module's evaluation ended, then whether a promise was
/// rejected with no handler.
fn finish_module(ctx: &Ctx<'_>, promise: Persistent<Promise<'static>>) {
    let rejections = js::take_unhandled_rejections();
    let promise = match promise.restore(ctx) {
        Ok(promise) => promise,
        Err(error) => {
            fail(&format!("failed to restore the module's promise: {error}"));
            return;
        }
    };
    match promise.state() {
        PromiseState::Resolved => {}
        PromiseState::Rejected => {
            // A throw in the top-level code rejects the module's promise,
            // which the rejection tracker lists too: report it once.
            // `result` throws the reason of a rejected promise into the
            // context, where `catch` takes it.
            let _ = promise.result::<Value>();
            let reason = ctx.catch();
            report_uncaught(ctx, "uncaught exception", reason);
            return;
        }
        PromiseState::Pending => {
            let message = "the konnector's top-level code awaits a promise that never settles";
            guest::error(message);
            fail(message);
            return;
        }
    }

    let module_promise = promise.into_value();
    for rejection in rejections {
        let Ok(rejected) = rejection.promise.restore(ctx) else {
            continue;
        };
        if rejected == module_promise {
            continue;
        }
        if let Ok(reason) = rejection.reason.restore(ctx) {
            report_uncaught(ctx, "unhandled promise rejection", reason);
            return;
        }
    }
}

/// Logs an uncaught value with its JavaScript stack at level error, and
/// ends the job with `UNKNOWN_ERROR` and the value's description.
fn report_uncaught<'js>(ctx: &Ctx<'js>, kind: &str, value: Value<'js>) {
    let (summary, stack) = describe(ctx, &value);
    let line = match stack {
        Some(stack) => format!("{kind}: {summary}\n{}", stack.trim_end()),
        None => format!("{kind}: {summary}"),
    };
    guest::error(&line);
    fail(&summary);
}

/// Describes a thrown value as `Name: message` for an error object (or its
/// string conversion otherwise) and its `stack` property, if a string.
fn describe<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> (String, Option<String>) {
    let mut stack = None;
    if let Some(object) = value.as_object() {
        stack = object.get::<_, Option<String>>("stack").ok().flatten();
        let name = object.get::<_, Option<String>>("name").ok().flatten();
        let message = object.get::<_, Option<String>>("message").ok().flatten();
        if let (Some(name), Some(message)) = (name, message) {
            return (format!("{name}: {message}"), stack);
        }
    }
    let text = value
        .clone()
        .try_into_string()
        .ok()
        .and_then(|string| string.to_string().ok())
        .or_else(|| {
            let string: rquickjs::Result<rquickjs::Coerced<String>> = ctx
                .globals()
                .get::<_, rquickjs::Function>("String")
                .and_then(|function| function.call((value.clone(),)));
            string.ok().map(|coerced| coerced.0)
        })
        .unwrap_or_else(|| "a value that cannot be converted to a string".to_owned());
    // Whatever a getter or conversion threw above must not leak into the
    // next call.
    let _ = ctx.catch();
    (text, stack)
}

fn fail(message: &str) {
    if let Err(error) = guest::fail(UNCAUGHT_ERROR_CODE, message) {
        guest::error(&format!("failed to report the job's failure: {error}"));
    }
}
