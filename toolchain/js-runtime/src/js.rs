//! The QuickJS runtime and context of the module instance, and the promise
//! rejections that no handler has caught yet.

use std::cell::{OnceCell, RefCell};

use rquickjs::{Context, Ctx, Persistent, Runtime, Value};

use crate::{builtins, modules};

/// The QuickJS runtime and its one context.
pub struct Js {
    /// The runtime, which owns the heap and the job queue.
    pub runtime: Runtime,
    /// The context with the standard built-ins and the environment of
    /// [`builtins`].
    pub context: Context,
}

/// A promise rejected with no handler, and its reason.
pub struct Rejection {
    /// The rejected promise.
    pub promise: Persistent<Value<'static>>,
    /// The value it was rejected with.
    pub reason: Persistent<Value<'static>>,
}

thread_local! {
    // wasm32-wasip1 has one thread, so these are plain statics of the linear
    // memory, which pre-initialisation snapshots.
    static JS: OnceCell<Js> = const { OnceCell::new() };
    static UNHANDLED_REJECTIONS: RefCell<Vec<Rejection>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with the runtime, creating it on first use.
///
/// Pre-initialisation (`wizer.initialize`) creates it, so a pre-initialised
/// module starts with it; a module that was not pre-initialised creates it
/// in its first export call.
pub fn with<R>(f: impl FnOnce(&Js) -> R) -> R {
    JS.with(|cell| f(cell.get_or_init(create)))
}

/// Removes and returns the rejections that are still unhandled, oldest
/// first.
pub fn take_unhandled_rejections() -> Vec<Rejection> {
    UNHANDLED_REJECTIONS.with(|rejections| std::mem::take(&mut *rejections.borrow_mut()))
}

fn create() -> Js {
    // A failure here is a bug of this runtime, found by any test that runs it.
    let runtime = Runtime::new().expect("failed to create the QuickJS runtime");
    // NOTE: QuickJS-ng turns its stack limit off when built for WASI
    // (`update_stack_limit` in quickjs.c), so unbounded recursion is not a
    // catchable RangeError: it ends the job with the engine's wasm stack
    // overflow trap.
    runtime.set_host_promise_rejection_tracker(Some(Box::new(track_rejection)));
    modules::install(&runtime);
    let context = Context::full(&runtime).expect("failed to create the QuickJS context");
    context.with(|ctx| {
        if let Err(error) = builtins::install(&ctx) {
            let exception = ctx.catch();
            let detail = exception
                .as_object()
                .map(|object| {
                    let text = |key| object.get::<_, Option<String>>(key).ok().flatten();
                    let message = text("message").unwrap_or_default();
                    let stack = text("stack").unwrap_or_default();
                    format!("{message}\n{stack}")
                })
                .unwrap_or_else(|| format!("{exception:?}"));
            panic!("failed to install the built-in environment: {error}: {detail}");
        }
    });
    Js { runtime, context }
}

/// Records a promise rejected with no handler (`is_handled` false), and
/// forgets it when a handler is attached later (`is_handled` true).
fn track_rejection<'js>(ctx: Ctx<'js>, promise: Value<'js>, reason: Value<'js>, is_handled: bool) {
    UNHANDLED_REJECTIONS.with(|rejections| {
        let mut rejections = rejections.borrow_mut();
        if is_handled {
            rejections.retain(|rejection| {
                let tracked = rejection.promise.clone().restore(&ctx);
                !tracked.is_ok_and(|tracked| tracked == promise)
            });
        } else {
            rejections.push(Rejection {
                promise: Persistent::save(&ctx, promise),
                reason: Persistent::save(&ctx, reason),
            });
        }
    });
}
