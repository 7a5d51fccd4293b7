//! Per-job limits: defaults, operator ceilings, and how a job lowers them.
//!
//! Every limit has a default ([`Limits::default`]) and an operator ceiling
//! ([`Limits::ceiling`] unless the operator sets others in
//! [`crate::EngineConfig`]). A job may ask for any value up to the ceiling
//! through [`LimitRequest`]; asking for more is an error that names the limit,
//! not a silent clamp, so an author learns that their konnector needs more
//! than the operator allows.
//!
//! Where each limit is enforced:
//!
//! | Limit | Enforced by |
//! |---|---|
//! | `fuel` | wasmtime fuel; the guest traps with `OutOfFuel` |
//! | `deadline_ms` | an epoch deadline for guest code, and a tokio timeout around the whole job so it also ends while the guest waits in a host call |
//! | `memory_bytes` | the store's `ResourceLimiter`: `memory.grow` past it returns -1 |
//! | `table_elements` | the same limiter: `table.grow` past it returns -1 |
//! | `instances` | the same limiter: instantiating more fails |
//! | `stack_bytes` | wasmtime's `max_wasm_stack`, which is per engine (see the field) |
//! | `log_bytes`, `log_lines` | the job's log: lines past either cap are counted and dropped |
//! | `documents`, `file_bytes` | the host functions that write documents and files |

use serde::{Deserialize, Serialize};

/// One value of every limit a job runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU budget in wasmtime fuel units (about one unit per WebAssembly
    /// instruction). Default 10 billion. A first run of the `libs-bills`
    /// sample (cozy-konnector-libs and cheerio, 3 pages, 12 bills) uses
    /// about 0.38 billion from its snapshot, and 0.58 billion when the job
    /// evaluates its dependencies itself. Host calls cost no fuel; the
    /// deadline bounds them.
    pub fuel: u64,
    /// Wall-clock time for the whole job in milliseconds, counted from the
    /// start of instantiation and including time spent waiting in host calls.
    /// Default 300,000 (5 minutes, the stack's default job timeout).
    pub deadline_ms: u64,
    /// Linear memory in bytes, summed over the instance's memories. Default
    /// 256 MiB, 32 times the 7.6 MiB that the `libs-bills` sample reaches
    /// (its snapshot's size). A JavaScript job starts with its snapshot's
    /// memory, so a limit below that fails the job before its code runs.
    /// Rounded down to whole 64 KiB WebAssembly pages in effect.
    pub memory_bytes: u64,
    /// Elements of any one table. Default 20,000 (QuickJS builds have a
    /// few thousand functions in their indirect-call table).
    pub table_elements: u64,
    /// Module instances a job may create. Default 1: a konnector is one core
    /// module, and WASI is implemented by the host.
    pub instances: u64,
    /// Guest stack in bytes: native stack that WebAssembly frames may use
    /// before the guest traps with a stack overflow. Default 1 MiB.
    ///
    /// NOTE: wasmtime fixes this per engine (`Config::max_wasm_stack`), not
    /// per store, so a job cannot lower it below the engine's value in a
    /// shared worker; the `konnector` command builds its engine with the
    /// value the job requests.
    pub stack_bytes: u64,
    /// Bytes of log lines kept, counting each line's message. Default 1 MiB.
    /// Lines past the cap are dropped and counted, never buffered.
    pub log_bytes: u64,
    /// Log lines kept. Default 10,000.
    pub log_lines: u64,
    /// Documents and files a job may write (each create, update, upsert,
    /// file save or account data save counts one, unchanged upserts
    /// included). Default 10,000.
    pub documents: u64,
    /// Bytes of file contents a job may save, summed over its files.
    /// Default 1 GiB.
    pub file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 10_000_000_000,
            deadline_ms: 300_000,
            memory_bytes: 256 << 20,
            table_elements: 20_000,
            instances: 1,
            stack_bytes: 1 << 20,
            log_bytes: 1 << 20,
            log_lines: 10_000,
            documents: 10_000,
            file_bytes: 1 << 30,
        }
    }
}

impl Limits {
    /// Returns the ceilings an operator gets unless they set others: the
    /// maximum a job may request.
    pub fn ceiling() -> Self {
        Limits {
            fuel: 200_000_000_000,
            deadline_ms: 3_600_000,
            memory_bytes: 2 << 30,
            table_elements: 1_000_000,
            instances: 4,
            stack_bytes: 8 << 20,
            log_bytes: 64 << 20,
            log_lines: 1_000_000,
            documents: 1_000_000,
            file_bytes: 64 << 30,
        }
    }

    /// Applies a job's requests on top of `self` (the defaults), checking
    /// each against `ceiling`.
    ///
    /// # Errors
    ///
    /// [`LimitError`] names the first limit asked above its ceiling.
    pub fn with_requests(
        mut self,
        request: &LimitRequest,
        ceiling: &Limits,
    ) -> Result<Limits, LimitError> {
        let fields: [(&'static str, Option<u64>, &mut u64, u64); 10] = [
            ("fuel", request.fuel, &mut self.fuel, ceiling.fuel),
            (
                "deadline_ms",
                request.deadline_ms,
                &mut self.deadline_ms,
                ceiling.deadline_ms,
            ),
            (
                "memory_bytes",
                request.memory_bytes,
                &mut self.memory_bytes,
                ceiling.memory_bytes,
            ),
            (
                "table_elements",
                request.table_elements,
                &mut self.table_elements,
                ceiling.table_elements,
            ),
            (
                "instances",
                request.instances,
                &mut self.instances,
                ceiling.instances,
            ),
            (
                "stack_bytes",
                request.stack_bytes,
                &mut self.stack_bytes,
                ceiling.stack_bytes,
            ),
            (
                "log_bytes",
                request.log_bytes,
                &mut self.log_bytes,
                ceiling.log_bytes,
            ),
            (
                "log_lines",
                request.log_lines,
                &mut self.log_lines,
                ceiling.log_lines,
            ),
            (
                "documents",
                request.documents,
                &mut self.documents,
                ceiling.documents,
            ),
            (
                "file_bytes",
                request.file_bytes,
                &mut self.file_bytes,
                ceiling.file_bytes,
            ),
        ];
        for (name, requested, value, max) in fields {
            if let Some(requested) = requested {
                if requested > max {
                    return Err(LimitError {
                        name,
                        requested,
                        ceiling: max,
                    });
                }
                *value = requested;
            } else {
                // A default above a lowered operator ceiling follows the ceiling.
                *value = (*value).min(max);
            }
        }
        Ok(self)
    }
}

/// Limits a job requests; `None` keeps the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRequest {
    /// See [`Limits::fuel`].
    pub fuel: Option<u64>,
    /// See [`Limits::deadline_ms`].
    pub deadline_ms: Option<u64>,
    /// See [`Limits::memory_bytes`].
    pub memory_bytes: Option<u64>,
    /// See [`Limits::table_elements`].
    pub table_elements: Option<u64>,
    /// See [`Limits::instances`].
    pub instances: Option<u64>,
    /// See [`Limits::stack_bytes`].
    pub stack_bytes: Option<u64>,
    /// See [`Limits::log_bytes`].
    pub log_bytes: Option<u64>,
    /// See [`Limits::log_lines`].
    pub log_lines: Option<u64>,
    /// See [`Limits::documents`].
    pub documents: Option<u64>,
    /// See [`Limits::file_bytes`].
    pub file_bytes: Option<u64>,
}

/// A job asked for more than the operator allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "limit {name} of {requested} is above the operator's ceiling of {ceiling}; ask for at most {ceiling}"
)]
pub struct LimitError {
    /// The limit's name, as in [`Limits`].
    pub name: &'static str,
    /// Value the job requested.
    pub requested: u64,
    /// The operator's ceiling.
    pub ceiling: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_under_ceilings() {
        let limits = Limits::default()
            .with_requests(&LimitRequest::default(), &Limits::ceiling())
            .expect("defaults are allowed");
        assert_eq!(limits, Limits::default());
    }

    #[test]
    fn request_lowers_a_limit() {
        let request = LimitRequest {
            fuel: Some(1_000),
            memory_bytes: Some(1 << 20),
            ..Default::default()
        };
        let limits = Limits::default()
            .with_requests(&request, &Limits::ceiling())
            .expect("allowed");
        assert_eq!(limits.fuel, 1_000);
        assert_eq!(limits.memory_bytes, 1 << 20);
        assert_eq!(limits.deadline_ms, Limits::default().deadline_ms);
    }

    #[test]
    fn request_above_ceiling_names_limit() {
        let request = LimitRequest {
            deadline_ms: Some(10_000_000),
            ..Default::default()
        };
        let error = Limits::default()
            .with_requests(&request, &Limits::ceiling())
            .expect_err("above the ceiling");
        assert_eq!(error.name, "deadline_ms");
        assert!(
            error.to_string().contains("deadline_ms of 10000000"),
            "{error}"
        );
    }

    #[test]
    fn lowered_ceiling_caps_defaults() {
        let ceiling = Limits {
            memory_bytes: 64 << 20,
            ..Limits::ceiling()
        };
        let limits = Limits::default()
            .with_requests(&LimitRequest::default(), &ceiling)
            .expect("ok");
        assert_eq!(limits.memory_bytes, 64 << 20);
    }
}
