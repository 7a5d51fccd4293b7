//! The end of a job: its outcome and its counters.

use serde::Serialize;

use crate::logs::LogLine;

/// End of a job. Callers match on it; its [`Outcome::error_code`] is what
/// the stack shows the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// `_start` returned (or exited with status 0) and no error was reported.
    Succeeded,
    /// The konnector reported a Cozy error code such as `LOGIN_FAILED`.
    KonnectorError {
        /// The code, such as `LOGIN_FAILED` or `VENDOR_DOWN`.
        code: String,
        /// The konnector's message, if it gave one.
        message: Option<String>,
    },
    /// The job used all its fuel.
    CpuBudgetExhausted,
    /// The guest needed more linear memory than its limit and could not go on.
    MemoryLimitReached,
    /// The job's wall-clock deadline passed.
    DeadlinePassed,
    /// The guest trapped for another reason.
    Trap {
        /// Kind of trap.
        trap: TrapKind,
        /// wasmtime's description, with a guest backtrace when available.
        message: String,
    },
    /// The engine refused to run or continue the job: the module imports a
    /// function the engine does not offer, exports no `_start`, or requests
    /// something its manifest does not grant in a way the guest cannot
    /// handle.
    PolicyRefusal {
        /// The rule, such as `unknown_import` or `missing_start`.
        rule: String,
        /// Description of the refusal, naming the value.
        message: String,
    },
}

impl Outcome {
    /// Returns whether the job succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Succeeded)
    }

    /// The Cozy error code the stack should record for this outcome, or
    /// `None` on success. Limits and traps map to codes the stack handles.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Outcome::Succeeded => None,
            Outcome::KonnectorError { code, .. } => Some(code),
            Outcome::CpuBudgetExhausted
            | Outcome::MemoryLimitReached
            | Outcome::DeadlinePassed
            | Outcome::Trap { .. }
            | Outcome::PolicyRefusal { .. } => Some("UNKNOWN_ERROR"),
        }
    }

    /// Returns a short stable name of the outcome kind, as serialised in
    /// `kind`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::KonnectorError { .. } => "konnector_error",
            Outcome::CpuBudgetExhausted => "cpu_budget_exhausted",
            Outcome::MemoryLimitReached => "memory_limit_reached",
            Outcome::DeadlinePassed => "deadline_passed",
            Outcome::Trap { .. } => "trap",
            Outcome::PolicyRefusal { .. } => "policy_refusal",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Succeeded => write!(f, "succeeded"),
            Outcome::KonnectorError {
                code,
                message: Some(message),
            } => {
                write!(f, "konnector reported {code}: {message}")
            }
            Outcome::KonnectorError {
                code,
                message: None,
            } => write!(f, "konnector reported {code}"),
            Outcome::CpuBudgetExhausted => write!(f, "cpu budget exhausted (fuel limit)"),
            Outcome::MemoryLimitReached => write!(f, "memory limit reached"),
            Outcome::DeadlinePassed => write!(f, "deadline passed"),
            Outcome::Trap { trap, message } => write!(f, "guest trapped ({trap:?}): {message}"),
            Outcome::PolicyRefusal { rule, message } => {
                write!(f, "refused by policy {rule}: {message}")
            }
        }
    }
}

/// Cause of a trap, when no limit explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "status", rename_all = "snake_case")]
pub enum TrapKind {
    /// An `unreachable` instruction, which is how Rust panics and aborts end.
    Unreachable,
    /// The guest stack overflowed its limit.
    StackOverflow,
    /// An out-of-bounds memory access.
    MemoryOutOfBounds,
    /// An out-of-bounds table access, or a call through a null reference.
    TableOutOfBounds,
    /// An indirect call whose signature did not match.
    BadSignature,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Integer overflow, or a float that does not convert to an integer.
    IntegerOverflow,
    /// The guest called `proc_exit` with a non-zero status.
    Exit(i32),
    /// A host function failed in a way that stops the guest.
    Host,
    /// Any other trap.
    Other,
}

/// Resources a job used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Largest linear memory size reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Wall time from the start of instantiation to the end, in milliseconds.
    pub wall_time_ms: u64,
    /// Document and file writes that created or changed something.
    pub documents_written: u64,
    /// Writes refused by the manifest's permissions.
    pub writes_refused: u64,
    /// HTTP requests sent or refused, every redirect hop counted.
    pub http_requests: u64,
    /// HTTP requests the network policy refused.
    pub http_refused: u64,
    /// Response bytes received, after decoding.
    pub http_bytes_received: u64,
    /// Log lines kept.
    pub log_lines: u64,
    /// Log bytes dropped because of the log caps.
    pub log_bytes_dropped: u64,
    /// Log lines dropped because of the log caps.
    pub log_lines_dropped: u64,
}

/// Everything a finished job reports.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    /// The job's id.
    pub job_id: String,
    /// The konnector's slug.
    pub konnector: String,
    /// Outcome of the job.
    pub outcome: Outcome,
    /// Resources it used.
    pub counters: Counters,
    /// The log lines kept, in order.
    pub logs: Vec<LogLine>,
}
