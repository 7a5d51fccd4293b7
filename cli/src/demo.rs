//! `konnector demo`: the project's main job, end to end on this machine.
//!
//! It starts the fixture vendor site on 127.0.0.1, builds the JavaScript
//! sample konnector, runs it twice into a fresh embedded store (the second
//! run shows that nothing is imported twice), and prints what it imported
//! and how to look at it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use konnector_engine::host_api::{JobInput, LogLevel};
use konnector_engine::net::{ConnectTo, OperatorNetConfig};
use konnector_engine::store::SqliteStore;
use konnector_engine::{EngineConfig, Job, JobReport, KonnectorEngine, LimitRequest, LogLine};
use serde_json::json;
use vendor_site::{SiteConfig, VendorSite};

use crate::{EXIT_JOB_FAILED, js_runtime, konnector_path};

/// The sample konnector the demo runs, in this checkout.
const SAMPLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/js-bills");

/// The vendor's host name, which the sample hard-codes.
const VENDOR_HOST: &str = "vendor.example";

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Folder for the demo's store, artifact and test CA; emptied first.
    #[arg(long, value_name = "DIR", default_value = "konnector-demo")]
    dir: PathBuf,
    /// The konnector folder to build and run [default: samples/js-bills of this checkout].
    #[arg(long, value_name = "DIR")]
    sample: Option<PathBuf>,
    /// Show the konnector's debug log lines too.
    #[arg(long)]
    verbose: bool,
}

pub(crate) fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let sample = args.sample.clone().unwrap_or_else(|| {
        // The checkout's path, without the `cli/..` of its spelling.
        let path = PathBuf::from(SAMPLE_DIR);
        path.canonicalize().unwrap_or(path)
    });
    prepare_dir(&args.dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;
    runtime.block_on(run_demo(&args, &sample))
}

/// Removes what an earlier demo left in `dir`, and creates it.
fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_file() {
        anyhow::bail!("--dir {} is a file; give a folder", dir.display());
    }
    if dir.exists() {
        let earlier_demo = dir.join("konnector.sqlite").exists() || dir.join("ca.pem").exists();
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("failed to read {}", dir.display()))?
            .next()
            .is_none();
        if !earlier_demo && !empty {
            anyhow::bail!(
                "--dir {} exists and is not a demo folder; give a new or empty folder",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("failed to empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))
}

async fn run_demo(args: &DemoArgs, sample: &Path) -> anyhow::Result<ExitCode> {
    let site_config = SiteConfig::default();
    let site = VendorSite::start(site_config.clone())
        .await
        .context("failed to start the fixture vendor site")?;
    let https = site
        .https_addr()
        .context("the fixture site has no HTTPS listener")?;
    let ca_file = args.dir.join("ca.pem");
    std::fs::write(&ca_file, site.ca_pem())
        .with_context(|| format!("failed to write {}", ca_file.display()))?;
    outln!(
        "1. fixture vendor site on https://{https}, reached as https://{VENDOR_HOST} ({} bills, {} per page)",
        site_config.bill_count,
        site_config.bills_per_page
    );

    outln!("2. building {}", sample.display());
    let started = Instant::now();
    let sample_dir = sample.to_owned();
    let built = tokio::task::spawn_blocking(move || {
        konnector_path::build_folder(&sample_dir, &mut |step| outln!("   {step}"))
    })
    .await
    .context("the build task failed")??;
    let artifact_path = args.dir.join("konnector.wasm");
    std::fs::write(&artifact_path, &built.artifact)
        .with_context(|| format!("failed to write {}", artifact_path.display()))?;
    outln!(
        "   artifact {} ({} bytes, {} of them bytecode; QuickJS is not in it) in {} ms",
        artifact_path.display(),
        built.artifact.len(),
        built.bytecode_bytes,
        started.elapsed().as_millis()
    );
    let konnector = konnector_path::load(&artifact_path)?;
    let command = program_name();
    outln!(
        "   the demo runs it as this command would, while the site is up:\n   {command} run {} --fields '{{\"login\": \"{}\", \"password\": \"{}\"}}' --store {} --connect-to {VENDOR_HOST}:443:{https} --allow-private {https} --ca-file {}",
        artifact_path.display(),
        site_config.login,
        site_config.password,
        args.dir.join("konnector.sqlite").display(),
        ca_file.display()
    );

    let network = OperatorNetConfig {
        connect_to: vec![ConnectTo {
            host: VENDOR_HOST.into(),
            port: 443,
            target: https,
        }],
        allow_private: vec![https],
        ca_files: vec![ca_file.clone()],
        ..OperatorNetConfig::default()
    };
    let engine = KonnectorEngine::new(EngineConfig {
        max_concurrent_jobs: 4,
        cache_dir: crate::default_cache_dir(),
        network: Arc::new(network),
        js_runtime: Some(Arc::from(js_runtime::RUNTIME)),
        ..EngineConfig::default()
    })?;
    let store_path = args.dir.join("konnector.sqlite");
    let store = Arc::new(
        SqliteStore::open(&store_path, &SqliteStore::default_files_dir(&store_path))
            .with_context(|| format!("failed to open the store {}", store_path.display()))?,
    );

    let fields = json!({
        "login": site_config.login,
        "password": site_config.password,
        "folder_path": "/Administrative/Demo vendor",
    });
    let manifest = Arc::new(konnector.manifest);
    let mut reports = Vec::new();
    for (run, title) in [(1, "first run"), (2, "second run, which finds nothing new")] {
        outln!("{}. {title}", run + 2);
        let verbose = args.verbose;
        let job = Job {
            id: format!("demo-{run}"),
            code: konnector.code.clone(),
            manifest: manifest.clone(),
            input: JobInput {
                account: Some(format!("local-{}", manifest.slug)),
                fields: fields.as_object().cloned().unwrap_or_default(),
                locale: "en".into(),
                manual_execution: true,
                ..JobInput::default()
            },
            limits: LimitRequest::default(),
            sink: store.clone(),
            log_observer: Some(Arc::new(move |line: &LogLine| {
                if verbose || line.level != LogLevel::Debug {
                    outln!(
                        "   [{}] {}",
                        line.level.name(),
                        crate::run::escape_controls(&line.message)
                    );
                }
            })),
        };
        let report = engine.run(job).await?;
        print_run(&report);
        let success = report.outcome.is_success();
        reports.push(report);
        if !success {
            site.shutdown().await;
            return Ok(ExitCode::from(EXIT_JOB_FAILED));
        }
    }
    site.shutdown().await;

    let bills = store.count("io.cozy.bills")?;
    let files = store
        .documents(Some("io.cozy.files"))?
        .iter()
        .filter(|file| file["type"] == "file")
        .count();
    outln!();
    outln!(
        "imported {bills} bills and {files} files; the second run wrote {} documents",
        reports
            .last()
            .map_or(0, |report| report.counters.documents_written)
    );
    outln!("look at them:");
    outln!(
        "   {command} docs --store {} --doctype io.cozy.bills",
        store_path.display()
    );
    outln!("   ls -R {}", store.files_dir().display());
    Ok(ExitCode::SUCCESS)
}

/// Returns how this command was invoked (such as
/// `target/release/konnector`), so that the commands the demo prints run
/// as they are.
fn program_name() -> String {
    std::env::args()
        .next()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "konnector".to_owned())
}

fn print_run(report: &JobReport) {
    let counters = &report.counters;
    outln!(
        "   {}: {} ms, {} HTTP requests, {} documents written, {:.1} M fuel, peak memory {} KiB",
        report.outcome,
        counters.wall_time_ms,
        counters.http_requests,
        counters.documents_written,
        counters.fuel_used as f64 / 1e6,
        counters.peak_memory_bytes / 1024,
    );
}
