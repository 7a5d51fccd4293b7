//! The `konnector` command as a user and the stack's tooling call it: exit
//! statuses, the `--json` result line, and `docs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn konnector(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_konnector"))
        .args(args)
        .current_dir(cwd)
        .env("KONNECTOR_CACHE_DIR", cache_dir())
        .output()
        .expect("konnector starts")
}

fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-module-cache")
}

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/rust-bills")
}

/// The fixture vendor site, on a runtime of its own, and the flags that make
/// `https://vendor.example` reach it.
struct Site {
    flags: Vec<String>,
    _ca: tempfile::NamedTempFile,
    _site: vendor_site::VendorSite,
    _runtime: tokio::runtime::Runtime,
}

fn site() -> Site {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let site = runtime
        .block_on(vendor_site::VendorSite::start(
            vendor_site::SiteConfig::default(),
        ))
        .expect("fixture site starts");
    let https = site.https_addr().expect("https listener");
    let ca = tempfile::NamedTempFile::new().expect("CA file");
    std::fs::write(ca.path(), site.ca_pem()).expect("write CA");
    let flags = vec![
        "--connect-to".to_owned(),
        format!("vendor.example:443:{https}"),
        "--allow-private".to_owned(),
        https.to_string(),
        "--ca-file".to_owned(),
        ca.path().display().to_string(),
    ];
    Site {
        flags,
        _ca: ca,
        _site: site,
        _runtime: runtime,
    }
}

fn with_site<'a>(args: &[&'a str], site: &'a Site) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(site.flags.iter().map(String::as_str));
    all
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn last_json(output: &Output) -> Value {
    let lines = stdout_lines(output);
    let last = lines.last().expect("at least one line on stdout");
    serde_json::from_str(last).expect("last line is JSON")
}

#[test]
fn run_sample_then_docs() {
    let work = tempfile::tempdir().expect("temporary folder");
    let sample = sample_dir();
    let sample = sample.to_str().expect("UTF-8 path");
    let fields = r#"{"login": "demo@example.com", "password": "demo-password"}"#;
    let site = site();

    let first = konnector(
        &with_site(&["run", sample, "--fields", fields, "--json"], &site),
        work.path(),
    );
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let result = last_json(&first);
    assert_eq!(result["status"], "done");
    assert_eq!(result["error"], Value::Null);
    assert_eq!(result["counters"]["documents_written"], 24);
    assert!(work.path().join("konnector.sqlite").is_file());

    let docs = konnector(&["docs", "--doctype", "io.cozy.bills"], work.path());
    assert_eq!(docs.status.code(), Some(0));
    let bills: Vec<Value> = stdout_lines(&docs)
        .iter()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(bills.len(), 12);
    assert!(bills.iter().all(|bill| bill["_type"] == "io.cozy.bills"));

    let second = konnector(
        &with_site(&["run", sample, "--fields", fields, "--json"], &site),
        work.path(),
    );
    assert_eq!(last_json(&second)["counters"]["documents_written"], 0);
}

#[test]
fn wrong_password_exits_one() {
    let work = tempfile::tempdir().expect("temporary folder");
    let sample = sample_dir();
    let fields = r#"{"login": "demo@example.com", "password": "wrong"}"#;
    let site = site();
    let args = [
        "run",
        sample.to_str().expect("UTF-8"),
        "--fields",
        fields,
        "--json",
    ];
    let output = konnector(&with_site(&args, &site), work.path());
    assert_eq!(output.status.code(), Some(1));
    let result = last_json(&output);
    assert_eq!(result["status"], "errored");
    assert_eq!(result["error"], "LOGIN_FAILED");
}

#[test]
fn fuel_flag_stops_a_loop() {
    let work = tempfile::tempdir().expect("temporary folder");
    let guest = work.path().join("loop.wat");
    std::fs::write(
        &guest,
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#,
    )
    .expect("write guest");
    let output = konnector(
        &["run", "loop.wat", "--fuel", "1000000", "--json"],
        work.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let result = last_json(&output);
    assert_eq!(result["outcome"]["kind"], "cpu_budget_exhausted");
    assert_eq!(result["counters"]["fuel_used"], 1_000_000);
}

#[test]
fn plain_module_has_no_permission() {
    let work = tempfile::tempdir().expect("temporary folder");
    let request = r#"{"doctype":"io.cozy.bills","doc":{"amount":1}}"#;
    let guest = format!(
        r#"(module
            (import "konnector_v1" "doc_create" (func $create (param i32 i32) (result i32)))
            (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "{}")
            (func (export "_start") (call $exit (call $create (i32.const 0) (i32.const {})))))"#,
        request.replace('"', "\\\""),
        request.len()
    );
    std::fs::write(work.path().join("writer.wat"), guest).expect("write guest");
    let output = konnector(&["run", "writer.wat", "--json"], work.path());
    assert_eq!(output.status.code(), Some(1));
    let result = last_json(&output);
    // Status 2 is permission_denied, passed on as the exit status.
    assert_eq!(result["outcome"]["trap"]["status"], 2, "{result}");
    assert_eq!(result["counters"]["writes_refused"], 1);
}

#[test]
fn bad_fields_name_the_flag() {
    let work = tempfile::tempdir().expect("temporary folder");
    std::fs::write(
        work.path().join("empty.wat"),
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .expect("write guest");
    let output = konnector(&["run", "empty.wat", "--fields", "[1, 2]"], work.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid --fields"), "{stderr}");
}

#[test]
fn limit_above_ceiling_is_refused() {
    let work = tempfile::tempdir().expect("temporary folder");
    std::fs::write(
        work.path().join("empty.wat"),
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .expect("write guest");
    let output = konnector(&["run", "empty.wat", "--memory-mib", "100000"], work.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--memory-mib 100000"), "{stderr}");
    assert!(stderr.contains("2048 MiB"), "{stderr}");
}

#[test]
fn bad_network_flags_name_the_value() {
    let work = tempfile::tempdir().expect("temporary folder");
    std::fs::write(
        work.path().join("empty.wat"),
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .expect("write guest");
    for (flag, value) in [
        ("--allow-private", "localhost"),
        ("--connect-to", "vendor.example:443"),
        ("--resolve", "x:y:z"),
    ] {
        let output = konnector(&["run", "empty.wat", flag, value], work.path());
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(value), "{flag}: {stderr}");
    }
}

#[test]
fn empty_account_is_refused() {
    let work = tempfile::tempdir().expect("temporary folder");
    let output = konnector(&["run", "missing.wat", "--account", ""], work.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid --account"), "{stderr}");
}

#[test]
fn docs_without_store_is_an_error() {
    let work = tempfile::tempdir().expect("temporary folder");
    let output = konnector(&["docs", "--store", "missing.sqlite"], work.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.sqlite"), "{stderr}");
}

#[test]
fn folder_without_manifest_is_an_error() {
    let work = tempfile::tempdir().expect("temporary folder");
    let output = konnector(&["run", "."], work.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("manifest.konnector"), "{stderr}");
}

#[test]
fn built_artifact_runs_with_its_manifest() {
    let work = tempfile::tempdir().expect("temporary folder");
    let sample = sample_dir();
    let artifact = work.path().join("out").join("rust-bills.wasm");
    let output = konnector(
        &[
            "build",
            sample.to_str().expect("UTF-8"),
            "-o",
            artifact.to_str().expect("UTF-8"),
            "--json",
        ],
        work.path(),
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result = last_json(&output);
    assert_eq!(result["status"], "built");
    assert_eq!(result["language"], "rust");
    assert!(artifact.is_file());

    // The artifact carries the manifest, so the job has its permissions;
    // with wrong credentials it ends LOGIN_FAILED, not a permission error.
    let site = site();
    let fields = r#"{"login": "demo@example.com", "password": "wrong"}"#;
    let args = [
        "run",
        artifact.to_str().expect("UTF-8"),
        "--fields",
        fields,
        "--json",
    ];
    let run = konnector(&with_site(&args, &site), work.path());
    assert_eq!(last_json(&run)["error"], "LOGIN_FAILED");
}

/// Writes a one-file JavaScript konnector folder (no npm, no bundling).
fn js_folder(dir: &Path, source: &str) {
    std::fs::write(
        dir.join("manifest.konnector"),
        r#"{"slug": "hello-js", "version": "0.1.0", "permissions": {"bills": {"type": "io.cozy.bills"}}}"#,
    )
    .expect("write manifest");
    std::fs::write(dir.join("index.js"), source).expect("write source");
}

#[test]
fn javascript_folder_builds_and_runs() {
    let work = tempfile::tempdir().expect("temporary folder");
    js_folder(
        work.path(),
        r#"import { create, input } from "konnector:host";
console.log(`hello ${input.fields.name}`);
await create("io.cozy.bills", { amount: 1 });
"#,
    );
    let output = konnector(&["build", ".", "--json"], work.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("compiling to QuickJS bytecode"), "{stderr}");
    let result = last_json(&output);
    assert_eq!(result["language"], "javascript");
    assert_eq!(result["bundled"], false);
    let artifact = work.path().join("build/konnector.wasm");
    let size = std::fs::metadata(&artifact).expect("artifact").len();
    assert_eq!(result["bytes"], size);
    // Bytecode and manifest only: far below the runtime's megabyte.
    assert!(size < 8 * 1024, "{size} bytes");

    for path in ["build/konnector.wasm", "."] {
        let run = konnector(
            &["run", path, "--fields", r#"{"name": "world"}"#, "--json"],
            work.path(),
        );
        let lines = stdout_lines(&run);
        assert_eq!(last_json(&run)["status"], "done", "{lines:?}");
        assert!(
            lines[0].contains("hello world"),
            "the first line is the konnector's log: {lines:?}"
        );
        assert_eq!(last_json(&run)["counters"]["documents_written"], 1);
    }
}

#[test]
fn javascript_syntax_error_names_its_location() {
    let work = tempfile::tempdir().expect("temporary folder");
    js_folder(work.path(), "const ok = 1;\nconst = 2;\n");
    let output = konnector(&["build", "."], work.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("index.js:2:"), "{stderr}");
    assert!(!work.path().join("build/konnector.wasm").exists());
}

#[test]
fn javascript_error_code_ends_the_job() {
    let work = tempfile::tempdir().expect("temporary folder");
    js_folder(work.path(), r#"throw new Error("LOGIN_FAILED");"#);
    let run = konnector(&["run", ".", "--json"], work.path());
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(last_json(&run)["error"], "LOGIN_FAILED");
}

#[test]
fn artifact_of_another_runtime_is_refused() {
    let work = tempfile::tempdir().expect("temporary folder");
    js_folder(work.path(), "console.log(1);");
    let output = konnector(&["build", "."], work.path());
    assert_eq!(output.status.code(), Some(0));
    // Flip one hex digit of the runtime digest the artifact names.
    let path = work.path().join("build/konnector.wasm");
    let mut bytes = std::fs::read(&path).expect("artifact");
    let marker = b"konnector_js_v1 sha256:";
    let at = bytes
        .windows(marker.len())
        .position(|window| window == marker)
        .expect("runtime section")
        + marker.len();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, bytes).expect("write");
    let run = konnector(&["run", "build/konnector.wasm"], work.path());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rebuild the konnector"), "{stderr}");
}

#[test]
fn demo_imports_then_adds_nothing() {
    let work = tempfile::tempdir().expect("temporary folder");
    let output = konnector(&["demo", "--dir", "demo"], work.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("imported 12 bills and 12 files; the second run wrote 0 documents"),
        "{stdout}"
    );
    assert!(
        stdout.contains("konnector docs --store demo/konnector.sqlite"),
        "{stdout}"
    );
    assert!(work.path().join("demo/konnector.sqlite").is_file());

    // A folder that contains something else is not emptied.
    std::fs::create_dir(work.path().join("precious")).expect("mkdir");
    std::fs::write(work.path().join("precious/notes.txt"), "keep").expect("write");
    let refused = konnector(&["demo", "--dir", "precious"], work.path());
    assert_eq!(refused.status.code(), Some(2));
    assert!(work.path().join("precious/notes.txt").is_file());
}

#[test]
fn artifact_manifest_must_match_the_one_beside_it() {
    let work = tempfile::tempdir().expect("temporary folder");
    js_folder(work.path(), "console.log(1);");
    let output = konnector(&["build", ".", "-o", "out/konnector.wasm"], work.path());
    assert_eq!(output.status.code(), Some(0));
    // A manifest beside the artifact that grants something else.
    std::fs::write(
        work.path().join("out/manifest.konnector"),
        r#"{"slug": "hello-js", "version": "0.1.0", "permissions": {}}"#,
    )
    .expect("write manifest");
    let run = konnector(&["run", "out"], work.path());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("differs from"), "{stderr}");
}

#[test]
fn closed_output_pipe_keeps_exit_status() {
    let work = tempfile::tempdir().expect("temporary folder");
    std::fs::write(
        work.path().join("loop.wat"),
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#,
    )
    .expect("write guest");
    // Both ends of the output are closed before the command writes, as
    // `konnector run ... 2>&1 | head -1` leaves them once head is done.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let status = Command::new(env!("CARGO_BIN_EXE_konnector"))
        .args(["run", "loop.wat", "--fuel", "1000000", "--json"])
        .current_dir(work.path())
        .env("KONNECTOR_CACHE_DIR", cache_dir())
        .stdout(writer.try_clone().expect("clone the pipe"))
        .stderr(writer)
        .status()
        .expect("konnector starts");
    assert_eq!(
        status.code(),
        Some(1),
        "the job's status, not a panic's 101"
    );
}
