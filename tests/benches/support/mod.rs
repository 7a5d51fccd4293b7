//! What the benchmarks share: the QuickJS runtime, konnectors built the way
//! `konnector build` builds them, jobs, and the fixture vendor site.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use konnector_engine::host_api::JobInput;
use konnector_engine::host_api::artifact;
use konnector_engine::manifest::Manifest;
use konnector_engine::net::OperatorNetConfig;
use konnector_engine::sink::DocumentSink;
use konnector_engine::{Job, JobCode, LimitRequest};
use konnector_toolchain::BuildOptions;
use serde_json::json;
use vendor_site::{SiteConfig, VendorSite};

/// Returns the workspace's root folder.
pub fn workspace() -> PathBuf {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests_dir.parent().unwrap_or(tests_dir).to_owned()
}

/// Folder of the guest builds, shared with the tests and the `konnector`
/// command: the runtime built there is the one they run.
fn guests_dir() -> PathBuf {
    workspace().join("target").join("wasm-guests")
}

/// Returns the pre-initialised QuickJS runtime module, built from
/// `toolchain/js-runtime` (or taken from its cache when up to date).
pub fn js_runtime() -> Arc<[u8]> {
    let wasm = konnector_toolchain::js::preinitialized_runtime(&guests_dir())
        .expect("the JavaScript runtime builds");
    Arc::from(wasm)
}

/// Path of the benchmark input folder `tests/benches/inputs/<name>`.
pub fn input_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/inputs")
        .join(name)
}

/// A konnector built into an artifact, ready to run.
pub struct Built {
    /// What a job runs: the artifact's module, or its bytecode.
    pub code: JobCode,
    /// The manifest the artifact carries.
    pub manifest: Arc<Manifest>,
}

/// Builds the konnector folder `dir` with the toolchain, as
/// `konnector build` does, and reads the artifact back, as
/// `konnector run ARTIFACT` does.
pub fn build(dir: &Path, runtime: &[u8]) -> Built {
    let options = BuildOptions {
        cargo_target_dir: guests_dir(),
        js_runtime: runtime,
        progress: &mut |_| {},
    };
    let built = konnector_toolchain::build_konnector(dir, options)
        .unwrap_or_else(|error| panic!("failed to build {}: {error}", dir.display()));
    let bytes: Arc<[u8]> = Arc::from(built.artifact);
    let parsed = artifact::parse(&bytes).expect("the artifact reads back");
    let manifest = parsed
        .manifest
        .as_deref()
        .map(|text| Manifest::parse(text).expect("valid manifest"))
        .expect("the artifact carries its manifest");
    Built {
        code: JobCode::from_artifact(bytes.clone(), parsed.kind),
        manifest: Arc::new(manifest),
    }
}

/// Returns a job of `built` for the account `bench-<slug>`, with the fixture
/// site's credentials as fields and the default limits.
pub fn job(built: &Built, sink: Arc<dyn DocumentSink>) -> Job {
    Job {
        id: "bench".into(),
        code: built.code.clone(),
        manifest: built.manifest.clone(),
        input: JobInput {
            account: Some(format!("bench-{}", built.manifest.slug)),
            fields: json!({"login": "demo@example.com", "password": "demo-password"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..JobInput::default()
        },
        limits: LimitRequest::default(),
        sink,
        log_observer: None,
    }
}

/// The fixture vendor site over HTTPS on 127.0.0.1, and the operator's
/// network settings that make it reachable as `https://vendor.example`.
pub struct FixtureSite {
    /// The running site. It stops when dropped.
    _site: VendorSite,
    /// Network settings for [`konnector_engine::EngineConfig::network`].
    pub network: OperatorNetConfig,
    /// The site's test CA, which `network` names. It is removed when
    /// dropped.
    _ca: tempfile::NamedTempFile,
}

/// Starts the fixture vendor site. Must be called within a tokio runtime.
pub async fn fixture_site() -> FixtureSite {
    let site = VendorSite::start(SiteConfig::default())
        .await
        .expect("fixture site");
    let (network, ca) = konnector_tests::vendor::https_network(&site);
    FixtureSite {
        _site: site,
        network,
        _ca: ca,
    }
}
