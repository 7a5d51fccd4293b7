//! `konnector docs`: the embedded store's documents as JSON lines.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use konnector_engine::store::SqliteStore;

use crate::run::DEFAULT_STORE;

#[derive(Args)]
pub(crate) struct DocsArgs {
    /// SQLite file of the embedded store.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_STORE)]
    store: PathBuf,
    /// Only documents of this doctype, such as io.cozy.bills.
    #[arg(long, value_name = "DOCTYPE")]
    doctype: Option<String>,
}

pub(crate) fn docs(args: DocsArgs) -> anyhow::Result<ExitCode> {
    // Opening would create an empty store; a typo in --store should say so.
    if !args.store.is_file() {
        bail!(
            "store {} not found; run a konnector first or pass --store FILE",
            args.store.display()
        );
    }
    let files_dir = SqliteStore::default_files_dir(&args.store);
    let store = SqliteStore::open(&args.store, &files_dir)
        .with_context(|| format!("failed to open the store {}", args.store.display()))?;
    let documents = store.documents(args.doctype.as_deref())?;
    if documents.is_empty() {
        match &args.doctype {
            Some(doctype) => errln!(
                "no documents of doctype {doctype} in {}",
                args.store.display()
            ),
            None => errln!("no documents in {}", args.store.display()),
        }
    }
    let mut stdout = std::io::stdout().lock();
    for document in documents {
        // A closed pipe (such as `| head`) ends the listing quietly.
        if writeln!(stdout, "{document}").is_err() {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}
