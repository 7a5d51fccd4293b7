//! Attacks on the JavaScript path: hostile bytecode, state that one job
//! leaves for the next, jobs that run at once on one engine, and fetches to
//! loopback in odd notations. Each must end as a clear error or a contained
//! job failure, and the engine must go on running jobs.
//!
//! Tests marked `#[ignore]` reproduce a known problem and fail today; run
//! them with `cargo test -p konnector-tests --test all js_attacks -- --ignored`.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use konnector_engine::manifest::Manifest;
use konnector_engine::{EngineError, JobCode, LimitRequest, Outcome, TrapKind};
use konnector_toolchain::artifact_build::runtime_digest;

use crate::javascript::{compile, js_engine, run_js, runtime};
use crate::support::{self, TempStore, messages};

/// Runs raw `bytecode` on [`js_engine`] with no permission.
async fn run_bytecode(bytecode: Vec<u8>, limits: LimitRequest) -> konnector_engine::JobReport {
    let (wasm, _) = runtime();
    let mut job = support::job(
        b"",
        Manifest::unprivileged("js-attack"),
        TempStore::new().sink(),
        limits,
    );
    job.code = JobCode::JavaScript {
        bytecode: Arc::from(bytecode),
        runtime: runtime_digest(wasm),
        dependencies: None,
    };
    js_engine().run(job).await.expect("job starts")
}

/// Returns the bytecode of `source`.
fn bytecode_of(source: &str) -> Vec<u8> {
    match compile(source) {
        JobCode::JavaScript { bytecode, .. } => bytecode.to_vec(),
        other => panic!("expected JavaScript, got {other:?}"),
    }
}

/// A small xorshift generator, so that the mutations are the same at every
/// run.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// Checks that the engine still runs a job after an attack.
async fn assert_engine_still_runs_jobs() {
    let report = run_js(r#"console.log("still alive");"#, LimitRequest::default()).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    assert_eq!(messages(&report), ["still alive"]);
}

#[tokio::test]
async fn random_bytecode_ends_job() {
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    for length in [0usize, 1, 5, 64, 4096] {
        let bytes: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
        let report = run_bytecode(bytes, LimitRequest::default()).await;
        assert!(
            !report.outcome.is_success(),
            "{length} random bytes: {}",
            report.outcome
        );
    }
    assert_engine_still_runs_jobs().await;
}

#[tokio::test]
async fn mutated_bytecode_is_contained() {
    // QuickJS-ng verifies a checksum at offset 1, unless it is 0xffffffff:
    // with that value the mutations reach the reader and the interpreter
    // instead of stopping at the checksum.
    let source = r#"
        import { log } from "konnector:host";
        class Bill { constructor(amount) { this.amount = amount; } total(n) { return this.amount * n; } }
        const bills = [1, 2, 3].map((amount) => new Bill(amount));
        let sum = 0;
        for (const bill of bills) sum += bill.total(2);
        const text = JSON.stringify({ sum, names: ["a", "b"], nested: { deep: [1, [2, [3]]] } });
        log("info", text + " " + /b+/.exec("abbbc")[0] + " " + `${sum}`.padStart(4, "0"));
        await new Promise((resolve) => setTimeout(resolve, 1));
    "#;
    let original = bytecode_of(source);
    assert!(original.len() > 64, "{} bytes", original.len());

    let limits = LimitRequest {
        fuel: Some(500_000_000),
        deadline_ms: Some(10_000),
        memory_bytes: Some(64 << 20),
        ..LimitRequest::default()
    };

    let mut random = Xorshift(0x2545_f491_4f6c_dd1d);
    let mut failures = 0;
    for _ in 0..150 {
        let mut bytes = original.clone();
        bytes[1..5].copy_from_slice(&[0xff; 4]);
        for _ in 0..1 + random.below(4) {
            let at = 5 + random.below(bytes.len() - 5);
            bytes[at] = random.next() as u8;
        }

        let report = run_bytecode(bytes, limits).await;
        // Any outcome passes, because the point is that the engine returned
        // a report instead of crashing or hanging.
        if !report.outcome.is_success() {
            failures += 1;
        }
    }
    assert!(failures > 0, "no mutation made a job fail");
    assert_engine_still_runs_jobs().await;
}

#[tokio::test]
async fn non_module_bytecode_rejected() {
    // The string "hello" serialised without a checksum: a valid QuickJS
    // object that is not a module.
    let report = run_bytecode(
        b"\x1c\xff\xff\xff\xff\x00\x08\x0ahello".to_vec(),
        LimitRequest::default(),
    )
    .await;
    assert!(!report.outcome.is_success(), "{}", report.outcome);
    assert_engine_still_runs_jobs().await;
}

#[tokio::test]
async fn deep_recursion_is_contained_trap() {
    // QuickJS-ng turns its own stack check off for WASI, so the recursion
    // reaches the engine's guest stack limit: a trap that try/catch cannot
    // see, rather than a RangeError.
    let report = run_js(
        r#"
        function down(n) { return down(n + 1) + 1; }
        try { down(0); } catch (error) { console.log("caught " + error); }
        "#,
        LimitRequest::default(),
    )
    .await;
    assert!(
        matches!(
            report.outcome,
            Outcome::Trap {
                trap: TrapKind::StackOverflow,
                ..
            }
        ),
        "{}",
        report.outcome
    );
    assert!(messages(&report).is_empty(), "{:?}", report.logs);
    assert_engine_still_runs_jobs().await;
}

#[tokio::test]
async fn nested_json_is_contained_trap() {
    // A vendor's response nested 100,000 levels deep ends the job even
    // inside try/catch (see deep_recursion_is_contained_trap).
    let report = run_js(
        r#"
        const depth = 100000;
        try { JSON.parse("[".repeat(depth) + "]".repeat(depth)); } catch (error) { console.log("caught " + error); }
        "#,
        LimitRequest::default(),
    )
    .await;
    assert!(!report.outcome.is_success(), "{}", report.outcome);
    assert_engine_still_runs_jobs().await;
}

/// Poisons what a job can reach, then checks in a later job that nothing
/// of it is left.
#[tokio::test]
async fn poisoned_globals_not_in_next_job() {
    let poison = r#"
        import * as host from "konnector:host";
        Object.prototype.polluted = "yes";
        Array.prototype.push = function () { return "hijacked"; };
        JSON.stringify = () => "hijacked";
        Promise.prototype.then = function () { return "hijacked"; };
        globalThis.fetch = () => "hijacked";
        globalThis.leftover = "first job";
        Math.random = () => 0.5;
        crypto.getRandomValues = (array) => array;
        Symbol.for("konnector.shared").description;
        Object.defineProperty(globalThis, "sticky", { value: 1, configurable: false });
        try { host.errors.LOGIN_FAILED = "hijacked"; } catch (error) {}
        const required = require("konnector:host");
        try { required.log = () => {}; } catch (error) {}
        try { Object.prototype.toJSON = () => ({ hijacked: true }); } catch (error) {}
        console.log("poisoned");
    "#;
    let first = run_js(poison, LimitRequest::default()).await;
    assert_eq!(first.outcome, Outcome::Succeeded, "{:?}", first.logs);

    let probe = r#"
        import * as host from "konnector:host";
        const found = [];
        if ({}.polluted !== undefined) found.push("Object.prototype.polluted");
        const array = []; array.push(1);
        if (array.length !== 1) found.push("Array.prototype.push");
        if (JSON.stringify({ a: 1 }) !== '{"a":1}') found.push("JSON.stringify");
        const pending = fetch("https://example.invalid/");
        pending.catch(() => {});
        if (!(pending instanceof Promise)) found.push("fetch");
        if (String(Promise.prototype.then).includes("hijacked")) found.push("Promise.prototype.then");
        if (globalThis.leftover !== undefined) found.push("leftover");
        if (globalThis.sticky !== undefined) found.push("sticky");
        if (Math.random() === 0.5 && Math.random() === 0.5) found.push("Math.random");
        if (crypto.getRandomValues(new Uint8Array(16)).every((byte) => byte === 0)) found.push("getRandomValues");
        if (host.errors.LOGIN_FAILED !== "LOGIN_FAILED") found.push("errors");
        if (Object.prototype.toJSON !== undefined) found.push("toJSON");
        console.log(found.length === 0 ? "clean" : "left over: " + found.join(", "));
    "#;
    // The policy rejects the probe's fetch (no hosts) before any name is
    // resolved. Only the type of what fetch returns matters.
    let second = run_js(probe, LimitRequest::default()).await;
    assert_eq!(second.outcome, Outcome::Succeeded, "{:?}", second.logs);
    assert_eq!(messages(&second), ["clean"]);
}

#[tokio::test]
async fn random_sources_differ_between_jobs() {
    let source = r#"
        const bytes = crypto.getRandomValues(new Uint8Array(16));
        console.log([Math.random(), Math.random(), crypto.randomUUID(), Array.from(bytes).join(".")].join(" "));
    "#;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        let report = run_js(source, LimitRequest::default()).await;
        assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
        let line = messages(&report).join("");
        for part in line.split(' ') {
            assert!(seen.insert(part.to_owned()), "{part} seen twice");
        }
    }
}

#[tokio::test]
async fn concurrent_jobs_keep_own_state() {
    // Each job stores its number in a global, waits on timers so that the
    // jobs interleave, and reports what it finds in the global afterwards.
    let jobs = (0..12).map(|index| async move {
        let source = format!(
            r#"
            globalThis.mine = {index};
            Object.prototype.owner = {index};
            for (let step = 0; step < 5; step++) {{
                await new Promise((resolve) => setTimeout(resolve, 2 + (step * {index}) % 5));
                let busy = 0; for (let i = 0; i < 20000; i++) busy += i;
            }}
            console.log(`${{globalThis.mine}} ${{({{}}).owner}}`);
            "#
        );
        let report = run_js(&source, LimitRequest::default()).await;
        (index, report)
    });
    let reports = futures_join_all(jobs).await;
    for (index, report) in reports {
        assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
        assert_eq!(messages(&report), [format!("{index} {index}")]);
    }
}

/// Runs the futures at once on the current runtime and returns their
/// outputs in order.
async fn futures_join_all<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("job task"));
    }
    outputs
}

#[tokio::test]
async fn odd_loopback_notations_never_connected() {
    // A listener on loopback records connections. The policy must reject
    // every spelling of its address before anything connects.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("address").port();
    listener.set_nonblocking(true).expect("non-blocking");
    let connected = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (connected, stop) = (connected.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok((mut stream, _)) = listener.accept() {
                    connected.store(true, Ordering::Relaxed);
                    let _ = stream.read(&mut [0; 64]);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let urls = [
        "http://127.0.0.1:PORT/",
        "http://2130706433:PORT/",
        "http://0x7f.1:PORT/",
        "http://0177.0.0.1:PORT/",
        "http://127.1:PORT/",
        "http://[::1]:PORT/",
        "http://[::ffff:127.0.0.1]:PORT/",
        "http://[::127.0.0.1]:PORT/",
        "http://localhost:PORT/",
        "http://LOCALHOST.:PORT/",
        "http://vendor.example@127.0.0.1:PORT/",
        "http://127.0.0.1:PORT\\@vendor.example/",
    ];
    let list = urls
        .iter()
        .map(|url| format!("{:?}", url.replace("PORT", &port.to_string())))
        .collect::<Vec<_>>()
        .join(", ");
    let source = format!(
        r#"
        let rejected = 0;
        for (const url of [{list}]) {{
            try {{ await fetch(url); console.log("reached " + url); }}
            catch (error) {{ rejected++; }}
        }}
        console.log("rejected " + rejected);
        "#
    );
    let report = run_js(&source, LimitRequest::default()).await;
    stop.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher");
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    assert_eq!(messages(&report), [format!("rejected {}", urls.len())]);
    assert!(
        !connected.load(Ordering::Relaxed),
        "a rejected fetch connected to the listener"
    );
}

#[tokio::test]
async fn oversized_bytecode_rejected_before_job() {
    // A module above MAX_MODULE_BYTES is rejected before it runs. Bytecode
    // of the same size runs, and the engine copies it whole into the result
    // buffer and then into the guest.
    let mut bytes = bytecode_of("console.log(1);");
    // Without a checksum, QuickJS ignores the padding after the module.
    bytes[1..5].copy_from_slice(&[0xff; 4]);
    bytes.resize(konnector_engine::MAX_MODULE_BYTES + 1, 0);
    let (wasm, _) = runtime();
    let mut job = support::job(
        b"",
        Manifest::unprivileged("js-attack"),
        TempStore::new().sink(),
        LimitRequest::default(),
    );
    job.code = JobCode::JavaScript {
        bytecode: Arc::from(bytes),
        runtime: runtime_digest(wasm),
        dependencies: None,
    };
    match js_engine().run(job).await {
        Err(EngineError::InvalidModule(_) | EngineError::Config(_)) => {}
        Err(other) => panic!("expected a size error, got {other}"),
        Ok(report) => panic!(
            "the job ran with {} bytes of bytecode: {}",
            konnector_engine::MAX_MODULE_BYTES + 1,
            report.outcome
        ),
    }
}

#[tokio::test]
#[ignore = "known problem: an error after a caught out-of-memory error ends as memory_limit_reached"]
async fn error_after_caught_oom_kept() {
    // The konnector recovers from a denied allocation, frees its memory,
    // and then fails for another reason, which the outcome must name.
    let limits = LimitRequest {
        memory_bytes: Some(64 << 20),
        ..LimitRequest::default()
    };
    let report = run_js(
        r#"
        let hoard = [];
        try { for (;;) hoard.push(new Uint8Array(8 << 20)); } catch (error) { console.log("caught " + error); }
        hoard = null;
        throw new Error("unrelated failure after the memory was freed");
        "#,
        limits,
    )
    .await;
    match &report.outcome {
        Outcome::KonnectorError { message, .. } => {
            let message = message.as_deref().unwrap_or_default();
            assert!(message.contains("unrelated failure"), "{message}");
        }
        other => panic!("expected the konnector's error, got {other}"),
    }
}
