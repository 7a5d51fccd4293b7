//! The konnector's bundled dependencies: evaluating their bundle, and
//! `konnector.preload`, which evaluates some of them ahead of time for the
//! snapshot of a konnector.
//!
//! `konnector build` bundles the npm packages that a konnector's own code
//! requires apart from that code, into a module that defines one factory
//! per package name (see `prelude/modules.js`). Before a konnector's first
//! job, the engine calls `konnector.preload` once and snapshots the
//! result: the bundle is evaluated, then each package the host names
//! (`konnector_js_v1::preload_plan`) is required, and jobs start from that
//! memory. Without a snapshot, `_start` evaluates the bundle itself
//! ([`install_from_host`]) and packages are evaluated at their first
//! `require`.
//!
//! Nothing of a job may reach the snapshot, and nothing that each job
//! should get anew may be frozen in it. So while preloading, Math.random
//! ends the instance ([`refuse`]), and the host ends it at any other host
//! call (a clock, random bytes, a log line, the job input, the network).
//! `konnector_js_v1::preload_step` tells the host which package did it, and
//! that package is left to be evaluated in each job.

use std::cell::Cell;

use rquickjs::promise::PromiseState;
use rquickjs::{Ctx, Value};

use crate::{builtins, host, js, job};

thread_local! {
    // Whether the dependency bundle has been evaluated in this instance:
    // true in a snapshot taken after `konnector.preload`.
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
    // Whether `konnector.preload` is running.
    static PRELOADING: Cell<bool> = const { Cell::new(false) };
}

/// Returns whether `konnector.preload` is running.
pub fn preloading() -> bool {
    PRELOADING.with(Cell::get)
}

/// Ends the instance because `what` was used while dependencies were
/// evaluated ahead of time: the host reports the package being evaluated.
pub fn refuse(what: &str) -> ! {
    eprintln!("{what} was called while the konnector's dependencies were evaluated ahead of time");
    std::process::exit(PRELOAD_REFUSED_EXIT);
}

/// Exit status of `konnector.preload` when a package used something a
/// snapshot must not capture.
pub const PRELOAD_REFUSED_EXIT: i32 = 3;

/// Exit status of `konnector.preload` when the bundle or a package failed
/// to evaluate.
pub const PRELOAD_FAILED_EXIT: i32 = 4;

/// Evaluates the dependency bundle the host gives, unless this instance
/// did already (a snapshot). Returns an error message when the bundle does
/// not evaluate.
pub fn install_from_host() -> Result<(), String> {
    if INSTALLED.with(Cell::get) {
        return Ok(());
    }
    let Some(bytecode) = host::dependencies()? else {
        return Ok(());
    };
    js::with(|js| install(js, bytecode))
}

/// `konnector.preload`: evaluates the bundle and the packages of the
/// host's plan, then collects garbage so that the snapshot is small.
pub fn preload() {
    PRELOADING.with(|flag| flag.set(true));
    let result = (|| -> Result<(), String> {
        let bytecode = host::dependencies()?
            .ok_or_else(|| "the host gave no dependency bundle".to_owned())?;
        let plan = host::preload_plan()?;
        let names: Vec<String> = serde_json::from_slice(&plan)
            .map_err(|error| format!("the preload plan is not a JSON array of names: {error}"))?;
        js::with(|js| {
            install(js, bytecode)?;
            for name in &names {
                host::preload_step(name)?;
                js.context
                    .with(|ctx| require(&ctx, name))
                    .map_err(|message| format!("dependency {name:?} failed to load: {message}"))?;
                job::drain_pending_jobs(js)
                    .map_err(|message| format!("dependency {name:?} failed to load: {message}"))?;
            }
            host::preload_step("")?;
            js.runtime.run_gc();
            Ok(())
        })
    })();
    PRELOADING.with(|flag| flag.set(false));
    if let Err(message) = result {
        eprintln!("{message}");
        std::process::exit(PRELOAD_FAILED_EXIT);
    }
}

/// Evaluates the bundle's module with `define` open, and marks it
/// installed.
fn install(js: &js::Js, bytecode: Vec<u8>) -> Result<(), String> {
    // The module's functions point into its bytecode (ROM data), so the
    // bytes stay for as long as the instance lives, as a snapshot keeps
    // them.
    let bytecode: &'static [u8] = Box::leak(bytecode.into_boxed_slice());
    let promise = js.context.with(|ctx| {
        let open = builtins::internal_function(&ctx, "openDependencies")
            .and_then(|open| open.call::<_, ()>(()));
        if let Err(error) = open {
            return Err(job::describe_error(&ctx, error));
        }
        let evaluated = job::evaluate_bytecode(&ctx, bytecode)
            .map(|promise| rquickjs::Persistent::save(&ctx, promise))
            .map_err(|error| job::describe_error(&ctx, error));
        let close = builtins::internal_function(&ctx, "closeDependencies")
            .and_then(|close| close.call::<_, ()>(()));
        if let Err(error) = close {
            return Err(job::describe_error(&ctx, error));
        }
        evaluated
    })?;
    job::drain_pending_jobs(js)?;
    js.context.with(|ctx| {
        let promise = promise
            .restore(&ctx)
            .map_err(|error| format!("failed to restore the bundle's promise: {error}"))?;
        match promise.state() {
            PromiseState::Resolved => Ok(()),
            PromiseState::Pending => {
                Err("the dependency bundle awaits a promise that never settles".to_owned())
            }
            PromiseState::Rejected => {
                let _ = promise.result::<Value>();
                let reason = ctx.catch();
                Err(job::describe_value(&ctx, &reason))
            }
        }
    })?;
    INSTALLED.with(|flag| flag.set(true));
    Ok(())
}

/// Requires `name` from the registry, returning the error's description
/// when its evaluation throws.
fn require(ctx: &Ctx<'_>, name: &str) -> Result<(), String> {
    builtins::internal_function(ctx, "requireModule")
        .and_then(|require| require.call::<_, Value>((name,)))
        .map(|_| ())
        .map_err(|error| job::describe_error(ctx, error))
}
