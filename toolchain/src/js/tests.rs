//! Tests of the QuickJS runtime module, built once into the workspace's
//! `target/wasm-guests` and cached there, so they are quick after the first
//! build.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::*;

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm-guests")
}

/// Returns the pre-initialised runtime, built and compiled once per test
/// process.
fn runtime() -> &'static JsRuntime {
    static RUNTIME: OnceLock<JsRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let wasm = preinitialized_runtime(&target_dir()).expect("build the runtime");
        JsRuntime::new(&wasm).expect("compile the runtime")
    })
}

fn compile(source: &str) -> Vec<u8> {
    runtime()
        .compile("konnector.js", source.as_bytes())
        .unwrap_or_else(|error| panic!("compile {source:?}: {error}"))
}

fn run(source: &str) -> JobRun {
    runtime()
        .run(&compile(source), 1)
        .unwrap_or_else(|error| panic!("run {source:?}: {error}"))
}

fn lines(run: &JobRun) -> Vec<String> {
    run.logs.iter().map(|(_, line)| line.clone()).collect()
}

/// Lists a module's imports as `module::name` and its exports.
fn interface(wasm: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.expect("valid module") {
            wasmparser::Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import.expect("valid import");
                    imports.push(format!("{}::{}", import.module, import.name));
                }
            }
            wasmparser::Payload::ExportSection(section) => {
                for export in section {
                    exports.push(export.expect("valid export").name.to_owned());
                }
            }
            _ => {}
        }
    }
    (imports, exports)
}

#[test]
fn runtime_module_interface() {
    let wasm = preinitialized_runtime(&target_dir()).expect("build the runtime");
    let (imports, exports) = interface(&wasm);
    println!("pre-initialised runtime: {} bytes", wasm.len());
    println!("imports: {imports:#?}");
    println!("exports: {exports:#?}");

    for export in [START_EXPORT, COMPILE_EXPORT, "memory"] {
        assert!(
            exports.iter().any(|name| name == export),
            "no {export} export"
        );
    }
    assert!(
        !exports.iter().any(|name| name == INIT_EXPORT),
        "pre-initialisation keeps {INIT_EXPORT}"
    );
    for import in &imports {
        let (module, name) = import.split_once("::").expect("module::name");
        let allowed = match module {
            konnector_host_api::IMPORT_MODULE => konnector_host_api::FUNCTIONS.contains(&name),
            JS_IMPORT_MODULE => name == SCRIPT,
            BUILD_IMPORT_MODULE => [SOURCE, SOURCE_NAME, OUTPUT, ERROR].contains(&name),
            "wasi_snapshot_preview1" => true,
            _ => false,
        };
        assert!(allowed, "unexpected import {import}");
    }
}

#[test]
fn compile_gives_bytecode() {
    let bytecode = compile("console.log(\"hi\")");
    assert!(!bytecode.is_empty());

    let run = runtime().run(&bytecode, 1).expect("run");
    assert_eq!(run.logs, [(LogLevel::Info, "hi".to_owned())]);
    assert_eq!(run.failure, None);
}

#[test]
fn syntax_error_position() {
    let error = runtime()
        .compile("src/index.js", b"const a = 1;\nlet x = ;\n")
        .expect_err("syntax error");
    let CompileError::Invalid(message) = &error else {
        panic!("expected CompileError::Invalid, got {error:?}");
    };
    println!("{message}");
    assert!(
        message.starts_with("src/index.js:2:9: SyntaxError: "),
        "{message}"
    );
}

#[test]
fn console_levels_and_formats() {
    let run = run(r#"
        console.debug("d");
        console.info("i", 1, true, null, undefined);
        console.warn({ a: [1, "b"] });
        console.error(new TypeError("bad"));
        const cycle = {};
        cycle.self = cycle;
        console.log(cycle, function named() {});
    "#);
    let levels: Vec<LogLevel> = run.logs.iter().map(|(level, _)| *level).collect();
    assert_eq!(
        levels,
        [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warning,
            LogLevel::Error,
            LogLevel::Info
        ]
    );
    let lines = lines(&run);
    assert_eq!(lines[0], "d");
    assert_eq!(lines[1], "i 1 true null undefined");
    assert_eq!(lines[2], r#"{"a":[1,"b"]}"#);
    assert!(lines[3].starts_with("TypeError: bad\n"), "{}", lines[3]);
    assert!(lines[3].contains("konnector.js:5"), "{}", lines[3]);
    assert_eq!(lines[4], "[object Object] [Function: named]");
}

#[test]
fn uncaught_exception_fails_job() {
    let run = run("function login() {\n  throw new Error(\"boom\");\n}\nlogin();\n");
    let (code, message) = run.failure.expect("the job fails");
    assert_eq!(code, "UNKNOWN_ERROR");
    assert_eq!(message, "Error: boom");

    let (level, line) = run.logs.last().expect("an error line");
    assert_eq!(*level, LogLevel::Error);
    assert!(
        line.starts_with("uncaught exception: Error: boom\n"),
        "{line}"
    );
    assert!(line.contains("at login (konnector.js:2:"), "{line}");
    // The module promise's rejection is reported once, not again as an
    // unhandled rejection.
    assert_eq!(run.logs.len(), 1, "{:?}", run.logs);
}

#[test]
fn thrown_string_fails_job() {
    let run = run("throw \"plain\";");
    let (code, message) = run.failure.expect("the job fails");
    assert_eq!(code, "UNKNOWN_ERROR");
    assert_eq!(message, "plain");
}

#[test]
fn unhandled_rejection_fails_job() {
    let run = run("Promise.reject(new RangeError(\"late\"));\nconsole.log(\"end\");\n");
    let (code, message) = run.failure.clone().expect("the job fails");
    assert_eq!(code, "UNKNOWN_ERROR");
    assert_eq!(message, "RangeError: late");
    let lines = lines(&run);
    assert_eq!(lines[0], "end");
    assert!(
        lines[1].starts_with("unhandled promise rejection: RangeError: late\n"),
        "{}",
        lines[1]
    );
}

#[test]
fn rejection_handled_later_passes() {
    let run = run(r#"
        const rejected = Promise.reject(new Error("caught"));
        await null;
        rejected.catch((error) => console.log(error.message));
    "#);
    assert_eq!(run.failure, None, "{:?}", run.logs);
    assert_eq!(lines(&run), ["caught"]);
}

#[test]
fn promise_jobs_run_to_completion() {
    let run = run(r#"
        const order = [];
        Promise.resolve().then(() => order.push("then"));
        order.push("sync");
        await Promise.resolve();
        order.push("await");
        const value = await new Promise((resolve) => resolve(42));
        async function later() { await null; console.log("later", order.join(",")); }
        later();
        console.log("value", value);
    "#);
    assert_eq!(run.failure, None, "{:?}", run.logs);
    assert_eq!(lines(&run), ["value 42", "later sync,then,await"]);
}

#[test]
fn rejected_await_fails_job() {
    let run = run("await Promise.reject(new Error(\"denied\"));");
    let (code, message) = run.failure.expect("the job fails");
    assert_eq!(code, "UNKNOWN_ERROR");
    assert_eq!(message, "Error: denied");
}

#[test]
fn unsettled_await_fails_job() {
    let run = run("await new Promise(() => {});");
    let (code, message) = run.failure.expect("the job fails");
    assert_eq!(code, "UNKNOWN_ERROR");
    assert!(message.contains("never settles"), "{message}");
}

#[test]
fn atob_and_btoa() {
    let run = run(r#"
        console.log(atob("aGk="), atob(" aG k "), atob("4pyT").length);
        console.log(btoa("hi"), btoa(""), btoa("\xff\x00"), btoa("abcd"));
        for (const bad of ["a", "aGk=a", "*", "aGk==="]) {
            try { atob(bad); console.log("accepted", bad); }
            catch (error) { console.log(error.name); }
        }
        try { btoa("\u2713"); } catch (error) { console.log(error.name); }
        const globals = Object.keys(globalThis);
        console.log(["console", "atob", "btoa"].filter((name) => globals.includes(name)).length);
    "#);
    assert_eq!(run.failure, None, "{:?}", run.logs);
    assert_eq!(
        lines(&run),
        [
            "hi hi 3",
            "aGk=  /wA= YWJjZA==",
            "InvalidCharacterError",
            "InvalidCharacterError",
            "InvalidCharacterError",
            "InvalidCharacterError",
            "InvalidCharacterError",
            "0",
        ]
    );
}

#[test]
fn math_random_reseeded_per_job() {
    let bytecode = compile("console.log(String(Math.random()), String(Math.random()));");
    let draw = |seed| {
        let run = runtime().run(&bytecode, seed).expect("run");
        lines(&run).join("")
    };
    let first = draw(1);
    assert_ne!(first, draw(2));
    assert_eq!(first, draw(1));
    for number in first.split(' ') {
        let value: f64 = number.parse().expect("a number");
        assert!((0.0..1.0).contains(&value), "{value}");
    }
}

/// QuickJS-ng has no stack limit on WASI, so the wasm stack limit ends the
/// job with a trap.
#[test]
fn deep_recursion_traps() {
    let bytecode = compile("function f() { f(); }\nf();\n");
    let error = runtime().run(&bytecode, 1).expect_err("a stack overflow");
    let message = error.to_string();
    assert!(message.contains("call stack exhausted"), "{message}");
}

#[test]
fn preinitialization_is_deterministic() {
    let raw = read(&build_runtime(&target_dir()).expect("build")).expect("read");
    let first = preinitialize(&raw).expect("pre-initialise");
    let second = preinitialize(&raw).expect("pre-initialise");
    assert!(first == second, "two pre-initialisations differ");
}

/// Compares a job's start on the module as built, which creates the QuickJS
/// runtime in `_start`, with the pre-initialised one. It prints the times
/// (run with `--nocapture`) and asserts nothing about them, because these
/// shared machines are noisy.
#[test]
fn preinitialized_starts_faster() {
    let raw = read(&build_runtime(&target_dir()).expect("build")).expect("read");
    let raw = JsRuntime::new(&raw).expect("compile the raw runtime");
    let bytecode = compile("console.log(\"hi\")");

    let time = |runtime: &JsRuntime| {
        let mut best = Duration::MAX;
        for _ in 0..20 {
            let start = Instant::now();
            let run = runtime.run(&bytecode, 1).expect("run");
            best = best.min(start.elapsed());
            assert_eq!(lines(&run), ["hi"]);
        }
        best
    };
    let raw_time = time(&raw);
    let preinitialized_time = time(runtime());
    println!(
        "instantiate + _start of console.log(\"hi\"), best of 20: \
         {raw_time:?} as built, {preinitialized_time:?} pre-initialised"
    );
}
