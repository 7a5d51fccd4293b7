//! Runs the fixture vendor site outside tests, for demos and for programs in
//! other languages.
//!
//! It prints one JSON line on standard output once both listeners are up:
//! `{"http": "127.0.0.1:P", "https": "127.0.0.1:Q", "ca_file": PATH,
//! "login": ..., "password": ...}`. It then serves until standard input
//! closes, or until SIGINT or SIGTERM. Logs go to standard error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Serialize;
use vendor_site::{SiteConfig, VendorSite};

/// Serves a fixture vendor web site on 127.0.0.1 over HTTP and HTTPS.
#[derive(Debug, Parser)]
#[command(name = "vendor-site")]
struct Args {
    /// File to write the test CA certificate to, PEM [default: a file in the
    /// temporary directory, removed at exit]
    #[arg(long, value_name = "FILE")]
    ca_out: Option<PathBuf>,
    /// Login the site accepts
    #[arg(long, default_value = "demo@example.com")]
    login: String,
    /// Password the site accepts
    #[arg(long, default_value = "demo-password")]
    password: String,
    /// Number of bills on the site
    #[arg(long, default_value_t = 12)]
    bills: usize,
    /// Number of bills on each page of /bills
    #[arg(long, default_value_t = 5)]
    bills_per_page: usize,
    /// DNS name in the server certificate and in absolute links
    #[arg(long, default_value = "vendor.example")]
    hostname: String,
    /// Return 500 for every request, like a vendor that is down
    #[arg(long)]
    fail_with_500: bool,
    /// Serve plain HTTP only
    #[arg(long)]
    no_https: bool,
    /// Keep serving when standard input closes, for runs with standard input
    /// at /dev/null; stop with SIGINT or SIGTERM
    #[arg(long)]
    ignore_stdin: bool,
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
            eprintln!("vendor-site: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> std::io::Result<()> {
    let config = SiteConfig {
        login: args.login,
        password: args.password,
        bill_count: args.bills,
        bills_per_page: args.bills_per_page,
        fail_with_500: args.fail_with_500,
        https: !args.no_https,
        hostname: args.hostname,
    };
    let site = VendorSite::start(config).await?;

    let temporary_ca = args.ca_out.is_none();
    let ca_file = args.ca_out.unwrap_or_else(|| {
        let name = format!("vendor-site-ca-{}.pem", std::process::id());
        std::env::temp_dir().join(name)
    });
    write_ca(&ca_file, site.ca_pem())?;
    print_addresses(&site, &ca_file)?;

    wait_for_stop(args.ignore_stdin).await;
    site.shutdown().await;

    if temporary_ca && let Err(error) = std::fs::remove_file(&ca_file) {
        tracing::warn!(path = %ca_file.display(), %error, "failed to remove the CA file");
    }
    Ok(())
}

fn write_ca(path: &Path, pem: &str) -> std::io::Result<()> {
    std::fs::write(path, pem).map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!(
                "failed to write the CA certificate to {}: {error}",
                path.display()
            ),
        )
    })
}

/// The line printed once the site is up. Fields keep this order.
#[derive(Serialize)]
struct Announcement<'a> {
    http: String,
    /// `null` with `--no-https`.
    https: Option<String>,
    ca_file: String,
    login: &'a str,
    password: &'a str,
}

fn print_addresses(site: &VendorSite, ca_file: &Path) -> std::io::Result<()> {
    let announcement = Announcement {
        http: site.http_addr().to_string(),
        https: site.https_addr().map(|address| address.to_string()),
        ca_file: ca_file.display().to_string(),
        login: &site.config().login,
        password: &site.config().password,
    };
    let line = serde_json::to_string(&announcement)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
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

/// Reads standard input to its end, discarding the data, on a detached
/// thread. Tokio's own stdin would run the read on a blocking-pool thread,
/// and the runtime waits for that thread at exit, so a stop by signal would
/// hang until standard input closed.
async fn wait_for_stdin_end() {
    let (done, end) = tokio::sync::oneshot::channel();
    let reader = std::thread::Builder::new()
        .name("stdin-reader".to_owned())
        .spawn(move || {
            let mut sink = std::io::sink();
            let copied = std::io::copy(&mut std::io::stdin().lock(), &mut sink);
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
