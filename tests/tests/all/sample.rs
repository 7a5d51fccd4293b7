//! The sample konnectors, one in Rust and one in JavaScript, built from
//! source, log in to the fixture vendor site over HTTPS, write their bills
//! and PDFs into the SQLite store, and a second run adds nothing.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use konnector_engine::host_api::artifact;
use konnector_engine::manifest::Manifest;
use konnector_engine::net::{ConnectTo, OperatorNetConfig};
use konnector_engine::{
    EngineConfig, Job, JobCode, JobReport, KonnectorEngine, LimitRequest, Outcome,
};
use konnector_host_api::JobInput;
use konnector_tests::samples;
use konnector_toolchain::{BuildOptions, build_konnector};
use serde_json::{Value, json};
use vendor_site::{SiteConfig, VendorSite};

use crate::javascript;
use crate::support::TempStore;

/// How far a sample's fuel may drift either way from its pin: a change
/// that makes a sample, the SDK, the runtime or the host API cheaper or
/// dearer than that is worth a look, and a new pin.
const FUEL_TOLERANCE_PERCENT: u64 = 10;

/// A sample konnector.
#[derive(Debug, Clone, Copy)]
enum Sample {
    /// `samples/rust-bills`.
    Rust,
    /// `samples/js-bills`.
    JavaScript,
}

const SAMPLES: [Sample; 2] = [Sample::Rust, Sample::JavaScript];

impl Sample {
    fn slug(self) -> &'static str {
        match self {
            Sample::Rust => "rust-bills",
            Sample::JavaScript => "js-bills",
        }
    }

    /// Fuel the sample used for a first run against the default fixture
    /// site (12 bills on 3 pages) when it was pinned.
    fn pinned_fuel(self) -> u64 {
        match self {
            Sample::Rust => 2_060_000,
            Sample::JavaScript => 19_630_000,
        }
    }

    fn manifest(self) -> Manifest {
        Manifest::load(&samples::dir(self.slug()).join("manifest.konnector"))
            .expect("sample manifest")
    }

    /// Returns the sample's code: the module cargo built, or the JavaScript
    /// sample built once per test process into an artifact, as `konnector
    /// build` does.
    fn code(self) -> JobCode {
        match self {
            Sample::Rust => {
                let wasm = std::fs::read(samples::RUST_BILLS_WASM).expect("sample module is built");
                JobCode::Wasm(Arc::from(wasm))
            }
            Sample::JavaScript => {
                static BUILT: OnceLock<Arc<[u8]>> = OnceLock::new();
                let bytes = BUILT.get_or_init(|| {
                    let dir = samples::dir(self.slug());
                    let options = BuildOptions {
                        cargo_target_dir: dir.join("target"),
                        js_runtime: &javascript::runtime().0,
                        progress: &mut |_| {},
                    };
                    let built =
                        build_konnector(&dir, options).expect("the JavaScript sample builds");
                    Arc::from(built.artifact)
                });
                let parsed = artifact::parse(bytes).expect("valid artifact");
                let manifest = parsed
                    .manifest
                    .as_deref()
                    .expect("the artifact carries its manifest");
                assert_eq!(
                    Manifest::parse(manifest).expect("valid manifest").slug,
                    self.slug()
                );
                JobCode::from_artifact(bytes.clone(), parsed.kind)
            }
        }
    }
}

/// The fixture site and an engine whose operator settings reach it as
/// `https://vendor.example`, the URL the samples hard-code.
struct Vendor {
    site: VendorSite,
    engine: KonnectorEngine,
    _ca: tempfile::NamedTempFile,
}

async fn vendor(config: SiteConfig) -> Vendor {
    let site = VendorSite::start(config)
        .await
        .expect("fixture site starts");
    let (network, ca) = konnector_tests::vendor::https_network(&site);
    Vendor {
        site,
        engine: engine(network),
        _ca: ca,
    }
}

fn engine(network: OperatorNetConfig) -> KonnectorEngine {
    let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
    let config = EngineConfig {
        network: Arc::new(network),
        cache_dir: Some(cache_dir),
        js_runtime: Some(javascript::runtime().0.clone()),
        ..EngineConfig::default()
    };
    KonnectorEngine::new(config).expect("engine")
}

async fn run_sample(
    sample: Sample,
    vendor: &Vendor,
    store: &TempStore,
    password: &str,
) -> JobReport {
    let fields = json!({"login": "demo@example.com", "password": password, "folder_path": "/Administrative/Bills"});
    let job = Job {
        id: "sample-job".into(),
        code: sample.code(),
        manifest: Arc::new(sample.manifest()),
        input: JobInput {
            account: Some("sample-account".into()),
            fields: fields.as_object().cloned().unwrap_or_default(),
            ..JobInput::default()
        },
        limits: LimitRequest::default(),
        sink: store.sink(),
        log_observer: None,
    };
    vendor.engine.run(job).await.expect("job starts")
}

#[tokio::test]
async fn sample_imports_bills_and_pdfs() {
    for sample in SAMPLES {
        eprintln!("sample {sample:?}");
        let vendor = vendor(SiteConfig::default()).await;
        let store = TempStore::new();
        let report = run_sample(sample, &vendor, &store, "demo-password").await;
        assert_eq!(
            report.outcome,
            Outcome::Succeeded,
            "{}: {:?}",
            report.outcome,
            report.logs
        );

        let bills = store.store.documents(Some("io.cozy.bills")).expect("bills");
        assert_eq!(bills.len(), 12);
        let files: Vec<Value> = store
            .store
            .documents(Some("io.cozy.files"))
            .expect("files")
            .into_iter()
            .filter(|doc| doc["type"] == "file")
            .collect();
        assert_eq!(files.len(), 12);
        assert_eq!(report.counters.documents_written, 24);
        // Login page, login post and its redirect, 3 pages, 12 PDFs.
        assert_eq!(report.counters.http_requests, 18);
        assert_eq!(report.counters.http_refused, 0);
        assert!(
            vendor.site.requests().iter().all(|request| request.tls),
            "every request went over HTTPS"
        );

        let site_bill = &vendor.site.bills()[0];
        let bill = bills
            .iter()
            .find(|bill| bill["vendorRef"] == site_bill.id.as_str())
            .expect("site's bill saved");
        assert_eq!(bill["amount"], json!(site_bill.amount));
        assert_eq!(bill["label"], site_bill.label.as_str());
        assert_eq!(bill["cozyMetadata"]["createdByApp"], sample.slug());
        assert_eq!(bill["cozyMetadata"]["createdByAppVersion"], "1.0.0");
        assert_eq!(bill["cozyMetadata"]["sourceAccount"], "sample-account");
        assert_eq!(
            bill["cozyMetadata"]["sourceAccountIdentifier"],
            "demo@example.com"
        );

        let invoice = bill["invoice"].as_str().expect("invoice link");
        let file_id = invoice.strip_prefix("io.cozy.files:").expect("file link");
        let file = files
            .iter()
            .find(|file| file["_id"] == file_id)
            .expect("linked file");
        assert_eq!(file["mime"], "application/pdf");
        let folders = store
            .store
            .documents(Some("io.cozy.files"))
            .expect("folders");
        let folder = folders
            .iter()
            .find(|doc| doc["_id"] == file["dir_id"])
            .expect("file's folder");
        assert_eq!(folder["path"], "/Administrative/Bills");
        let on_disk = store
            .store
            .file_path(file_id)
            .expect("lookup")
            .expect("file on disk");
        let contents = std::fs::read(&on_disk).expect("file contents");
        assert!(contents.starts_with(b"%PDF-"), "{}", on_disk.display());

        let account = store
            .store
            .documents(Some("io.cozy.accounts"))
            .expect("accounts");
        assert_eq!(account.len(), 1);
        assert!(account[0]["data"]["lastSync"].is_string(), "{}", account[0]);
    }
}

#[tokio::test]
async fn second_run_adds_nothing() {
    for sample in SAMPLES {
        eprintln!("sample {sample:?}");
        let vendor = vendor(SiteConfig::default()).await;
        let store = TempStore::new();
        let first = run_sample(sample, &vendor, &store, "demo-password").await;
        assert_eq!(first.outcome, Outcome::Succeeded);
        let second = run_sample(sample, &vendor, &store, "demo-password").await;
        assert_eq!(second.outcome, Outcome::Succeeded);
        assert_eq!(second.counters.documents_written, 0);
        assert_eq!(store.store.count("io.cozy.bills").expect("count"), 12);
        for bill in store.store.documents(Some("io.cozy.bills")).expect("bills") {
            assert!(
                bill["_rev"]
                    .as_str()
                    .is_some_and(|rev| rev.starts_with("1-")),
                "{bill}"
            );
        }
    }
}

#[tokio::test]
async fn wrong_password_is_login_failed() {
    for sample in SAMPLES {
        eprintln!("sample {sample:?}");
        let vendor = vendor(SiteConfig::default()).await;
        let store = TempStore::new();
        let report = run_sample(sample, &vendor, &store, "wrong").await;
        assert_eq!(
            report.outcome.error_code(),
            Some("LOGIN_FAILED"),
            "{}",
            report.outcome
        );
        assert_eq!(store.store.count("io.cozy.bills").expect("count"), 0);
    }
}

#[tokio::test]
async fn vendor_answering_500_is_vendor_down() {
    for sample in SAMPLES {
        eprintln!("sample {sample:?}");
        let vendor = vendor(SiteConfig {
            fail_with_500: true,
            ..SiteConfig::default()
        })
        .await;
        let store = TempStore::new();
        let report = run_sample(sample, &vendor, &store, "demo-password").await;
        assert_eq!(
            report.outcome.error_code(),
            Some("VENDOR_DOWN"),
            "{}",
            report.outcome
        );
    }
}

#[tokio::test]
async fn loopback_needs_allow_private() {
    for sample in SAMPLES {
        eprintln!("sample {sample:?}");
        let site = VendorSite::start(SiteConfig::default())
            .await
            .expect("fixture site starts");
        let https = site.https_addr().expect("https listener");
        let network = OperatorNetConfig {
            connect_to: vec![ConnectTo {
                host: "vendor.example".into(),
                port: 443,
                target: https,
            }],
            ..OperatorNetConfig::default()
        };
        let vendor = Vendor {
            site,
            engine: engine(network),
            _ca: tempfile::NamedTempFile::new().expect("file"),
        };
        let store = TempStore::new();
        let report = run_sample(sample, &vendor, &store, "demo-password").await;
        assert_eq!(
            report.outcome.error_code(),
            Some("VENDOR_DOWN"),
            "{}",
            report.outcome
        );
        assert_eq!(report.counters.http_refused, 1);
        assert!(
            vendor.site.requests().is_empty(),
            "the site received a request"
        );
    }
}

#[tokio::test]
async fn sample_fuel_is_pinned() {
    for sample in SAMPLES {
        eprintln!("sample {sample:?}");
        let vendor = vendor(SiteConfig::default()).await;
        let store = TempStore::new();
        let report = run_sample(sample, &vendor, &store, "demo-password").await;
        let used = report.counters.fuel_used;
        let pinned = sample.pinned_fuel();
        let tolerance = pinned * FUEL_TOLERANCE_PERCENT / 100;
        assert!(
            used.abs_diff(pinned) <= tolerance,
            "{sample:?} used {used} fuel, pinned at {pinned} ± {FUEL_TOLERANCE_PERCENT}%"
        );
    }
}

#[tokio::test]
async fn jobs_never_share_cookies_or_fields() {
    // A job of the JavaScript sample logs in, so its cookie jar contains a
    // session. A later job of the same konnector, on the same engine, with
    // other fields, must see its own fields and no session: the site sends
    // it back to the login page.
    let vendor = vendor(SiteConfig::default()).await;
    let store = TempStore::new();
    let logged_in = run_sample(Sample::JavaScript, &vendor, &store, "demo-password").await;
    assert_eq!(
        logged_in.outcome,
        Outcome::Succeeded,
        "{}",
        logged_in.outcome
    );

    let probe = r#"
        import { input } from "konnector:host";
        const response = await fetch("https://vendor.example/bills?page=1");
        console.log(`${input.fields.login} ${new URL(response.url).pathname}`);
    "#;
    let fields = json!({"login": "someone-else@example.com"});
    let job = Job {
        id: "probe-job".into(),
        code: javascript::compile(probe),
        manifest: Arc::new(Sample::JavaScript.manifest()),
        input: JobInput {
            account: Some("other-account".into()),
            fields: fields.as_object().cloned().unwrap_or_default(),
            ..JobInput::default()
        },
        limits: LimitRequest::default(),
        sink: store.sink(),
        log_observer: None,
    };
    let report = vendor.engine.run(job).await.expect("job starts");
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    assert_eq!(
        crate::support::messages(&report),
        ["someone-else@example.com /login"]
    );
}
