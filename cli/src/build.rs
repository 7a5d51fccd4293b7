//! `konnector build`: a konnector folder into a WebAssembly module.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use konnector_engine::manifest::Manifest;
use serde_json::json;

use crate::konnector_path::{self, MANIFEST_FILE};

#[derive(Args)]
pub(crate) struct BuildArgs {
    /// The konnector folder, with manifest.konnector.
    dir: PathBuf,
    /// Where to write the module [default: DIR/build/SLUG.wasm].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print one JSON object describing the result on standard output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.dir.join(MANIFEST_FILE))?;
    let built = konnector_path::build_folder(&args.dir)?;
    let output = args
        .output
        .unwrap_or_else(|| args.dir.join("build").join(format!("{}.wasm", manifest.slug)));
    if let Some(parent) = output.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    std::fs::copy(&built, &output)
        .with_context(|| format!("failed to copy {} to {}", built.display(), output.display()))?;
    let size = std::fs::metadata(&output).map(|metadata| metadata.len()).unwrap_or(0);
    if args.json {
        println!("{}", json!({"status": "built", "slug": manifest.slug, "output": output, "bytes": size}));
    } else {
        eprintln!("built {} ({} bytes)", output.display(), size);
    }
    Ok(ExitCode::SUCCESS)
}
