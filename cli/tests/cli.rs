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
fn built_folder_runs() {
    let work = tempfile::tempdir().expect("temporary folder");
    let sample = sample_dir();
    let out = work.path().join("out");
    let output = konnector(
        &[
            "build",
            sample.to_str().expect("UTF-8"),
            "-o",
            out.to_str().expect("UTF-8"),
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
    assert_eq!(last_json(&output)["status"], "built");
    assert!(out.join("konnector.wasm").is_file());
    assert!(out.join("manifest.konnector").is_file());

    // The built folder keeps the manifest, so the job has its permissions;
    // with wrong credentials it ends LOGIN_FAILED, not a permission error.
    let site = site();
    let fields = r#"{"login": "demo@example.com", "password": "wrong"}"#;
    let args = [
        "run",
        out.to_str().expect("UTF-8"),
        "--fields",
        fields,
        "--json",
    ];
    let run = konnector(&with_site(&args, &site), work.path());
    assert_eq!(last_json(&run)["error"], "LOGIN_FAILED");
}
