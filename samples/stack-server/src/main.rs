//! Runs the stack server outside tests, for demos and for `konnector exec`
//! runs by hand.
//!
//! It prints one JSON line on standard output once the listener is up:
//! `{"url": "http://127.0.0.1:P/", "token": ..., "account": ID or null}`.
//! It then serves until standard input closes, or until SIGINT or SIGTERM.
//! Logs go to standard error.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Parser;
use serde::Serialize;
use serde_json::Value;
use stack_server::{StackConfig, StackServer, TokenSpec, Verb};

/// Serves an in-memory imitation of the cozy-stack API on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "stack-server")]
struct Args {
    /// Doctypes the printed token may use with every verb, comma-separated
    #[arg(
        long,
        value_name = "DOCTYPES",
        value_delimiter = ',',
        default_value = "io.cozy.bills,io.cozy.files,io.cozy.accounts"
    )]
    token_doctypes: Vec<String>,
    /// Konnector slug of the token, written in the cozyMetadata the server fills
    #[arg(long, default_value = "konnector")]
    slug: String,
    /// Lifetime of the token in seconds [default: no expiry]
    #[arg(long, value_name = "SECONDS")]
    token_valid_for: Option<u64>,
    /// An io.cozy.accounts document to seed, as ID:JSON; repeatable
    #[arg(long = "account", value_name = "ID:JSON", value_parser = parse_account)]
    accounts: Vec<(String, Value)>,
    /// Disk quota of the instance in bytes [default: none]
    #[arg(long, value_name = "BYTES")]
    quota_bytes: Option<u64>,
    /// Keep serving when standard input closes, for runs with standard input
    /// at /dev/null; stop with SIGINT or SIGTERM
    #[arg(long)]
    ignore_stdin: bool,
}

/// Parses `ID:JSON`, the id being everything before the first colon.
fn parse_account(text: &str) -> Result<(String, Value), String> {
    let Some((id, json)) = text.split_once(':') else {
        return Err(format!("invalid account {text:?}: expected ID:JSON"));
    };
    if id.is_empty() {
        return Err(format!("invalid account {text:?}: the id is empty"));
    }
    match serde_json::from_str::<Value>(json) {
        Ok(value @ Value::Object(_)) => Ok((id.to_owned(), value)),
        Ok(_) => Err(format!("invalid account {id}: expected a JSON object")),
        Err(error) => Err(format!("invalid account {id}: {error}")),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let colored = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colored)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("stack-server: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = StackConfig {
        quota_bytes: args.quota_bytes,
        ..StackConfig::default()
    };
    let server = StackServer::start(config).await?;

    for (id, account) in &args.accounts {
        server.add_account(id, account.clone())?;
    }
    let mut spec = TokenSpec::konnector(&args.slug);
    for doctype in args
        .token_doctypes
        .iter()
        .filter(|doctype| !doctype.is_empty())
    {
        spec = spec.allow(doctype, Verb::ALL);
    }
    if let Some(seconds) = args.token_valid_for {
        spec = spec.valid_for(Duration::from_secs(seconds));
    }
    let token = server.issue_token(spec);

    let announcement = Announcement {
        url: server.url(),
        token: &token,
        account: args.accounts.first().map(|(id, _)| id.as_str()),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string(&announcement)?)?;
    stdout.flush()?;
    drop(stdout);

    wait_for_stop(args.ignore_stdin).await;
    server.shutdown().await;
    Ok(())
}

/// The line printed once the server is up. Fields keep this order.
#[derive(Serialize)]
struct Announcement<'a> {
    url: &'a str,
    token: &'a str,
    /// The id of the first `--account`, `null` without one.
    account: Option<&'a str>,
}

/// Waits until standard input reaches its end (unless `ignore_stdin`), or a
/// SIGINT or SIGTERM arrives.
async fn wait_for_stop(ignore_stdin: bool) {
    let stdin_closed = async {
        match ignore_stdin {
            true => std::future::pending::<()>().await,
            false => wait_for_stdin_end().await,
        }
    };

    tokio::select! {
        _ = stdin_closed => tracing::info!("standard input closed, stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, stopping"),
        _ = terminate_signal() => tracing::info!("SIGTERM received, stopping"),
    }
}

/// Reads standard input to its end on a detached thread. Tokio's own stdin
/// would read on a blocking-pool thread, which the runtime waits for at
/// exit, so a stop by signal would hang until standard input closed.
async fn wait_for_stdin_end() {
    let (done, end) = tokio::sync::oneshot::channel();
    let reader = std::thread::Builder::new()
        .name("stdin-reader".to_owned())
        .spawn(move || {
            let copied = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            if let Err(error) = copied {
                tracing::warn!(%error, "failed to read standard input, stopping");
            }
            let _ = done.send(());
        });
    match reader {
        Ok(_) => {
            let _ = end.await;
        }
        Err(error) => {
            tracing::warn!(%error, "failed to start the standard input reader, ignoring stdin");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(unix)]
async fn terminate_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            terminate.recv().await;
        }
        Err(error) => {
            tracing::warn!(%error, "failed to listen for SIGTERM");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(not(unix))]
async fn terminate_signal() {
    std::future::pending::<()>().await;
}
