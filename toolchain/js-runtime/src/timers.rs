//! The clock of the timers, and the timer steps of the job loop.
//!
//! `prelude/timers.js` keeps the pending timers. The job loop
//! ([`crate::job`]) gets the earliest due time from it with [`next_due`],
//! waits until then with [`wait_until`], and runs that timer with
//! [`run_next`].

use std::cell::Cell;
use std::time::Duration;

use rquickjs::{Ctx, Function, Object};

use crate::{builtins, host};

thread_local! {
    // The number of pending timers, ref'ed or not, which
    // `prelude/timers.js` updates at each change.
    static TIMER_COUNT: Cell<u32> = const { Cell::new(0) };
}

/// Adds `now` (the monotonic clock in milliseconds) and `setTimerCount` to
/// the native functions.
pub fn register<'js>(ctx: &Ctx<'js>, native: &Object<'js>) -> rquickjs::Result<()> {
    native.set("now", Function::new(ctx.clone(), now_ms)?)?;
    native.set(
        "setTimerCount",
        Function::new(ctx.clone(), |count: u32| {
            TIMER_COUNT.with(|cell| cell.set(count))
        })?,
    )?;
    Ok(())
}

/// Reads WASI's monotonic clock in milliseconds.
///
/// NOTE: a clock that fails to read gives 0, which makes every timer due
/// at once. wasmtime's and the build-time host's monotonic clocks do not
/// fail.
fn now_ms() -> f64 {
    // Nanoseconds since an arbitrary start stay below 2^53 for 104 days,
    // so the conversion loses nothing in practice.
    host::monotonic_now_ns().map_or(0.0, |ns| ns as f64 / 1e6)
}

/// Returns when the earliest timer is due, in the milliseconds of the
/// monotonic clock, or `None` when no timer keeps the job alive (none is
/// left, or all of them are `unref`ed).
pub fn next_due(ctx: &Ctx<'_>) -> rquickjs::Result<Option<f64>> {
    // Most jobs use no timer, and calling into JavaScript costs fuel.
    if TIMER_COUNT.with(Cell::get) == 0 {
        return Ok(None);
    }
    let due: f64 = builtins::internal_function(ctx, "nextTimerDue")?.call(())?;
    Ok((due >= 0.0).then_some(due))
}

/// Waits until the monotonic clock reaches `due_ms`.
///
/// The wait is `std::thread::sleep`, which is WASI's `poll_oneoff` on a
/// clock. The engine bounds it by the job's deadline.
pub fn wait_until(due_ms: f64) {
    // Rounded up, so that the timer never runs before it is due.
    let wait_ns = ((due_ms - now_ms()) * 1e6).ceil();
    // A negative or not-a-number wait is no wait, and `as` saturates.
    if wait_ns > 0.0 {
        std::thread::sleep(Duration::from_nanos(wait_ns as u64));
    }
}

/// Runs the earliest timer's callback. An exception it throws is left in
/// the context, for the caller to catch.
pub fn run_next(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let run: Function = builtins::internal_function(ctx, "runNextTimer")?;
    run.call(())
}
