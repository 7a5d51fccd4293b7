//! `konnector exec`: the entry point a stack's `konnectors.cmd` names.
//!
//! The stack starts it with the konnector's folder as its argument and the
//! `COZY_*` variables ([`env::CozyEnv`]). It reads the job's account from
//! the stack to get the login fields, runs the job with the stack as its
//! sink, and prints the JSON lines the stack reads ([`output`]). The exit
//! status is 0 when the job succeeded and 1 otherwise, after a `critical`
//! line with the error code.
//!
//! The token stays in this process: the guest gets only checked host
//! calls, the stack's own address is refused to its fetches, and no log
//! line or error message contains the token.

mod env;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use konnector_engine::host_api::JobInput;
use konnector_engine::stack::{StackConfig, StackSink, StackToken};
use konnector_engine::{EngineConfig, Job, KonnectorEngine, LimitRequest, LineObserver, LogLine};
use serde_json::{Map, Value};

use crate::run::NetworkArgs;
use crate::{EXIT_JOB_FAILED, js_runtime, konnector_path};

/// The error code of a job that could not start (bad environment, stack
/// unreachable, invalid konnector).
const SETUP_ERROR_CODE: &str = "UNKNOWN_ERROR";

/// Time kept back from `COZY_TIME_LIMIT`, in milliseconds, so that the job
/// ends and reports before the stack kills the process.
const TIME_LIMIT_MARGIN_MS: u64 = 2_000;

/// The stack's job timeout when `COZY_TIME_LIMIT` is not set, in seconds.
const DEFAULT_TIME_LIMIT_S: u64 = 300;

#[derive(Args)]
pub(crate) struct ExecArgs {
    /// The konnector's folder, as the stack prepares it: manifest.konnector
    /// with a built konnector.wasm artifact, or the konnector's sources,
    /// which are built first.
    folder: PathBuf,
    /// Folder of compiled modules and snapshots [default: $KONNECTOR_CACHE_DIR, else
    /// $XDG_CACHE_HOME/konnector, else ~/.cache/konnector].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Trust the CA certificates of this PEM file for the stack's own HTTPS address (repeatable).
    #[arg(long, value_name = "PEM")]
    stack_ca_file: Vec<PathBuf>,
    #[command(flatten)]
    network: NetworkArgs,
}

pub(crate) fn exec(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;
    let result = runtime.block_on(run(&args));
    // A build still running past the deadline must not hold the exit.
    runtime.shutdown_background();
    match result {
        Ok(code) => Ok(code),
        Err(error) => {
            // The stack reads standard output, so the reason goes there,
            // then a critical line ends the job with a code it knows.
            output::engine_error(&format!("{error:#}"));
            output::critical(SETUP_ERROR_CODE);
            errln!("error: {error:#}");
            Ok(ExitCode::from(EXIT_JOB_FAILED))
        }
    }
}

async fn run(args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let started = tokio::time::Instant::now();
    let cozy = env::CozyEnv::read(|name| std::env::var(name).ok(), &args.folder)?;
    // Everything, the build and the account's reads included, must end
    // before the stack kills the process, so one deadline counts from here.
    let time_limit_s = cozy.time_limit_s.unwrap_or(DEFAULT_TIME_LIMIT_S);
    let deadline = started
        + std::time::Duration::from_millis(
            time_limit_s
                .saturating_mul(1000)
                .saturating_sub(TIME_LIMIT_MARGIN_MS)
                .max(1000),
        );
    let account_id = cozy.account()?.to_owned();
    let folder = args.folder.clone();
    let konnector = within(deadline, time_limit_s, "building the konnector", async {
        tokio::task::spawn_blocking(move || konnector_path::load(&folder))
            .await
            .context("the build task failed")?
    })
    .await?;
    if let Some(slug) = cozy.fields.get("konnector").and_then(Value::as_str)
        && slug != konnector.manifest.slug
    {
        anyhow::bail!(
            "COZY_FIELDS names konnector {slug:?} but {} is {:?}",
            args.folder.display(),
            konnector.manifest.slug
        );
    }

    let sink = StackSink::new(StackConfig {
        ca_files: args.stack_ca_file.clone(),
        default_dir_id: cozy.folder_to_save().map(str::to_owned),
        ..StackConfig::new(cozy.url.clone(), StackToken::new(cozy.token.0.clone()))
    })?;
    let fields = within(
        deadline,
        time_limit_s,
        "reading the account from the stack",
        account_fields(&sink, &account_id, cozy.folder_to_save()),
    )
    .await?;

    let mut network = args.network.operator_config()?;
    network.stack_origins = vec![origin(&cozy.url)?];
    let engine = KonnectorEngine::new(EngineConfig {
        max_concurrent_jobs: 4,
        cache_dir: args.cache_dir.clone().or_else(crate::default_cache_dir),
        network: Arc::new(network),
        js_runtime: konnector
            .is_javascript()
            .then(|| Arc::from(js_runtime::RUNTIME)),
        ..EngineConfig::default()
    })?;

    // A JavaScript konnector's first job on this cache takes the snapshot of
    // its dependencies: that time counts against the stack's limit too.
    within(deadline, time_limit_s, "preparing the konnector", async {
        engine
            .prepare_code(&konnector.code)
            .await
            .map_err(anyhow::Error::from)
    })
    .await?;
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if left.is_zero() {
        anyhow::bail!(
            "the time limit of {time_limit_s} s (COZY_TIME_LIMIT) passed before the job could start"
        );
    }
    let limits = LimitRequest {
        deadline_ms: Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1)),
        ..LimitRequest::default()
    };
    let mut parameters = cozy
        .parameters
        .clone()
        .unwrap_or_else(|| konnector.manifest.parameters.clone());
    if let Some(payload) = &cozy.payload {
        parameters.insert("payload".into(), Value::String(payload.clone()));
    }
    let observer: LineObserver = Arc::new(|line: &LogLine| output::log_line(line));
    let job = Job {
        id: cozy
            .job_id
            .clone()
            .unwrap_or_else(|| format!("exec-{}", std::process::id())),
        code: konnector.code,
        manifest: Arc::new(konnector.manifest),
        input: JobInput {
            account: Some(account_id),
            fields,
            parameters,
            locale: cozy.locale.clone(),
            manual_execution: cozy.manual_execution,
            trigger_id: cozy.trigger_id.clone(),
            ..JobInput::default()
        },
        limits,
        sink: Arc::new(sink),
        log_observer: Some(observer),
    };
    let report = engine.run(job).await?;
    output::result_line(&report);
    Ok(match report.outcome.is_success() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(EXIT_JOB_FAILED),
    })
}

/// Runs `step` until `deadline`, and fails naming the step when the
/// deadline comes first.
async fn within<T>(
    deadline: tokio::time::Instant,
    time_limit_s: u64,
    step: &str,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout_at(deadline, work).await {
        Ok(result) => result,
        Err(_) => anyhow::bail!(
            "the time limit of {time_limit_s} s (COZY_TIME_LIMIT) passed while {step}"
        ),
    }
}

/// Builds the job's fields from the account document: its `auth` (the login
/// fields), and `folder_path` from `folder_to_save`.
async fn account_fields(
    sink: &StackSink,
    account_id: &str,
    folder_to_save: Option<&str>,
) -> anyhow::Result<Map<String, Value>> {
    let account = sink
        .read_account(account_id)
        .await
        .with_context(|| format!("failed to read the account {account_id} from the stack"))?;
    let mut fields: Map<String, Value> = account.auth.clone();
    if let Some(dir_id) = folder_to_save {
        let path = sink.folder_path(dir_id).await.with_context(|| {
            format!("failed to read the folder {dir_id} (folder_to_save) from the stack")
        })?;
        fields.insert("folder_path".into(), Value::String(path));
    }
    Ok(fields)
}

/// Returns the (host, port) origin of the stack's URL, which guest fetches
/// may not reach.
fn origin(url: &str) -> anyhow::Result<(String, u16)> {
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("COZY_URL {url:?} has no scheme"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            match port.parse::<u16>() {
                Ok(port) => (host, port),
                Err(_) => (authority, default_port),
            }
        }
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        anyhow::bail!("COZY_URL {url:?} has no host");
    }
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origin_of_stack_urls() {
        assert_eq!(
            origin("http://cozy.localhost:8080/").expect("valid"),
            ("cozy.localhost".into(), 8080)
        );
        assert_eq!(
            origin("https://Alice.MyCozy.Cloud/").expect("valid"),
            ("alice.mycozy.cloud".into(), 443)
        );
        assert_eq!(
            origin("http://[::1]:9000/").expect("valid"),
            ("::1".into(), 9000)
        );
        assert!(origin("http:///").is_err());
    }
}
