//! JavaScript konnectors on the shared QuickJS runtime: compiled to
//! bytecode by the runtime itself, run by the engine under the same limits
//! as any module.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use konnector_engine::host_api::JobInput;
use konnector_engine::manifest::Manifest;
use konnector_engine::{
    EngineConfig, EngineError, JobCode, JobReport, KonnectorEngine, LimitRequest, Outcome,
};
use konnector_toolchain::artifact_build::runtime_digest;
use konnector_toolchain::js::{CompileError, JsRuntime, preinitialized_runtime};

use crate::support::{self, TempStore, messages};

/// Returns the pre-initialised runtime module, and a build-time host to compile
/// sources with, built once per test process.
pub fn runtime() -> &'static (Arc<[u8]>, JsRuntime) {
    static RUNTIME: OnceLock<(Arc<[u8]>, JsRuntime)> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/wasm-guests");
        let wasm = preinitialized_runtime(&target).expect("the runtime builds");
        let compiler = JsRuntime::new(&wasm).expect("the runtime compiles");
        (Arc::from(wasm), compiler)
    })
}

/// Returns an engine whose JavaScript runtime is [`runtime`], shared by the
/// JavaScript tests, with compiled modules cached on disk like
/// [`support::engine`].
pub fn js_engine() -> &'static KonnectorEngine {
    static ENGINE: OnceLock<KonnectorEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
        let config = EngineConfig {
            cache_dir: Some(cache_dir),
            js_runtime: Some(runtime().0.clone()),
            ..EngineConfig::default()
        };
        KonnectorEngine::new(config).expect("engine builds")
    })
}

/// Compiles `source` as `index.js` into the code of a job.
pub fn compile(source: &str) -> JobCode {
    let (wasm, compiler) = runtime();
    let bytecode = compiler
        .compile("index.js", source.as_bytes())
        .expect("valid source");
    JobCode::JavaScript {
        bytecode: Arc::from(bytecode),
        runtime: runtime_digest(wasm),
        dependencies: None,
    }
}

/// Runs `source` with the given manifest and input on [`js_engine`], writing
/// into `store`.
pub async fn run_js_with(
    source: &str,
    manifest: Manifest,
    input: JobInput,
    store: &TempStore,
    limits: LimitRequest,
) -> JobReport {
    let mut job = support::job(b"", manifest, store.sink(), limits);
    job.code = compile(source);
    job.input = input;
    js_engine().run(job).await.expect("job starts")
}

/// Runs `source` with no permission and the given limits.
pub async fn run_js(source: &str, limits: LimitRequest) -> JobReport {
    let store = TempStore::new();
    let input = JobInput {
        account: Some("test-account".into()),
        ..JobInput::default()
    };
    run_js_with(source, Manifest::unprivileged("js"), input, &store, limits).await
}

#[tokio::test]
async fn console_reaches_the_log() {
    let report = run_js(
        r#"console.log("hello from js"); console.error("oops");"#,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    assert_eq!(messages(&report), ["hello from js", "oops"]);
}

#[tokio::test]
async fn thrown_error_ends_job() {
    let report = run_js(
        r#"throw new Error("boom at login");"#,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(
        report.outcome.error_code(),
        Some("UNKNOWN_ERROR"),
        "{}",
        report.outcome
    );
    assert!(
        matches!(report.outcome, Outcome::KonnectorError { .. }),
        "{}",
        report.outcome
    );
    let logged = messages(&report).join("\n");
    assert!(logged.contains("boom at login"), "{logged}");
}

#[tokio::test]
async fn unhandled_rejection_ends_job() {
    let report = run_js(
        r#"Promise.reject(new Error("rejected late"));"#,
        LimitRequest::default(),
    )
    .await;
    assert!(
        matches!(report.outcome, Outcome::KonnectorError { .. }),
        "{}",
        report.outcome
    );
    let logged = messages(&report).join("\n");
    assert!(logged.contains("rejected late"), "{logged}");
}

#[tokio::test]
async fn endless_loop_exhausts_fuel() {
    let limits = LimitRequest {
        fuel: Some(200_000_000),
        ..Default::default()
    };
    let report = run_js("for (;;) {}", limits).await;
    assert_eq!(report.outcome, Outcome::CpuBudgetExhausted);
    assert_eq!(report.counters.fuel_used, 200_000_000);
}

#[tokio::test]
async fn memory_bomb_stops_at_cap() {
    let limits = LimitRequest {
        memory_bytes: Some(64 << 20),
        ..Default::default()
    };
    let report = run_js(
        "const hoard = []; for (;;) hoard.push(new Array(100000).fill(1.5));",
        limits,
    )
    .await;
    assert_eq!(
        report.outcome,
        Outcome::MemoryLimitReached,
        "{:?}",
        report.logs
    );
    assert!(
        report.counters.peak_memory_bytes <= 64 << 20,
        "{:?}",
        report.counters
    );
}

#[tokio::test]
async fn jobs_never_share_globals() {
    let first = run_js(
        r#"globalThis.secret = "first job's"; console.log(typeof globalThis.secret);"#,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(messages(&first), ["string"]);
    let second = run_js(
        "console.log(typeof globalThis.secret);",
        LimitRequest::default(),
    )
    .await;
    assert_eq!(messages(&second), ["undefined"]);
}

#[tokio::test]
async fn jobs_draw_different_random_numbers() {
    let source = "console.log(String(Math.random()));";
    let first = run_js(source, LimitRequest::default()).await;
    let second = run_js(source, LimitRequest::default()).await;
    assert_eq!(first.logs.len(), 1);
    assert_eq!(second.logs.len(), 1);
    assert_ne!(first.logs[0].message, second.logs[0].message);
}

#[test]
fn syntax_error_names_its_location() {
    let (_, compiler) = runtime();
    match compiler.compile("src/index.js", b"const ok = 1;\nconst = 2;\n") {
        Err(CompileError::Invalid(message)) => {
            assert!(message.starts_with("src/index.js:2:"), "{message}")
        }
        Err(other) => panic!("expected a syntax error, got {other}"),
        Ok(_) => panic!("expected a syntax error"),
    }
}

#[tokio::test]
async fn runtime_run_as_a_module_gets_no_script() {
    // The runtime module run as a plain module requests its script, gets
    // Unsupported, and must not run anything.
    let (wasm, _) = runtime();
    let store = TempStore::new();
    let job = support::job(
        wasm,
        Manifest::unprivileged("js"),
        store.sink(),
        LimitRequest::default(),
    );
    let report = support::engine().run(job).await.expect("job starts");
    assert!(!report.outcome.is_success(), "{}", report.outcome);
}

#[tokio::test]
async fn bytecode_of_another_runtime_is_refused() {
    let mut job = support::job(
        b"",
        Manifest::unprivileged("js"),
        TempStore::new().sink(),
        LimitRequest::default(),
    );
    job.code = match compile("console.log(1);") {
        JobCode::JavaScript { bytecode, .. } => JobCode::JavaScript {
            bytecode,
            runtime: [0xab; 32],
            dependencies: None,
        },
        other => panic!("expected JavaScript, got {other:?}"),
    };
    match js_engine().run(job).await {
        Err(EngineError::JsRuntimeMismatch { artifact, .. }) => {
            assert_eq!(artifact, "abababababababab")
        }
        Err(other) => panic!("expected a runtime mismatch, got {other}"),
        Ok(report) => panic!("expected a refusal, got {}", report.outcome),
    }
}

#[tokio::test]
async fn engine_without_runtime_refuses_javascript() {
    let mut job = support::job(
        b"",
        Manifest::unprivileged("js"),
        TempStore::new().sink(),
        LimitRequest::default(),
    );
    job.code = compile("console.log(1);");
    match support::engine().run(job).await {
        Err(EngineError::NoJsRuntime) => {}
        Err(other) => panic!("expected NoJsRuntime, got {other}"),
        Ok(report) => panic!("expected a refusal, got {}", report.outcome),
    }
}
