//! The `konnector` command: build, run and inspect sandboxed Cozy konnectors.

/// Writes a line to standard output, ignoring a closed pipe: `konnector
/// run ... | head -1` must end with the job's exit status, not a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Writes a line to standard error, ignoring a closed pipe, as [`outln`].
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod build;
mod demo;
mod docs;
mod exec;
mod js_runtime;
mod konnector_path;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status when the job ran and did not succeed.
const EXIT_JOB_FAILED: u8 = 1;
/// Exit status when the command could not do its work (bad flag, bad file).
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "konnector",
    version,
    about = "Build, run and inspect Cozy konnectors in a WebAssembly sandbox",
    long_about = "Runs Cozy konnectors compiled to WebAssembly inside wasmtime, with fuel, \
                  memory, time and output limits, no file system, no socket and no \
                  environment. `konnector run` writes documents to an embedded SQLite store; \
                  `konnector exec`, started by a Cozy stack, writes them through the stack."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a konnector folder (Rust or JavaScript, with manifest.konnector) into one artifact file.
    Build(build::BuildArgs),
    /// Run a konnector folder, an artifact, or a plain .wasm or .wat WASI command.
    Run(Box<run::RunArgs>),
    /// Print the embedded store's documents as JSON lines.
    Docs(docs::DocsArgs),
    /// Run a konnector for a Cozy stack: the entry point its konnectors.cmd names (COZY_* variables, JSON lines out).
    Exec(exec::ExecArgs),
    /// Start the fixture vendor site, build the JavaScript sample and run it twice into a fresh store.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => build::build(args),
        Command::Run(args) => run::run(*args),
        Command::Docs(args) => docs::docs(args),
        Command::Demo(args) => demo::demo(args),
        Command::Exec(args) => exec::exec(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Engine logs go to stderr, filtered by `RUST_LOG` (default `warn`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The folder of compiled modules: `$KONNECTOR_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/konnector`, else `~/.cache/konnector`; `None` when none
/// of them is set.
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    let from = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    from("KONNECTOR_CACHE_DIR")
        .or_else(|| from("XDG_CACHE_HOME").map(|dir| dir.join("konnector")))
        .or_else(|| from("HOME").map(|dir| dir.join(".cache").join("konnector")))
}
