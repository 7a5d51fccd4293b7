//! A job's log: capped lines from the `log` host function and from the
//! guest's stdout and stderr.
//!
//! The log keeps at most [`Limits::log_lines`](crate::Limits::log_lines)
//! lines and [`Limits::log_bytes`](crate::Limits::log_bytes) bytes of
//! messages. Past either cap, lines are counted and dropped as they arrive, so
//! a guest that prints without end costs the host a counter, not memory. One
//! line keeps at most [`MAX_LINE_BYTES`]; the rest of a longer line is
//! dropped and counted. Output on stdout and stderr is split at `\n`; an
//! unfinished line is buffered up to [`MAX_LINE_BYTES`] and emitted when the
//! job ends.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use konnector_host_api::LogLevel;
use serde::{Serialize, Serializer};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Maximum length of one kept line's message, in bytes. The stack cuts messages at
/// 4000 characters and reads 64 KiB per line; 16 KiB keeps a useful stack
/// trace without letting one line fill the log.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Origin of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// The `log` host function.
    Guest,
    /// The guest's standard output (level info).
    Stdout,
    /// The guest's standard error (level error).
    Stderr,
}

/// One kept log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Severity, serialised as the stack's `type` (`info`, `error`, ...).
    #[serde(serialize_with = "serialize_level")]
    pub level: LogLevel,
    /// The message, valid UTF-8 (invalid bytes are replaced).
    pub message: String,
    /// Origin of the line.
    pub source: LogSource,
}

fn serialize_level<S: Serializer>(level: &LogLevel, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(level.name())
}

/// Called with each kept line as it is kept, for callers that stream logs.
pub type LineObserver = Arc<dyn Fn(&LogLine) + Send + Sync>;

/// A job's log, shared by the host functions and the stdio streams.
#[derive(Clone)]
pub struct JobLog {
    state: Arc<Mutex<LogState>>,
}

struct LogState {
    lines: Vec<LogLine>,
    kept_bytes: u64,
    max_bytes: u64,
    max_lines: u64,
    dropped_bytes: u64,
    dropped_lines: u64,
    stdout: PartialLine,
    stderr: PartialLine,
    observer: Option<LineObserver>,
}

#[derive(Default)]
struct PartialLine {
    bytes: Vec<u8>,
    /// Bytes of the current line dropped because it passed [`MAX_LINE_BYTES`].
    overflow: u64,
}

impl JobLog {
    /// Creates an empty log with these caps.
    pub fn new(max_bytes: u64, max_lines: u64, observer: Option<LineObserver>) -> JobLog {
        let state = LogState {
            lines: Vec::new(),
            kept_bytes: 0,
            max_bytes,
            max_lines,
            dropped_bytes: 0,
            dropped_lines: 0,
            stdout: PartialLine::default(),
            stderr: PartialLine::default(),
            observer,
        };
        JobLog {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A poisoned lock only means another thread panicked while logging;
        // the counters are still consistent enough to keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends one line, cut to [`MAX_LINE_BYTES`], unless a cap is reached.
    pub fn push(&self, level: LogLevel, source: LogSource, message: &[u8]) {
        self.lock().push(level, source, message, 0);
    }

    /// Appends one line of which the guest passed `left_out` more bytes than
    /// `message` holds; they count as dropped.
    pub fn push_cut(&self, level: LogLevel, source: LogSource, message: &[u8], left_out: u64) {
        self.lock().push(level, source, message, left_out);
    }

    /// Appends bytes the guest wrote to stdout or stderr.
    pub fn write_stream(&self, source: LogSource, bytes: &[u8]) {
        self.lock().write_stream(source, bytes);
    }

    /// Emits unfinished stdout and stderr lines. Called when the job ends.
    pub fn flush_streams(&self) {
        let mut state = self.lock();
        for source in [LogSource::Stdout, LogSource::Stderr] {
            state.end_line(source);
        }
    }

    /// Lines kept, and bytes and lines dropped.
    pub fn counts(&self) -> (u64, u64, u64) {
        let state = self.lock();
        (
            state.lines.len() as u64,
            state.dropped_bytes,
            state.dropped_lines,
        )
    }

    /// Takes the kept lines out of the log.
    pub fn take_lines(&self) -> Vec<LogLine> {
        std::mem::take(&mut self.lock().lines)
    }

    /// Returns a WASI stdout or stderr stream that writes into this log.
    pub fn stdio(&self, source: LogSource) -> GuestStdio {
        GuestStdio {
            log: self.clone(),
            source,
        }
    }
}

impl LogState {
    fn push(&mut self, level: LogLevel, source: LogSource, message: &[u8], already_cut: u64) {
        let (kept, cut) = match message.len() > MAX_LINE_BYTES {
            true => (
                &message[..MAX_LINE_BYTES],
                (message.len() - MAX_LINE_BYTES) as u64,
            ),
            false => (message, 0),
        };
        let full_size = message.len() as u64 + already_cut;
        let over_lines = self.lines.len() as u64 >= self.max_lines;
        let over_bytes = self.kept_bytes + kept.len() as u64 > self.max_bytes;
        if over_lines || over_bytes {
            self.dropped_lines += 1;
            self.dropped_bytes += full_size;
            return;
        }
        self.dropped_bytes += cut + already_cut;
        self.kept_bytes += kept.len() as u64;
        let line = LogLine {
            level,
            message: String::from_utf8_lossy(kept).into_owned(),
            source,
        };
        if let Some(observer) = &self.observer {
            observer(&line);
        }
        self.lines.push(line);
    }

    fn partial(&mut self, source: LogSource) -> &mut PartialLine {
        match source {
            LogSource::Stderr => &mut self.stderr,
            LogSource::Stdout | LogSource::Guest => &mut self.stdout,
        }
    }

    fn write_stream(&mut self, source: LogSource, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (chunk, rest, ends_line) = match bytes.iter().position(|&b| b == b'\n') {
                Some(at) => (&bytes[..at], &bytes[at + 1..], true),
                None => (bytes, &[][..], false),
            };
            let partial = self.partial(source);
            let room = MAX_LINE_BYTES.saturating_sub(partial.bytes.len());
            let taken = chunk.len().min(room);
            partial.bytes.extend_from_slice(&chunk[..taken]);
            partial.overflow += (chunk.len() - taken) as u64;
            if ends_line {
                self.end_line(source);
            }
            bytes = rest;
        }
    }

    fn end_line(&mut self, source: LogSource) {
        let partial = std::mem::take(self.partial(source));
        if partial.bytes.is_empty() && partial.overflow == 0 {
            return;
        }
        let level = match source {
            LogSource::Stderr => LogLevel::Error,
            LogSource::Stdout | LogSource::Guest => LogLevel::Info,
        };
        let text = partial.bytes.strip_suffix(b"\r").unwrap_or(&partial.bytes);
        self.push(level, source, text, partial.overflow);
    }
}

/// The guest's stdout or stderr, feeding a [`JobLog`]. Writes never block and
/// never fail: bytes past the caps are counted and dropped.
#[derive(Clone)]
pub struct GuestStdio {
    log: JobLog,
    source: LogSource,
}

impl IsTerminal for GuestStdio {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStdio {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Largest write the guest is invited to make in one call.
const WRITE_BUDGET_BYTES: usize = 64 * 1024;

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStdio {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestStdio {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.log.write_stream(self.source, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET_BYTES)
    }
}

impl tokio::io::AsyncWrite for GuestStdio {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.log.write_stream(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_splits_lines() {
        let log = JobLog::new(1 << 20, 100, None);
        log.write_stream(LogSource::Stdout, b"first\nsec");
        log.write_stream(LogSource::Stdout, b"ond\r\n");
        log.write_stream(LogSource::Stderr, b"unfinished");
        log.flush_streams();
        let lines = log.take_lines();
        let messages: Vec<&str> = lines.iter().map(|line| line.message.as_str()).collect();
        assert_eq!(messages, ["first", "second", "unfinished"]);
        assert_eq!(lines[2].level, LogLevel::Error);
    }

    #[test]
    fn line_cap_drops_and_counts() {
        let log = JobLog::new(1 << 20, 2, None);
        for _ in 0..5 {
            log.push(LogLevel::Info, LogSource::Guest, b"12345");
        }
        assert_eq!(log.counts(), (2, 15, 3));
    }

    #[test]
    fn byte_cap_drops_and_counts() {
        let log = JobLog::new(10, 100, None);
        log.push(LogLevel::Info, LogSource::Guest, b"123456");
        log.push(LogLevel::Info, LogSource::Guest, b"123456");
        assert_eq!(log.counts(), (1, 6, 1));
    }

    #[test]
    fn long_line_is_cut() {
        let log = JobLog::new(1 << 20, 100, None);
        let long = vec![b'x'; MAX_LINE_BYTES * 3 + 7];
        log.write_stream(LogSource::Stdout, &long);
        log.write_stream(LogSource::Stdout, b"\nnext\n");
        let lines = log.take_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].message.len(), MAX_LINE_BYTES);
        assert_eq!(lines[1].message, "next");
        let (_, dropped_bytes, dropped_lines) = log.counts();
        assert_eq!(dropped_bytes, (MAX_LINE_BYTES * 2 + 7) as u64);
        assert_eq!(dropped_lines, 0);
    }
}
