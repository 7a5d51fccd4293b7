//! Memory of JavaScript jobs on a warm engine: the peak linear memory of
//! single jobs, and the resident memory each job adds while many of them
//! wait at once.
//!
//! `cargo bench -p konnector-tests --bench js_memory [-- JOBS]` (Linux
//! only). This is a measurement program, not a Criterion benchmark: it
//! prints figures and checks only that the jobs succeed. It
//!
//! 1. runs `inputs/js-hello` and the `js-bills` sample (its second run,
//!    against the fixture site on 127.0.0.1) once each, and prints their
//!    peak linear memory and fuel, then runs `inputs/js-hello` 200 times
//!    and prints the minor page faults per job;
//! 2. reads the process's memory, starts JOBS jobs (default 100) of
//!    `inputs/js-wait`, which set a 10-second timer and log "waiting", reads
//!    the memory again once every job has logged that line, and prints the
//!    difference divided by JOBS;
//! 3. does the same with `inputs/js-libs-start` given the parameter
//!    `wait_ms`: each job starts from the konnector's snapshot, with
//!    cozy-konnector-libs and cheerio evaluated, logs "waiting" and waits.
//!
//! Memory is read from `/proc/self/status` (VmRSS) and
//! `/proc/self/smaps_rollup` (Pss, Anonymous). The runtime's pre-initialised
//! memory is mapped copy-on-write into every job, so a snapshot page that a
//! job reads but never writes is one physical page shared by all jobs. VmRSS
//! counts such a page once per job that touched it, while Pss splits it
//! between them and Anonymous leaves it out, so Pss is the best estimate of
//! the memory a job costs.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use konnector_engine::store::SqliteStore;
use konnector_engine::{EngineConfig, JobReport, KonnectorEngine, LineObserver, Outcome};

use support::Built;

/// Jobs held at once when no count is given.
const DEFAULT_JOBS: usize = 100;

/// The line `inputs/js-wait` logs once its timer is set.
const WAITING_LINE: &str = "waiting";

/// How long a waiting job waits, in milliseconds: `inputs/js-wait` always
/// waits 10 seconds, and `inputs/js-libs-start` waits for the time its
/// `wait_ms` parameter gives.
const WAIT_MS: u64 = 10_000;

/// Jobs run one after the other to count page faults per job.
const FAULT_SAMPLE_JOBS: u64 = 200;

fn main() {
    let jobs = job_count();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(measure(jobs));
}

/// Returns the first numeric argument, else [`DEFAULT_JOBS`]. Other
/// arguments are skipped: `cargo bench` passes `--bench`, and a benchmark
/// name filter meant for the Criterion benchmarks may come too.
fn job_count() -> usize {
    std::env::args()
        .skip(1)
        .find_map(|argument| argument.parse().ok())
        .unwrap_or(DEFAULT_JOBS)
}

async fn measure(jobs: usize) {
    let site = support::fixture_site().await;
    let js_runtime = support::js_runtime();
    let config = EngineConfig {
        network: Arc::new(site.network.clone()),
        js_runtime: Some(js_runtime.clone()),
        max_concurrent_jobs: u32::try_from(jobs + 1)
            .expect("a job count that fits in u32")
            .max(EngineConfig::default().max_concurrent_jobs),
        ..EngineConfig::default()
    };
    let engine = Arc::new(KonnectorEngine::new(config).expect("engine"));
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = dir.path().join("bench.sqlite");
    let store =
        Arc::new(SqliteStore::open(&db, &SqliteStore::default_files_dir(&db)).expect("store"));

    let hello = support::build(&support::input_dir("js-hello"), &js_runtime);
    let wait = support::build(&support::input_dir("js-wait"), &js_runtime);
    let bills = support::build(&konnector_tests::samples::dir("js-bills"), &js_runtime);

    let run = |built: &Built| {
        let job = support::job(built, store.clone());
        let engine = engine.clone();
        async move { succeeded(engine.run(job).await.expect("the job starts")) }
    };
    let report = run(&hello).await;
    print_single("js-hello", &report);
    let faults_before = minor_page_faults();
    for _ in 0..FAULT_SAMPLE_JOBS {
        run(&hello).await;
    }
    let faults = minor_page_faults() - faults_before;
    println!(
        "js-hello: {} minor page faults per job, over {FAULT_SAMPLE_JOBS} jobs",
        faults / FAULT_SAMPLE_JOBS
    );
    run(&bills).await;
    let report = run(&bills).await;
    print_single("js-bills second run", &report);

    // Many jobs waiting at once: the trivial konnector, then one that has
    // loaded cozy-konnector-libs and cheerio from its snapshot.
    hold_waiting(&engine, &store, &wait, "js-wait", jobs).await;
    let libs = support::build(&support::input_dir("js-libs-start"), &js_runtime);
    hold_waiting(&engine, &store, &libs, "js-libs-start", jobs).await;
    drop(site);
}

/// Starts `jobs` jobs of `built` at once, waits until each has logged
/// [`WAITING_LINE`], and prints the memory each one adds.
async fn hold_waiting(
    engine: &Arc<KonnectorEngine>,
    store: &Arc<SqliteStore>,
    built: &Built,
    name: &str,
    jobs: usize,
) {
    let before = MemorySample::read();
    let waiting = Arc::new(AtomicUsize::new(0));
    let observer: LineObserver = {
        let waiting = waiting.clone();
        Arc::new(move |line| {
            if line.message == WAITING_LINE {
                waiting.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let started = Instant::now();
    let handles: Vec<_> = (0..jobs)
        .map(|index| {
            let mut job = support::job(built, store.clone());
            job.id = format!("wait-{index}");
            job.input
                .parameters
                .insert("wait_ms".into(), WAIT_MS.into());
            job.log_observer = Some(observer.clone());
            let engine = engine.clone();
            tokio::spawn(async move { engine.run(job).await })
        })
        .collect();
    while waiting.load(Ordering::Relaxed) < jobs {
        // A job that ends before every job is waiting failed, or the machine
        // is too slow to start them all within the timer's 10 seconds.
        assert!(
            !handles.iter().any(|handle| handle.is_finished()),
            "a job ended when only {} of {jobs} had logged {WAITING_LINE:?}",
            waiting.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all_waiting = started.elapsed();
    // Every job has set its timer, so a short pause lets each reach its wait.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = MemorySample::read();

    let mut peak_memory_bytes = 0;
    for handle in handles {
        let report = succeeded(
            handle
                .await
                .expect("the job's task")
                .expect("the job starts"),
        );
        peak_memory_bytes = peak_memory_bytes.max(report.counters.peak_memory_bytes);
    }
    let after = MemorySample::read();

    println!(
        "{jobs} {name} jobs all waiting after {:.1} ms; peak linear memory of one: {}",
        all_waiting.as_secs_f64() * 1e3,
        kib(peak_memory_bytes)
    );
    println!("memory (KiB)     before    during     after   per waiting job");
    let rows = before
        .figures()
        .into_iter()
        .zip(during.figures())
        .zip(after.figures());
    for (((name, before), (_, during)), (_, after)) in rows {
        let per_job = (during as f64 - before as f64) / jobs as f64;
        println!("{name:<12} {before:>9} {during:>9} {after:>9} {per_job:>12.0} KiB");
    }
}

/// Checks that a job succeeded and returns its report.
fn succeeded(report: JobReport) -> JobReport {
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    report
}

fn print_single(name: &str, report: &JobReport) {
    println!(
        "{name}: peak linear memory {}, fuel {}",
        kib(report.counters.peak_memory_bytes),
        report.counters.fuel_used
    );
}

fn kib(bytes: u64) -> String {
    format!("{} KiB", bytes / 1024)
}

/// The process's memory at one moment, in KiB.
struct MemorySample {
    /// `VmRSS` of `/proc/self/status`.
    vm_rss_kib: u64,
    /// `Pss` of `/proc/self/smaps_rollup`.
    pss_kib: u64,
    /// `Anonymous` of `/proc/self/smaps_rollup`.
    anonymous_kib: u64,
}

impl MemorySample {
    fn read() -> MemorySample {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let rollup =
            std::fs::read_to_string("/proc/self/smaps_rollup").expect("/proc/self/smaps_rollup");
        MemorySample {
            vm_rss_kib: field_kib(&status, "VmRSS"),
            pss_kib: field_kib(&rollup, "Pss"),
            anonymous_kib: field_kib(&rollup, "Anonymous"),
        }
    }

    /// Returns the figures with their names, in print order.
    fn figures(&self) -> [(&'static str, u64); 3] {
        [
            ("VmRSS", self.vm_rss_kib),
            ("Pss", self.pss_kib),
            ("Anonymous", self.anonymous_kib),
        ]
    }
}

/// Reads the process's count of minor page faults, the 10th field of
/// `/proc/self/stat`.
fn minor_page_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The 2nd field, the command name in brackets, may contain spaces, so
    // fields are counted from the bracket that closes it: the 3rd field
    // comes first there.
    let (_, fields) = stat
        .rsplit_once(')')
        .expect("a command name in /proc/self/stat");
    fields
        .split_whitespace()
        .nth(10 - 3)
        .and_then(|field| field.parse().ok())
        .expect("a minflt field in /proc/self/stat")
}

/// Reads the `NAME: VALUE kB` line of a `/proc` file.
fn field_kib(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            value.trim().strip_suffix("kB")?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no {name} line in /proc"))
}
