//! Job start and whole jobs on a warm engine.
//!
//! `cargo bench -p konnector-tests --bench job`. Every benchmark runs on one
//! engine whose modules, the QuickJS runtime among them, are already
//! compiled, so it measures what a worker pays per job: a fresh `Store`,
//! instantiation from the pooling allocator, and the guest's run.

mod support;

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use konnector_engine::manifest::Manifest;
use konnector_engine::store::SqliteStore;
use konnector_engine::{EngineConfig, JobCode, KonnectorEngine, Outcome};

use support::Built;

/// The smallest konnector: a `_start` that returns.
const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let site = runtime.block_on(support::fixture_site());
    let js_runtime = support::js_runtime();
    let config = EngineConfig {
        network: Arc::new(site.network.clone()),
        js_runtime: Some(js_runtime.clone()),
        ..EngineConfig::default()
    };
    let engine = KonnectorEngine::new(config).expect("engine");
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = dir.path().join("bench.sqlite");
    let store =
        Arc::new(SqliteStore::open(&db, &SqliteStore::default_files_dir(&db)).expect("store"));

    let engine = &engine;
    // Runs `built` once on the engine and checks that it succeeded.
    let run = |built: &Built| {
        let job = support::job(built, store.clone());
        async move {
            let report = engine.run(job).await.expect("runs");
            assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
        }
    };

    let trivial = Built {
        code: JobCode::Wasm(Arc::from(TRIVIAL.as_bytes())),
        manifest: Arc::new(Manifest::unprivileged("trivial")),
    };
    c.bench_function("trivial_job", |b| {
        b.to_async(&runtime).iter(|| run(&trivial))
    });

    // `console.log("hello")`, built as `konnector build` builds it: the
    // runtime's instantiation, the evaluation of the bytecode, the log line
    // and the report.
    let js_hello = support::build(&support::input_dir("js-hello"), &js_runtime);
    c.bench_function("js_trivial_job", |b| {
        b.to_async(&runtime).iter(|| run(&js_hello))
    });

    // The samples after their first run, against the fixture site over
    // HTTPS: log in, 3 pages, 12 PDF downloads, 24 writes that change
    // nothing, and the account data.
    let rust_bills = Built {
        code: JobCode::Wasm(Arc::from(
            std::fs::read(konnector_tests::samples::RUST_BILLS_WASM).expect("sample built"),
        )),
        manifest: Arc::new(
            Manifest::load(&konnector_tests::samples::dir("rust-bills").join("manifest.konnector"))
                .expect("manifest"),
        ),
    };
    runtime.block_on(run(&rust_bills));
    c.bench_function("rust_bills_second_run", |b| {
        b.to_async(&runtime).iter(|| run(&rust_bills))
    });

    let js_bills = support::build(&konnector_tests::samples::dir("js-bills"), &js_runtime);
    runtime.block_on(run(&js_bills));
    c.bench_function("js_bills_second_run", |b| {
        b.to_async(&runtime).iter(|| run(&js_bills))
    });

    // What the libs-bills sample loads at its start, cozy-konnector-libs
    // and cheerio, then one log line: from the konnector's snapshot, and
    // with the same artifact set to evaluate everything in the job.
    let libs_start = support::build(&support::input_dir("js-libs-start"), &js_runtime);
    runtime.block_on(run(&libs_start));
    c.bench_function("js_libs_start", |b| {
        b.to_async(&runtime).iter(|| run(&libs_start))
    });
    let libs_start_in_job = without_snapshot(&libs_start);
    c.bench_function("js_libs_start_without_snapshot", |b| {
        b.to_async(&runtime).iter(|| run(&libs_start_in_job))
    });

    let libs_bills = support::build(&konnector_tests::samples::dir("libs-bills"), &js_runtime);
    runtime.block_on(run(&libs_bills));
    c.bench_function("libs_bills_second_run", |b| {
        b.to_async(&runtime).iter(|| run(&libs_bills))
    });

    drop(site);
}

/// Returns `built` with a preload plan that evaluates nothing ahead of
/// time, so that each job evaluates every dependency.
fn without_snapshot(built: &Built) -> Built {
    let code = match &built.code {
        JobCode::JavaScript {
            bytecode,
            runtime,
            dependencies: Some(dependencies),
        } => {
            let mut dependencies = (**dependencies).clone();
            dependencies.plan.evaluate.clear();
            JobCode::JavaScript {
                bytecode: bytecode.clone(),
                runtime: *runtime,
                dependencies: Some(Arc::new(dependencies)),
            }
        }
        other => other.clone(),
    };
    Built {
        code,
        manifest: built.manifest.clone(),
    }
}

criterion_group!(job_benches, benches);
criterion_main!(job_benches);
