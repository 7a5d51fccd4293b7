//! The preload plan: the choice of the bundled dependencies that the
//! engine may evaluate ahead of time.
//!
//! Before a konnector's first job, the engine runs the runtime's
//! `konnector.preload` export on the konnector's dependency bundle, which
//! requires each package of the artifact's [`PreloadPlan`] in turn, and
//! snapshots the instance. A package whose top level reads the clock,
//! draws random numbers, writes output or calls any other host function
//! cannot be in that snapshot, and neither can one that throws while it
//! loads: each job evaluates those at their first `require`.
//!
//! [`plan_preload`] finds them at build time by running the same export on
//! the build-time host, which refuses those calls (see
//! [`super::host::preload`]). Each trial starts from a fresh instance and
//! requires the remaining packages in order. When one is refused or
//! throws, the runtime names it through `konnector_js_v1::preload_step`,
//! and it moves to the plan's `per_job` with the reason in plain words.
//! Then the next trial runs without it, until one evaluates them all.

use konnector_host_api::artifact::{PerJobDependency, PreloadPlan};
use wasmtime::Trap;

use super::host::preload::{self as host_preload, PreloadRefusal};
use super::host::{GuestExit, HostState};
use super::{JsError, JsRuntime, instantiate_error};

/// The runtime's export that evaluates dependencies ahead of time.
pub const PRELOAD_EXPORT: &str = "konnector.preload";

/// Fuel units one preload trial may use: 5 billion, the default of the
/// engine's own preload budget (`PreloadLimits` in
/// `engine/src/snapshot.rs`). A package that needs more while it loads is
/// left to each job, whose own budget then applies.
pub const PRELOAD_FUEL: u64 = 5_000_000_000;

/// Linear memory one preload trial may use, in bytes: 256 MiB, the
/// default of the engine's own cap for a preload. A package that needs
/// more while it loads fails to allocate, so it throws or stops the
/// runtime, and is left to each job.
pub const PRELOAD_MEMORY_BYTES: usize = 256 << 20;

/// Exit status of `konnector.preload` when a package called something a
/// snapshot must not capture, such as `Math.random`: `PRELOAD_REFUSED_EXIT`
/// in `js-runtime/src/dependencies.rs`.
const PRELOAD_REFUSED_EXIT: i32 = 3;

/// Exit status of `konnector.preload` when the bundle or a package threw:
/// `PRELOAD_FAILED_EXIT` in `js-runtime/src/dependencies.rs`.
const PRELOAD_FAILED_EXIT: i32 = 4;

/// Number of characters of a package's error that a reason keeps.
const MAX_ERROR_CHARS: usize = 300;

/// The outcome of one run of `konnector.preload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreloadTrial {
    /// Every package of the trial loaded.
    Loaded,
    /// The package `name` cannot be evaluated ahead of time.
    Refused {
        /// The package's name, as the konnector requires it.
        name: String,
        /// Why, in plain words, such as `it reads the clock while it loads
        /// (wasi clock_time_get)`.
        reason: String,
    },
}

/// Finds which of `names` (the names the dependency bundle `dependencies`
/// defines, in the order the konnector's code requires them) can be
/// evaluated ahead of time. Runs at most one trial per name: each trial
/// that fails moves one name out, and one that succeeds ends the search.
///
/// # Errors
///
/// When the runtime fails outside of any package: it cannot be
/// instantiated, the bundle itself throws, or it names a package the trial
/// did not list.
pub fn plan_preload(
    runtime: &JsRuntime,
    dependencies: &[u8],
    names: &[String],
) -> Result<PreloadPlan, JsError> {
    let mut evaluate = names.to_vec();
    let mut per_job = Vec::new();
    // Each refused trial removes one name, so the loop ends.
    while !evaluate.is_empty() {
        let (name, reason) = match runtime.preload(dependencies, &evaluate)? {
            PreloadTrial::Loaded => break,
            PreloadTrial::Refused { name, reason } => (name, reason),
        };
        let Some(index) = evaluate.iter().position(|listed| *listed == name) else {
            return Err(preload_error(format!(
                "the runtime refused the dependency {name:?}, which the trial did not list"
            )));
        };
        evaluate.remove(index);
        per_job.push(PerJobDependency { name, reason });
    }
    Ok(PreloadPlan { evaluate, per_job })
}

impl JsRuntime {
    /// Runs `konnector.preload` in a new instance on the build-time host,
    /// with the dependency bundle `dependencies` and the plan `names`, with
    /// [`PRELOAD_FUEL`] units of fuel and [`PRELOAD_MEMORY_BYTES`] of
    /// memory. Every host call but the few the preload needs is refused.
    ///
    /// # Errors
    ///
    /// When the instance cannot be created, or fails before the first
    /// package or after the last one.
    pub fn preload(&self, dependencies: &[u8], names: &[String]) -> Result<PreloadTrial, JsError> {
        let plan = serde_json::to_vec(names)
            .map_err(|error| preload_error(format!("failed to write the plan: {error}")))?;
        let state = HostState {
            dependencies: Some(dependencies.to_vec()),
            preload_plan: Some(plan),
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(PRELOAD_MEMORY_BYTES)
                .build(),
            ..HostState::default()
        };
        let linker = host_preload::linker(&self.engine, &self.module).map_err(instantiate_error)?;
        let (state, called) = self.call_on(&linker, state, PRELOAD_EXPORT, PRELOAD_FUEL)?;

        let step = state.preload_step.as_deref().unwrap_or("");
        match called {
            Ok(()) if state.preload_step.as_deref() == Some("") => Ok(PreloadTrial::Loaded),
            Ok(()) => Err(preload_error(
                "konnector.preload returned before it evaluated every dependency".to_owned(),
            )),
            Err(error) if step.is_empty() => Err(preload_error(super::with_stdio(&error, &state))),
            Err(error) => Ok(PreloadTrial::Refused {
                name: step.to_owned(),
                reason: refusal_reason(&error, &state, step),
            }),
        }
    }
}

/// Describes why the package `name` stopped a preload with `error`.
fn refusal_reason(error: &wasmtime::Error, state: &HostState, name: &str) -> String {
    if let Some(refusal) = error.downcast_ref::<PreloadRefusal>() {
        return import_reason(&refusal.import);
    }
    let stderr = String::from_utf8_lossy(&state.stdio);
    let stderr = stderr.trim();
    if let Some(GuestExit(status)) = error.downcast_ref::<GuestExit>() {
        return match *status {
            PRELOAD_REFUSED_EXIT => match stderr.split_once(" was called while") {
                Some((function, _)) => format!("it calls {function} while it loads"),
                None => format!("it uses what a snapshot must not keep while it loads: {stderr}"),
            },
            PRELOAD_FAILED_EXIT => {
                let prefix = format!("dependency {name:?} failed to load: ");
                let message = stderr.strip_prefix(&prefix).unwrap_or(stderr);
                format!("it throws while it loads: {}", first_line(message))
            }
            other => format!("it exits with status {other} while it loads"),
        };
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return format!("it needs more than {PRELOAD_FUEL} fuel units to load");
    }
    format!("it stops the runtime while it loads: {error:#}")
}

/// Describes a package that called the import `import` (`module::name`)
/// while it loaded.
fn import_reason(import: &str) -> String {
    let (module, name) = import.split_once("::").unwrap_or(("", import));
    let activity = match name {
        "clock_time_get" | "clock_res_get" => "reads the clock",
        "poll_oneoff" => "waits for a timer",
        "random_get" => "reads random bytes",
        "fd_write" => "writes to standard output",
        "log" => "writes a log line",
        "job_input" => "reads the job's input",
        "account_data_get" => "reads the account's data",
        "http_fetch" => "sends an HTTP request",
        _ => "calls the host",
    };
    let module = match module {
        "wasi_snapshot_preview1" => "wasi",
        other => other,
    };
    format!("it {activity} while it loads ({module} {name})")
}

/// Returns the first line of `message`, at most [`MAX_ERROR_CHARS`]
/// characters of it.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    if line.chars().count() <= MAX_ERROR_CHARS {
        return line.to_owned();
    }
    let mut short: String = line.chars().take(MAX_ERROR_CHARS).collect();
    short.push('…');
    short
}

fn preload_error(message: String) -> JsError {
    JsError::Wasm {
        context: "the runtime's konnector.preload failed",
        message,
    }
}

#[cfg(test)]
mod tests;
