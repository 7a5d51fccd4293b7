//! Tests of the QuickJS runtime module, built once into the workspace's
//! `target/wasm-guests` and cached there, so they are quick after the first
//! build.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::*;

pub(super) fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm-guests")
}

/// Returns the pre-initialised runtime, built and compiled once per test
/// process.
pub(super) fn runtime() -> &'static JsRuntime {
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

    for export in [START_EXPORT, COMPILE_EXPORT, PRELOAD_EXPORT, "memory"] {
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
            JS_IMPORT_MODULE => konnector_host_api::JS_FUNCTIONS.contains(&name),
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

/// Runs `source` and returns its log lines, failing the test when the job
/// fails.
fn run_ok(source: &str) -> Vec<String> {
    let run = run(source);
    assert_eq!(run.failure, None, "{:?}", run.logs);
    lines(&run)
}

#[test]
fn url_parsing_and_resolution() {
    let lines = run_ok(
        r#"
        const u = new URL("../b/c?x=1#frag", "https://user:pw@Example.COM:8443/a/d/e");
        for (const key of ["href", "origin", "protocol", "username", "password", "host",
                           "hostname", "port", "pathname", "search", "hash"]) {
            console.log(key, u[key]);
        }
        console.log(new URL("HTTPS://example.com:443/%7Efoo/./bar/../baz").href);
        console.log(new URL("https://b\u00fccher.example/").hostname);
        console.log(new URL("//other.example/x", "http://vendor.example/y").href);
        console.log(new URL("?q=1", "http://vendor.example/a/b").href);
        console.log(String(new URL("http://vendor.example")), JSON.stringify({ u: new URL("http://a.example/") }));
        for (const bad of ["/relative", "http://[::1", "https://exa mple.com/"]) {
            try { new URL(bad); console.log("accepted", bad); }
            catch (error) { console.log(error.name, error.code, error.message); }
        }
        console.log(URL.canParse("/x"), URL.canParse("/x", "http://a.example"), URL.parse("nope"));
    "#,
    );
    assert_eq!(
        lines,
        [
            "href https://user:pw@example.com:8443/a/b/c?x=1#frag",
            "origin https://example.com:8443",
            "protocol https:",
            "username user",
            "password pw",
            "host example.com:8443",
            "hostname example.com",
            "port 8443",
            "pathname /a/b/c",
            "search ?x=1",
            "hash #frag",
            "https://example.com/%7Efoo/baz",
            "xn--bcher-kva.example",
            "http://other.example/x",
            "http://vendor.example/a/b?q=1",
            r#"http://vendor.example/ {"u":"http://a.example/"}"#,
            r#"TypeError ERR_INVALID_URL invalid URL "/relative""#,
            r#"TypeError ERR_INVALID_URL invalid URL "http://[::1""#,
            r#"TypeError ERR_INVALID_URL invalid URL "https://exa mple.com/""#,
            "false true null",
        ]
    );
}

#[test]
fn url_setters() {
    let lines = run_ok(
        r#"
        const u = new URL("https://vendor.example/a?x=1#h");
        u.pathname = "/bills and more/é";
        console.log(u.href);
        u.port = "8443";
        u.hash = "";
        console.log(u.href);
        u.port = "443";
        u.protocol = "http:";
        console.log(u.href);
        u.host = "other.example:81";
        console.log(u.href);
        u.port = "not a port";
        console.log(u.port);
        try { u.href = "nope"; } catch (error) { console.log(error.name); }
        console.log(u.href);
    "#,
    );
    assert_eq!(
        lines,
        [
            "https://vendor.example/bills%20and%20more/%C3%A9?x=1#h",
            "https://vendor.example:8443/bills%20and%20more/%C3%A9?x=1",
            "http://vendor.example/bills%20and%20more/%C3%A9?x=1",
            "http://other.example:81/bills%20and%20more/%C3%A9?x=1",
            "81",
            "TypeError",
            "http://other.example:81/bills%20and%20more/%C3%A9?x=1",
        ]
    );
}

#[test]
fn url_search_params() {
    let lines = run_ok(
        r#"
        const u = new URL("https://vendor.example/p?a=1&b=2&a=3");
        const params = u.searchParams;
        console.log(params.get("a"), params.getAll("a").join(","), params.has("b"), params.size, params.get("z"));
        params.append("c", "x y&z=é");
        console.log(u.search);
        params.delete("a");
        console.log(u.href);
        u.search = "?q=%C3%A9t%C3%A9+1&q=2";
        console.log(params.get("q"), params.getAll("q").length, u.searchParams === params);
        params.set("q", "3");
        params.set("b", "4");
        params.sort();
        console.log(u.search, [...params].map((pair) => pair.join("=")).join("|"));
        params.delete("q");
        params.delete("b");
        console.log(u.href);
        console.log(new URLSearchParams({ a: "1", b: "é" }).toString());
        console.log(new URLSearchParams([["x", "1"], ["y", "2"]]).toString());
        console.log(new URLSearchParams("?a=%20b+c&&d").toString(), [...new URLSearchParams("a=1&b").keys()].join());
        console.log(new URLSearchParams("a=1&a=2&b=3").has("a", "2"), new URLSearchParams("a=1").has("a", "2"));
        try { new URLSearchParams([["only one"]]); } catch (error) { console.log(error.name); }
        const seen = [];
        new URLSearchParams("k=v&l=w").forEach((value, name) => seen.push(name + value));
        console.log(seen.join(","), Object.prototype.toString.call(params));
    "#,
    );
    assert_eq!(
        lines,
        [
            "1 1,3 true 3 null",
            "?a=1&b=2&a=3&c=x+y%26z%3D%C3%A9",
            "https://vendor.example/p?b=2&c=x+y%26z%3D%C3%A9",
            "été 1 2 true",
            "?b=4&q=3 b=4|q=3",
            "https://vendor.example/p",
            "a=1&b=%C3%A9",
            "x=1&y=2",
            "a=+b+c&d= a,b",
            "true false",
            "TypeError",
            "kv,lw [object URLSearchParams]",
        ]
    );
}

#[test]
fn text_encoder_and_decoder() {
    let lines = run_ok(
        r#"
        const encoder = new TextEncoder();
        const encoded = encoder.encode("é€😀");
        console.log(encoder.encoding, encoded.constructor.name, Array.from(encoded).join(","));
        console.log(Array.from(encoder.encode("\ud800")).join(","), encoder.encode().length);
        const target = new Uint8Array(5);
        console.log(JSON.stringify(encoder.encodeInto("aé😀", target)), Array.from(target).join(","));

        const decoder = new TextDecoder();
        console.log(decoder.encoding, decoder.fatal, decoder.ignoreBOM, decoder.decode(encoded));
        console.log(decoder.decode(encoded.buffer), decoder.decode(new DataView(encoded.buffer, 0, 2)));
        const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x61]);
        console.log(decoder.decode(bom).length, new TextDecoder("utf-8", { ignoreBOM: true }).decode(bom).length);
        console.log(JSON.stringify(decoder.decode(new Uint8Array([0x61, 0xff, 0x62, 0xe2, 0x82]))));
        console.log(new TextDecoder(" UTF8 ").encoding, decoder.decode());

        const fatal = new TextDecoder("utf-8", { fatal: true });
        console.log(fatal.fatal, fatal.decode(new Uint8Array([0x68, 0x69])));
        try { fatal.decode(new Uint8Array([0x68, 0xc3])); }
        catch (error) { console.log(error.name, error.message); }
        try { new TextDecoder("latin1"); }
        catch (error) { console.log(error.name, error.message); }
        try { decoder.decode(encoded, { stream: true }); }
        catch (error) { console.log(error.name, error.message); }
        try { decoder.decode("text"); }
        catch (error) { console.log(error.name); }
    "#,
    );
    assert_eq!(
        lines,
        [
            "utf-8 Uint8Array 195,169,226,130,172,240,159,152,128",
            "239,191,189 0",
            r#"{"read":2,"written":3} 97,195,169,0,0"#,
            "utf-8 false false é€😀",
            "é€😀 é",
            "1 2",
            "\"a\u{fffd}b\u{fffd}\"",
            "utf-8 ",
            "true hi",
            "TypeError failed to decode UTF-8: invalid byte sequence at offset 1",
            r#"RangeError TextDecoder: the encoding "latin1" is not supported, only utf-8 is"#,
            "TypeError TextDecoder.decode: the stream option is not supported, \
             so decode the whole input in one call",
            "TypeError",
        ]
    );
}

#[test]
fn timers_run_in_order() {
    let lines = run_ok(
        r#"
        const order = [];
        const start = performance.now();
        setTimeout(() => order.push("c"), 30);
        setTimeout(() => order.push("a"), 10);
        const cancelled = setTimeout(() => order.push("cancelled"), 20);
        setTimeout((x, y) => order.push(`b${x}${y}`), 20, 1, 2);
        clearTimeout(cancelled);
        const byNumber = setTimeout(() => order.push("cleared by number"), 5);
        clearTimeout(Number(byNumber));
        let ticks = 0;
        const interval = setInterval(() => {
            ticks += 1;
            if (ticks === 3) clearInterval(interval);
        }, 5);
        Promise.resolve().then(() => order.push("then"));
        process.nextTick((word) => order.push(word), "tick");
        queueMicrotask(() => order.push("microtask"));
        await new Promise((resolve) => setTimeout(resolve, 50));
        const waited = performance.now() - start;
        console.log(order.join(","), ticks, waited >= 50 && waited < 60);
        setTimeout(() => console.log("after the module"), 100);
        console.log("module done");
    "#,
    );
    assert_eq!(
        lines,
        [
            "then,tick,microtask,a,b12,c 3 true",
            "module done",
            "after the module"
        ]
    );
}

#[test]
fn unref_timer_ends_job() {
    let lines = run_ok(
        r#"
        const timer = setTimeout(() => console.log("unref'ed"), 10).unref();
        console.log(timer.hasRef(), typeof timer.ref, +timer > 0);
        setTimeout(() => console.log("kept"), 20);
    "#,
    );
    // The unref'ed timer is due before the kept one, so it still runs.
    assert_eq!(lines, ["false function true", "unref'ed", "kept"]);

    let lines = run_ok(
        r#"
        setTimeout(() => console.log("never"), 10).unref();
        console.log("end");
    "#,
    );
    assert_eq!(lines, ["end"]);
}

#[test]
fn throw_in_timer_fails_job() {
    let run = run("setTimeout(function tick() { throw new Error(\"VENDOR_DOWN\"); }, 5);\n");
    let (code, message) = run.failure.clone().expect("the job fails");
    assert_eq!(code, "VENDOR_DOWN");
    assert_eq!(message, "Error: VENDOR_DOWN");
    let line = &lines(&run)[0];
    assert!(
        line.starts_with("uncaught exception in a timer: Error: VENDOR_DOWN\n"),
        "{line}"
    );
    assert!(line.contains("at tick (konnector.js:1"), "{line}");
}

#[test]
fn require_and_import_builtins() {
    let lines = run_ok(
        r#"
        import host, { errors, log as hostLog } from "konnector:host";
        const required = require("konnector:host");
        console.log(required === host, required.errors === errors, typeof hostLog);
        console.log(Object.keys(host).sort().join(","));
        console.log(errors.LOGIN_FAILED, errors.USER_ACTION_NEEDED_OAUTH_OUTDATED, Object.isFrozen(errors));
        const dynamic = await import("konnector:host");
        console.log(dynamic.default === host, dynamic.upsert === host.upsert);
        try { require("lodash"); }
        catch (error) { console.log(error.name, error.code, error.message); }
        try { require(42); }
        catch (error) { console.log(error.name); }
        try { require("node:fs"); }
        catch (error) { console.log(error.message.includes("reaches the machine")); }
        try { await import("./local.js"); }
        catch (error) { console.log(error.message.startsWith('cannot find module "./local.js"')); }
    "#,
    );
    assert_eq!(
        lines,
        [
            "true true function",
            "accountData,cookies,create,downloadFile,errors,fail,input,log,saveFile,setAccountData,setCookie,update,upsert",
            "LOGIN_FAILED USER_ACTION_NEEDED.OAUTH_OUTDATED true",
            "true true",
            "Error MODULE_NOT_FOUND cannot find module \"lodash\": only the built-in modules \
             (konnector:dependencies, konnector:host, buffer, path, path/posix, querystring, url, util, events) are \
             available at run time, so npm dependencies must be bundled by \"konnector build\"",
            "TypeError",
            "true",
            "true",
        ]
    );
}

/// QuickJS resolves a module's imports when it compiles it, so an import
/// of a module that is not built in fails at build time.
#[test]
fn import_of_unknown_module_fails_compile() {
    let error = runtime()
        .compile(
            "konnector.js",
            b"import cheerio from \"cheerio\";\nconsole.log(cheerio);\n",
        )
        .expect_err("an unknown module");
    let CompileError::Invalid(message) = &error else {
        panic!("expected CompileError::Invalid, got {error:?}");
    };
    assert_eq!(
        message,
        "konnector.js: Error: cannot find module \"cheerio\": only the built-in modules \
         (konnector:dependencies, konnector:host, buffer, path, path/posix, querystring, url, util, events) are \
         available at run time, so npm dependencies must be bundled by \"konnector build\""
    );
}

#[test]
fn crypto_values_from_each_job() {
    let bytecode = compile(
        r#"
        const bytes = crypto.getRandomValues(new Uint8Array(16));
        const words = crypto.getRandomValues(new Uint32Array(2));
        console.log(Array.from(bytes).join(","), Array.from(words).join(","), crypto.randomUUID());
        "#,
    );
    let draw = |seed| {
        let run = runtime().run(&bytecode, seed).expect("run");
        assert_eq!(run.failure, None, "{:?}", run.logs);
        lines(&run).join("")
    };
    let first = draw(1);
    assert_ne!(first, draw(2));
    assert_eq!(first, draw(1));

    let uuid = first.rsplit(' ').next().expect("a UUID");
    let groups: Vec<&str> = uuid.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
    assert_eq!(lengths, [8, 4, 4, 4, 12], "{uuid}");
    assert!(groups[2].starts_with('4'), "{uuid}");
    assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"), "{uuid}");
    assert!(
        uuid.chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[test]
fn crypto_rejects_bad_arrays() {
    let lines = run_ok(
        r#"
        for (const array of [new Float64Array(1), [1, 2], new Uint8Array(65537)]) {
            try { crypto.getRandomValues(array); console.log("accepted"); }
            catch (error) { console.log(error.name, error instanceof DOMException); }
        }
        console.log(crypto.getRandomValues(new Uint8Array(65536)).length);
    "#,
    );
    assert_eq!(
        lines,
        [
            "TypeMismatchError true",
            "TypeMismatchError true",
            "QuotaExceededError true",
            "65536",
        ]
    );
}

#[test]
fn cozy_error_codes_from_messages() {
    let cases = [
        ("throw new Error(\"LOGIN_FAILED\");", "LOGIN_FAILED"),
        (
            "throw new TypeError(\"USER_ACTION_NEEDED.OAUTH_OUTDATED\");",
            "USER_ACTION_NEEDED.OAUTH_OUTDATED",
        ),
        (
            "await Promise.reject(new Error(\"VENDOR_DOWN\"));",
            "VENDOR_DOWN",
        ),
        (
            "Promise.reject(new Error(\"CHALLENGE_ASKED\"));",
            "CHALLENGE_ASKED",
        ),
        (
            "throw new Error(\"LOGIN_FAILED: wrong password\");",
            "UNKNOWN_ERROR",
        ),
        ("throw new Error(\"NOT_A_COZY_CODE\");", "UNKNOWN_ERROR"),
    ];
    for (source, expected) in cases {
        let run = run(source);
        let (code, _) = run.failure.clone().expect("the job fails");
        assert_eq!(code, expected, "{source}");
        // The log line keeps the error and its stack.
        let line = lines(&run).join("\n");
        assert!(line.contains("konnector.js:1"), "{source}: {line}");
    }

    // Only an error's message counts, not a thrown string.
    let run = run("throw \"LOGIN_FAILED\";");
    let (code, _) = run.failure.expect("the job fails");
    assert_eq!(code, "UNKNOWN_ERROR");
}

#[test]
fn fail_sets_the_error_code() {
    let failed = run(r#"
        import { fail, errors } from "konnector:host";
        fail(errors.LOGIN_FAILED_TOO_MANY_ATTEMPTS, "locked for an hour");
        throw new Error("VENDOR_DOWN");
    "#);
    let (code, message) = failed.failure.clone().expect("the job fails");
    assert_eq!(code, "LOGIN_FAILED.TOO_MANY_ATTEMPTS");
    assert_eq!(message, "locked for an hour");
    // The uncaught error is logged, and not reported a second time.
    let logged = lines(&failed);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].starts_with("uncaught exception: Error: VENDOR_DOWN"));

    let rejected = run(r#"
        import { fail } from "konnector:host";
        try { fail("not a code"); } catch (error) { console.log(error.code, error.message); }
    "#);
    assert_eq!(rejected.failure, None);
    assert_eq!(
        lines(&rejected),
        [
            "invalid_argument failed to end the job with error code not a code: invalid error code \"not a code\""
        ]
    );
}

#[test]
fn host_functions_unsupported_at_build_time() {
    let lines = run_ok(
        r#"
        import { input, create, log, accountData } from "konnector:host";
        try { console.log(input.fields); }
        catch (error) { console.log(error.name, error.code, error.message); }
        await create("io.cozy.bills", { amount: 1 }).catch((error) => console.log(error.code));
        await accountData().catch((error) => console.log(error.code));
        await create("io.cozy.bills", [1]).catch((error) => console.log(error.name, error.message));
        log("warn", "careful");
        try { log("loud", "x"); } catch (error) { console.log(error.name); }
    "#,
    );
    assert_eq!(
        lines,
        [
            "Error unsupported failed to read the job input: \
             konnector_v1::job_input is not available on the build-time host",
            "unsupported",
            "unsupported",
            "TypeError create: the document must be an object, not an array",
            "careful",
            "TypeError",
        ]
    );
}

#[test]
fn fetch_errors_before_and_at_host() {
    let lines = run_ok(
        r#"
        const url = "http://vendor.example/login";
        for (const init of [{ redirect: "manual" }, { redirect: "error" }, { signal: {} },
                            { credentials: "omit" }, { method: "GET", body: "x" }]) {
            await fetch(url, init).then(
                () => console.log("sent"),
                (error) => console.log(error.name, error.message),
            );
        }
        await fetch("/relative").catch((error) => console.log(error.name, error.message));
        await fetch("http://user:pw@vendor.example/").catch((error) => console.log(error.name));
        await fetch(url).catch((error) => console.log(error.name, error.code, error.message));
    "#,
    );
    assert_eq!(
        lines,
        [
            "TypeError failed to fetch http://vendor.example/login: \
             konnector_v1::http_fetch is not available on the build-time host",
            "TypeError failed to fetch http://vendor.example/login: \
             konnector_v1::http_fetch is not available on the build-time host",
            "TypeError fetch: the signal option is not supported, because requests cannot be aborted",
            "TypeError fetch: credentials \"omit\" is not supported, because the host always sends the job's cookies",
            "TypeError Request: a GET request cannot have a body",
            "TypeError Request: invalid URL \"/relative\", which must be absolute",
            "TypeError",
            "TypeError unsupported failed to fetch http://vendor.example/login: \
             konnector_v1::http_fetch is not available on the build-time host",
        ]
    );
}

#[test]
fn headers_request_response() {
    let lines = run_ok(
        r#"
        const headers = new Headers([["Set-Cookie", "a=1"], ["set-cookie", "b=2"], ["X-B", " 2 "]]);
        headers.append("x-a", "1");
        headers.append("X-A", "3");
        console.log(headers.get("SET-COOKIE"), JSON.stringify(headers.getSetCookie()), headers.get("x-a"), headers.get("x-b"));
        console.log(JSON.stringify([...headers]), headers.has("X-b"), headers.get("missing"));
        headers.set("x-a", "only");
        headers.delete("set-cookie");
        console.log(JSON.stringify([...headers.keys()]), new Headers({ "Content-Type": "text/html" }).get("content-type"));
        for (const bad of [["bad name", "x"], ["x", "a\r\nb"], ["x", "\u0100"]]) {
            try { new Headers([bad]); console.log("accepted"); } catch (error) { console.log(error.name); }
        }

        const response = new Response("h\u00e9", { status: 201, headers: { "X-Test": "yes" } });
        console.log(response.status, response.ok, JSON.stringify(response.statusText), response.headers.get("content-type"), response.bodyUsed);
        const copy = response.clone();
        console.log(await response.text(), response.bodyUsed, (await copy.bytes()).length);
        await response.text().catch((error) => console.log(error.name, error.message));
        try { response.clone(); } catch (error) { console.log(error.name); }
        console.log(await Response.json({ a: [1] }).json().then(JSON.stringify), new Response(null, { status: 204 }).body);
        const buffer = await new Response(new Uint8Array([1, 2, 3])).arrayBuffer();
        console.log(buffer.byteLength, new Response("x").headers.get("content-type"));
        try { new Response("x").body; } catch (error) { console.log(error.name); }
        try { new Response("x", { status: 100 }); } catch (error) { console.log(error.name); }
        console.log(Response.redirect("http://vendor.example/a", 301).headers.get("location"), Response.error().type);

        const request = new Request("http://vendor.example/login#top", {
            method: "post",
            body: new URLSearchParams({ login: "me@example.com", password: "p&w" }),
        });
        console.log(request.method, request.url, request.headers.get("content-type"));
        console.log(await request.clone().text(), await request.text(), request.bodyUsed);
        const patch = new Request(new Request("http://vendor.example/"), { method: "patch", headers: [["a", "b"]] });
        console.log(patch.method, patch.url, patch.headers.get("a"));
        try { new Request("http://vendor.example/", { method: "TRACE" }); } catch (error) { console.log(error.message); }
    "#,
    );
    assert_eq!(
        lines,
        [
            r#"a=1, b=2 ["a=1","b=2"] 1, 3 2"#,
            r#"[["set-cookie","a=1"],["set-cookie","b=2"],["x-a","1, 3"],["x-b","2"]] true null"#,
            r#"["x-a","x-b"] text/html"#,
            "TypeError",
            "TypeError",
            "TypeError",
            r#"201 true "" text/plain;charset=UTF-8 false"#,
            "hé true 3",
            "TypeError the body has already been read",
            "TypeError",
            r#"{"a":[1]} null"#,
            "3 text/plain;charset=UTF-8",
            "TypeError",
            "RangeError",
            "http://vendor.example/a error",
            "POST http://vendor.example/login#top application/x-www-form-urlencoded;charset=UTF-8",
            "login=me%40example.com&password=p%26w login=me%40example.com&password=p%26w true",
            "patch http://vendor.example/ b",
            "Request: the method TRACE is forbidden",
        ]
    );
}

#[test]
fn new_globals_are_not_enumerable() {
    let lines = run_ok(
        r#"
        const names = ["fetch", "Headers", "Request", "Response", "URL", "URLSearchParams",
            "TextEncoder", "TextDecoder", "crypto", "setTimeout", "setInterval", "clearTimeout",
            "clearInterval", "require", "process"];
        console.log(names.filter((name) => typeof globalThis[name] === "undefined").join(","));
        console.log(names.filter((name) => Object.keys(globalThis).includes(name)).join(","));
        console.log(JSON.stringify(process.env), process.platform, typeof process.versions);
    "#,
    );
    assert_eq!(lines, ["", "", "{} wasi undefined"]);
}
