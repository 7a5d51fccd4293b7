//! Job start and whole jobs on a warm engine.
//!
//! `cargo bench -p konnector-tests --bench job`. Every benchmark runs on one
//! engine whose modules are already compiled, so it measures what a worker
//! pays per job: a fresh `Store`, instantiation from the pooling allocator,
//! and the guest's run.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use konnector_engine::host_api::JobInput;
use konnector_engine::manifest::Manifest;
use konnector_engine::store::SqliteStore;
use konnector_engine::{EngineConfig, Job, KonnectorEngine, LimitRequest, Outcome};
use serde_json::json;

/// The smallest konnector: a `_start` that returns.
const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

fn job(wasm: Arc<[u8]>, manifest: Arc<Manifest>, store: Arc<SqliteStore>) -> Job {
    Job {
        id: "bench".into(),
        wasm,
        manifest,
        input: JobInput {
            account: Some("bench-account".into()),
            fields: json!({"login": "bench@example.com", "password": "secret"}).as_object().cloned().unwrap_or_default(),
            ..JobInput::default()
        },
        limits: LimitRequest::default(),
        sink: store,
        log_observer: None,
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let engine = KonnectorEngine::new(EngineConfig::default()).expect("engine");
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = dir.path().join("bench.sqlite");
    let store = Arc::new(SqliteStore::open(&db, &SqliteStore::default_files_dir(&db)).expect("store"));

    let trivial: Arc<[u8]> = Arc::from(TRIVIAL.as_bytes());
    let unprivileged = Arc::new(Manifest::unprivileged("trivial"));
    c.bench_function("trivial_job", |b| {
        b.to_async(&runtime).iter(|| async {
            let report = engine.run(job(trivial.clone(), unprivileged.clone(), store.clone())).await.expect("runs");
            assert_eq!(report.outcome, Outcome::Succeeded);
        })
    });

    // The sample after its first run: every write is an unchanged upsert,
    // so this is the cost of a job that reads, compares and writes nothing.
    let sample: Arc<[u8]> = Arc::from(std::fs::read(konnector_tests::samples::RUST_BILLS_WASM).expect("sample built"));
    let manifest = Arc::new(
        Manifest::load(&konnector_tests::samples::dir("rust-bills").join("manifest.konnector")).expect("manifest"),
    );
    c.bench_function("rust_bills_second_run", |b| {
        b.to_async(&runtime).iter(|| async {
            let report = engine.run(job(sample.clone(), manifest.clone(), store.clone())).await.expect("runs");
            assert_eq!(report.outcome, Outcome::Succeeded);
        })
    });
}

criterion_group!(job_benches, benches);
criterion_main!(job_benches);
