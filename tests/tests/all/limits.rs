//! Every limit stops what it should, and the outcome and counters show it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use konnector_engine::host_api::WriteResult;
use konnector_engine::sink::{DocumentSink, FileWrite, SinkError, WriteContext};
use konnector_engine::{EngineError, LimitRequest, Limits, Outcome, TrapKind};
use serde_json::{Map, Value};

use crate::support::{self, run_plain};
use crate::wat;

#[tokio::test]
async fn endless_loop_exhausts_fuel() {
    let guest = r#"(module (memory (export "memory") 1)
        (func (export "_start") (loop $forever (br $forever))))"#;
    let limits = LimitRequest {
        fuel: Some(50_000_000),
        ..Default::default()
    };
    let report = run_plain(guest, limits).await;
    assert_eq!(report.outcome, Outcome::CpuBudgetExhausted);
    assert_eq!(report.counters.fuel_used, 50_000_000);
}

#[tokio::test]
async fn computing_guest_passes_deadline() {
    let guest = r#"(module (memory (export "memory") 1)
        (func (export "_start") (loop $forever (br $forever))))"#;
    // Fuel for far longer than the deadline: only the epoch can stop it.
    let limits = LimitRequest {
        deadline_ms: Some(300),
        ..Default::default()
    };
    let started = Instant::now();
    let report = run_plain(guest, limits).await;
    assert_eq!(report.outcome, Outcome::DeadlinePassed);
    assert!(report.counters.wall_time_ms >= 300, "{:?}", report.counters);
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A sink whose writes never finish.
struct StalledSink;

#[async_trait]
impl DocumentSink for StalledSink {
    async fn create(
        &self,
        _: &WriteContext,
        _: &str,
        _: Map<String, Value>,
    ) -> Result<WriteResult, SinkError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Err(SinkError::Storage("stalled".into()))
    }
    async fn update(
        &self,
        _: &WriteContext,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: Map<String, Value>,
    ) -> Result<WriteResult, SinkError> {
        Err(SinkError::Storage("unused".into()))
    }
    async fn upsert(
        &self,
        _: &WriteContext,
        _: &str,
        _: &[String],
        _: Map<String, Value>,
    ) -> Result<WriteResult, SinkError> {
        Err(SinkError::Storage("unused".into()))
    }
    async fn save_file(&self, _: &WriteContext, _: FileWrite) -> Result<WriteResult, SinkError> {
        Err(SinkError::Storage("unused".into()))
    }
    async fn find_file(
        &self,
        _: &WriteContext,
        _: &str,
        _: &str,
    ) -> Result<Option<WriteResult>, SinkError> {
        Ok(None)
    }
    async fn account_data(
        &self,
        _: &WriteContext,
        _: &str,
    ) -> Result<Map<String, Value>, SinkError> {
        Ok(Map::new())
    }
    async fn set_account_data(
        &self,
        _: &WriteContext,
        _: &str,
        _: Map<String, Value>,
    ) -> Result<(), SinkError> {
        Ok(())
    }
}

#[tokio::test]
async fn deadline_counts_time_in_host_calls() {
    let guest = wat::call_each("doc_create", &[r#"{"doctype":"io.cozy.bills","doc":{}}"#]);
    let manifest = support::manifest(&[("io.cozy.bills", None)]);
    let limits = LimitRequest {
        deadline_ms: Some(500),
        ..Default::default()
    };
    let job = support::job(guest.as_bytes(), manifest, Arc::new(StalledSink), limits);
    let started = Instant::now();
    let report = support::engine().run(job).await.expect("job starts");
    assert_eq!(report.outcome, Outcome::DeadlinePassed);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the stalled write was not cut"
    );
    // The guest was waiting, not computing.
    assert!(
        report.counters.fuel_used < 1_000_000,
        "{:?}",
        report.counters
    );
}

#[tokio::test]
async fn memory_growth_stops_at_cap() {
    // Grows one page at a time until memory.grow fails, then aborts like an
    // allocator that cannot get memory.
    let guest = r#"(module (memory (export "memory") 1)
        (func (export "_start")
          (loop $grow
            (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
          unreachable))"#;
    let limits = LimitRequest {
        memory_bytes: Some(4 << 20),
        ..Default::default()
    };
    let report = run_plain(guest, limits).await;
    assert_eq!(report.outcome, Outcome::MemoryLimitReached);
    assert_eq!(report.counters.peak_memory_bytes, 4 << 20);
}

#[tokio::test]
async fn guest_handles_denied_growth() {
    // A guest that checks memory.grow and gives up gracefully succeeds.
    let guest = r#"(module (memory (export "memory") 1)
        (func (export "_start")
          (if (i32.ne (memory.grow (i32.const 1000)) (i32.const -1)) (then unreachable))))"#;
    let limits = LimitRequest {
        memory_bytes: Some(1 << 20),
        ..Default::default()
    };
    let report = run_plain(guest, limits).await;
    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(report.counters.peak_memory_bytes, 64 << 10);
}

#[tokio::test]
async fn initial_memory_above_cap_is_refused() {
    let guest = r#"(module (memory (export "memory") 100) (func (export "_start")))"#;
    let limits = LimitRequest {
        memory_bytes: Some(1 << 20),
        ..Default::default()
    };
    let report = run_plain(guest, limits).await;
    assert_eq!(report.outcome, Outcome::MemoryLimitReached);
}

#[tokio::test]
async fn table_growth_stops_at_cap() {
    // Grows the table until table.grow fails, then checks it stopped at
    // exactly 5000 elements.
    let guest = r#"(module (memory (export "memory") 1) (table $t 1 funcref)
        (func (export "_start")
          (loop $grow
            (br_if $grow (i32.ne (table.grow $t (ref.null func) (i32.const 100)) (i32.const -1))))
          (if (i32.ne (table.size $t) (i32.const 4901)) (then unreachable))))"#;
    let limits = LimitRequest {
        table_elements: Some(5000),
        ..Default::default()
    };
    let report = run_plain(guest, limits).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{}", report.outcome);
}

#[tokio::test]
async fn unbounded_recursion_traps() {
    let guest = r#"(module (memory (export "memory") 1)
        (func $recurse (param i64) (result i64)
          (i64.add (call $recurse (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
        (func (export "_start") (drop (call $recurse (i64.const 0)))))"#;
    let report = run_plain(guest, LimitRequest::default()).await;
    match &report.outcome {
        Outcome::Trap { trap, .. } => assert_eq!(*trap, TrapKind::StackOverflow),
        other => panic!("expected a stack overflow trap, got {other}"),
    }
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[tokio::test]
async fn log_flood_keeps_capped_log() {
    // Writes 64 KiB of "x" followed by a newline, 4800 times: 300 MiB.
    let guest = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 2)
        (func (export "_start") (local $i i32)
          (memory.fill (i32.const 1024) (i32.const 120) (i32.const 65535))
          (i32.store8 (i32.const 66559) (i32.const 10))
          (i32.store (i32.const 0) (i32.const 1024))
          (i32.store (i32.const 4) (i32.const 65536))
          (loop $write
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $write (i32.lt_u (local.get $i) (i32.const 4800))))))"#;
    let log_bytes = 1 << 20;
    let limits = LimitRequest {
        log_bytes: Some(log_bytes),
        log_lines: Some(1000),
        ..Default::default()
    };
    let before = resident_bytes();
    let report = run_plain(guest, limits).await;
    let growth = resident_bytes().saturating_sub(before);

    assert_eq!(report.outcome, Outcome::Succeeded);
    let kept: u64 = report
        .logs
        .iter()
        .map(|line| line.message.len() as u64)
        .sum();
    assert!(kept <= log_bytes, "kept {kept} bytes");
    // Each 65,535-byte line is cut to 16 KiB; 64 lines fit in 1 MiB.
    assert_eq!(report.counters.log_lines, 64);
    assert_eq!(kept + report.counters.log_bytes_dropped, 4800 * 65_535);
    assert_eq!(report.counters.log_lines_dropped, 4800 - 64);
    assert!(growth < 100 << 20, "resident memory grew by {growth} bytes");
}

#[tokio::test]
async fn limit_above_ceiling_is_an_error() {
    let store = support::TempStore::new();
    let limits = LimitRequest {
        fuel: Some(Limits::ceiling().fuel + 1),
        ..Default::default()
    };
    let guest = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;
    let job = support::job(
        guest.as_bytes(),
        konnector_engine::manifest::Manifest::unprivileged("test"),
        store.sink(),
        limits,
    );
    match support::engine().run(job).await {
        Err(EngineError::Limit(error)) => assert_eq!(error.name, "fuel"),
        Err(other) => panic!("expected a limit error, got {other}"),
        Ok(report) => panic!("expected a limit error, got {}", report.outcome),
    }
}

#[tokio::test]
async fn exit_status_is_reported() {
    let guest = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $exit (i32.const 3))))"#;
    let report = run_plain(guest, LimitRequest::default()).await;
    match &report.outcome {
        Outcome::Trap { trap, .. } => assert_eq!(*trap, TrapKind::Exit(3)),
        other => panic!("expected exit status 3, got {other}"),
    }
}

#[tokio::test]
async fn other_trap_after_denied_growth_keeps_kind() {
    // Memory was denied, but the guest then divides by zero: that trap, not
    // the memory limit, ended it.
    let guest = r#"(module (memory (export "memory") 1)
        (func (export "_start")
          (drop (memory.grow (i32.const 1000)))
          (drop (i32.div_u (i32.const 1) (i32.const 0)))))"#;
    let limits = LimitRequest {
        memory_bytes: Some(1 << 20),
        ..Default::default()
    };
    let report = run_plain(guest, limits).await;
    assert!(
        matches!(
            report.outcome,
            Outcome::Trap {
                trap: TrapKind::IntegerDivisionByZero,
                ..
            }
        ),
        "{}",
        report.outcome
    );
}

#[tokio::test]
async fn deeply_nested_module_is_refused() {
    let depth = konnector_engine::MAX_BLOCK_NESTING + 1;
    let guest = format!(
        r#"(module (memory (export "memory") 1) (func (export "_start") {}{}))"#,
        "(block ".repeat(depth),
        ")".repeat(depth)
    );
    let store = support::TempStore::new();
    let job = support::job(
        guest.as_bytes(),
        konnector_engine::manifest::Manifest::unprivileged("test"),
        store.sink(),
        LimitRequest::default(),
    );
    match support::engine().run(job).await {
        Err(EngineError::InvalidModule(error)) => {
            assert!(error.to_string().contains("nests blocks"), "{error}")
        }
        Err(other) => panic!("expected an invalid module, got {other}"),
        Ok(report) => panic!("expected an invalid module, got {}", report.outcome),
    }
}
