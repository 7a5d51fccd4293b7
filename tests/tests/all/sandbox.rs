//! The guest sees an empty WASI: no environment, no file, no socket; and
//! nothing it passes to a host function can crash the host.

use konnector_engine::{LimitRequest, Outcome, TrapKind};

use crate::support::{messages, run_plain};

/// Runs a guest whose `_start` body is `body`, with the WASI functions it
/// may need imported, and returns the outcome.
async fn run_body(body: &str) -> Outcome {
    let guest = format!(
        r#"(module
        (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (import "konnector_v1" "log" (func $log (param i32 i32 i32) (result i32)))
        (import "konnector_v1" "result_read" (func $result_read (param i32 i32) (result i32)))
        (import "konnector_v1" "doc_create" (func $doc_create (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 512) "/etc/passwd")
        (func (export "_start") {body}))"#
    );
    run_plain(&guest, LimitRequest::default()).await.outcome
}

#[tokio::test]
async fn no_environment_variable() {
    // SAFETY: tests in this binary read no environment variable while
    // others set one; this one only proves the guest does not see it.
    unsafe { std::env::set_var("KONNECTOR_TEST_SECRET", "s3cr3t") };
    assert_eq!(
        std::env::var("KONNECTOR_TEST_SECRET").as_deref(),
        Ok("s3cr3t")
    );
    // Exits with 10 if there is any variable, 11 if their size is not 0.
    let outcome = run_body(
        "(drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
         (if (i32.load (i32.const 0)) (then (call $exit (i32.const 10))))
         (if (i32.load (i32.const 4)) (then (call $exit (i32.const 11))))",
    )
    .await;
    assert_eq!(outcome, Outcome::Succeeded, "{outcome}");
}

#[tokio::test]
async fn only_program_name_argument() {
    let outcome = run_body(
        "(drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
         (if (i32.ne (i32.load (i32.const 0)) (i32.const 1)) (then (call $exit (i32.const 10))))",
    )
    .await;
    assert_eq!(outcome, Outcome::Succeeded, "{outcome}");
}

#[tokio::test]
async fn no_preopened_directory() {
    // fd 3 is where the first preopened directory would be.
    let outcome = run_body(
        "(if (i32.eqz (call $fd_prestat_get (i32.const 3) (i32.const 0))) (then (call $exit (i32.const 10))))",
    )
    .await;
    assert_eq!(outcome, Outcome::Succeeded, "{outcome}");
}

#[tokio::test]
async fn no_path_opens() {
    // Tries /etc/passwd relative to fds 0 to 9; any success exits with 10.
    let outcome = run_body(
        "(local $fd i32)
         (loop $next
           (if (i32.eqz (call $path_open (local.get $fd) (i32.const 0) (i32.const 512) (i32.const 11)
                                         (i32.const 0) (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 600)))
             (then (call $exit (i32.const 10))))
           (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
           (br_if $next (i32.lt_u (local.get $fd) (i32.const 10))))",
    )
    .await;
    assert_eq!(outcome, Outcome::Succeeded, "{outcome}");
}

#[tokio::test]
async fn no_socket_call_succeeds() {
    let outcome = run_body(
        "(local $fd i32)
         (loop $next
           (if (i32.eqz (call $sock_accept (local.get $fd) (i32.const 0) (i32.const 600)))
             (then (call $exit (i32.const 10))))
           (if (i32.eqz (call $sock_send (local.get $fd) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 600)))
             (then (call $exit (i32.const 11))))
           (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
           (br_if $next (i32.lt_u (local.get $fd) (i32.const 10))))
         ;; No file descriptor past stderr exists to write to.
         (if (i32.eqz (call $fd_write (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 600)))
           (then (call $exit (i32.const 12))))",
    )
    .await;
    assert_eq!(outcome, Outcome::Succeeded, "{outcome}");
}

#[tokio::test]
async fn random_and_clocks_work() {
    let outcome = run_body(
        "(if (call $random_get (i32.const 0) (i32.const 32)) (then (call $exit (i32.const 10))))
         (if (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 64)) (then (call $exit (i32.const 11))))
         (if (i64.eqz (i64.load (i32.const 64))) (then (call $exit (i32.const 12))))",
    )
    .await;
    assert_eq!(outcome, Outcome::Succeeded, "{outcome}");
}

#[tokio::test]
async fn bad_pointers_get_invalid_argument() {
    // Status 1 is invalid_argument. Each call must return it; anything else
    // exits with a distinct status.
    let outcome = run_body(
        "(if (i32.ne (call $log (i32.const 1) (i32.const 65000) (i32.const 1000)) (i32.const 1)) (then (call $exit (i32.const 10))))
         (if (i32.ne (call $log (i32.const 1) (i32.const -1) (i32.const 2)) (i32.const 1)) (then (call $exit (i32.const 11))))
         (if (i32.ne (call $log (i32.const 9) (i32.const 0) (i32.const 0)) (i32.const 1)) (then (call $exit (i32.const 12))))
         (if (i32.ne (call $result_read (i32.const 0) (i32.const 100000)) (i32.const 1)) (then (call $exit (i32.const 13))))
         (if (i32.ne (call $doc_create (i32.const 0) (i32.const -8)) (i32.const 1)) (then (call $exit (i32.const 14))))
         (if (i32.ne (call $doc_create (i32.const 512) (i32.const 11)) (i32.const 1)) (then (call $exit (i32.const 15))))",
    )
    .await;
    assert_eq!(outcome, Outcome::Succeeded, "{outcome}");
}

#[tokio::test]
async fn error_message_fills_result_buffer() {
    // A refused call leaves its message in the result buffer; the guest
    // copies it and logs it.
    let guest = r#"(module
        (import "konnector_v1" "doc_create" (func $doc_create (param i32 i32) (result i32)))
        (import "konnector_v1" "result_len" (func $result_len (result i32)))
        (import "konnector_v1" "result_read" (func $result_read (param i32 i32) (result i32)))
        (import "konnector_v1" "log" (func $log (param i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "not json")
        (func (export "_start") (local $len i32)
          (drop (call $doc_create (i32.const 0) (i32.const 8)))
          (local.set $len (call $result_len))
          (drop (call $result_read (i32.const 1024) (local.get $len)))
          (drop (call $log (i32.const 3) (i32.const 1024) (local.get $len)))))"#;
    let report = run_plain(guest, LimitRequest::default()).await;
    assert_eq!(report.outcome, Outcome::Succeeded);
    let logged = messages(&report);
    assert_eq!(logged.len(), 1);
    assert!(
        logged[0].starts_with("invalid create request"),
        "{logged:?}"
    );
}

#[tokio::test]
async fn unknown_import_is_refused() {
    let guest = r#"(module
        (import "env" "system" (func (param i32) (result i32)))
        (memory (export "memory") 1) (func (export "_start")))"#;
    let outcome = run_plain(guest, LimitRequest::default()).await.outcome;
    match outcome {
        Outcome::PolicyRefusal { rule, message } => {
            assert_eq!(rule, "unknown_import");
            assert!(message.contains("env::system"), "{message}");
        }
        other => panic!("expected a policy refusal, got {other}"),
    }
}

#[tokio::test]
async fn unknown_host_function_is_refused() {
    let guest = r#"(module
        (import "konnector_v1" "read_any_document" (func (param i32 i32) (result i32)))
        (memory (export "memory") 1) (func (export "_start")))"#;
    let outcome = run_plain(guest, LimitRequest::default()).await.outcome;
    assert!(
        matches!(&outcome, Outcome::PolicyRefusal { rule, .. } if rule == "unknown_import"),
        "{outcome}"
    );
}

#[tokio::test]
async fn imported_memory_is_refused() {
    let guest = r#"(module (import "env" "memory" (memory 1)) (func (export "_start")))"#;
    let outcome = run_plain(guest, LimitRequest::default()).await.outcome;
    assert!(
        matches!(&outcome, Outcome::PolicyRefusal { rule, .. } if rule == "unknown_import"),
        "{outcome}"
    );
}

#[tokio::test]
async fn missing_start_is_refused() {
    let guest = r#"(module (memory (export "memory") 1) (func (export "main")))"#;
    let outcome = run_plain(guest, LimitRequest::default()).await.outcome;
    assert!(
        matches!(&outcome, Outcome::PolicyRefusal { rule, .. } if rule == "missing_start"),
        "{outcome}"
    );
}

#[tokio::test]
async fn guest_panic_is_a_trap() {
    let guest = r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;
    let outcome = run_plain(guest, LimitRequest::default()).await.outcome;
    assert!(
        matches!(
            &outcome,
            Outcome::Trap {
                trap: TrapKind::Unreachable,
                ..
            }
        ),
        "{outcome}"
    );
}

#[tokio::test]
async fn reported_error_code_ends_job() {
    let guest = r#"(module
        (import "konnector_v1" "job_fail" (func $fail (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "LOGIN_FAILED")
        (data (i32.const 32) "bad password")
        (data (i32.const 64) "VENDOR_DOWN")
        (data (i32.const 96) "login_failed")
        (func (export "_start")
          ;; An invalid code is refused and does not end the job.
          (if (i32.ne (call $fail (i32.const 96) (i32.const 12) (i32.const 0) (i32.const 0)) (i32.const 1)) (then unreachable))
          (if (call $fail (i32.const 0) (i32.const 12) (i32.const 32) (i32.const 12)) (then unreachable))
          ;; Only the first code counts.
          (if (i32.ne (call $fail (i32.const 64) (i32.const 11) (i32.const 0) (i32.const 0)) (i32.const 1)) (then unreachable))))"#;
    let outcome = run_plain(guest, LimitRequest::default()).await.outcome;
    assert_eq!(
        outcome,
        Outcome::KonnectorError {
            code: "LOGIN_FAILED".into(),
            message: Some("bad password".into())
        }
    );
    assert_eq!(outcome.error_code(), Some("LOGIN_FAILED"));
}
