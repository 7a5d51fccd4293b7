//! The JSON lines the stack reads on a konnector's standard output.
//!
//! Each line is one object `{"type", "message", "time"}`, plus `no_retry`
//! on the final `critical` line. The stack takes a job's error from the
//! first `critical` line, else from the last `error` line, even when the
//! process exits with 0. So only the engine writes those two types: guest
//! log lines become `debug`, `info` or `warning` lines, a guest's error
//! and critical lines included. Guest text only ever appears JSON-encoded
//! inside `message`, where no newline or quote can end the line or start
//! another.

use std::io::Write;

use konnector_engine::host_api::LogLevel;
use konnector_engine::{JobReport, LogLine};
use serde_json::json;

/// The stack cuts messages at this many characters; cutting them here keeps
/// every line far below its 64 KiB line limit.
pub(crate) const MAX_MESSAGE_CHARS: usize = 4000;

/// Error codes after which the stack should not retry the job: the person
/// has to act first.
const NO_RETRY_PREFIXES: &[&str] = &["LOGIN_FAILED", "USER_ACTION_NEEDED"];

/// Writes one log line of the job.
pub(crate) fn log_line(line: &LogLine) {
    let kind = match line.level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        // The stack would take an `error` or `critical` line as the job's
        // error, so a guest's cannot be one: the engine alone decides it.
        LogLevel::Warning | LogLevel::Error | LogLevel::Critical => "warning",
    };
    write(&json!({"type": kind, "message": cut(&line.message), "time": now()}));
}

/// Writes the job's last line: its counters on success, and on failure the
/// `critical` line whose message is the error code.
pub(crate) fn result_line(report: &JobReport) {
    let counters = &report.counters;
    let summary = format!(
        "job {}: {} ms, {} documents written, {} writes refused, {} HTTP requests, {} fuel, peak memory {} KiB",
        report.outcome.kind_name(),
        counters.wall_time_ms,
        counters.documents_written,
        counters.writes_refused,
        counters.http_requests,
        counters.fuel_used,
        counters.peak_memory_bytes / 1024
    );
    write(&json!({"type": "info", "message": cut(&summary), "time": now()}));
    if let Some(code) = report.outcome.error_code() {
        critical(code);
    }
}

/// Writes a `critical` line with `code`, the job's error.
pub(crate) fn critical(code: &str) {
    let no_retry = NO_RETRY_PREFIXES
        .iter()
        .any(|prefix| code == *prefix || code.starts_with(&format!("{prefix}.")));
    write(&json!({"type": "critical", "message": cut(code), "no_retry": no_retry, "time": now()}));
}

/// Writes an `error` line about the engine itself (not the guest).
pub(crate) fn engine_error(message: &str) {
    write(&json!({"type": "error", "message": cut(message), "time": now()}));
}

fn write(line: &serde_json::Value) {
    // A closed standard output cannot be reported anywhere else.
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Cuts `text` to [`MAX_MESSAGE_CHARS`] characters.
fn cut(text: &str) -> &str {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Returns the current time as RFC 3339 in UTC, with milliseconds.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_on_characters() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        assert_eq!(cut(&long).chars().count(), MAX_MESSAGE_CHARS);
        assert_eq!(cut("short"), "short");
    }
}
