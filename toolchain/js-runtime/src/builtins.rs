//! The built-in JavaScript environment: the JavaScript files evaluated at
//! pre-initialisation, and the native functions they wrap.
//!
//! Each file is one function expression, called with two objects that
//! konnector code cannot reach. `native` contains the Rust functions of
//! this crate's modules. `internal` is where a file puts what later files
//! and the job loop use (`defineGlobal`, the module registry, the timer
//! queue).
//! Files run in this order:
//!
//! | File | Defines |
//! |---|---|
//! | `prelude.js` | `console`, `atob`, `btoa`, `Math.random` |
//! | `prelude/encoding.js` | `TextEncoder`, `TextDecoder` |
//! | `prelude/url.js` | `URL`, `URLSearchParams` |
//! | `prelude/crypto.js` | `crypto.getRandomValues`, `crypto.randomUUID` |
//! | `prelude/timers.js` | `setTimeout`, `setInterval`, their `clear*`, `process` |
//! | `prelude/modules.js` | `require` and the registry of built-in modules |
//! | `prelude/fetch.js` | `fetch`, `Headers`, `Request`, `Response` |
//! | `prelude/host.js` | the `konnector:host` module |
//! | `prelude/node/buffer.js` | the `buffer` module and the global `Buffer` |
//! | `prelude/node/path.js` | the `path` module (POSIX) |
//! | `prelude/node/querystring.js` | the `querystring` module |
//! | `prelude/node/url.js` | the `url` module |
//! | `prelude/node/util.js` | the `util` module |
//! | `prelude/node/events.js` | the `events` module |
//!
//! The files of `prelude/node/` are small versions of Node.js's modules,
//! for npm packages bundled into konnectors. `require` and `import` also
//! find them by their `node:` names, such as `node:buffer`.
//!
//! Everything here runs at pre-initialisation, so it must be deterministic
//! and must not read job data: the job input, clocks and random bytes are
//! read by the natives when konnector code calls them.

use std::cell::OnceCell;

use rquickjs::context::EvalOptions;
use rquickjs::{Ctx, Function, Object, Persistent};

use crate::{base64, host_api, http, random, text, timers, url};

/// The JavaScript files of the environment, by the name stack traces give
/// them, in evaluation order.
const FILES: &[(&str, &str)] = &[
    ("prelude.js", include_str!("prelude.js")),
    ("prelude/encoding.js", include_str!("prelude/encoding.js")),
    ("prelude/url.js", include_str!("prelude/url.js")),
    ("prelude/crypto.js", include_str!("prelude/crypto.js")),
    ("prelude/timers.js", include_str!("prelude/timers.js")),
    ("prelude/modules.js", include_str!("prelude/modules.js")),
    ("prelude/fetch.js", include_str!("prelude/fetch.js")),
    ("prelude/host.js", include_str!("prelude/host.js")),
    (
        "prelude/node/buffer.js",
        include_str!("prelude/node/buffer.js"),
    ),
    ("prelude/node/path.js", include_str!("prelude/node/path.js")),
    (
        "prelude/node/querystring.js",
        include_str!("prelude/node/querystring.js"),
    ),
    ("prelude/node/url.js", include_str!("prelude/node/url.js")),
    ("prelude/node/util.js", include_str!("prelude/node/util.js")),
    (
        "prelude/node/events.js",
        include_str!("prelude/node/events.js"),
    ),
];

thread_local! {
    // The `internal` object, which the job loop and the module loader call.
    static INTERNAL: OnceCell<Persistent<Object<'static>>> = const { OnceCell::new() };
}

/// Registers the native functions and evaluates the environment's files.
pub fn install(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let native = Object::new(ctx.clone())?;
    base64::register(ctx, &native)?;
    random::register(ctx, &native)?;
    text::register(ctx, &native)?;
    url::register(ctx, &native)?;
    timers::register(ctx, &native)?;
    http::register(ctx, &native)?;
    host_api::register(ctx, &native)?;

    let internal = Object::new(ctx.clone())?;
    for (name, source) in FILES {
        let mut options = EvalOptions::default();
        options.filename = Some((*name).to_owned());
        let file: Function = ctx.eval_with_options(*source, options)?;
        file.call::<_, ()>((native.clone(), internal.clone()))?;
    }
    INTERNAL.with(|cell| {
        // `install` runs once per runtime, and the runtime is created once.
        let _ = cell.set(Persistent::save(ctx, internal));
    });
    Ok(())
}

/// Returns the function `name` of the `internal` object.
pub fn internal_function<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Function<'js>> {
    let internal = INTERNAL.with(|cell| cell.get().cloned());
    // `js::with` installs the environment before any caller gets a context.
    let Some(internal) = internal else {
        return Err(rquickjs::Error::Unknown);
    };
    internal.restore(ctx)?.get(name)
}
