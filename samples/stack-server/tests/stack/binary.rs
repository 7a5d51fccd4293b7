//! The `stack-server` binary: its flags, its JSON line and its stop on the
//! end of standard input.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::client::{REQUEST_TIMEOUT, status_and_json};

const EXIT_LIMIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn binary_serves_until_stdin_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stack-server"))
        .args(["--token-doctypes", "io.cozy.bills,io.cozy.accounts"])
        .args([
            "--account",
            r#"acc1:{"auth":{"login":"me","password":"pw"}}"#,
        ])
        .args(["--quota-bytes", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");

    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(EXIT_LIMIT, lines.next_line()).await;
    let line = line
        .expect("JSON line in time")
        .expect("stdout readable")
        .expect("one line");
    let info: Value = serde_json::from_str(&line).expect("JSON line");

    let url = info["url"].as_str().expect("url");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(url.ends_with('/'), "{url}");
    assert_eq!(info["account"], "acc1");
    let token = info["token"].as_str().expect("token");

    let client = reqwest::Client::builder()
        // See client.rs: the server is plain HTTP.
        .tls_backend_preconfigured(crate::client::plain_tls_config())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client builds");
    let response = client
        .get(format!("{url}data/io.cozy.accounts/acc1"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET account");
    let (status, account) = status_and_json(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account["auth"]["password"], "pw");

    let files = client
        .get(format!("{url}files/io.cozy.files.root-dir"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET root");
    assert_eq!(
        files.status(),
        StatusCode::FORBIDDEN,
        "io.cozy.files was not granted"
    );

    drop(child.stdin.take());
    let status = tokio::time::timeout(EXIT_LIMIT, child.wait()).await;
    let status = status
        .expect("exits in time after stdin closes")
        .expect("wait succeeds");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn binary_rejects_invalid_account() {
    let output = Command::new(env!("CARGO_BIN_EXE_stack-server"))
        .args(["--account", "no-json-here"])
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(EXIT_LIMIT, output)
        .await
        .expect("exits in time");
    let output = output.expect("binary runs");

    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("expected ID:JSON"), "{stderr}");
}
