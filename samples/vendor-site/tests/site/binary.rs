//! The `vendor-site` binary: its JSON line, its CA file and its stop on the
//! end of standard input.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::client::plain_client_builder;

const EXIT_LIMIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn binary_serves_until_stdin_closes() {
    let ca_file =
        std::env::temp_dir().join(format!("vendor-site-test-ca-{}.pem", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_vendor-site"))
        .arg("--ca-out")
        .arg(&ca_file)
        .arg("--bills")
        .arg("3")
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

    assert_eq!(info["login"], "demo@example.com");
    assert_eq!(info["password"], "demo-password");
    assert_eq!(info["ca_file"], ca_file.display().to_string().as_str());
    let http = info["http"].as_str().expect("http address");
    let https = info["https"].as_str().expect("https address");
    assert!(http.starts_with("127.0.0.1:"), "{http}");
    assert!(https.starts_with("127.0.0.1:"), "{https}");
    let ca_pem = std::fs::read_to_string(&ca_file).expect("CA file written");
    assert!(
        ca_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{ca_pem}"
    );

    let client = plain_client_builder().build().expect("client builds");
    let response = client
        .get(format!("http://{http}/login"))
        .send()
        .await
        .expect("GET /login");
    assert_eq!(response.status(), reqwest::StatusCode::OK);

    drop(child.stdin.take());
    let status = tokio::time::timeout(EXIT_LIMIT, child.wait()).await;
    let status = status
        .expect("exits in time after stdin closes")
        .expect("wait succeeds");
    assert!(status.success(), "{status}");

    assert!(ca_file.exists(), "a CA file given with --ca-out is kept");
    std::fs::remove_file(&ca_file).expect("CA file removed");
}

#[tokio::test]
async fn binary_rejects_invalid_arguments() {
    let output = Command::new(env!("CARGO_BIN_EXE_vendor-site"))
        .args(["--bills-per-page", "0"])
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(EXIT_LIMIT, output)
        .await
        .expect("exits in time");
    let output = output.expect("binary runs");

    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid bills_per_page 0"), "{stderr}");
}
