//! The build-time host while the runtime's `konnector.preload` export runs.
//!
//! A package may be evaluated ahead of time, into a snapshot that every job
//! of the konnector starts from, only when its top level reads nothing of a
//! job and draws nothing that each job should get anew. So while a preload
//! runs, every import traps with a [`PreloadRefusal`] that names it, except
//! the ones that evaluating the dependency bundle needs:
//!
//! * `konnector_v1::result_len` and `result_read`, through which the
//!   runtime reads the two functions below;
//! * `konnector_js_v1::dependencies`, `preload_plan` and `preload_step`;
//! * WASI `fd_write` to standard error and `proc_exit`, with which the
//!   runtime ends the preload when a package calls `Math.random` or throws.
//!
//! Standard output is refused like any other import.

use konnector_host_api::{IMPORT_MODULE, RESULT_LEN, RESULT_READ};
use wasmtime::{Caller, Engine, ExternType, Linker, Module};

use super::{DEPENDENCIES, HostState, JS_IMPORT_MODULE, PRELOAD_PLAN, PRELOAD_STEP, WASI_MODULE};

/// File descriptor of standard error.
const STDERR_FD: i32 = 2;

/// The imports that work while a preload runs, besides `fd_write` to
/// standard error.
const PRELOAD_IMPORTS: &[(&str, &str)] = &[
    (IMPORT_MODULE, RESULT_LEN),
    (IMPORT_MODULE, RESULT_READ),
    (JS_IMPORT_MODULE, DEPENDENCIES),
    (JS_IMPORT_MODULE, PRELOAD_PLAN),
    (JS_IMPORT_MODULE, PRELOAD_STEP),
    (WASI_MODULE, "proc_exit"),
];

/// Trap of an import that the guest called while a preload ran.
#[derive(Debug, thiserror::Error)]
#[error("{import} was called while the konnector's dependencies were evaluated ahead of time")]
pub struct PreloadRefusal {
    /// The import, as `module::name`.
    pub import: String,
}

/// Creates a linker with every import of `module`, where the imports that
/// a preload does not need trap with a [`PreloadRefusal`].
pub fn linker(engine: &Engine, module: &Module) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = super::linker(engine, module)?;
    linker.allow_shadowing(true);
    for import in module.imports() {
        let ExternType::Func(ty) = import.ty() else {
            continue;
        };
        let (module_name, name) = (import.module(), import.name());
        if PRELOAD_IMPORTS.contains(&(module_name, name)) {
            continue;
        }
        let refusal = PreloadRefusal {
            import: format!("{module_name}::{name}"),
        };
        if (module_name, name) == (WASI_MODULE, "fd_write") {
            linker.func_wrap(
                WASI_MODULE,
                "fd_write",
                move |caller: Caller<'_, HostState>,
                      fd: i32,
                      iovs: i32,
                      iovs_len: i32,
                      written: i32|
                      -> wasmtime::Result<i32> {
                    if fd != STDERR_FD {
                        return Err(wasmtime::Error::new(PreloadRefusal {
                            import: refusal.import.clone(),
                        }));
                    }
                    Ok(super::fd_write(caller, fd, iovs, iovs_len, written))
                },
            )?;
            continue;
        }
        linker.func_new(module_name, name, ty, move |_, _, _| {
            Err(wasmtime::Error::new(PreloadRefusal {
                import: refusal.import.clone(),
            }))
        })?;
    }
    Ok(linker)
}
