//! What the test modules share: one engine, a store in a temporary folder,
//! and helpers to run a module.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use konnector_engine::host_api::JobInput;
use konnector_engine::manifest::Manifest;
use konnector_engine::sink::DocumentSink;
use konnector_engine::store::SqliteStore;
use konnector_engine::{EngineConfig, Job, JobCode, JobReport, KonnectorEngine, LimitRequest};

/// Returns the engine shared by tests that need no special configuration. Compiled
/// modules are cached on disk under the target folder, so the sample
/// konnector compiles once across test runs.
pub fn engine() -> &'static KonnectorEngine {
    static ENGINE: OnceLock<KonnectorEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
        let config = EngineConfig {
            cache_dir: Some(cache_dir),
            ..EngineConfig::default()
        };
        KonnectorEngine::new(config).expect("engine builds")
    })
}

/// An embedded store in a temporary folder, removed when dropped.
pub struct TempStore {
    pub store: Arc<SqliteStore>,
    pub dir: tempfile::TempDir,
}

impl TempStore {
    pub fn new() -> TempStore {
        let dir = tempfile::tempdir().expect("temporary folder");
        let db = dir.path().join("store.sqlite");
        let store =
            SqliteStore::open(&db, &SqliteStore::default_files_dir(&db)).expect("store opens");
        TempStore {
            store: Arc::new(store),
            dir,
        }
    }

    pub fn sink(&self) -> Arc<dyn DocumentSink> {
        self.store.clone()
    }
}

/// Builds a job for `wasm` with the given manifest, sink and limits, for account
/// `test-account`.
pub fn job(
    wasm: &[u8],
    manifest: Manifest,
    sink: Arc<dyn DocumentSink>,
    limits: LimitRequest,
) -> Job {
    Job {
        id: "test-job".into(),
        code: JobCode::Wasm(Arc::from(wasm)),
        manifest: Arc::new(manifest),
        input: JobInput {
            account: Some("test-account".into()),
            ..JobInput::default()
        },
        limits,
        sink,
        log_observer: None,
    }
}

/// Runs `wasm` (WAT text or binary) with no permission and the given limits.
pub async fn run_plain(wasm: &str, limits: LimitRequest) -> JobReport {
    let store = TempStore::new();
    let job = job(
        wasm.as_bytes(),
        Manifest::unprivileged("test"),
        store.sink(),
        limits,
    );
    engine().run(job).await.expect("job starts")
}

/// Builds a manifest granting `permissions`, given as `(doctype, verbs)` pairs
/// (`None` for all verbs).
pub fn manifest(permissions: &[(&str, Option<&[&str]>)]) -> Manifest {
    let mut map = serde_json::Map::new();
    for (index, (doctype, verbs)) in permissions.iter().enumerate() {
        let mut permission = serde_json::json!({"type": doctype});
        if let Some(verbs) = verbs {
            permission["verbs"] = serde_json::json!(verbs);
        }
        map.insert(format!("permission{index}"), permission);
    }
    let text = serde_json::json!({
        "slug": "test-konnector",
        "version": "1.2.3",
        "permissions": map,
    })
    .to_string();
    Manifest::parse(&text).expect("test manifest parses")
}

/// Returns the messages of a report's log lines.
pub fn messages(report: &JobReport) -> Vec<&str> {
    report
        .logs
        .iter()
        .map(|line| line.message.as_str())
        .collect()
}
