//! `konnector build`: a konnector folder into an artifact.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use konnector_toolchain::{BuiltDependencies, Language};
use serde_json::json;

use crate::konnector_path::{self, ARTIFACT_FILE};

#[derive(Args)]
pub(crate) struct BuildArgs {
    /// The konnector folder: manifest.konnector with a Cargo.toml (Rust), or
    /// with a package.json, src/index.js or index.js (JavaScript).
    dir: PathBuf,
    /// File to write the artifact to, which `konnector run FILE` runs
    /// [default: DIR/build/konnector.wasm].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print one JSON object describing the result on standard output: the
    /// artifact, its bytecode size and the npm packages bundled. For a
    /// JavaScript konnector that imports packages, `dependencies` gives
    /// their bytecode size, the ones evaluated ahead of jobs (`evaluate`)
    /// and the ones evaluated in each job (`per_job`, with the reason).
    #[arg(long)]
    json: bool,
}

pub(crate) fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let manifest = konnector_path::load_manifest(&args.dir)?;
    let built = konnector_path::build_folder(&args.dir, &mut |step| errln!("{step}"))?;

    let output = args
        .output
        .unwrap_or_else(|| args.dir.join("build").join(ARTIFACT_FILE));
    if output.is_dir() {
        anyhow::bail!(
            "-o {} is a folder; give the artifact's file name, such as {}",
            output.display(),
            output.join(ARTIFACT_FILE).display()
        );
    }
    if let Some(parent) = output
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    write_atomically(&output, &built.artifact)?;

    let language = match built.language {
        Language::Rust => "rust",
        Language::JavaScript => "javascript",
    };
    let bytes = built.artifact.len();
    let elapsed_ms = started.elapsed().as_millis();
    let dependencies = built.dependencies.as_ref().map(|dependencies| {
        json!({
            "bytecode_bytes": dependencies.bytecode_bytes,
            "evaluate": dependencies.plan.evaluate,
            "per_job": dependencies.plan.per_job,
        })
    });
    if args.json {
        outln!(
            "{}",
            json!({
                "status": "built",
                "slug": manifest.slug,
                "language": language,
                "output": output,
                "bytes": bytes,
                "bytecode_bytes": built.bytecode_bytes,
                "bundled": built.bundled,
                "packages": built.packages,
                "dependencies": dependencies,
                "elapsed_ms": elapsed_ms,
            })
        );
    } else {
        if let Some(dependencies) = &built.dependencies {
            print_preload_plan(dependencies);
        }
        errln!(
            "built {} ({language}, {bytes} bytes) in {elapsed_ms} ms; run it with: konnector run {}",
            output.display(),
            output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints which dependencies the engine evaluates ahead of time, and a
/// line for each one that every job evaluates, with the reason.
fn print_preload_plan(dependencies: &BuiltDependencies) {
    let plan = &dependencies.plan;
    if !plan.evaluate.is_empty() {
        errln!("evaluated once ahead of jobs: {}", plan.evaluate.join(", "));
    }
    for dependency in &plan.per_job {
        errln!(
            "evaluated in each job: {}, because {}",
            dependency.name,
            dependency.reason
        );
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into
/// place, so a failed build never leaves half an artifact.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("failed to write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("failed to move the artifact to {}", path.display()))
}
