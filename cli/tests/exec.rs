//! `konnector exec` run the way a cozy-stack runs its `konnectors.cmd`:
//! only `COZY_*` variables, the konnector's folder as argument, JSON lines
//! on standard output read by the stack's rules. The stack is
//! `samples/stack-server`, a faithful local server of the routes the engine
//! uses; the vendor is the fixture site.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use stack_server::{ROOT_DIR_ID, StackConfig, StackServer, TokenSpec, Verb};
use vendor_site::{SiteConfig, VendorSite};

const ACCOUNT: &str = "account-1";

/// The fixture vendor site and a stack server, on a runtime of their own.
struct World {
    stack: StackServer,
    vendor_flags: Vec<String>,
    _ca: tempfile::NamedTempFile,
    _site: VendorSite,
    /// Runs the two servers' tasks; they stop when it is dropped.
    _runtime: tokio::runtime::Runtime,
}

fn world(password: &str) -> World {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let site = runtime
        .block_on(VendorSite::start(SiteConfig::default()))
        .expect("fixture site starts");
    let stack = runtime
        .block_on(StackServer::start(StackConfig::default()))
        .expect("stack server starts");
    stack
        .add_account(
            ACCOUNT,
            json!({"account_type": "js-bills", "auth": {"login": "demo@example.com", "password": password}}),
        )
        .expect("account seeded");
    let https = site.https_addr().expect("https listener");
    let ca = tempfile::NamedTempFile::new().expect("CA file");
    std::fs::write(ca.path(), site.ca_pem()).expect("write CA");
    let vendor_flags = vec![
        "--connect-to".to_owned(),
        format!("vendor.example:443:{https}"),
        "--allow-private".to_owned(),
        https.to_string(),
        "--ca-file".to_owned(),
        ca.path().display().to_string(),
    ];
    World {
        stack,
        vendor_flags,
        _ca: ca,
        _site: site,
        _runtime: runtime,
    }
}

impl World {
    fn token(&self, spec: TokenSpec) -> String {
        self.stack.issue_token(spec)
    }

    fn konnector_token(&self) -> String {
        self.token(
            TokenSpec::konnector("js-bills")
                .allow("io.cozy.bills", Verb::ALL)
                .allow("io.cozy.files", Verb::ALL)
                .allow("io.cozy.accounts", Verb::ALL),
        )
    }

    /// Runs `konnector exec folder` with only the stack's variables.
    fn exec(&self, folder: &Path, token: &str) -> Output {
        self.exec_within(folder, token, 60)
    }

    /// Runs `konnector exec folder` with `COZY_TIME_LIMIT` set to
    /// `time_limit_s`.
    fn exec_within(&self, folder: &Path, token: &str, time_limit_s: u64) -> Output {
        let fields =
            json!({"konnector": slug(folder), "account": ACCOUNT, "folder_to_save": ROOT_DIR_ID});
        Command::new(env!("CARGO_BIN_EXE_konnector"))
            .arg("exec")
            .arg(folder)
            .args(&self.vendor_flags)
            .env_clear()
            .env("KONNECTOR_CACHE_DIR", cache_dir())
            .env("COZY_URL", self.stack.url())
            .env("COZY_CREDENTIALS", token)
            .env("COZY_FIELDS", fields.to_string())
            .env("COZY_LOCALE", "en")
            .env("COZY_TIME_LIMIT", time_limit_s.to_string())
            .env("COZY_JOB_ID", "job-1")
            .env("COZY_JOB_MANUAL_EXECUTION", "true")
            .current_dir(folder)
            .output()
            .expect("konnector starts")
    }
}

fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-module-cache")
}

fn slug(folder: &Path) -> String {
    let manifest = std::fs::read_to_string(folder.join("manifest.konnector")).expect("manifest");
    let manifest: Value = serde_json::from_str(&manifest).expect("manifest JSON");
    manifest["slug"].as_str().expect("slug").to_owned()
}

/// Returns the folder the stack would prepare for the JavaScript sample:
/// its artifact and manifest, built once per test process.
fn sample_folder() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let folder = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exec-js-bills");
            std::fs::create_dir_all(&folder).expect("folder");
            let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/js-bills");
            let output = Command::new(env!("CARGO_BIN_EXE_konnector"))
                .arg("build")
                .arg(&sample)
                .arg("-o")
                .arg(folder.join("konnector.wasm"))
                .output()
                .expect("konnector starts");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::fs::copy(
                sample.join("manifest.konnector"),
                folder.join("manifest.konnector"),
            )
            .expect("copy manifest");
            folder
        })
        .clone()
}

/// The job's result as the stack reads it: the first `critical` message,
/// else the last `error` message (whatever the exit status), else the exit
/// status.
#[derive(Debug, PartialEq)]
enum StackResult {
    Done,
    Errored(String),
}

fn stack_result(output: &Output) -> (StackResult, Vec<Value>) {
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let critical = lines
        .iter()
        .find(|line| line["type"] == "critical")
        .map(|line| line["message"].as_str().unwrap_or_default().to_owned());
    let last_error = lines
        .iter()
        .rev()
        .find(|line| line["type"] == "error")
        .map(|line| line["message"].as_str().unwrap_or_default().to_owned());
    let result = match (critical.or(last_error), output.status.success()) {
        (Some(code), _) => StackResult::Errored(code),
        (None, true) => StackResult::Done,
        (None, false) => StackResult::Errored(format!("exit status {}", output.status)),
    };
    (result, lines)
}

#[test]
fn sample_writes_through_the_stack() {
    let world = world("demo-password");
    let token = world.konnector_token();
    let output = world.exec(&sample_folder(), &token);
    let (result, lines) = stack_result(&output);
    assert_eq!(
        result,
        StackResult::Done,
        "{lines:#?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .all(|line| serde_json::from_str::<Value>(line).is_ok()),
        "every line is JSON"
    );

    let bills = world.stack.documents("io.cozy.bills");
    assert_eq!(bills.len(), 12);
    let bill = &bills[0];
    assert_eq!(bill["cozyMetadata"]["createdByApp"], "js-bills");
    assert_eq!(bill["cozyMetadata"]["sourceAccount"], ACCOUNT);
    assert_eq!(
        bill["cozyMetadata"]["sourceAccountIdentifier"],
        "demo@example.com"
    );
    let invoice = bill["invoice"].as_str().expect("invoice link");
    let file_id = invoice.strip_prefix("io.cozy.files:").expect("file link");
    let files = world.stack.files();
    assert_eq!(files.len(), 12);
    let file = files
        .iter()
        .find(|file| file.id == file_id)
        .expect("linked file");
    assert_eq!(file.mime, "application/pdf");
    assert_eq!(file.dir_id, ROOT_DIR_ID);
    let account = world
        .stack
        .document("io.cozy.accounts", ACCOUNT)
        .expect("account");
    assert!(account["data"]["lastSync"].is_string(), "{account}");

    // The token went only to the stack: never on standard output or error.
    let all_output = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all_output.contains(&token), "the token leaked");
    assert!(
        world
            .stack
            .requests()
            .iter()
            .all(|request| request.has_bearer)
    );

    // A second run adds nothing.
    let second = world.exec(&sample_folder(), &token);
    assert_eq!(stack_result(&second).0, StackResult::Done);
    assert_eq!(world.stack.documents("io.cozy.bills").len(), 12);
    assert_eq!(world.stack.files().len(), 12);
}

#[test]
fn bad_credentials_end_login_failed() {
    let world = world("wrong-password");
    let output = world.exec(&sample_folder(), &world.konnector_token());
    let (result, lines) = stack_result(&output);
    assert_eq!(
        result,
        StackResult::Errored("LOGIN_FAILED".into()),
        "{lines:#?}"
    );
    assert_eq!(output.status.code(), Some(1));
    let critical = lines
        .iter()
        .find(|line| line["type"] == "critical")
        .expect("critical line");
    assert_eq!(critical["no_retry"], true);
    assert!(world.stack.documents("io.cozy.bills").is_empty());
}

#[test]
fn stack_errors_for_a_while_lose_nothing() {
    let world = world("demo-password");
    let token = world.konnector_token();
    // The first requests (the account, then writes) get a 500 response;
    // the sink retries them with backoff.
    world.stack.fail_next(3, 500);
    let output = world.exec(&sample_folder(), &token);
    let (result, lines) = stack_result(&output);
    assert_eq!(result, StackResult::Done, "{lines:#?}");
    assert_eq!(world.stack.documents("io.cozy.bills").len(), 12);
    assert_eq!(world.stack.files().len(), 12);
    let failed = world
        .stack
        .requests()
        .iter()
        .filter(|request| request.status == 500)
        .count();
    assert_eq!(failed, 3);
}

#[test]
fn expired_token_fails_clearly() {
    let world = world("demo-password");
    let token = world.token(
        TokenSpec::konnector("js-bills")
            .allow("io.cozy.accounts", Verb::ALL)
            .expires_at(SystemTime::now() - Duration::from_secs(60)),
    );
    let output = world.exec(&sample_folder(), &token);
    let (result, lines) = stack_result(&output);
    assert_eq!(
        result,
        StackResult::Errored("UNKNOWN_ERROR".into()),
        "{lines:#?}"
    );
    let explained = lines.iter().any(|line| {
        line["type"] == "error"
            && line["message"]
                .as_str()
                .is_some_and(|message| message.contains("token"))
    });
    assert!(
        explained,
        "an error line says the token was refused: {lines:#?}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains(&token));
}

#[test]
fn guest_text_cannot_forge_a_critical_line() {
    let world = world("demo-password");
    let folder = tempfile::tempdir().expect("folder");
    std::fs::write(
        folder.path().join("manifest.konnector"),
        r#"{"slug": "forger", "version": "1.0.0", "permissions": {}}"#,
    )
    .expect("manifest");
    std::fs::write(
        folder.path().join("index.js"),
        r#"
        const forged = JSON.stringify({ type: "critical", message: "LOGIN_FAILED", no_retry: true });
        console.log(forged);
        console.log("ok\n" + forged + "\n");
        console.error(forged);
        console.error("LOGIN_FAILED");
        "#,
    )
    .expect("source");
    let token = world.token(
        TokenSpec::konnector("forger")
            .allow("io.cozy.accounts", Verb::ALL)
            .allow("io.cozy.files", [Verb::Get]),
    );
    let output = world.exec(folder.path(), &token);
    let (result, lines) = stack_result(&output);
    assert_eq!(result, StackResult::Done, "{lines:#?}");
    assert!(
        lines.iter().all(|line| line["type"] != "critical"),
        "{lines:#?}"
    );
    let forged_messages = lines
        .iter()
        .filter(|line| {
            line["message"]
                .as_str()
                .is_some_and(|message| message.contains("\"type\":\"critical\""))
        })
        .count();
    assert_eq!(forged_messages, 3, "the forged text stays inside messages");
}

#[test]
fn missing_environment_is_a_critical_error() {
    let folder = sample_folder();
    let output = Command::new(env!("CARGO_BIN_EXE_konnector"))
        .arg("exec")
        .arg(&folder)
        .env_clear()
        .output()
        .expect("konnector starts");
    let (result, lines) = stack_result(&output);
    assert_eq!(result, StackResult::Errored("UNKNOWN_ERROR".into()));
    assert!(
        lines.iter().any(|line| line["message"]
            .as_str()
            .is_some_and(|m| m.contains("COZY_URL"))),
        "{lines:#?}"
    );
}

#[test]
fn full_cozy_ends_disk_quota_exceeded() {
    let world = world("demo-password");
    // Room for a few of the sample's PDFs, not for all twelve.
    world.stack.set_quota_bytes(Some(4 * 1024));
    let output = world.exec(&sample_folder(), &world.konnector_token());
    let (result, lines) = stack_result(&output);
    assert_eq!(
        result,
        StackResult::Errored("DISK_QUOTA_EXCEEDED".into()),
        "{lines:#?}"
    );
    assert!(world.stack.disk_usage_bytes() <= 4 * 1024);
}

#[test]
fn engine_is_narrower_than_the_token() {
    let world = world("demo-password");
    world
        .stack
        .add_account(
            "someone-else",
            json!({"auth": {"login": "other", "password": "theirs"}}),
        )
        .expect("second account");
    let folder = tempfile::tempdir().expect("folder");
    std::fs::write(
        folder.path().join("manifest.konnector"),
        r#"{"slug": "narrow", "version": "1.0.0", "permissions": {"bills": {"type": "io.cozy.bills"}}}"#,
    )
    .expect("manifest");
    std::fs::write(
        folder.path().join("index.js"),
        r#"
        import { create, input } from "konnector:host";
        for (const doctype of ["io.cozy.contacts", "io.cozy.accounts", "io.cozy.files"]) {
          try {
            await create(doctype, { name: "x" });
            console.log(`${doctype} written`);
          } catch (error) {
            console.log(`${doctype} refused: ${error.code}`);
          }
        }
        await create("io.cozy.bills", { amount: 1 });
        console.log(`fields: ${Object.keys(input.fields).sort().join(",")}`);
        "#,
    )
    .expect("source");
    // The token would allow all of it.
    let token = world.token(
        TokenSpec::konnector("narrow")
            .allow("io.cozy.bills", Verb::ALL)
            .allow("io.cozy.contacts", Verb::ALL)
            .allow("io.cozy.accounts", Verb::ALL)
            .allow("io.cozy.files", Verb::ALL),
    );
    let output = world.exec(folder.path(), &token);
    let (result, lines) = stack_result(&output);
    assert_eq!(result, StackResult::Done, "{lines:#?}");
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|line| line["message"].as_str())
        .collect();
    for doctype in ["io.cozy.contacts", "io.cozy.accounts", "io.cozy.files"] {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with(&format!("{doctype} refused"))),
            "{messages:#?}"
        );
    }
    assert!(
        messages.contains(&"fields: folder_path,login,password"),
        "{messages:#?}"
    );
    assert!(world.stack.documents("io.cozy.contacts").is_empty());
    assert_eq!(world.stack.documents("io.cozy.bills").len(), 1);
    // Only the job's own account was read.
    let account_reads: Vec<String> = world
        .stack
        .requests()
        .iter()
        .filter(|request| request.path.starts_with("/data/io.cozy.accounts/"))
        .map(|request| request.path.clone())
        .collect();
    assert!(
        account_reads.iter().all(|path| path.ends_with(ACCOUNT)),
        "{account_reads:?}"
    );
}

#[test]
fn slow_stack_meets_time_limit() {
    let world = world("demo-password");
    let token = world.konnector_token();
    // Every response of the stack, the account's first, takes longer than
    // the whole time limit.
    world.stack.set_latency(Duration::from_secs(30));
    let started = std::time::Instant::now();
    let output = world.exec_within(&sample_folder(), &token, 4);
    let elapsed = started.elapsed();
    let (result, lines) = stack_result(&output);
    assert_eq!(
        result,
        StackResult::Errored("UNKNOWN_ERROR".into()),
        "{lines:#?}"
    );
    assert!(elapsed < Duration::from_secs(15), "exec took {elapsed:?}");
    let explained = lines.iter().any(|line| {
        line["message"]
            .as_str()
            .is_some_and(|message| message.contains("COZY_TIME_LIMIT"))
    });
    assert!(explained, "{lines:#?}");
}
