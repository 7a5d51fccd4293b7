//! Tests of the preload plan: on dependency bundles written by hand, which
//! need neither Node.js nor npm, then on konnectors built from folders with
//! npm packages (`file:` packages, installed without the registry) and on
//! the `libs-bills` sample.

use std::path::Path;

use konnector_host_api::artifact::{self, ArtifactKind, JsDependencies};
use tempfile::TempDir;

use super::*;
use crate::artifact_build::{BuildOptions, Built, build_konnector};
use crate::js::bundle::DEPENDENCIES_NAME;
use crate::js::preinitialized_runtime;
use crate::js::tests::{runtime, target_dir};

/// Compiles a dependency bundle that defines each `(name, factory body)`.
fn dependency_bundle(packages: &[(&str, &str)]) -> Vec<u8> {
    let mut source = String::from("import { define } from \"konnector:dependencies\";\n");
    for (name, body) in packages {
        source.push_str(&format!("define({name:?}, () => {{ {body} }});\n"));
    }
    runtime()
        .compile(DEPENDENCIES_NAME, source.as_bytes())
        .unwrap_or_else(|error| panic!("compile the bundle: {error}\n{source}"))
}

fn names(packages: &[(&str, &str)]) -> Vec<String> {
    packages
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

/// Plans the preload of a bundle of `packages`.
fn plan(packages: &[(&str, &str)]) -> PreloadPlan {
    plan_preload(runtime(), &dependency_bundle(packages), &names(packages))
        .unwrap_or_else(|error| panic!("plan the preload: {error}"))
}

/// Returns the reason the plan gives for the per-job dependency `name`.
fn reason<'a>(plan: &'a PreloadPlan, name: &str) -> &'a str {
    plan.per_job
        .iter()
        .find(|dependency| dependency.name == name)
        .map(|dependency| dependency.reason.as_str())
        .unwrap_or_else(|| panic!("{name} is not per job in {plan:?}"))
}

#[test]
fn pure_packages_all_evaluated() {
    let plan = plan(&[
        ("first", "return { value: 1 };"),
        (
            "second",
            "return Object.freeze([1, 2, 3].map((x) => x * 2));",
        ),
    ]);
    assert_eq!(plan.evaluate, ["first", "second"]);
    assert!(plan.per_job.is_empty(), "{plan:?}");
}

#[test]
fn clock_at_load_goes_per_job() {
    let plan = plan(&[
        ("before", "return 1;"),
        ("clock", "return { loadedAt: Date.now() };"),
        ("after", "return 2;"),
    ]);
    assert_eq!(plan.evaluate, ["before", "after"]);
    assert_eq!(plan.per_job.len(), 1, "{plan:?}");
    assert_eq!(
        reason(&plan, "clock"),
        "it reads the clock while it loads (wasi clock_time_get)"
    );
}

#[test]
fn math_random_at_load_goes_per_job() {
    let plan = plan(&[
        ("random", "return { id: Math.random() };"),
        ("fine", "return 1;"),
    ]);
    assert_eq!(plan.evaluate, ["fine"]);
    assert_eq!(
        reason(&plan, "random"),
        "it calls Math.random while it loads"
    );
}

#[test]
fn throw_at_load_goes_per_job() {
    let plan = plan(&[
        ("fine", "return 1;"),
        ("broken", "throw new Error(\"no configuration found\");"),
    ]);
    assert_eq!(plan.evaluate, ["fine"]);
    assert_eq!(
        reason(&plan, "broken"),
        "it throws while it loads: Error: no configuration found"
    );
}

#[test]
fn other_host_calls_at_load_go_per_job() {
    let plan = plan(&[
        ("logger", "console.log(\"loading\"); return 1;"),
        ("bytes", "return crypto.getRandomValues(new Uint8Array(4));"),
        ("date", "return new Date().getFullYear();"),
        ("timer", "setTimeout(() => {}, 1000); return 1;"),
        (
            "promise",
            "let value = 0; Promise.resolve().then(() => { value = 1; }); return () => value;",
        ),
        ("fine", "return 1;"),
    ]);
    assert_eq!(plan.evaluate, ["promise", "fine"]);
    assert_eq!(
        reason(&plan, "timer"),
        "it reads the clock while it loads (wasi clock_time_get)"
    );
    assert_eq!(
        reason(&plan, "logger"),
        "it writes a log line while it loads (konnector_v1 log)"
    );
    assert_eq!(
        reason(&plan, "bytes"),
        "it reads random bytes while it loads (wasi random_get)"
    );
    assert_eq!(
        reason(&plan, "date"),
        "it reads the clock while it loads (wasi clock_time_get)"
    );
}

#[test]
fn package_required_by_another_is_blamed_on_it() {
    // `wrapper` requires `clock` while it loads, so it is the one the
    // runtime is evaluating when the clock is read.
    let plan = plan(&[
        ("wrapper", "return require(\"clock\");"),
        ("clock", "return Date.now();"),
        ("fine", "return 1;"),
    ]);
    assert_eq!(plan.evaluate, ["fine"]);
    assert_eq!(
        reason(&plan, "wrapper"),
        "it reads the clock while it loads (wasi clock_time_get)"
    );
    assert_eq!(
        reason(&plan, "clock"),
        "it reads the clock while it loads (wasi clock_time_get)"
    );
}

#[test]
fn bundle_that_throws_fails_the_build() {
    let bytecode = runtime()
        .compile(
            DEPENDENCIES_NAME,
            b"import { define } from \"konnector:dependencies\";\nthrow new Error(\"bad bundle\");\n",
        )
        .expect("compile");
    let error = plan_preload(runtime(), &bytecode, &["x".to_owned()]).expect_err("no package");
    let message = error.to_string();
    assert!(message.contains("konnector.preload failed"), "{message}");
    assert!(message.contains("bad bundle"), "{message}");
}

#[test]
fn endless_loop_at_load_runs_out_of_fuel() {
    let plan = plan(&[("spin", "for (;;) {}"), ("fine", "return 1;")]);
    assert_eq!(plan.evaluate, ["fine"]);
    assert_eq!(
        reason(&plan, "spin"),
        format!("it needs more than {PRELOAD_FUEL} fuel units to load")
    );
}

#[test]
fn import_reasons_name_the_import() {
    assert_eq!(
        import_reason("wasi_snapshot_preview1::clock_time_get"),
        "it reads the clock while it loads (wasi clock_time_get)"
    );
    assert_eq!(
        import_reason("konnector_v1::log"),
        "it writes a log line while it loads (konnector_v1 log)"
    );
    assert_eq!(
        import_reason("konnector_v1::doc_create"),
        "it calls the host while it loads (konnector_v1 doc_create)"
    );
}

#[test]
fn first_line_is_cut() {
    assert_eq!(first_line("Error: boom\n    at f (x.js:1)"), "Error: boom");
    let long = "x".repeat(MAX_ERROR_CHARS + 5);
    assert_eq!(first_line(&long).chars().count(), MAX_ERROR_CHARS + 1);
}

/// Writes `text` to `root/path`, creating folders as needed.
fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("a file has a parent folder"))
        .expect("create the folder");
    std::fs::write(&path, text).expect("write the file");
}

/// Makes a folder with the konnector `k`, whose `package.json` depends on
/// each package of `packages` (`name`, `index.js` text) through
/// `file:../NAME`, and whose files are `files`.
fn konnector_with_packages(packages: &[(&str, &str)], files: &[(&str, &str)]) -> TempDir {
    let root = TempDir::new().expect("create a temporary folder");
    let mut dependencies = serde_json::Map::new();
    for (name, index) in packages {
        let package = serde_json::json!({"name": name, "version": "1.0.0", "main": "index.js"});
        write(
            root.path(),
            &format!("{name}/package.json"),
            &package.to_string(),
        );
        write(root.path(), &format!("{name}/index.js"), index);
        dependencies.insert((*name).to_owned(), format!("file:../{name}").into());
    }
    let package =
        serde_json::json!({"name": "k", "version": "1.0.0", "dependencies": dependencies});
    write(root.path(), "k/package.json", &package.to_string());
    write(
        root.path(),
        "k/manifest.konnector",
        r#"{"slug": "k", "version": "1.0.0", "permissions": {}}"#,
    );
    for (path, text) in files {
        write(&root.path().join("k"), path, text);
    }
    root
}

/// Builds the konnector folder `dir` into an artifact.
fn build(dir: &Path) -> Built {
    let js_runtime = preinitialized_runtime(&target_dir()).expect("build the runtime");
    let options = BuildOptions {
        cargo_target_dir: dir.join("target"),
        js_runtime: &js_runtime,
        progress: &mut |_| {},
    };
    build_konnector(dir, options).unwrap_or_else(|error| panic!("build {}: {error}", dir.display()))
}

/// Returns the own bytecode and the dependency bundle of a JavaScript
/// artifact.
fn read_artifact(built: &Built) -> (Vec<u8>, Option<JsDependencies>) {
    match artifact::parse(&built.artifact)
        .expect("a valid artifact")
        .kind
    {
        ArtifactKind::JavaScript {
            bytecode,
            dependencies,
            ..
        } => (bytecode, dependencies),
        ArtifactKind::Module => panic!("a JavaScript konnector built into a module"),
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn build_splits_and_plans_dependencies() {
    let root = konnector_with_packages(
        &[
            (
                "plain-dep",
                "module.exports = () => 'marker of plain-dep'\n",
            ),
            (
                "clock-dep",
                "const loadedAt = Date.now()\nmodule.exports = { loadedAt }\n",
            ),
        ],
        &[
            (
                "src/index.js",
                "const { describe } = require('./lib')\n\
                 const clock = require('clock-dep')\n\
                 console.log(describe(), typeof clock.loadedAt)\n",
            ),
            (
                "src/lib.js",
                "const plain = require('plain-dep')\n\
                 exports.describe = () => 'own code calls ' + plain()\n",
            ),
        ],
    );
    let built = build(&root.path().join("k"));
    let (bytecode, dependencies) = read_artifact(&built);
    let dependencies = dependencies.expect("a dependency bundle");

    // The own code reaches the packages through `require` only.
    assert!(contains(&bytecode, "own code calls "));
    assert!(!contains(&bytecode, "marker of plain-dep"));
    assert!(contains(&dependencies.bytecode, "marker of plain-dep"));
    assert!(!contains(&dependencies.bytecode, "own code calls "));

    // The names come in the order the own code first requires them.
    assert_eq!(dependencies.plan.evaluate, ["plain-dep"]);
    assert_eq!(dependencies.plan.per_job.len(), 1);
    assert_eq!(dependencies.plan.per_job[0].name, "clock-dep");
    assert_eq!(
        dependencies.plan.per_job[0].reason,
        "it reads the clock while it loads (wasi clock_time_get)"
    );
    let reported = built.dependencies.as_ref().expect("reported");
    assert_eq!(reported.plan, dependencies.plan);
    assert_eq!(reported.bytecode_bytes, dependencies.bytecode.len());
    assert_eq!(built.bytecode_bytes, bytecode.len());

    let run = runtime()
        .run_with_dependencies(&bytecode, &dependencies.bytecode, 1)
        .expect("run the job");
    assert_eq!(run.failure, None, "{:?}", run.logs);
    let lines: Vec<&str> = run.logs.iter().map(|(_, line)| line.as_str()).collect();
    assert_eq!(lines, ["own code calls marker of plain-dep number"]);
}

#[test]
fn build_without_packages_keeps_one_bundle() {
    let root = konnector_with_packages(
        &[],
        &[
            (
                "src/index.js",
                "const { greeting } = require('./lib')\nconsole.log(greeting())\n",
            ),
            ("src/lib.js", "exports.greeting = () => 'hello'\n"),
        ],
    );
    let built = build(&root.path().join("k"));
    assert!(built.bundled);
    assert!(built.dependencies.is_none());
    let (bytecode, dependencies) = read_artifact(&built);
    assert!(dependencies.is_none());
    assert!(contains(&bytecode, "hello"));
}

/// The sample's npm packages are the expensive part of its jobs, so all of
/// them must be evaluated ahead of time. Building it installs cheerio from
/// the configured npm registry the first time.
#[test]
fn libs_sample_preloads_every_package() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/libs-bills");
    let built = build(&sample);
    let (_, dependencies) = read_artifact(&built);
    let plan = dependencies.expect("a dependency bundle").plan;
    println!("libs-bills plan: {plan:?}");
    let reported = built.dependencies.as_ref().expect("reported");
    println!(
        "libs-bills bytecode: {} bytes of its own, {} bytes of dependencies",
        built.bytecode_bytes, reported.bytecode_bytes
    );
    assert_eq!(plan.evaluate, ["cozy-konnector-libs", "cheerio"]);
    assert!(plan.per_job.is_empty(), "{:?}", plan.per_job);
}
