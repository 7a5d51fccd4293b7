//! Tests of entry resolution and bundling. Bundling tests run `node` and
//! `npm` from `PATH`. The first one installs esbuild in the bundler folder
//! from the configured npm registry, unless `scripts/setup` did. Their
//! konnectors' npm dependencies are `file:` packages, so those installs
//! need no registry.

use std::path::Path;
use std::sync::OnceLock;

use tempfile::TempDir;

use super::*;
use crate::js::{JsRuntime, preinitialized_runtime};

/// Writes `text` to `root/path`, creating folders as needed.
fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("a file has a parent folder"))
        .expect("create the folder");
    std::fs::write(&path, text).expect("write the file");
}

/// Makes a konnector folder with the given files.
fn konnector(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new().expect("create a temporary folder");
    for (path, text) in files {
        write(dir.path(), path, text);
    }
    dir
}

/// Runs [`prepare`] and returns its result and the steps it reported.
fn prepare_with_steps(dir: &Path) -> (Result<Bundle, BundleError>, Vec<Step>) {
    let mut steps = Vec::new();
    let result = prepare(dir, &mut |step| steps.push(step));
    (result, steps)
}

fn bundle(dir: &Path) -> Bundle {
    prepare(dir, &mut |_| {}).unwrap_or_else(|error| panic!("prepare {}: {error}", dir.display()))
}

fn source(bundle: &Bundle) -> &str {
    std::str::from_utf8(&bundle.source).expect("the bundle is UTF-8")
}

/// Returns the path of `entry` relative to `dir`, with `/` separators.
fn entry_of(dir: &Path) -> Result<String, BundleError> {
    let path = entry(dir)?;
    let relative = path
        .strip_prefix(dir)
        .expect("the entry is inside the folder");
    Ok(relative.to_string_lossy().replace('\\', "/"))
}

#[test]
fn entry_from_main() {
    let dir = konnector(&[
        ("package.json", r#"{"main": "./lib/start.js"}"#),
        ("lib/start.js", ""),
        ("src/index.js", ""),
        ("index.js", ""),
    ]);
    assert_eq!(entry_of(dir.path()).expect("entry"), "lib/start.js");
}

#[test]
fn entry_main_without_extension() {
    let dir = konnector(&[
        ("package.json", r#"{"main": "lib/start"}"#),
        ("lib/start.js", ""),
    ]);
    assert_eq!(entry_of(dir.path()).expect("entry"), "lib/start.js");

    let dir = konnector(&[("package.json", r#"{"main": "lib"}"#), ("lib/index.js", "")]);
    assert_eq!(entry_of(dir.path()).expect("entry"), "lib/index.js");
}

#[test]
fn entry_defaults_in_order() {
    let dir = konnector(&[("src/index.js", ""), ("index.js", "")]);
    assert_eq!(entry_of(dir.path()).expect("entry"), "src/index.js");

    let dir = konnector(&[("package.json", r#"{"name": "k"}"#), ("index.js", "")]);
    assert_eq!(entry_of(dir.path()).expect("entry"), "index.js");
}

#[test]
fn entry_missing() {
    let dir = konnector(&[("lib/index.js", "")]);
    let error = entry(dir.path()).expect_err("no entry");
    assert!(matches!(error, BundleError::NoEntry { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("src/index.js"), "{message}");
    assert!(message.contains("set main in package.json"), "{message}");
}

#[test]
fn entry_main_not_found() {
    let dir = konnector(&[
        ("package.json", r#"{"main": "dist/index.js"}"#),
        ("src/index.js", ""),
    ]);
    let error = entry(dir.path()).expect_err("main names no file");
    let BundleError::MainNotFound { main, tried, .. } = &error else {
        panic!("expected MainNotFound, got {error:?}");
    };
    assert_eq!(main, "dist/index.js");
    assert_eq!(tried[0], "dist/index.js");
    assert!(error.to_string().contains("\"dist/index.js\""), "{error}");
}

#[test]
fn entry_main_outside_folder() {
    let root = TempDir::new().expect("create a temporary folder");
    write(root.path(), "outside.js", "");
    write(root.path(), "k/src/index.js", "");
    let dir = root.path().join("k");
    for main in ["../outside.js", "src/../../outside.js", "/etc/hostname"] {
        write(&dir, "package.json", &format!(r#"{{"main": "{main}"}}"#));
        let error = entry(&dir).expect_err("main outside the folder");
        assert!(
            matches!(&error, BundleError::MainOutsideFolder { main: found, .. } if found == main),
            "{main}: {error:?}"
        );
    }
}

#[cfg(unix)]
#[test]
fn entry_main_symlink_outside_folder() {
    let root = TempDir::new().expect("create a temporary folder");
    write(root.path(), "outside.js", "");
    write(root.path(), "k/package.json", r#"{"main": "link.js"}"#);
    std::os::unix::fs::symlink(
        root.path().join("outside.js"),
        root.path().join("k/link.js"),
    )
    .expect("create a symbolic link");
    let error = entry(&root.path().join("k")).expect_err("main links outside the folder");
    assert!(
        matches!(error, BundleError::MainOutsideFolder { .. }),
        "{error:?}"
    );
}

#[test]
fn entry_invalid_package_json() {
    let dir = konnector(&[
        (
            "package.json",
            "{\n  \"main\": \"index.js\"\n  \"name\": \"k\"\n}",
        ),
        ("index.js", ""),
    ]);
    let error = entry(dir.path()).expect_err("invalid JSON");
    let BundleError::InvalidPackageJson { path, source } = &error else {
        panic!("expected InvalidPackageJson, got {error:?}");
    };
    assert_eq!(path, &dir.path().join("package.json"));
    assert_eq!((source.line(), source.column()), (3, 3));
    assert!(error.to_string().contains("package.json"), "{error}");
    assert!(source.to_string().contains("line 3 column 3"), "{source}");
}

#[test]
fn entry_main_not_a_string() {
    let dir = konnector(&[
        ("package.json", r#"{"main": ["index.js"]}"#),
        ("index.js", ""),
    ]);
    let error = entry(dir.path()).expect_err("main is an array");
    assert!(
        matches!(
            error,
            BundleError::InvalidPackageField { field: "main", .. }
        ),
        "{error:?}"
    );
}

#[test]
fn single_file_unbundled() {
    let text = "import { log } from \"konnector:host\";\nlog(\"info\", \"hi\");\n";
    let dir = konnector(&[
        (
            "package.json",
            r#"{"name": "k", "dependencies": {}, "devDependencies": {"jest": "29"}}"#,
        ),
        ("src/index.js", text),
        (".eslintrc.js", "module.exports = {}"),
        ("node_modules/jest/index.js", ""),
        ("build/index.js", ""),
        ("manifest.konnector", "{}"),
    ]);
    let (result, steps) = prepare_with_steps(dir.path());
    let bundle = result.expect("prepare");
    assert!(!bundle.bundled);
    assert_eq!(bundle.name, "src/index.js");
    assert_eq!(source(&bundle), text);
    assert_eq!(bundle.inputs, ["src/index.js"]);
    assert!(bundle.packages.is_empty());
    assert!(steps.is_empty(), "{steps:?}");
}

#[test]
fn single_file_without_package_json() {
    let dir = konnector(&[("index.js", "1;\n")]);
    let bundle = bundle(dir.path());
    assert!(!bundle.bundled);
    assert_eq!(bundle.name, "index.js");
}

#[test]
fn single_commonjs_file_bundled() {
    let dir = konnector(&[(
        "index.js",
        "const host = require('konnector:host')\nmodule.exports = function run() { host.log('info', 'hi') }\nmodule.exports()\n",
    )]);
    let bundle = bundle(dir.path());
    assert!(bundle.bundled);
    assert!(
        source(&bundle).contains("konnector:host"),
        "{}",
        source(&bundle)
    );
}

#[cfg(unix)]
#[test]
fn default_entry_linked_outside_refused() {
    let outside = tempfile::tempdir().expect("temporary folder");
    std::fs::write(outside.path().join("secret.js"), "1;\n").expect("write");
    let dir = konnector(&[("manifest.konnector", "{}")]);
    std::os::unix::fs::symlink(
        outside.path().join("secret.js"),
        dir.path().join("index.js"),
    )
    .expect("symlink");
    let error = entry(dir.path()).expect_err("outside");
    assert!(
        matches!(error, BundleError::EntryOutsideFolder { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("outside the konnector's folder"),
        "{error}"
    );
}

#[test]
fn two_files_bundled() {
    let dir = konnector(&[
        (
            "src/index.js",
            "const { greeting } = require('./lib')\n\
             const host = require('konnector:host')\n\
             const fs = require('fs')\n\
             if (process.env.NODE_ENV !== 'production') throw new Error('development')\n\
             host.log('info', greeting('bundle'))\n",
        ),
        (
            "src/lib.js",
            "exports.greeting = (name) => 'hello from ' + name\n",
        ),
    ]);
    let (result, steps) = prepare_with_steps(dir.path());
    let bundle = result.expect("prepare");
    let text = source(&bundle);
    assert!(bundle.bundled);
    assert!(bundle.dependencies.is_none());
    assert_eq!(bundle.name, BUNDLE_NAME);
    assert!(
        text.contains("'hello from ' + name") || text.contains("\"hello from \" + name"),
        "{text}"
    );
    assert!(text.contains("greeting(\"bundle\")"), "{text}");
    assert!(text.contains("__require(\"konnector:host\")"), "{text}");
    assert!(text.contains("__require(\"fs\")"), "{text}");
    assert!(!text.contains("process.env.NODE_ENV"), "{text}");
    assert!(!text.contains("require('./lib')"), "{text}");

    let mut inputs = bundle.inputs.clone();
    inputs.sort();
    assert_eq!(inputs, ["src/index.js", "src/lib.js"]);
    assert!(bundle.packages.is_empty());
    assert_eq!(steps.last(), Some(&Step::Bundling));
    assert!(
        !steps
            .iter()
            .any(|step| matches!(step, Step::InstallingDependencies { .. })),
        "{steps:?}"
    );
}

#[test]
fn es_module_imports_kept() {
    let dir = konnector(&[
        (
            "index.mjs",
            "import { log } from 'konnector:host'\n\
             import { readFileSync } from 'node:fs'\n\
             import { twice } from './lib.mjs'\n\
             log('info', String(twice(2)), typeof readFileSync)\n\
             export const ready = true\n",
        ),
        ("lib.mjs", "export const twice = (x) => x * 2\n"),
        ("package.json", r#"{"main": "index.mjs"}"#),
    ]);
    let bundle = bundle(dir.path());
    let text = source(&bundle);
    assert!(text.contains("from \"konnector:host\""), "{text}");
    assert!(text.contains("from \"node:fs\""), "{text}");
    assert!(text.contains("x * 2"), "{text}");
    assert!(text.contains("export {"), "{text}");
}

#[test]
fn syntax_error_position() {
    let dir = konnector(&[
        (
            "src/index.js",
            "const lib = require('./lib')\n\nconst café = lib.x +;\n",
        ),
        ("src/lib.js", "exports.x = 1\n"),
    ]);
    let error = prepare(dir.path(), &mut |_| {}).expect_err("syntax error");
    let BundleError::Esbuild { errors, .. } = &error else {
        panic!("expected Esbuild, got {error:?}");
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].file.as_deref(), Some("src/index.js"));
    assert_eq!(errors[0].line, 3);
    // The `;` is the 21st character of the line, after the two-byte `é`.
    assert_eq!(errors[0].column, 21);
    let message = error.to_string();
    assert!(message.contains("\nsrc/index.js:3:21: "), "{message}");
}

#[test]
fn unresolved_import_reported() {
    let dir = konnector(&[
        ("src/index.js", "require('./lib')\nrequire('moment')\n"),
        ("src/lib.js", ""),
    ]);
    let error = prepare(dir.path(), &mut |_| {}).expect_err("moment is not installed");
    let BundleError::Esbuild { errors, .. } = &error else {
        panic!("expected Esbuild, got {error:?}");
    };
    assert_eq!(errors[0].file.as_deref(), Some("src/index.js"));
    assert_eq!((errors[0].line, errors[0].column), (2, 9));
    assert!(errors[0].text.contains("moment"), "{}", errors[0].text);
}

/// Makes a folder with the konnector `k` and the npm package `dep`, which
/// `k` depends on through `file:../dep` and `src/index.js` requires. Every
/// install script of both writes a marker file `marker-NAME` in the root.
fn konnector_with_dependency(dep_files: &[(&str, &str)]) -> TempDir {
    let root = TempDir::new().expect("create a temporary folder");
    let marker = |name: &str| {
        format!(
            "touch '{}'",
            root.path().join(format!("marker-{name}")).display()
        )
    };
    let scripts = |prefix: &str| {
        let scripts: serde_json::Map<String, serde_json::Value> =
            ["preinstall", "install", "postinstall", "prepare", "prepack"]
                .iter()
                .map(|script| {
                    (
                        script.to_string(),
                        marker(&format!("{prefix}-{script}")).into(),
                    )
                })
                .collect();
        serde_json::Value::Object(scripts)
    };

    let dep = serde_json::json!({
        "name": "local-dep",
        "version": "1.0.0",
        "main": "index.js",
        "scripts": scripts("dep"),
    });
    write(root.path(), "dep/package.json", &dep.to_string());
    for (path, text) in dep_files {
        write(&root.path().join("dep"), path, text);
    }

    let package = serde_json::json!({
        "name": "k",
        "version": "1.0.0",
        "dependencies": { "local-dep": "file:../dep" },
        "scripts": scripts("k"),
    });
    write(root.path(), "k/package.json", &package.to_string());
    write(
        root.path(),
        "k/src/index.js",
        "const dep = require('local-dep')\nconsole.log(dep())\n",
    );
    root
}

fn markers(root: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(root).expect("list the folder");
    entries
        .map(|entry| {
            entry
                .expect("read the folder")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with("marker-"))
        .collect()
}

#[test]
fn file_dependency_bundled_without_scripts() {
    let root =
        konnector_with_dependency(&[("index.js", "module.exports = () => 'from local-dep'\n")]);
    let dir = root.path().join("k");

    let (result, steps) = prepare_with_steps(&dir);
    let bundle = result.expect("prepare");
    let text = source(&bundle);
    assert!(bundle.bundled);
    let dependencies = bundle.dependencies.as_ref().expect("a dependency bundle");
    let dependency_text = std::str::from_utf8(&dependencies.source).expect("UTF-8");
    assert!(
        dependency_text.contains("from local-dep"),
        "{dependency_text}"
    );
    assert!(!text.contains("from local-dep"), "{text}");
    assert_eq!(bundle.packages, ["local-dep"]);
    assert!(
        bundle
            .inputs
            .iter()
            .any(|input| input == "node_modules/local-dep/index.js"),
        "{:?}",
        bundle.inputs
    );
    assert_eq!(
        steps.first(),
        Some(&Step::InstallingDependencies { lockfile: false })
    );
    assert_eq!(markers(root.path()), Vec::<String>::new());

    // npm install wrote a lockfile, so the next build uses npm ci.
    assert!(dir.join("package-lock.json").is_file());
    let (result, steps) = prepare_with_steps(&dir);
    assert_eq!(source(&result.expect("prepare again")), text);
    assert_eq!(
        steps.first(),
        Some(&Step::InstallingDependencies { lockfile: true })
    );
    assert_eq!(markers(root.path()), Vec::<String>::new());
}

#[test]
fn native_addon_rejected() {
    let root = konnector_with_dependency(&[
        (
            "index.js",
            "module.exports = require('./build/Release/addon.node')\n",
        ),
        ("build/Release/addon.node", "\u{7f}ELF"),
    ]);
    let error = prepare(&root.path().join("k"), &mut |_| {}).expect_err("native addon");
    let BundleError::NativeAddon { package, file } = &error else {
        panic!("expected NativeAddon, got {error:?}");
    };
    assert_eq!(package.as_deref(), Some("local-dep"));
    assert_eq!(file, "node_modules/local-dep/build/Release/addon.node");
    let message = error.to_string();
    assert!(message.contains("npm package local-dep"), "{message}");
    assert!(message.contains("WebAssembly sandbox"), "{message}");
    assert!(message.contains("pure-JavaScript"), "{message}");
}

#[test]
fn binding_gyp_rejected() {
    let root = konnector_with_dependency(&[
        ("index.js", "module.exports = () => 'compiled'\n"),
        ("binding.gyp", "{ \"targets\": [] }\n"),
    ]);
    let error = prepare(&root.path().join("k"), &mut |_| {}).expect_err("native addon");
    let BundleError::NativeAddon { package, file } = &error else {
        panic!("expected NativeAddon, got {error:?}");
    };
    assert_eq!(package.as_deref(), Some("local-dep"));
    assert_eq!(file, "node_modules/local-dep/binding.gyp");
    assert_eq!(markers(root.path()), Vec::<String>::new());
}

#[test]
fn own_native_addon_rejected() {
    let dir = konnector(&[
        (
            "src/index.js",
            "require('./addon.node')\nrequire('./lib')\n",
        ),
        ("src/lib.js", ""),
        ("src/addon.node", ""),
    ]);
    let error = prepare(dir.path(), &mut |_| {}).expect_err("native addon");
    let BundleError::NativeAddon { package, file } = &error else {
        panic!("expected NativeAddon, got {error:?}");
    };
    assert_eq!(package, &None);
    assert_eq!(file, "src/addon.node");
    assert!(error.to_string().contains("the konnector loads"), "{error}");
}

#[test]
fn npm_failure_reported() {
    let dir = konnector(&[
        (
            "package.json",
            r#"{"dependencies": {"absent": "file:./no-such-file.tgz"}}"#,
        ),
        ("src/index.js", "require('absent')\n"),
    ]);
    let error = prepare(dir.path(), &mut |_| {}).expect_err("the dependency is missing");
    let BundleError::Npm {
        command,
        stderr_tail,
        ..
    } = &error
    else {
        panic!("expected Npm, got {error:?}");
    };
    assert!(
        command.starts_with("npm install --ignore-scripts"),
        "{command}"
    );
    assert!(stderr_tail.contains("no-such-file.tgz"), "{stderr_tail}");
}

#[test]
fn missing_program_named() {
    let dir = TempDir::new().expect("create a temporary folder");
    let mut command = std::process::Command::new("konnector-test-no-such-program");
    let error = npm::run(&mut command, "node", dir.path()).expect_err("no such program");
    assert!(
        matches!(error, BundleError::MissingProgram { program: "node" }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.starts_with("node not found on PATH"), "{message}");
    assert!(message.contains("Node.js 18 or later"), "{message}");
}

#[test]
fn diagnostic_display() {
    let positioned = Diagnostic {
        file: Some("src/index.js".to_owned()),
        line: 3,
        column: 7,
        text: "Unexpected \";\"".to_owned(),
    };
    assert_eq!(positioned.to_string(), "src/index.js:3:7: Unexpected \";\"");
    let unpositioned = Diagnostic {
        file: None,
        line: 0,
        column: 0,
        text: "Could not resolve \"x\"".to_owned(),
    };
    assert_eq!(unpositioned.to_string(), "Could not resolve \"x\"");
}

/// Returns the pre-initialised runtime, built once per test process into the
/// workspace's `target/wasm-guests` like the runtime's own tests.
fn runtime() -> &'static JsRuntime {
    static RUNTIME: OnceLock<JsRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let target_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm-guests");
        let wasm = preinitialized_runtime(&target_dir).expect("build the runtime");
        JsRuntime::new(&wasm).expect("compile the runtime")
    })
}

#[test]
fn bundle_runs_in_quickjs() {
    let dir = konnector(&[
        (
            "src/index.js",
            "const { greeting } = require('./lib')\n\
             const { twice } = require('./twice.mjs')\n\
             console.log(greeting('bundle'), twice(21))\n\
             module.exports = { done: true }\n",
        ),
        (
            "src/lib.js",
            "exports.greeting = (name) => 'hello from ' + name\n",
        ),
        ("src/twice.mjs", "export const twice = (x) => x * 2\n"),
    ]);
    let bundle = bundle(dir.path());
    let bytecode = runtime()
        .compile(&bundle.name, &bundle.source)
        .unwrap_or_else(|error| panic!("compile the bundle: {error}\n{}", source(&bundle)));
    let run = runtime().run(&bytecode, 1).expect("run the bundle");
    let lines: Vec<&str> = run.logs.iter().map(|(_, line)| line.as_str()).collect();
    assert_eq!(lines, ["hello from bundle 42"]);
    assert_eq!(run.failure, None);
}

#[test]
fn bundle_with_externals_compiles() {
    let dir = konnector(&[
        (
            "src/index.js",
            "import { log } from 'konnector:host'\n\
             const { greeting } = require('./lib')\n\
             log('info', greeting(require('node:path').sep))\n",
        ),
        (
            "src/lib.js",
            "exports.greeting = (name) => 'hello from ' + name\n",
        ),
    ]);
    let bundle = bundle(dir.path());
    let text = source(&bundle);
    assert!(text.contains("from \"konnector:host\""), "{text}");
    assert!(text.contains("__require(\"node:path\")"), "{text}");
    let compiled = runtime().compile(&bundle.name, &bundle.source);
    assert!(compiled.is_ok(), "{:?}\n{text}", compiled.err());
}

/// Runs a bundle, with its dependency bundle if any, on the build-time host
/// and returns its log lines.
fn run_bundle(bundle: &Bundle) -> Vec<String> {
    let bytecode = runtime()
        .compile(&bundle.name, &bundle.source)
        .unwrap_or_else(|error| panic!("compile the bundle: {error}"));
    let run = match &bundle.dependencies {
        Some(dependencies) => {
            let dependencies = runtime()
                .compile(DEPENDENCIES_NAME, &dependencies.source)
                .unwrap_or_else(|error| panic!("compile the dependency bundle: {error}"));
            runtime().run_with_dependencies(&bytecode, &dependencies, 1)
        }
        None => runtime().run(&bytecode, 1),
    };
    let run = run.expect("run the bundle");
    assert_eq!(run.failure, None, "{:?}", run.logs);
    run.logs.into_iter().map(|(_, line)| line).collect()
}

#[test]
fn libs_single_file_bundled_from_engine() {
    let dir = konnector(&[(
        "index.js",
        "const libs = require('cozy-konnector-libs')\n\
         console.log(libs.normalizeFilename('my bill: May', 'pdf'))\n",
    )]);
    let (result, steps) = prepare_with_steps(dir.path());
    let bundle = result.expect("prepare");
    assert!(bundle.bundled);
    assert_eq!(bundle.packages, [LIBS_PACKAGE]);
    assert!(
        bundle
            .inputs
            .iter()
            .any(|input| input == "konnector-libs:index.js"),
        "{:?}",
        bundle.inputs
    );
    assert!(
        bundle
            .inputs
            .iter()
            .any(|input| input == "konnector-libs-missing:cheerio"),
        "{:?}",
        bundle.inputs
    );
    assert_eq!(steps, [Step::Bundling]);
    assert_eq!(run_bundle(&bundle), ["my_bill_May.pdf"]);
}

#[test]
fn libs_without_cheerio_asks_for_it() {
    let dir = konnector(&[
        (
            "package.json",
            r#"{"name": "k", "dependencies": {"cozy-konnector-libs": "5.12.1"}}"#,
        ),
        (
            "src/index.js",
            "const { requestFactory } = require('cozy-konnector-libs')\n\
             requestFactory({ json: true })\n\
             try {\n\
               requestFactory({ cheerio: true })\n\
             } catch (error) {\n\
               console.log(error.message)\n\
             }\n",
        ),
    ]);
    let (result, steps) = prepare_with_steps(dir.path());
    let bundle = result.expect("prepare");
    // Nothing is left to install once cozy-konnector-libs is removed.
    assert_eq!(steps, [Step::Bundling]);
    assert!(!dir.path().join(STAGING_DIR).exists());
    assert!(!dir.path().join("node_modules").exists());
    assert_eq!(
        run_bundle(&bundle),
        [
            "requestFactory: parsing HTML needs the npm package cheerio, which the konnector \
          does not depend on; add cheerio to the dependencies in its package.json"
        ]
    );
}

#[test]
fn libs_subpath_rejected() {
    let dir = konnector(&[
        ("src/index.js", "require('./lib')\n"),
        (
            "src/lib.js",
            "module.exports = require('cozy-konnector-libs/dist/libs/utils')\n",
        ),
    ]);
    let error = prepare(dir.path(), &mut |_| {}).expect_err("subpath of the libs");
    let BundleError::Esbuild { errors, .. } = &error else {
        panic!("expected Esbuild, got {error:?}");
    };
    assert_eq!(errors[0].file.as_deref(), Some("src/lib.js"));
    assert_eq!((errors[0].line, errors[0].column), (1, 26));
    assert!(
        errors[0]
            .text
            .contains("require \"cozy-konnector-libs\" itself"),
        "{}",
        errors[0].text
    );
}

/// Makes a folder with the konnector `k`, which depends on
/// cozy-konnector-libs and on the npm package `local-dep` through
/// `file:../dep`, and whose `src/index.js` uses both.
fn konnector_with_libs() -> TempDir {
    let root = TempDir::new().expect("create a temporary folder");
    write(
        root.path(),
        "dep/package.json",
        r#"{"name": "local-dep", "version": "1.0.0", "main": "index.js"}"#,
    );
    write(
        root.path(),
        "dep/index.js",
        "module.exports = () => 'from local-dep'\n",
    );
    write(
        root.path(),
        "k/package.json",
        r#"{
  "name": "k",
  "version": "1.0.0",
  "dependencies": {"cozy-konnector-libs": "5.12.1", "local-dep": "file:../dep"},
  "devDependencies": {"cozy-jobs-cli": "2.4.4"}
}
"#,
    );
    write(
        root.path(),
        "k/src/index.js",
        "const { normalizeFilename } = require('cozy-konnector-libs')\n\
         const dep = require('local-dep')\n\
         console.log(normalizeFilename(dep()))\n",
    );
    root
}

/// A lockfile for [`konnector_with_libs`] with cozy-konnector-libs, a
/// package only it needs and a development dependency, all from files
/// that do not exist, so `npm ci` fails if it tries to install them.
const LIBS_LOCKFILE: &str = r#"{
  "name": "k",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "k",
      "version": "1.0.0",
      "dependencies": {"cozy-konnector-libs": "5.12.1", "local-dep": "file:../dep"},
      "devDependencies": {"cozy-jobs-cli": "2.4.4"}
    },
    "node_modules/cozy-konnector-libs": {
      "version": "5.12.1",
      "resolved": "file:../no-such-libs.tgz",
      "dependencies": {"libs-only": "1.0.0"}
    },
    "node_modules/libs-only": {"version": "1.0.0", "resolved": "file:../no-such-dep.tgz"},
    "node_modules/cozy-jobs-cli": {"version": "2.4.4", "dev": true, "resolved": "file:../no-such-cli.tgz"},
    "node_modules/local-dep": {"version": "1.0.0", "resolved": "file:../dep"}
  }
}
"#;

/// Returns the names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list the folder")
        .map(|entry| {
            entry
                .expect("read the folder")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn libs_dependency_staged_without_lockfile() {
    let root = konnector_with_libs();
    let dir = root.path().join("k");
    let package = std::fs::read(dir.join("package.json")).expect("read package.json");

    let (result, steps) = prepare_with_steps(&dir);
    let bundle = result.expect("prepare");
    assert_eq!(
        steps.first(),
        Some(&Step::InstallingStagedDependencies { lockfile: false })
    );
    assert_eq!(bundle.packages, [LIBS_PACKAGE, "local-dep"]);
    assert!(
        bundle
            .inputs
            .iter()
            .any(|input| input == "build/npm/node_modules/local-dep/index.js"),
        "{:?}",
        bundle.inputs
    );
    assert_eq!(run_bundle(&bundle), ["from_local-dep"]);

    // The konnector's own files are as they were.
    assert_eq!(names_in(&dir), ["build", "package.json", "src"]);
    assert_eq!(
        std::fs::read(dir.join("package.json")).expect("read"),
        package
    );
    let staged: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("build/npm/package.json")).expect("read the staged copy"),
    )
    .expect("staged package.json is JSON");
    assert_eq!(
        staged["dependencies"],
        serde_json::json!({"local-dep": "file:../../../dep"})
    );
    assert_eq!(staged["devDependencies"], serde_json::Value::Null);
}

#[test]
fn libs_dependency_staged_with_lockfile() {
    let root = konnector_with_libs();
    let dir = root.path().join("k");
    write(&dir, "package-lock.json", LIBS_LOCKFILE);

    let (result, steps) = prepare_with_steps(&dir);
    let bundle = result.unwrap_or_else(|error| panic!("prepare: {error}"));
    assert_eq!(
        steps.first(),
        Some(&Step::InstallingStagedDependencies { lockfile: true })
    );
    assert_eq!(run_bundle(&bundle), ["from_local-dep"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("package-lock.json")).expect("read"),
        LIBS_LOCKFILE
    );
    let staged: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("build/npm/package-lock.json")).expect("read the staged lockfile"),
    )
    .expect("staged lockfile is JSON");
    let packages: Vec<&String> = staged["packages"]
        .as_object()
        .expect("packages")
        .keys()
        .collect();
    assert_eq!(packages, ["", "node_modules/local-dep"]);

    // The same files again: npm does not run.
    let (result, steps) = prepare_with_steps(&dir);
    assert_eq!(source(&result.expect("prepare again")), source(&bundle));
    assert_eq!(steps.first(), Some(&Step::StagedDependenciesUpToDate));

    // An edit to the local package installs it again, since npm copied it.
    write(
        root.path(),
        "dep/index.js",
        "module.exports = () => 'edited local-dep'\n",
    );
    let (result, steps) = prepare_with_steps(&dir);
    assert_eq!(
        steps.first(),
        Some(&Step::InstallingStagedDependencies { lockfile: true })
    );
    assert_eq!(
        run_bundle(&result.expect("prepare after the edit")),
        ["edited_local-dep"]
    );
}

#[test]
fn libs_konnector_imports_listed_dependencies_only() {
    let root = konnector_with_libs();
    let dir = root.path().join("k");
    // An old install in the konnector's folder must not count.
    write(
        &dir,
        "node_modules/moment/package.json",
        r#"{"name": "moment", "main": "index.js"}"#,
    );
    write(&dir, "node_modules/moment/index.js", "module.exports = 1\n");
    write(
        &dir,
        "src/index.js",
        "require('cozy-konnector-libs')\nconst moment = require('moment')\n",
    );
    let error = prepare(&dir, &mut |_| {}).expect_err("moment is not a dependency");
    let BundleError::Esbuild { errors, .. } = &error else {
        panic!("expected Esbuild, got {error:?}");
    };
    assert_eq!(errors[0].file.as_deref(), Some("src/index.js"));
    assert_eq!((errors[0].line, errors[0].column), (2, 24));
    assert!(
        errors[0]
            .text
            .contains("add it to \"dependencies\" in package.json"),
        "{}",
        errors[0].text
    );
}

#[test]
fn step_display_names_staging() {
    assert_eq!(
        Step::InstallingStagedDependencies { lockfile: true }.to_string(),
        "installing npm dependencies except cozy-konnector-libs in build/npm with npm ci"
    );
    assert_eq!(
        Step::StagedDependenciesUpToDate.to_string(),
        "npm dependencies in build/npm are up to date"
    );
}

/// Returns the source of a bundle's dependency bundle.
fn dependency_source(bundle: &Bundle) -> &str {
    let dependencies = bundle.dependencies.as_ref().expect("a dependency bundle");
    std::str::from_utf8(&dependencies.source).expect("the dependency bundle is UTF-8")
}

/// Makes a folder with the konnector `k`, which depends on each package of
/// `packages` (a name and its files) through `file:../NAME`, and whose
/// files are `files`.
fn konnector_with_packages(
    packages: &[(&str, &[(&str, &str)])],
    files: &[(&str, &str)],
) -> TempDir {
    let root = TempDir::new().expect("create a temporary folder");
    let mut dependencies = serde_json::Map::new();
    for (name, package_files) in packages {
        for (path, text) in *package_files {
            write(&root.path().join(name), path, text);
        }
        dependencies.insert((*name).to_owned(), format!("file:../{name}").into());
    }
    let package =
        serde_json::json!({"name": "k", "version": "1.0.0", "dependencies": dependencies});
    write(root.path(), "k/package.json", &package.to_string());
    for (path, text) in files {
        write(&root.path().join("k"), path, text);
    }
    root
}

/// Counts the occurrences of `needle` in `text`.
fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn dependencies_bundled_apart() {
    let root = konnector_with_packages(
        &[(
            "local-dep",
            &[
                (
                    "package.json",
                    r#"{"name": "local-dep", "version": "1.0.0", "main": "index.js"}"#,
                ),
                ("index.js", "module.exports = () => 'main of local-dep'\n"),
                ("extra.js", "module.exports = 'extra of local-dep'\n"),
            ],
        )],
        &[
            (
                "src/index.js",
                "const dep = require('local-dep')\n\
                 const extra = require('local-dep/extra')\n\
                 const { again } = require('./lib')\n\
                 console.log(dep(), extra, again() === dep)\n",
            ),
            ("src/lib.js", "exports.again = () => require('local-dep')\n"),
        ],
    );
    let bundle = bundle(&root.path().join("k"));
    let own = source(&bundle);
    let dependencies = dependency_source(&bundle);

    assert!(!own.contains("of local-dep"), "{own}");
    assert_eq!(count(own, "globalThis.require(\"local-dep\")"), 1, "{own}");
    assert_eq!(
        count(own, "globalThis.require(\"local-dep/extra\")"),
        1,
        "{own}"
    );
    assert!(dependencies.contains("main of local-dep"), "{dependencies}");
    assert!(
        dependencies.contains("extra of local-dep"),
        "{dependencies}"
    );
    assert_eq!(
        count(dependencies, "define(\"local-dep\""),
        1,
        "{dependencies}"
    );
    assert_eq!(
        count(dependencies, "define(\"local-dep/extra\""),
        1,
        "{dependencies}"
    );
    assert!(
        dependencies.contains("from \"konnector:dependencies\""),
        "{dependencies}"
    );
    assert_eq!(
        bundle.dependencies.as_ref().expect("dependencies").names,
        ["local-dep", "local-dep/extra"]
    );
    assert!(
        bundle
            .inputs
            .iter()
            .any(|input| input == "node_modules/local-dep/extra.js"),
        "{:?}",
        bundle.inputs
    );
    assert_eq!(
        run_bundle(&bundle),
        ["main of local-dep extra of local-dep true"]
    );
}

/// An ES module package and a CommonJS package each have a default export
/// and a named one. Three files import both: an ES module in node mode
/// (`.mjs`), an ES module that esbuild does not run in node mode (`.js`
/// without `"type": "module"`) and a CommonJS file. Each gets what it
/// would get if the packages were bundled with it.
#[test]
fn module_and_commonjs_importers_get_exports() {
    let root = konnector_with_packages(
        &[
            (
                "esm-dep",
                &[
                    (
                        "package.json",
                        r#"{"name": "esm-dep", "version": "1.0.0", "type": "module", "main": "index.js"}"#,
                    ),
                    (
                        "index.js",
                        "export default function greet() { return 'esm default' }\n\
                         export const named = 'esm named'\n",
                    ),
                ],
            ),
            (
                "cjs-dep",
                &[
                    (
                        "package.json",
                        r#"{"name": "cjs-dep", "version": "1.0.0", "main": "index.js"}"#,
                    ),
                    (
                        "index.js",
                        "module.exports = function greet() { return 'cjs default' }\n\
                         module.exports.named = 'cjs named'\n",
                    ),
                ],
            ),
        ],
        &[
            (
                "src/index.js",
                "require('./node-mode.mjs')\n\
                 require('./module.js')\n\
                 const esm = require('esm-dep')\n\
                 const cjs = require('cjs-dep')\n\
                 console.log('commonjs', esm.default(), esm.named, cjs(), cjs.named)\n",
            ),
            (
                "src/node-mode.mjs",
                "import esm, { named as esmNamed } from 'esm-dep'\n\
                 import cjs, { named as cjsNamed } from 'cjs-dep'\n\
                 console.log('node mode', esm(), esmNamed, cjs(), cjsNamed)\n",
            ),
            (
                "src/module.js",
                "import esm, { named as esmNamed } from 'esm-dep'\n\
                 import * as cjs from 'cjs-dep'\n\
                 console.log('module', esm(), esmNamed, cjs.default(), cjs.named)\n",
            ),
        ],
    );
    let bundle = bundle(&root.path().join("k"));
    assert!(
        !source(&bundle).contains("esm named"),
        "{}",
        source(&bundle)
    );
    assert_eq!(
        run_bundle(&bundle),
        [
            "node mode esm default esm named cjs default cjs named",
            "module esm default esm named cjs default cjs named",
            "commonjs esm default esm named cjs default cjs named",
        ]
    );
}

#[test]
fn libs_and_their_cheerio_defined_apart() {
    let root = konnector_with_packages(
        &[(
            "cheerio",
            &[
                (
                    "package.json",
                    r#"{"name": "cheerio", "version": "1.0.0", "main": "index.js"}"#,
                ),
                (
                    "index.js",
                    "exports.load = (html) => () => ({ text: () => 'parsed ' + html })\n",
                ),
            ],
        )],
        &[(
            "src/index.js",
            "const { normalizeFilename } = require('cozy-konnector-libs')\n\
             console.log(normalizeFilename('a: b', 'pdf'))\n",
        )],
    );
    // The konnector depends on the libs too, so they are staged.
    let dir = root.path().join("k");
    let mut package: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("package.json")).expect("read"))
            .expect("JSON");
    package["dependencies"][LIBS_PACKAGE] = "5.12.1".into();
    write(&dir, "package.json", &package.to_string());

    let bundle = bundle(&dir);
    let dependencies = dependency_source(&bundle);
    assert_eq!(
        bundle.dependencies.as_ref().expect("dependencies").names,
        [LIBS_PACKAGE, "cheerio"]
    );
    assert_eq!(
        count(dependencies, "define(\"cheerio\""),
        1,
        "{dependencies}"
    );
    assert_eq!(
        count(dependencies, "define(\"cozy-konnector-libs\""),
        1,
        "{dependencies}"
    );
    // The libs reach cheerio through the runtime's `require`, so that it
    // can be evaluated on its own.
    assert_eq!(
        count(dependencies, "globalThis.require(\"cheerio\")"),
        1,
        "{dependencies}"
    );
    assert_eq!(run_bundle(&bundle), ["a_b.pdf"]);
}
