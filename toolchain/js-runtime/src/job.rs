//! `_start`: runs the konnector's bytecode as an ES module, then its event
//! loop.
//!
//! The event loop runs promise jobs until none is left, then the earliest
//! timer (waiting until it is due), and again, until no promise job and no
//! timer is left. The job ends with an error in four cases:
//!
//! * the module's evaluation rejects;
//! * a promise is still rejected with no handler once the promise jobs are
//!   done, as in Node.js;
//! * a timer's callback throws;
//! * the top-level code awaits a promise that nothing can settle any more.
//!
//! NOTE: an interval that is never cleared keeps the job running until the
//! engine's deadline ends it.

use konnector_host_api::{KNOWN_ERROR_CODES, guest};
use rquickjs::promise::PromiseState;
use rquickjs::{Ctx, Persistent, Promise, Value, qjs};

use crate::{dependencies, host, host_api, js, random, timers};

/// The Cozy error code of a job that ends on a JavaScript error, unless the
/// error's message is one of [`KNOWN_ERROR_CODES`].
const UNCAUGHT_ERROR_CODE: &str = "UNKNOWN_ERROR";

/// Runs one job: reads the konnector's bytecode, evaluates it as a module
/// and runs its event loop. An uncaught exception or unhandled rejection
/// ends the job with the Cozy error code of its message, such as
/// `LOGIN_FAILED` for `throw new Error("LOGIN_FAILED")`, else
/// `UNKNOWN_ERROR`.
pub fn run() {
    if let Err(message) = random::reseed_random() {
        fail(&format!("failed to seed Math.random: {message}"));
        return;
    }
    // A snapshot has the dependencies already; without one, their bundle
    // is evaluated now, and each package at its first require.
    if let Err(message) = dependencies::install_from_host() {
        let line = format!("failed to evaluate the konnector's dependencies: {message}");
        guest::error(&line);
        fail(&line);
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
        if run_event_loop(js, &promise) {
            js.context.with(|ctx| check_module_settled(&ctx, &promise));
        }
    });
}

/// Loads and evaluates the module, and returns the promise of its
/// evaluation, which settles when its top-level code (with any top-level
/// `await`) is done. Returns `None` after reporting an error.
fn start_module(ctx: &Ctx<'_>, bytecode: &[u8]) -> Option<Persistent<Promise<'static>>> {
    match evaluate_bytecode(ctx, bytecode) {
        Ok(promise) => Some(Persistent::save(ctx, promise)),
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

/// Reads module bytecode, resolves its imports through the module loader
/// (`crate::modules`) and evaluates it, as QuickJS's own `qjs` does.
/// rquickjs's `Module::load` skips the resolution, without which QuickJS
/// cannot link a module that imports anything.
pub fn evaluate_bytecode<'js>(ctx: &Ctx<'js>, bytecode: &[u8]) -> rquickjs::Result<Promise<'js>> {
    let raw_ctx = ctx.as_raw().as_ptr();
    // `ROM_DATA` lets the module's functions point into `bytecode` instead
    // of copying it, which is why `run` keeps it until the job ends.
    let flags = (qjs::JS_READ_OBJ_BYTECODE | qjs::JS_READ_OBJ_ROM_DATA) as i32;
    // SAFETY: QuickJS trusts bytecode, and a malformed one can corrupt the
    // runtime's memory. That memory is this module instance's linear memory,
    // which the engine isolates, so the damage stays inside the job. The
    // calls follow QuickJS's contract: `JS_EvalFunction` takes the module
    // value that `JS_ReadObject` returned, and an exception is checked after
    // each call.
    unsafe {
        let module = qjs::JS_ReadObject(raw_ctx, bytecode.as_ptr(), bytecode.len() as _, flags);
        if qjs::JS_IsException(module) {
            return Err(rquickjs::Error::Exception);
        }
        if qjs::JS_VALUE_GET_TAG(module) != qjs::JS_TAG_MODULE {
            let message = "the konnector's bytecode is not a module";
            return Err(rquickjs::Exception::throw_type(ctx, message));
        }
        // NOTE: a module whose imports fail to resolve is not freed: the
        // job ends right after.
        if qjs::JS_ResolveModule(raw_ctx, module) < 0 {
            return Err(rquickjs::Error::Exception);
        }
        let promise = qjs::JS_EvalFunction(raw_ctx, module);
        if qjs::JS_IsException(promise) {
            return Err(rquickjs::Error::Exception);
        }
        Value::from_raw(ctx.clone(), promise)
            .into_promise()
            .ok_or(rquickjs::Error::Unknown)
    }
}

/// Next step of the event loop, once the promise jobs are done.
enum Step {
    /// Wait for the timer due at this time (monotonic milliseconds), then
    /// run it.
    RunTimer(f64),
    /// Nothing is left to run.
    Done,
    /// An error ended the job.
    Stop,
}

/// Runs the event loop until nothing is left to run. Returns `false` after
/// reporting an error that ends the job.
fn run_event_loop(js: &js::Js, module: &Persistent<Promise<'static>>) -> bool {
    loop {
        if !run_pending_jobs(js) {
            return false;
        }
        let step = js.context.with(|ctx| next_step(&ctx, module));
        let due = match step {
            Step::RunTimer(due) => due,
            Step::Done => return true,
            Step::Stop => return false,
        };
        timers::wait_until(due);
        let ran = js.context.with(|ctx| match timers::run_next(&ctx) {
            Ok(()) => true,
            Err(error) => {
                report_error(&ctx, "uncaught exception in a timer", error);
                false
            }
        });
        if !ran {
            return false;
        }
    }
}

/// Checks for rejections once the promise jobs are done, then finds the
/// next timer.
fn next_step(ctx: &Ctx<'_>, module: &Persistent<Promise<'static>>) -> Step {
    if !check_rejections(ctx, module) {
        return Step::Stop;
    }
    match timers::next_due(ctx) {
        Ok(Some(due)) => Step::RunTimer(due),
        Ok(None) => Step::Done,
        Err(error) => {
            report_error(ctx, "failed to find the next timer", error);
            Step::Stop
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

/// Runs promise jobs until the queue is empty, outside a job's event loop
/// (for the dependency bundle). Returns the description of an exception a
/// job threw, or of the first promise rejected with no handler.
pub fn drain_pending_jobs(js: &js::Js) -> Result<(), String> {
    loop {
        match js.runtime.execute_pending_job() {
            Ok(true) => {}
            Ok(false) => break,
            Err(exception) => {
                return Err(exception.0.with(|ctx| {
                    let value = ctx.catch();
                    describe_value(&ctx, &value)
                }));
            }
        }
    }
    let rejections = js::take_unhandled_rejections();
    js.context.with(|ctx| match rejections.into_iter().next() {
        Some(rejection) => match rejection.reason.restore(&ctx) {
            Ok(reason) => Err(format!(
                "unhandled promise rejection: {}",
                describe_value(&ctx, &reason)
            )),
            Err(error) => Err(format!("unhandled promise rejection: {error}")),
        },
        None => Ok(()),
    })
}

/// Describes an error of a call into JavaScript: the exception it threw
/// with its stack, or the error itself.
pub fn describe_error(ctx: &Ctx<'_>, error: rquickjs::Error) -> String {
    let exception = ctx.catch();
    if exception.is_undefined() || exception.is_null() {
        error.to_string()
    } else {
        describe_value(ctx, &exception)
    }
}

/// Describes a thrown value as `Name: message` and its stack.
pub fn describe_value<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> String {
    let (summary, stack) = describe(ctx, value);
    match stack {
        Some(stack) => format!("{summary}\n{}", stack.trim_end()),
        None => summary,
    }
}

/// Reports the rejection of the module's evaluation, then any other
/// promise rejected with no handler. Returns `false` after reporting one.
fn check_rejections(ctx: &Ctx<'_>, module: &Persistent<Promise<'static>>) -> bool {
    let rejections = js::take_unhandled_rejections();
    let promise = match module.clone().restore(ctx) {
        Ok(promise) => promise,
        Err(error) => {
            fail(&format!("failed to restore the module's promise: {error}"));
            return false;
        }
    };
    if promise.state() == PromiseState::Rejected {
        // A throw in the top-level code rejects the module's promise,
        // which the rejection tracker lists too: report it once.
        // `result` throws the reason of a rejected promise into the
        // context, where `catch` takes it.
        let _ = promise.result::<Value>();
        let reason = ctx.catch();
        report_uncaught(ctx, "uncaught exception", reason);
        return false;
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
            return false;
        }
    }
    true
}

/// Ends the job with an error when the module's top-level code still awaits
/// once nothing is left to run.
fn check_module_settled(ctx: &Ctx<'_>, module: &Persistent<Promise<'static>>) {
    let pending = module
        .clone()
        .restore(ctx)
        .is_ok_and(|promise| promise.state() == PromiseState::Pending);
    if pending {
        let message = "the konnector's top-level code awaits a promise that never settles";
        guest::error(message);
        fail(message);
    }
}

/// Reports an error of a call into JavaScript: the exception it threw, or
/// the error itself when it threw none.
fn report_error(ctx: &Ctx<'_>, kind: &str, error: rquickjs::Error) {
    let exception = ctx.catch();
    if exception.is_undefined() || exception.is_null() {
        let message = format!("{kind}: {error}");
        guest::error(&message);
        fail(&message);
    } else {
        report_uncaught(ctx, kind, exception);
    }
}

/// Logs an uncaught value with its JavaScript stack at level error, and
/// ends the job with the value's description and error code (see
/// [`error_code`]), unless the konnector already reported one with
/// `konnector:host`'s `fail`.
fn report_uncaught<'js>(ctx: &Ctx<'js>, kind: &str, value: Value<'js>) {
    let (summary, stack) = describe(ctx, &value);
    let line = match stack {
        Some(stack) => format!("{kind}: {summary}\n{}", stack.trim_end()),
        None => format!("{kind}: {summary}"),
    };
    guest::error(&line);
    if !host_api::job_failed() {
        fail_with(error_code(&value), &summary);
    }
}

/// Returns the Cozy error code of an uncaught value: its `message` when
/// that is exactly one of [`KNOWN_ERROR_CODES`], else `UNKNOWN_ERROR`.
/// cozy-konnector-libs konnectors fail that way, with
/// `throw new Error("LOGIN_FAILED")`.
fn error_code(value: &Value<'_>) -> &'static str {
    let message = value
        .as_object()
        .and_then(|object| object.get::<_, Option<String>>("message").ok().flatten());
    // A getter that threw leaves its exception in the context, which is
    // cleared here. `describe` has already cleared any earlier one.
    let _ = value.ctx().catch();
    message
        .and_then(|message| KNOWN_ERROR_CODES.iter().find(|code| **code == message))
        .copied()
        .unwrap_or(UNCAUGHT_ERROR_CODE)
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
    fail_with(UNCAUGHT_ERROR_CODE, message);
}

fn fail_with(code: &str, message: &str) {
    if let Err(error) = guest::fail(code, message) {
        guest::error(&format!("failed to report the job's failure: {error}"));
    }
}
