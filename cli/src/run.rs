//! `konnector run`: one job into the embedded store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use konnector_engine::host_api::JobInput;
use konnector_engine::net::OperatorNetConfig;
use konnector_engine::store::SqliteStore;
use konnector_engine::{
    EngineConfig, EngineError, Job, JobReport, KonnectorEngine, LimitRequest, Limits, LineObserver,
    LogLine,
};
use serde_json::{Map, Value, json};

use crate::{EXIT_JOB_FAILED, konnector_path};

/// Default embedded store, in the current folder.
pub(crate) const DEFAULT_STORE: &str = "konnector.sqlite";

#[derive(Args)]
pub(crate) struct RunArgs {
    /// A konnector folder (with manifest.konnector; built first), an
    /// artifact from `konnector build`, or a plain .wasm or .wat WASI
    /// command, which runs with no permission at all.
    path: PathBuf,
    /// The account's fields as a JSON object, such as '{"login": "me", "password": "..."}'.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    fields: String,
    /// The konnector's parameters as a JSON object; defaults to the manifest's parameters.
    #[arg(long, value_name = "JSON")]
    parameters: Option<String>,
    /// SQLite file of the embedded store; file contents go to a folder beside it.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_STORE)]
    store: PathBuf,
    /// Print log lines and the result as JSON lines; the last line is the result.
    #[arg(long)]
    json: bool,
    /// Id of the account the job runs for; its saved data lives in the store
    /// [default: local-SLUG, one account per konnector].
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Id of the job, as given to the konnector and put in logs.
    #[arg(long, value_name = "ID")]
    job_id: Option<String>,
    /// Locale given to the konnector.
    #[arg(long, default_value = "en")]
    locale: String,
    /// Folder of compiled modules and snapshots [default: $KONNECTOR_CACHE_DIR, else
    /// $XDG_CACHE_HOME/konnector, else ~/.cache/konnector].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    network: NetworkArgs,
}

/// Operator-only network settings; a manifest can grant none of them.
#[derive(Args)]
pub(crate) struct NetworkArgs {
    /// Resolve HOST:PORT to ADDRESS instead of asking DNS, as curl's --resolve (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDRESS")]
    resolve: Vec<String>,
    /// Connect to ADDRESS:PORT2 for requests to HOST:PORT, as curl's --connect-to (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDRESS:PORT2")]
    connect_to: Vec<String>,
    /// Allow requests to this one private or loopback ADDRESS:PORT (repeatable).
    #[arg(long, value_name = "ADDRESS:PORT")]
    allow_private: Vec<String>,
    /// Trust the CA certificates of this PEM file too, besides the usual web roots (repeatable).
    #[arg(long, value_name = "PEM")]
    ca_file: Vec<PathBuf>,
}

impl NetworkArgs {
    pub(crate) fn operator_config(&self) -> anyhow::Result<OperatorNetConfig> {
        let resolve = self
            .resolve
            .iter()
            .map(|text| text.parse().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?;
        let connect_to = self
            .connect_to
            .iter()
            .map(|text| text.parse().map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?;
        let allow_private = self
            .allow_private
            .iter()
            .map(|text| {
                text.parse::<SocketAddr>()
                    .with_context(|| format!("invalid --allow-private {text:?}: expected ADDRESS:PORT such as 127.0.0.1:8443 or [::1]:8443"))
            })
            .collect::<anyhow::Result<_>>()?;
        for file in &self.ca_file {
            let readable = std::fs::read_to_string(file)
                .map(|text| text.contains("-----BEGIN CERTIFICATE-----"));
            match readable {
                Ok(true) => {}
                Ok(false) => anyhow::bail!(
                    "--ca-file {} has no PEM certificate (-----BEGIN CERTIFICATE-----); give the CA's certificate in PEM form",
                    file.display()
                ),
                Err(error) => anyhow::bail!("--ca-file {} cannot be read: {error}", file.display()),
            }
        }
        Ok(OperatorNetConfig {
            resolve,
            connect_to,
            allow_private,
            ca_files: self.ca_file.clone(),
            stack_origins: Vec::new(),
        })
    }
}

/// Limit flags; each lowers (or raises up to the operator's ceiling) a default.
#[derive(Args)]
pub(crate) struct LimitArgs {
    /// CPU budget in fuel units (about one per WebAssembly instruction) [default: 10000000000].
    #[arg(long, value_name = "UNITS")]
    fuel: Option<u64>,
    /// Wall-clock limit for the whole job, in seconds [default: 300].
    #[arg(long, value_name = "SECONDS")]
    time_limit: Option<u64>,
    /// Linear memory limit in MiB [default: 256].
    #[arg(long, value_name = "MIB")]
    memory_mib: Option<u64>,
    /// Elements of any one table [default: 20000].
    #[arg(long, value_name = "COUNT")]
    table_elements: Option<u64>,
    /// Guest stack in KiB [default: 1024].
    #[arg(long, value_name = "KIB")]
    stack_kib: Option<u64>,
    /// Bytes of log lines kept [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    log_bytes: Option<u64>,
    /// Log lines kept [default: 10000].
    #[arg(long, value_name = "COUNT")]
    log_lines: Option<u64>,
    /// Write requests allowed: documents, files and account data, unchanged
    /// ones included [default: 10000].
    #[arg(long, value_name = "COUNT")]
    max_documents: Option<u64>,
    /// Bytes of file contents the job may save in all [default: 1073741824].
    #[arg(long, value_name = "BYTES")]
    max_file_bytes: Option<u64>,
}

impl LimitArgs {
    fn request(&self) -> LimitRequest {
        LimitRequest {
            fuel: self.fuel,
            deadline_ms: self.time_limit.map(|seconds| seconds.saturating_mul(1000)),
            memory_bytes: self.memory_mib.map(|mib| mib.saturating_mul(1 << 20)),
            table_elements: self.table_elements,
            instances: None,
            stack_bytes: self.stack_kib.map(|kib| kib.saturating_mul(1024)),
            log_bytes: self.log_bytes,
            log_lines: self.log_lines,
            documents: self.max_documents,
            file_bytes: self.max_file_bytes,
        }
    }
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // Every flag is checked before anything is built.
    let fields = parse_object("--fields", &args.fields)?;
    let parameters = args
        .parameters
        .as_deref()
        .map(|text| parse_object("--parameters", text))
        .transpose()?;
    for (flag, value) in [("--account", &args.account), ("--job-id", &args.job_id)] {
        if value
            .as_deref()
            .is_some_and(|value| value.trim().is_empty())
        {
            anyhow::bail!("invalid {flag}: empty; give a non-empty id or leave the flag out");
        }
    }
    if args.limits.stack_kib == Some(0) {
        anyhow::bail!("invalid --stack-kib 0: the guest needs a stack; give at least 64");
    }
    let limits = args.limits.request();
    Limits::default()
        .with_requests(&limits, &Limits::ceiling())
        .map_err(|error| explain_engine_error(EngineError::Limit(error)))?;
    let operator = args.network.operator_config()?;
    if args.store.is_dir() {
        anyhow::bail!(
            "--store {} is a folder; give the path of a SQLite file, such as {}/konnector.sqlite",
            args.store.display(),
            args.store.display()
        );
    }

    let konnector = konnector_path::load(&args.path)?;
    let parameters = parameters.unwrap_or_else(|| konnector.manifest.parameters.clone());
    let account = args
        .account
        .clone()
        .unwrap_or_else(|| format!("local-{}", konnector.manifest.slug));

    // The `konnector` command runs one job, so its engine takes the job's
    // stack size (wasmtime fixes the stack per engine).
    let config = EngineConfig {
        stack_bytes: limits.stack_bytes.unwrap_or(Limits::default().stack_bytes),
        max_concurrent_jobs: 4,
        cache_dir: args.cache_dir.clone().or_else(crate::default_cache_dir),
        network: Arc::new(operator),
        // The runtime is compiled (or loaded from the cache) only for a
        // JavaScript konnector.
        js_runtime: konnector
            .is_javascript()
            .then(|| Arc::from(crate::js_runtime::RUNTIME)),
        ..EngineConfig::default()
    };
    let engine = KonnectorEngine::new(config).map_err(explain_engine_error)?;
    let files_dir = SqliteStore::default_files_dir(&args.store);
    let store = SqliteStore::open(&args.store, &files_dir)
        .with_context(|| format!("failed to open the store {}", args.store.display()))?;

    let json_output = args.json;
    let observer: LineObserver = Arc::new(move |line: &LogLine| print_line(line, json_output));
    let job = Job {
        id: args.job_id.clone().unwrap_or_else(new_job_id),
        code: konnector.code,
        manifest: Arc::new(konnector.manifest),
        input: JobInput {
            account: Some(account),
            fields,
            parameters,
            locale: args.locale.clone(),
            manual_execution: true,
            ..JobInput::default()
        },
        limits,
        sink: Arc::new(store),
        log_observer: Some(observer),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;
    let report = runtime
        .block_on(engine.run(job))
        .map_err(explain_engine_error)
        .with_context(|| format!("failed to run {}", konnector.path.display()))?;
    print_report(&report, &args, &konnector.path);
    Ok(match report.outcome.is_success() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(EXIT_JOB_FAILED),
    })
}

/// Says which flag to change when the engine refuses a limit or a module,
/// in the flag's own unit.
fn explain_engine_error(error: EngineError) -> anyhow::Error {
    let EngineError::Limit(limit) = &error else {
        return error.into();
    };
    let (flag, unit, divisor) = match limit.name {
        "fuel" => ("--fuel", "fuel units", 1),
        "deadline_ms" => ("--time-limit", "seconds", 1000),
        "memory_bytes" => ("--memory-mib", "MiB", 1 << 20),
        "table_elements" => ("--table-elements", "elements", 1),
        "stack_bytes" => ("--stack-kib", "KiB", 1024),
        "log_bytes" => ("--log-bytes", "bytes", 1),
        "log_lines" => ("--log-lines", "lines", 1),
        "documents" => ("--max-documents", "writes", 1),
        "file_bytes" => ("--max-file-bytes", "bytes", 1),
        _ => return error.into(),
    };
    anyhow::anyhow!(
        "{flag} {} is above the operator's maximum of {} {unit}; give at most {}",
        limit.requested / divisor,
        limit.ceiling / divisor,
        limit.ceiling / divisor
    )
}

fn parse_object(flag: &str, text: &str) -> anyhow::Result<Map<String, Value>> {
    let example = match flag {
        "--fields" => r#"'{"login": "me", "password": "secret"}'"#,
        _ => r#"'{"key": "value"}'"#,
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => {
            anyhow::bail!("invalid {flag}: expected a JSON object such as {example}, got {other}")
        }
        Err(error) => {
            anyhow::bail!("invalid {flag}: not JSON ({error}); pass an object such as {example}")
        }
    }
}

fn new_job_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    format!("local-{nanos:x}")
}

/// Prints one log line as the job runs. It is called from inside a host
/// function, so a closed pipe must not panic: write errors are ignored.
fn print_line(line: &LogLine, json_output: bool) {
    use std::io::Write;
    if json_output {
        let record =
            json!({"type": line.level.name(), "message": line.message, "source": line.source});
        let _ = writeln!(std::io::stdout().lock(), "{record}");
    } else {
        let message = escape_controls(&line.message);
        let _ = writeln!(
            std::io::stderr().lock(),
            "[{}] {message}",
            line.level.name()
        );
    }
}

/// Replaces control characters (escape sequences included) in guest text
/// with `\u{..}` escapes, so a konnector cannot drive the terminal. A line
/// break stays one, followed by an indent, so that a JavaScript stack trace
/// reads as lines that cannot pass for the command's own.
pub(crate) fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t' && c != '\n';
    if !text.chars().any(|c| unsafe_char(c) || c == '\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    let escaped = text
        .trim_end_matches('\n')
        .chars()
        .map(|c| match c {
            '\n' => "\n    ".to_owned(),
            c if unsafe_char(c) => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect();
    std::borrow::Cow::Owned(escaped)
}

fn print_report(report: &JobReport, args: &RunArgs, module_path: &std::path::Path) {
    let counters = &report.counters;
    if args.json {
        let result = json!({
            "status": if report.outcome.is_success() { "done" } else { "errored" },
            "error": report.outcome.error_code(),
            "outcome": report.outcome,
            "job_id": report.job_id,
            "konnector": report.konnector,
            "counters": counters,
        });
        outln!("{result}");
        return;
    }
    errln!(
        "{}: {} ({} ms, {} fuel, peak memory {} KiB, {} documents written, {} writes refused, {} HTTP requests ({} refused), {} log bytes dropped)",
        module_path.display(),
        escape_controls(&report.outcome.to_string()),
        counters.wall_time_ms,
        counters.fuel_used,
        counters.peak_memory_bytes / 1024,
        counters.documents_written,
        counters.writes_refused,
        counters.http_requests,
        counters.http_refused,
        counters.log_bytes_dropped,
    );
    if counters.documents_written > 0 {
        errln!(
            "documents are in {}: konnector docs --store {}",
            args.store.display(),
            args.store.display()
        );
    }
}
