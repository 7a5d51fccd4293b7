//! Per-konnector snapshots: a JavaScript konnector's dependencies are
//! evaluated once, before its first job, and every job starts from that
//! memory without seeing anything of another job.
//!
//! The dependency bundles here are written by hand, as `konnector build`
//! writes them: a module that defines each package with
//! `konnector:dependencies`.

use std::path::PathBuf;
use std::sync::Arc;

use konnector_engine::host_api::JobInput;
use konnector_engine::host_api::artifact::{JsDependencies, PreloadPlan};
use konnector_engine::manifest::Manifest;
use konnector_engine::{
    EngineConfig, JobCode, JobReport, KonnectorEngine, LimitRequest, Outcome, PreloadLimits,
    snapshot_key,
};
use konnector_toolchain::artifact_build::runtime_digest;

use crate::javascript::{js_engine, runtime};
use crate::support::{self, TempStore, messages};

/// A package whose evaluation is expensive (a loop of 300,000 iterations)
/// and keeps a counter and a list at module level.
pub(crate) const COUNTER: &str = r#"
define("counter", () => {
  let total = 0;
  for (let i = 0; i < 300000; i++) total += i % 7;
  let calls = 0;
  const seen = [];
  return {
    total,
    next() { calls += 1; return calls; },
    remember(value) { seen.push(value); return seen.slice(); },
  };
});
"#;

/// Compiles a dependency bundle that defines the packages of `body`, with a
/// plan that evaluates `evaluate` ahead of time.
fn dependencies(body: &str, evaluate: &[&str]) -> Arc<JsDependencies> {
    let source = format!("import {{ define }} from \"konnector:dependencies\";\n{body}");
    let bytecode = runtime()
        .1
        .compile("dependencies.js", source.as_bytes())
        .expect("the bundle compiles");
    Arc::new(JsDependencies {
        bytecode,
        plan: PreloadPlan {
            evaluate: evaluate.iter().map(|name| (*name).to_owned()).collect(),
            per_job: Vec::new(),
        },
    })
}

/// Returns the code of a job that runs `source` with `dependencies`.
pub(crate) fn job_code(source: &str, dependencies: &Arc<JsDependencies>) -> JobCode {
    let bytecode = runtime()
        .1
        .compile("index.js", source.as_bytes())
        .expect("valid source");
    JobCode::JavaScript {
        bytecode: Arc::from(bytecode),
        runtime: runtime_digest(&runtime().0),
        dependencies: Some(dependencies.clone()),
    }
}

/// Runs `source` with `dependencies` as job `id` of the account
/// `account-of-<id>`, on [`js_engine`].
async fn run(source: &str, dependencies: &Arc<JsDependencies>, id: &str) -> JobReport {
    let store = TempStore::new();
    let mut job = support::job(
        b"",
        Manifest::unprivileged("snapshot-test"),
        store.sink(),
        LimitRequest::default(),
    );
    job.id = id.to_owned();
    job.code = job_code(source, dependencies);
    job.input = JobInput {
        account: Some(format!("account-of-{id}")),
        ..JobInput::default()
    };
    js_engine().run(job).await.expect("job starts")
}

#[tokio::test]
async fn jobs_start_with_dependencies_evaluated() {
    let source = r#"
        const counter = require("counter");
        console.log(`total ${counter.total}`);
    "#;
    let snapshot = dependencies(COUNTER, &["counter"]);
    // The same bundle with a plan that evaluates nothing ahead of time: each
    // job evaluates the package at its require.
    let per_job = dependencies(COUNTER, &[]);

    let with = run(source, &snapshot, "with-snapshot").await;
    let without = run(source, &per_job, "without-snapshot").await;
    for report in [&with, &without] {
        assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
        assert_eq!(messages(report), ["total 899997"]);
    }
    // The loop alone is millions of fuel units; the snapshot's job never
    // runs it.
    assert!(
        with.counters.fuel_used + 3_000_000 < without.counters.fuel_used,
        "with a snapshot {} fuel, without {}",
        with.counters.fuel_used,
        without.counters.fuel_used
    );
}

#[tokio::test]
async fn module_state_and_globals_do_not_cross_jobs() {
    let snapshot = dependencies(COUNTER, &["counter"]);
    let source = r#"
        const counter = require("counter");
        const host = require("konnector:host");
        const job = host.input.account;
        console.log(`cookies ${JSON.stringify(host.cookies())}`);
        host.setCookie("https://vendor.example/", `session=${job}; Path=/`);
        console.log(`calls ${counter.next()}`);
        console.log(`seen ${JSON.stringify(counter.remember(job))}`);
        console.log(`global ${String(globalThis.previousJob)}`);
        globalThis.previousJob = job;
        counter.total = -1;
    "#;
    for id in ["first", "second", "third"] {
        let report = run(source, &snapshot, id).await;
        assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
        assert_eq!(
            messages(&report),
            [
                "cookies []".to_owned(),
                "calls 1".to_owned(),
                format!("seen [\"account-of-{id}\"]"),
                "global undefined".to_owned(),
            ]
        );
    }
    let report = run(
        r#"console.log(`total ${require("counter").total}`);"#,
        &snapshot,
        "after",
    )
    .await;
    assert_eq!(messages(&report), ["total 899997"]);
}

#[tokio::test]
async fn jobs_of_one_snapshot_draw_different_random_numbers() {
    let snapshot = dependencies(COUNTER, &["counter"]);
    let source = r#"
        require("counter");
        const bytes = crypto.getRandomValues(new Uint8Array(16));
        console.log(`${Math.random()} ${Array.from(bytes).join(",")}`);
    "#;
    let mut drawn = Vec::new();
    for id in ["one", "two", "three"] {
        let report = run(source, &snapshot, id).await;
        assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
        drawn.push(messages(&report)[0].to_owned());
    }
    drawn.sort();
    drawn.dedup();
    assert_eq!(drawn.len(), 3, "{drawn:?}");
}

#[tokio::test]
async fn clock_at_load_means_per_job() {
    // The plan lists "clock" for evaluation ahead of time, as a hand-made or
    // stale artifact could: the preload stops at the clock, there is no
    // snapshot, and each job evaluates the package with its own time.
    let bundle = format!(
        "{COUNTER}\ndefine(\"clock\", () => ({{ loadedAt: Date.now(), draw: Math.random() }}));"
    );
    let snapshot = dependencies(&bundle, &["counter", "clock"]);
    let source = r#"
        const { loadedAt } = require("clock");
        const lag = Date.now() - loadedAt;
        console.log(`fresh ${lag >= 0 && lag < 60000}`);
    "#;
    let per_job = dependencies(&bundle, &[]);
    let first = run(source, &snapshot, "clock-one").await;
    let reference = run(source, &per_job, "clock-reference").await;
    for report in [&first, &reference] {
        assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
        assert_eq!(messages(report), ["fresh true"]);
    }
    // Without a snapshot, the job's fuel is that of evaluating everything
    // itself, as with the plan that evaluates nothing.
    let ratio = first.counters.fuel_used as f64 / reference.counters.fuel_used as f64;
    assert!((0.9..1.1).contains(&ratio), "fuel ratio {ratio}");
}

#[tokio::test]
async fn random_at_load_means_no_snapshot() {
    let bundle = "define(\"seeded\", () => ({ seed: Math.random() }));";
    let snapshot = dependencies(bundle, &["seeded"]);
    let source = r#"console.log(`seed ${require("seeded").seed}`);"#;
    let one = run(source, &snapshot, "seed-one").await;
    let two = run(source, &snapshot, "seed-two").await;
    assert_eq!(one.outcome, Outcome::Succeeded, "{:?}", one.logs);
    assert_eq!(two.outcome, Outcome::Succeeded, "{:?}", two.logs);
    assert_ne!(messages(&one), messages(&two), "the seed was frozen");
}

#[tokio::test]
async fn throw_at_load_fails_job() {
    let bundle = "define(\"broken\", () => { throw new Error(\"broken at load\"); });";
    let snapshot = dependencies(bundle, &["broken"]);
    let report = run(r#"require("broken");"#, &snapshot, "broken").await;
    assert_eq!(report.outcome.error_code(), Some("UNKNOWN_ERROR"));
    let logged = messages(&report).join("\n");
    assert!(logged.contains("broken at load"), "{logged}");
}

/// Returns an engine like [`js_engine`] with the given preload limits.
fn engine_with(limits: PreloadLimits) -> KonnectorEngine {
    let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
    let config = EngineConfig {
        cache_dir: Some(cache_dir),
        js_runtime: Some(runtime().0.clone()),
        preload_limits: limits,
        ..EngineConfig::default()
    };
    KonnectorEngine::new(config).expect("engine builds")
}

/// Runs `source` with `dependencies` on `engine` with the job limits
/// `limits`.
async fn run_on(
    engine: &KonnectorEngine,
    source: &str,
    dependencies: &Arc<JsDependencies>,
    limits: LimitRequest,
) -> JobReport {
    let store = TempStore::new();
    let mut job = support::job(
        b"",
        Manifest::unprivileged("snapshot-test"),
        store.sink(),
        limits,
    );
    job.code = job_code(source, dependencies);
    engine.run(job).await.expect("job starts")
}

#[tokio::test]
async fn preload_limits_fall_back_to_jobs() {
    let source = r#"console.log(`total ${require("counter").total}`);"#;
    // A different bundle per case keeps each snapshot apart from the other
    // tests' snapshots in the shared cache folder.
    let cases = [
        (
            "fuel",
            PreloadLimits {
                fuel: 1_000_000,
                ..PreloadLimits::default()
            },
        ),
        (
            "memory",
            PreloadLimits {
                memory_bytes: 1 << 20,
                ..PreloadLimits::default()
            },
        ),
    ];
    for (case, limits) in cases {
        let bundle = format!("{COUNTER}\ndefine(\"{case}\", () => 1);");
        let snapshot = dependencies(&bundle, &["counter"]);
        let reference = dependencies(&bundle, &[]);
        let engine = engine_with(limits);
        let report = run_on(&engine, source, &snapshot, LimitRequest::default()).await;
        assert_eq!(
            report.outcome,
            Outcome::Succeeded,
            "{case}: {:?}",
            report.logs
        );
        assert_eq!(messages(&report), ["total 899997"], "{case}");
        let evaluated = run_on(&engine, source, &reference, LimitRequest::default()).await;
        let ratio = report.counters.fuel_used as f64 / evaluated.counters.fuel_used as f64;
        assert!((0.9..1.1).contains(&ratio), "{case}: fuel ratio {ratio}");
    }
}

#[tokio::test]
async fn endless_package_is_stopped_at_the_preload_deadline() {
    let bundle = "define(\"endless\", () => { for (;;) {} });";
    let snapshot = dependencies(bundle, &["endless"]);
    // Fuel enough for hours: only the deadline can stop the preload.
    let engine = engine_with(PreloadLimits {
        deadline_ms: 300,
        fuel: 1 << 50,
        ..PreloadLimits::default()
    });
    let started = std::time::Instant::now();
    let limits = LimitRequest {
        fuel: Some(50_000_000),
        ..LimitRequest::default()
    };
    let report = run_on(&engine, r#"require("endless");"#, &snapshot, limits).await;
    // The job itself then evaluates the package, under its own limits.
    assert_eq!(report.outcome, Outcome::CpuBudgetExhausted);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the preload was not stopped: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn snapshot_is_kept_in_the_cache_folder() {
    let bundle = format!("{COUNTER}\ndefine(\"cached\", () => 1);");
    let deps = dependencies(&bundle, &["counter"]);
    let key = snapshot_key(&runtime_digest(&runtime().0), &deps);
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = || EngineConfig {
        cache_dir: Some(folder.path().to_owned()),
        js_runtime: Some(runtime().0.clone()),
        ..EngineConfig::default()
    };
    let source = r#"console.log(`total ${require("counter").total}`);"#;
    let first = {
        let engine = KonnectorEngine::new(config()).expect("engine builds");
        run_on(&engine, source, &deps, LimitRequest::default()).await
    };
    let file = folder
        .path()
        .join("js-snapshots")
        .join(format!("{}.wasm", hex(&key)));
    assert!(file.is_file(), "no snapshot at {}", file.display());
    let digest = std::fs::read_to_string(file.with_extension("digest")).expect("digest file");
    let wasm = std::fs::read(&file).expect("snapshot file");
    assert_eq!(
        digest,
        hex(&runtime_digest(&wasm)),
        "the digest names the snapshot"
    );

    // A new engine on the same folder starts from the saved snapshot.
    let engine = KonnectorEngine::new(config()).expect("engine builds");
    let second = run_on(&engine, source, &deps, LimitRequest::default()).await;
    assert_eq!(messages(&second), ["total 899997"]);
    assert_eq!(first.counters.fuel_used, second.counters.fuel_used);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn preload_without_a_free_slot_is_tried_again() {
    // One instance slot: while a job uses it, the preload of another
    // konnector cannot run.
    let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
    let engine = Arc::new(
        KonnectorEngine::new(EngineConfig {
            cache_dir: Some(cache_dir),
            js_runtime: Some(runtime().0.clone()),
            max_concurrent_jobs: 1,
            ..EngineConfig::default()
        })
        .expect("engine builds"),
    );
    let idle = dependencies("define(\"idle\", () => 1);", &[]);
    let holder = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let source = "await new Promise((done) => setTimeout(done, 1500));";
            run_on(&engine, source, &idle, LimitRequest::default()).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let bundle = format!("{COUNTER}\ndefine(\"busy\", () => 1);");
    let snapshot = dependencies(&bundle, &["counter"]);
    let source = r#"console.log(`total ${require("counter").total}`);"#;
    let crowded = run_on(&engine, source, &snapshot, LimitRequest::default()).await;
    assert_ne!(crowded.outcome, Outcome::Succeeded, "{:?}", crowded.logs);
    let held = holder.await.expect("the holding job");
    assert_eq!(held.outcome, Outcome::Succeeded, "{:?}", held.logs);

    // The slot is free again: this job takes the snapshot and starts from
    // it, as the fuel shows.
    let later = run_on(&engine, source, &snapshot, LimitRequest::default()).await;
    assert_eq!(messages(&later), ["total 899997"]);
    let in_job = run_on(
        &engine,
        source,
        &dependencies(&bundle, &[]),
        LimitRequest::default(),
    )
    .await;
    assert!(
        later.counters.fuel_used + 3_000_000 < in_job.counters.fuel_used,
        "from the snapshot {} fuel, evaluated in the job {}",
        later.counters.fuel_used,
        in_job.counters.fuel_used
    );
}

#[tokio::test]
async fn memory_limit_below_the_snapshot_fails_the_job() {
    // A package that keeps 8 MB at module level makes a snapshot of more
    // than 8 MB of memory, which every job of the konnector starts with.
    let bundle = "define(\"big\", () => ({ data: new Uint8Array(8 << 20).fill(1) }));";
    let snapshot = dependencies(bundle, &["big"]);
    let source = r#"console.log(`size ${require("big").data.length}`);"#;
    let roomy = run_on(js_engine(), source, &snapshot, LimitRequest::default()).await;
    assert_eq!(roomy.outcome, Outcome::Succeeded, "{:?}", roomy.logs);
    assert!(roomy.counters.peak_memory_bytes > 8 << 20);

    let limits = LimitRequest {
        memory_bytes: Some(6 << 20),
        ..LimitRequest::default()
    };
    let cramped = run_on(js_engine(), source, &snapshot, limits).await;
    assert_eq!(cramped.outcome, Outcome::MemoryLimitReached);
    assert!(messages(&cramped).is_empty(), "{:?}", cramped.logs);
}

#[tokio::test]
async fn prepare_code_takes_the_snapshot_before_any_job() {
    let bundle = format!("{COUNTER}\ndefine(\"prepared\", () => 1);");
    let deps = dependencies(&bundle, &["counter"]);
    let key = snapshot_key(&runtime_digest(&runtime().0), &deps);
    let folder = tempfile::tempdir().expect("temporary folder");
    let engine = KonnectorEngine::new(EngineConfig {
        cache_dir: Some(folder.path().to_owned()),
        js_runtime: Some(runtime().0.clone()),
        ..EngineConfig::default()
    })
    .expect("engine builds");
    let code = job_code(r#"require("counter");"#, &deps);
    engine.prepare_code(&code).await.expect("prepared");
    let file = folder
        .path()
        .join("js-snapshots")
        .join(format!("{}.wasm", hex(&key)));
    assert!(file.is_file(), "no snapshot at {}", file.display());

    let other = JobCode::JavaScript {
        bytecode: Arc::from(&b""[..]),
        runtime: [0xab; 32],
        dependencies: None,
    };
    let error = engine
        .prepare_code(&other)
        .await
        .expect_err("another runtime");
    assert!(
        error.to_string().contains("rebuild the konnector"),
        "{error}"
    );
}
