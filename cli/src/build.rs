//! `konnector build`: a konnector folder into a WebAssembly module.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use crate::konnector_path::{self, MANIFEST_FILE, MODULE_FILE};

#[derive(Args)]
pub(crate) struct BuildArgs {
    /// The konnector folder, with manifest.konnector.
    dir: PathBuf,
    /// Folder to write the built konnector to: konnector.wasm and a copy of
    /// manifest.konnector, which `konnector run FOLDER` runs [default: DIR/build].
    #[arg(short, long, value_name = "FOLDER")]
    output: Option<PathBuf>,
    /// Print one JSON object describing the result on standard output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let manifest = konnector_path::load_manifest(&args.dir)?;
    let built = konnector_path::build_folder(&args.dir)?;
    let folder = args.output.unwrap_or_else(|| args.dir.join("build"));
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("failed to create {}", folder.display()))?;
    let output = folder.join(MODULE_FILE);
    std::fs::copy(&built, &output)
        .with_context(|| format!("failed to copy {} to {}", built.display(), output.display()))?;
    let manifest_copy = folder.join(MANIFEST_FILE);
    std::fs::copy(args.dir.join(MANIFEST_FILE), &manifest_copy)
        .with_context(|| format!("failed to copy the manifest to {}", manifest_copy.display()))?;
    let size = std::fs::metadata(&output)
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    if args.json {
        println!(
            "{}",
            json!({"status": "built", "slug": manifest.slug, "output": output, "bytes": size})
        );
    } else {
        eprintln!(
            "built {} ({} bytes); run it with: konnector run {}",
            output.display(),
            size,
            folder.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
