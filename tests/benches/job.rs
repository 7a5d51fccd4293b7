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
use konnector_engine::net::{ConnectTo, OperatorNetConfig};
use konnector_engine::store::SqliteStore;
use konnector_engine::{EngineConfig, Job, JobCode, KonnectorEngine, LimitRequest, Outcome};
use serde_json::json;
use vendor_site::{SiteConfig, VendorSite};

/// The smallest konnector: a `_start` that returns.
const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

fn job(wasm: Arc<[u8]>, manifest: Arc<Manifest>, store: Arc<SqliteStore>) -> Job {
    Job {
        id: "bench".into(),
        code: JobCode::Wasm(wasm),
        manifest,
        input: JobInput {
            account: Some("bench-account".into()),
            fields: json!({"login": "demo@example.com", "password": "demo-password"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..JobInput::default()
        },
        limits: LimitRequest::default(),
        sink: store,
        log_observer: None,
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let site = runtime
        .block_on(VendorSite::start(SiteConfig::default()))
        .expect("fixture site");
    let https = site.https_addr().expect("https listener");
    let ca = tempfile::NamedTempFile::new().expect("CA file");
    std::fs::write(ca.path(), site.ca_pem()).expect("write CA");
    let network = OperatorNetConfig {
        connect_to: vec![ConnectTo {
            host: "vendor.example".into(),
            port: 443,
            target: https,
        }],
        allow_private: vec![https],
        ca_files: vec![ca.path().to_owned()],
        ..OperatorNetConfig::default()
    };
    let config = EngineConfig {
        network: Arc::new(network),
        ..EngineConfig::default()
    };
    let engine = KonnectorEngine::new(config).expect("engine");
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = dir.path().join("bench.sqlite");
    let store =
        Arc::new(SqliteStore::open(&db, &SqliteStore::default_files_dir(&db)).expect("store"));

    let trivial: Arc<[u8]> = Arc::from(TRIVIAL.as_bytes());
    let unprivileged = Arc::new(Manifest::unprivileged("trivial"));
    c.bench_function("trivial_job", |b| {
        b.to_async(&runtime).iter(|| async {
            let report = engine
                .run(job(trivial.clone(), unprivileged.clone(), store.clone()))
                .await
                .expect("runs");
            assert_eq!(report.outcome, Outcome::Succeeded);
        })
    });

    // The sample after its first run, against the fixture site over HTTPS:
    // log in, 3 pages, 12 PDF downloads, and 24 writes that change nothing.
    let sample: Arc<[u8]> =
        Arc::from(std::fs::read(konnector_tests::samples::RUST_BILLS_WASM).expect("sample built"));
    let manifest = Arc::new(
        Manifest::load(&konnector_tests::samples::dir("rust-bills").join("manifest.konnector"))
            .expect("manifest"),
    );
    c.bench_function("rust_bills_second_run", |b| {
        b.to_async(&runtime).iter(|| async {
            let report = engine
                .run(job(sample.clone(), manifest.clone(), store.clone()))
                .await
                .expect("runs");
            assert_eq!(report.outcome, Outcome::Succeeded);
        })
    });
}

criterion_group!(job_benches, benches);
criterion_main!(job_benches);
