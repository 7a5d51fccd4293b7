//! Attacks on per-konnector snapshots: dependency code that tries to
//! freeze host values or job data into a snapshot, jobs that try to leave
//! something for the next job, and hand-made artifacts with hostile plans
//! or bytecode.
//!
//! Whether a snapshot was taken is read from the shared cache folder of
//! [`js_engine`]: a snapshot that succeeds is written there under its key.
//! Every bundle here carries its own `tag-...` package, so that its key is
//! its own.

use std::path::PathBuf;
use std::sync::Arc;

use konnector_engine::host_api::JobInput;
use konnector_engine::host_api::artifact::{JsDependencies, MAX_BYTECODE_BYTES, PreloadPlan};
use konnector_engine::manifest::Manifest;
use konnector_engine::{
    EngineConfig, JobCode, JobReport, KonnectorEngine, LimitRequest, Outcome, PreloadLimits,
    snapshot_key,
};
use konnector_toolchain::artifact_build::runtime_digest;

use crate::javascript::{js_engine, runtime};
use crate::snapshots::{COUNTER, job_code};
use crate::support::{self, TempStore, messages};

/// Compiles a dependency bundle of `body` plus a package named after
/// `tag`, which keeps its snapshot key apart from other tests'.
fn bundle(tag: &str, body: &str) -> Vec<u8> {
    let source = format!(
        "import {{ define }} from \"konnector:dependencies\";\n{body}\ndefine(\"tag-{tag}\", () => 1);\n"
    );
    runtime()
        .1
        .compile("dependencies.js", source.as_bytes())
        .expect("the bundle compiles")
}

fn raw(bytecode: Vec<u8>, evaluate: Vec<String>) -> Arc<JsDependencies> {
    Arc::new(JsDependencies {
        bytecode,
        plan: PreloadPlan {
            evaluate,
            per_job: Vec::new(),
        },
    })
}

fn deps(tag: &str, body: &str, evaluate: &[&str]) -> Arc<JsDependencies> {
    raw(
        bundle(tag, body),
        evaluate.iter().map(|name| (*name).to_owned()).collect(),
    )
}

/// Returns the file that the shared engine writes when it takes the
/// snapshot of `dependencies`.
fn snapshot_file(dependencies: &JsDependencies) -> PathBuf {
    let key = snapshot_key(&runtime_digest(&runtime().0), dependencies);
    let hex: String = key.iter().map(|byte| format!("{byte:02x}")).collect();
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("module-cache")
        .join("js-snapshots")
        .join(format!("{hex}.wasm"))
}

/// Runs job `id` of konnector `slug`, whose account fields contain
/// `password`.
async fn job_on(
    engine: &KonnectorEngine,
    slug: &str,
    id: &str,
    password: &str,
    source: &str,
    dependencies: &Arc<JsDependencies>,
    limits: LimitRequest,
) -> JobReport {
    let store = TempStore::new();
    let mut job = support::job(b"", Manifest::unprivileged(slug), store.sink(), limits);
    job.id = id.to_owned();
    job.code = job_code(source, dependencies);
    let mut fields = serde_json::Map::new();
    fields.insert("password".into(), password.into());
    job.input = JobInput {
        account: Some(format!("account-of-{id}")),
        fields,
        ..JobInput::default()
    };
    engine.run(job).await.expect("job starts")
}

async fn job(id: &str, source: &str, dependencies: &Arc<JsDependencies>) -> JobReport {
    job_on(
        js_engine(),
        "snapshot-attack",
        id,
        &format!("secret-{id}"),
        source,
        dependencies,
        LimitRequest::default(),
    )
    .await
}

/// Checks that a job of an ordinary konnector with its own snapshot still
/// works after a hostile one.
async fn bystander_works(engine: &KonnectorEngine, tag: &str) {
    let dependencies = deps(&format!("bystander-{tag}"), COUNTER, &["counter"]);
    let report = job_on(
        engine,
        "bystander",
        "bystander",
        "bystander-secret",
        r#"console.log(`total ${require("counter").total}`);"#,
        &dependencies,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(
        report.outcome,
        Outcome::Succeeded,
        "{tag}: {:?}",
        report.logs
    );
    assert_eq!(messages(&report), ["total 899997"], "{tag}");
}

/// Dependency code that reaches the host while it loads, directly or not:
/// the preload must be refused (no snapshot), and the job must evaluate
/// the package itself and get its own values.
#[tokio::test]
async fn preload_host_values_are_never_frozen() {
    // (case, factory body returning `{ v }` or an object whose `v` is set
    // later)
    let cases: &[(&str, &str)] = &[
        ("new-date", "return { v: new Date().getTime() };"),
        ("date-now", "return { v: Date.now() };"),
        ("date-no-args-string", "return { v: String(new Date()) };"),
        (
            "get-random-values",
            "return { v: Array.from(crypto.getRandomValues(new Uint8Array(8))).join(',') };",
        ),
        (
            "random-uuid",
            "return { v: typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : Math.random() };",
        ),
        ("math-random", "return { v: Math.random() };"),
        (
            "math-random-alias",
            "const r = Math.random; return { v: r.call(Math) };",
        ),
        (
            "console-log",
            "console.log('loaded'); return { v: Math.random() };",
        ),
        (
            "console-error",
            "console.error('loaded'); return { v: Math.random() };",
        ),
        (
            "set-timeout",
            "const o = { v: 0 }; setTimeout(() => { o.v = Math.random(); }, 0); return o;",
        ),
        (
            "set-interval",
            "const o = { v: 0 }; const t = setInterval(() => { o.v = Math.random(); clearInterval(t); }, 0); return o;",
        ),
        (
            "queue-microtask",
            "const o = { v: 0 }; queueMicrotask(() => { o.v = Date.now(); }); return o;",
        ),
        (
            "promise-then",
            "const o = { v: 0 }; Promise.resolve().then(() => { o.v = Math.random(); }); return o;",
        ),
        (
            "async-chain",
            "const o = { v: 0 }; (async () => { await 0; await null; await Promise.resolve(); o.v = Array.from(crypto.getRandomValues(new Uint8Array(4))).join(','); })(); return o;",
        ),
        (
            "host-input",
            "return { v: require('konnector:host').input.account };",
        ),
        (
            "host-input-keys",
            "return { v: Object.keys(require('konnector:host').input).join(',') };",
        ),
        (
            "host-input-in",
            "return { v: 'fields' in require('konnector:host').input };",
        ),
        (
            "host-input-json",
            "return { v: JSON.stringify(require('konnector:host')) };",
        ),
        (
            "host-cookies",
            "return { v: JSON.stringify(require('konnector:host').cookies()) };",
        ),
        (
            "host-set-cookie",
            "require('konnector:host').setCookie('https://vendor.example/', 'frozen=1; Path=/'); return { v: Math.random() };",
        ),
        (
            "host-log",
            "require('konnector:host').log('info', 'loaded'); return { v: Math.random() };",
        ),
        (
            "host-account-data",
            "const o = { v: 0 }; require('konnector:host').accountData().then((d) => { o.v = JSON.stringify(d) + Math.random(); }, () => { o.v = Math.random(); }); return o;",
        ),
        (
            "host-save-file",
            "require('konnector:host').saveFile({ name: 'frozen.txt' }, 'x').catch(() => {}); return { v: Math.random() };",
        ),
        (
            "host-upsert",
            "require('konnector:host').upsert('io.cozy.bills', ['a'], { a: 1 }).catch(() => {}); return { v: Math.random() };",
        ),
        (
            "fetch-loopback",
            "fetch('http://127.0.0.1:9/').catch(() => {}); return { v: Math.random() };",
        ),
        (
            "getter-of-another-package",
            "return { v: require('lazy').stamp };",
        ),
        (
            "proxy-trap",
            "const p = new Proxy({}, { get: () => Math.random() }); return { v: p.anything };",
        ),
        (
            "to-primitive",
            "return { v: `${{ [Symbol.toPrimitive]() { return Math.random(); } }}` };",
        ),
        (
            "sort-comparator",
            "return { v: [3, 1, 2].sort(() => Math.random() - 0.5).join('') + Math.random() };",
        ),
        (
            "json-reviver",
            "return { v: JSON.parse('{\"a\":1}', (k, x) => k === 'a' ? Math.random() : x).a };",
        ),
        (
            "error-cause-getter",
            "const e = new Error('x', { cause: 1 }); Object.defineProperty(e, 'cause', { get: () => Math.random() }); return { v: e.cause };",
        ),
    ];
    let lazy = "define(\"lazy\", () => ({ get stamp() { return Math.random(); } }));";
    for (case, body) in cases {
        let source = format!("{lazy}\ndefine(\"evil\", () => {{ {body} }});");
        let dependencies = deps(&format!("host-{case}"), &source, &["lazy", "evil"]);
        let job_source = r#"
            const evil = require("evil");
            await new Promise((done) => setTimeout(done, 5));
            console.log(`value ${JSON.stringify(evil.v)}`);
        "#;
        let first = job(&format!("{case}-1"), job_source, &dependencies).await;
        let second = job(&format!("{case}-2"), job_source, &dependencies).await;
        assert!(
            !snapshot_file(&dependencies).exists(),
            "{case}: a snapshot was taken although the package reached the host at load"
        );
        for report in [&first, &second] {
            assert_eq!(
                report.outcome,
                Outcome::Succeeded,
                "{case}: {:?}",
                report.logs
            );
        }
        let value = |report: &JobReport| {
            messages(report)
                .into_iter()
                .find(|line| line.starts_with("value "))
                .map(str::to_owned)
        };
        let (one, two) = (value(&first), value(&second));
        assert!(one.is_some(), "{case}: the first job logged no value");
        assert!(two.is_some(), "{case}: the second job logged no value");
        if case.starts_with("host-input") && *case != "host-input-in" {
            let logged = one.unwrap_or_default();
            assert!(
                logged.contains(&format!("account-of-{case}-1")) || !logged.contains("account-of"),
                "{case}: the first job saw another job's input: {logged}"
            );
            continue;
        }
        if !matches!(
            *case,
            "host-input-in"
                | "host-cookies"
                | "date-now"
                | "new-date"
                | "date-no-args-string"
                | "queue-microtask"
        ) {
            assert_ne!(one, two, "{case}: both jobs got the same value");
        }
    }
    bystander_works(js_engine(), "host-values").await;
}

/// Bundle code outside any factory (the bundle's own top level) that
/// reaches the host, awaits forever or throws: no snapshot, and the jobs
/// of other konnectors are not affected.
#[tokio::test]
async fn hostile_bundle_top_level_gets_no_snapshot() {
    let cases: &[(&str, &str)] = &[
        ("top-date", "globalThis.loadedAt = Date.now();"),
        ("top-random", "globalThis.seed = Math.random();"),
        (
            "top-crypto",
            "globalThis.seed = crypto.getRandomValues(new Uint8Array(4));",
        ),
        ("top-console", "console.log('bundle');"),
        (
            "top-input",
            "globalThis.who = require('konnector:host').input.account;",
        ),
        (
            "top-timer-await",
            "await new Promise((done) => setTimeout(done, 1));",
        ),
        ("top-await-forever", "await new Promise(() => {});"),
        ("top-throw", "throw new Error('bundle throws');"),
        (
            "top-reject",
            "await Promise.reject(new Error('bundle rejects'));",
        ),
        (
            "redefine",
            "define('dup', () => 1); define('dup', () => 2);",
        ),
        (
            "define-host",
            "define('konnector:host', () => ({ input: { account: 'evil' } }));",
        ),
        (
            "define-path",
            "define('path', () => ({ join: () => 'evil' }));",
        ),
        (
            "define-dependencies",
            "define('konnector:dependencies', () => ({}));",
        ),
        ("define-after-await", "await 0; define('late', () => 1);"),
        ("define-not-function", "define('notfn', 42);"),
        (
            "exit-like",
            "throw { toString() { return Math.random(); } };",
        ),
    ];
    for (case, body) in cases {
        let source = format!("{COUNTER}\n{body}");
        let dependencies = deps(case, &source, &["counter"]);
        let report = job(
            case,
            r#"console.log(`total ${require("counter").total} ${String(globalThis.loadedAt ?? globalThis.seed ?? globalThis.who)}`);"#,
            &dependencies,
        )
        .await;
        assert!(
            !snapshot_file(&dependencies).exists(),
            "{case}: a snapshot was taken of a bundle that should not preload"
        );
        // The job itself may fail (the bundle is broken) but must not see a
        // frozen value of another time or job.
        let logged = messages(&report).join("\n");
        assert!(!logged.contains("evil"), "{case}: {logged}");
        if *case == "top-input" && report.outcome == Outcome::Succeeded {
            assert!(
                logged.contains(&format!("account-of-{case}")),
                "{case}: {logged}"
            );
        }
    }
    bystander_works(js_engine(), "top-level").await;
}

/// A dependency may not take the `node:` name of a built-in module, which
/// would replace it for `require("node:path")` and `import`: the bundle
/// fails to evaluate and the job ends with the reason.
#[tokio::test]
async fn dependency_cannot_shadow_a_node_prefixed_built_in() {
    let body = r#"define("node:path", () => ({ join: () => "shadowed", sep: "!" }));"#;
    for evaluate in [&["node:path"][..], &[][..]] {
        let dependencies = deps(&format!("node-path-{}", evaluate.len()), body, evaluate);
        let report = job(
            "node-path",
            r#"
              import { join } from "node:path";
              console.log(`${require("node:path").join("a", "b")} ${join("c", "d")} ${require("path").join("e", "f")}`);
            "#,
            &dependencies,
        )
        .await;
        assert_eq!(report.outcome.error_code(), Some("UNKNOWN_ERROR"));
        let logged = messages(&report).join("\n");
        assert!(logged.contains("reserved for the runtime"), "{logged}");
        assert!(!logged.contains("shadowed"), "{logged}");
    }
}

/// Jobs of one snapshot each patch every shared object they can reach with
/// their own secret, and the next job finds none of it.
#[tokio::test]
async fn snapshot_jobs_leave_nothing_behind() {
    let body = format!(
        "{COUNTER}\ndefine(\"registry\", () => {{ const map = new Map(); return {{ map, list: [] }}; }});\ndefine(\"stash\", () => ({{ define }}));"
    );
    let dependencies = deps("isolation", &body, &["counter", "registry", "stash"]);
    let source = r#"
        const host = require("konnector:host");
        const counter = require("counter");
        const registry = require("registry");
        const me = host.input.fields.password;
        const seen = {
          arrayPush: Array.prototype.push.leaked ?? null,
          objectProto: Object.getOwnPropertyDescriptor(Object.prototype, "leaked") ? "polluted" : null,
          exportsLeak: counter.leaked ?? null,
          total: counter.total,
          global: globalThis.leaked ?? null,
          json: JSON.leaked ?? null,
          mathRandomPatched: Math.random.leaked ?? null,
          dateNowPatched: Date.now.leaked ?? null,
          registry: [...registry.map.keys(), ...registry.list],
          calls: counter.next(),
          remembered: counter.remember(me),
          cookies: host.cookies().length,
          pending: globalThis.pending === undefined ? null : "kept",
          symbol: globalThis[Symbol.for("leaked")] ?? null,
          input: host.input.account,
          random: [Math.random(), Math.random()],
          bytes: Array.from(crypto.getRandomValues(new Uint8Array(8))).join(","),
        };
        console.log(JSON.stringify(seen));

        Array.prototype.push.leaked = me;
        Object.prototype.leaked = me;
        counter.leaked = me;
        counter.total = me;
        globalThis.leaked = me;
        JSON.leaked = me;
        Math.random.leaked = me;
        Date.now.leaked = me;
        registry.map.set(me, me);
        registry.list.push(me);
        globalThis[Symbol.for("leaked")] = me;
        host.setCookie("https://vendor.example/", `session=${me}; Path=/`);
        globalThis.pending = new Promise(() => {});
        setTimeout(() => console.log(`timer of ${me}`), 60000).unref();
        const { define } = require("stash");
        try { define("counter", () => ({ total: me })); console.log("redefined"); } catch {}
        try { require("konnector:dependencies").define("fresh", () => me); console.log("defined"); } catch {}
        const original = Math.random;
        Math.random = () => 0.5;
        Date.now = () => 0;
    "#;
    let mut drawn = Vec::new();
    let ids = ["iso-one", "iso-two", "iso-three", "iso-four"];
    for (index, id) in ids.iter().enumerate() {
        let report = job(id, source, &dependencies).await;
        assert_eq!(
            report.outcome,
            Outcome::Succeeded,
            "{id}: {:?}",
            report.logs
        );
        let lines = messages(&report);
        assert_eq!(lines.len(), 1, "{id}: {lines:?}");
        let seen: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON line");
        let expected_null = [
            "arrayPush",
            "objectProto",
            "exportsLeak",
            "global",
            "json",
            "mathRandomPatched",
            "dateNowPatched",
            "pending",
            "symbol",
        ];
        for field in expected_null {
            assert!(seen[field].is_null(), "{id}: {field} = {}", seen[field]);
        }
        assert_eq!(seen["total"], 899997, "{id}");
        assert_eq!(seen["registry"], serde_json::json!([]), "{id}");
        assert_eq!(seen["calls"], 1, "{id}");
        assert_eq!(
            seen["remembered"],
            serde_json::json!([format!("secret-{id}")]),
            "{id}"
        );
        assert_eq!(seen["cookies"], 0, "{id}");
        assert_eq!(seen["input"], format!("account-of-{id}"), "{id}");
        for earlier in &ids[..index] {
            assert!(
                !lines[0].contains(&format!("secret-{earlier}")),
                "{id} saw {earlier}'s secret: {}",
                lines[0]
            );
        }
        drawn.push((seen["random"].to_string(), seen["bytes"].to_string()));
        if index == 0 {
            assert!(
                snapshot_file(&dependencies).exists(),
                "no snapshot was taken for the isolation test"
            );
        }
    }
    for (index, (random, bytes)) in drawn.iter().enumerate() {
        for (other, (random2, bytes2)) in drawn.iter().enumerate().skip(index + 1) {
            assert_ne!(
                random, random2,
                "jobs {index} and {other} drew the same Math.random"
            );
            assert_ne!(
                bytes, bytes2,
                "jobs {index} and {other} drew the same bytes"
            );
        }
    }
}

/// Concurrent first jobs of a snapshot not taken yet each get only their
/// own input.
#[tokio::test]
async fn concurrent_first_jobs_see_only_their_own_input() {
    let dependencies = deps("concurrent", COUNTER, &["counter"]);
    let source = r#"
        const host = require("konnector:host");
        const counter = require("counter");
        counter.remember(host.input.fields.password);
        await new Promise((done) => setTimeout(done, 20));
        console.log(JSON.stringify(counter.remember(host.input.account)));
    "#;
    let mut handles = Vec::new();
    for index in 0..4 {
        let dependencies = dependencies.clone();
        handles.push(tokio::spawn(async move {
            let id = format!("conc-{index}");
            (id.clone(), job(&id, source, &dependencies).await)
        }));
    }
    for handle in handles {
        let (id, report) = handle.await.expect("job task");
        assert_eq!(
            report.outcome,
            Outcome::Succeeded,
            "{id}: {:?}",
            report.logs
        );
        assert_eq!(
            messages(&report),
            [format!("[\"secret-{id}\",\"account-of-{id}\"]")],
            "{id}"
        );
    }
}

/// The konnector's own code calling `define` (directly, through a
/// reference a dependency kept, or through `import`) cannot replace or
/// add a dependency, with or without a snapshot.
#[tokio::test]
async fn konnector_code_cannot_define_dependencies() {
    let body = format!("{COUNTER}\ndefine(\"stash\", () => ({{ define }}));");
    for (tag, evaluate) in [
        ("define-snap", &["counter", "stash"][..]),
        ("define-nosnap", &[][..]),
    ] {
        let dependencies = deps(tag, &body, evaluate);
        let source = r#"
            import { define as imported } from "konnector:dependencies";
            const attempts = {
              direct: () => require("konnector:dependencies").define("counter", () => ({ total: -1 })),
              imported: () => imported("fresh", () => ({ total: -1 })),
              stashed: () => require("stash").define("counter", () => ({ total: -1 })),
              stashedNew: () => require("stash").define("fresh2", () => ({ total: -1 })),
              frozen: () => { require("konnector:dependencies").define = () => {}; },
              later: async () => { await 0; require("stash").define("fresh3", () => 1); },
            };
            for (const [name, attempt] of Object.entries(attempts)) {
              try { await attempt(); console.log(`${name} worked`); } catch { console.log(`${name} refused`); }
            }
            let missing = 0;
            for (const name of ["fresh", "fresh2", "fresh3"]) {
              try { require(name); } catch { missing += 1; }
            }
            console.log(`total ${require("counter").total} missing ${missing}`);
        "#;
        for run in 0..2 {
            let report = job(&format!("{tag}-{run}"), source, &dependencies).await;
            assert_eq!(
                report.outcome,
                Outcome::Succeeded,
                "{tag}: {:?}",
                report.logs
            );
            let lines = messages(&report);
            for line in &lines[..lines.len() - 1] {
                assert!(line.ends_with("refused"), "{tag}: {line}");
            }
            assert_eq!(
                lines.last().copied(),
                Some("total 899997 missing 3"),
                "{tag}"
            );
        }
    }
}

/// Konnectors with the same bundle share one snapshot, and nothing else;
/// a konnector with another bundle does not get theirs.
#[tokio::test]
async fn same_bundle_shares_snapshot_not_state() {
    let bytecode = bundle("shared", COUNTER);
    let a = raw(bytecode.clone(), vec!["counter".into()]);
    let b = raw(bytecode, vec!["counter".into()]);
    assert_eq!(snapshot_file(&a), snapshot_file(&b));
    let other = deps(
        "not-shared",
        "define(\"other\", () => ({ total: 1 }));",
        &["other"],
    );
    assert_ne!(snapshot_file(&a), snapshot_file(&other));
    // The same bundle with another plan is another snapshot.
    let replanned = raw(
        a.bytecode.clone(),
        vec!["counter".into(), "tag-shared".into()],
    );
    assert_ne!(snapshot_file(&a), snapshot_file(&replanned));

    let source = r#"
        const counter = require("counter");
        const host = require("konnector:host");
        console.log(`${counter.leaked ?? "clean"} ${globalThis.leaked ?? "clean"} ${counter.next()}`);
        counter.leaked = host.input.fields.password;
        globalThis.leaked = host.input.fields.password;
        let found = "none";
        try { found = String(require("other").total); } catch {}
        console.log(`other ${found}`);
    "#;
    let engine = js_engine();
    let run = |slug: &'static str, deps: Arc<JsDependencies>, password: &'static str| async move {
        job_on(
            engine,
            slug,
            slug,
            password,
            source,
            &deps,
            LimitRequest::default(),
        )
        .await
    };
    let first = run("konnector-a", a.clone(), "secret-a").await;
    let second = run("konnector-b", b.clone(), "secret-b").await;
    let third = run("konnector-c", other.clone(), "secret-c").await;
    assert!(snapshot_file(&a).exists());
    for report in [&first, &second] {
        assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
        assert_eq!(messages(report), ["clean clean 1", "other none"]);
    }
    // The other konnector has no "counter" package, so its job fails there
    // without logging "secret-a" or "secret-b".
    let logged = format!("{:?}", third.logs);
    assert!(!logged.contains("secret-a"), "{logged}");
    assert!(!logged.contains("secret-b"), "{logged}");
    assert!(!third.outcome.is_success(), "{logged}");
}

/// Hand-made plans: unknown packages, duplicates, empty names, NUL,
/// 10,000 names, a name of 1 MiB, a plan of 10 MB. The engine does not
/// crash, the konnector's jobs still work, and so do other konnectors'.
#[tokio::test]
async fn hostile_plans_do_not_break_jobs() {
    let many_defined: String = "for (let i = 0; i < 10000; i++) define(`p${i}`, () => i);\n".into();
    let body = format!(
        "{COUNTER}\n{many_defined}define(\"\", () => 7);\ndefine(\"nul\\u0000name\", () => 8);"
    );
    let bytecode = bundle("plans", &body);
    let name = |text: &str| text.to_owned();
    let cases: Vec<(&str, Vec<String>, bool)> = vec![
        (
            "unknown",
            vec![name("counter"), name("no-such-package")],
            false,
        ),
        (
            "unknown-first",
            vec![name("no-such-package"), name("counter")],
            false,
        ),
        (
            "duplicates",
            vec![name("counter"), name("counter"), name("counter")],
            true,
        ),
        ("empty-defined", vec![name(""), name("counter")], true),
        (
            "empty-undefined-builtin",
            vec![name("path"), name("konnector:host"), name("counter")],
            true,
        ),
        (
            "nul-defined",
            vec![name("nul\0name"), name("counter")],
            true,
        ),
        (
            "nul-undefined",
            vec![name("counter\0"), name("counter")],
            false,
        ),
        (
            "node-machine-module",
            vec![name("fs"), name("counter")],
            false,
        ),
        (
            "unknown-10000",
            (0..10000).map(|i| format!("missing{i}")).collect(),
            false,
        ),
        (
            "defined-10000",
            std::iter::once(name("counter"))
                .chain((0..10000).map(|i| format!("p{i}")))
                .collect(),
            true,
        ),
        (
            "name-1mib",
            vec![name("counter"), "x".repeat(1 << 20)],
            false,
        ),
        (
            "plan-10mb",
            std::iter::once(name("counter"))
                .chain((0..20000).map(|i| format!("{i:0>500}")))
                .collect(),
            false,
        ),
    ];
    let source = r#"console.log(`total ${require("counter").total} ${require("p9999")} ${require("")} ${require("nul\u0000name")}`);"#;
    for (case, evaluate, snapshot_expected) in cases {
        let dependencies = raw(bytecode.clone(), evaluate);
        let started = std::time::Instant::now();
        let report = job(case, source, &dependencies).await;
        assert_eq!(
            snapshot_file(&dependencies).exists(),
            snapshot_expected,
            "{case}: snapshot taken or not as expected"
        );
        assert_eq!(
            report.outcome,
            Outcome::Succeeded,
            "{case}: {:?}",
            report.logs
        );
        assert_eq!(messages(&report), ["total 899997 9999 7 8"], "{case}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "{case} took {:?}",
            started.elapsed()
        );
    }
    bystander_works(js_engine(), "plans").await;
}

/// Dependency bytecode that is not QuickJS bytecode, is truncated, has
/// bytes flipped, or is over the size limit: the konnector's jobs fail
/// cleanly (no panic), and other konnectors' jobs still work.
#[tokio::test]
async fn hostile_dependency_bytecode_does_not_break_the_engine() {
    let valid = bundle("bytes", COUNTER);
    let mut flipped = valid.clone();
    for index in (valid.len() / 3..valid.len()).step_by(7) {
        flipped[index] ^= 0x5a;
    }
    let mut header_only = valid.clone();
    header_only.truncate(8);
    let mut garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    garbage[0] = valid[0];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("text", b"define('counter', () => 1)".to_vec()),
        ("garbage", garbage),
        ("truncated", valid[..valid.len() / 2].to_vec()),
        ("header-only", header_only),
        ("flipped", flipped),
        ("zeros", vec![0; 1 << 20]),
        ("ones", vec![0xff; 4096]),
        (
            "index-script",
            runtime().1.compile("index.js", b"1;").expect("compiles"),
        ),
    ];
    for (case, bytecode) in cases {
        let dependencies = raw(bytecode, vec!["counter".into()]);
        let report = job(
            case,
            r#"console.log(`total ${require("counter").total}`);"#,
            &dependencies,
        )
        .await;
        assert!(
            !snapshot_file(&dependencies).exists(),
            "{case}: a snapshot was taken of broken bytecode"
        );
        assert_ne!(
            messages(&report),
            ["total 899997"],
            "{case}: broken bytecode ran as the real package"
        );
        bystander_works(js_engine(), case).await;
    }

    // Over the size limit: refused before anything runs.
    let oversized = raw(vec![0; MAX_BYTECODE_BYTES + 1], vec!["counter".into()]);
    let store = TempStore::new();
    let mut job = support::job(
        b"",
        Manifest::unprivileged("oversized"),
        store.sink(),
        LimitRequest::default(),
    );
    job.code = JobCode::JavaScript {
        bytecode: Arc::from(runtime().1.compile("index.js", b"1;").expect("compiles")),
        runtime: runtime_digest(&runtime().0),
        dependencies: Some(oversized.clone()),
    };
    let result = js_engine().run(job).await;
    assert!(
        !matches!(&result, Ok(report) if report.outcome.is_success()),
        "an oversized bundle ran: {result:?}"
    );
    assert!(!snapshot_file(&oversized).exists());
    bystander_works(js_engine(), "oversized").await;
}

/// Returns an engine with `limits` for preloads, on the shared cache.
fn engine_with(limits: PreloadLimits) -> KonnectorEngine {
    let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
    KonnectorEngine::new(EngineConfig {
        cache_dir: Some(cache_dir),
        js_runtime: Some(runtime().0.clone()),
        preload_limits: limits,
        ..EngineConfig::default()
    })
    .expect("engine builds")
}

/// A bundle that loops forever at its top level, or allocates until its
/// memory runs out: the preload stops, and other konnectors still run.
#[tokio::test]
async fn endless_or_greedy_bundles_are_stopped() {
    let engine = engine_with(PreloadLimits {
        deadline_ms: 500,
        fuel: 1 << 50,
        memory_bytes: 64 << 20,
    });
    let limits = LimitRequest {
        fuel: Some(200_000_000),
        ..LimitRequest::default()
    };
    let cases: &[(&str, &str)] = &[
        ("endless-top", "for (;;) {}"),
        (
            "endless-microtasks",
            "const spin = () => Promise.resolve().then(spin); spin();",
        ),
        (
            "greedy-top",
            "const keep = []; for (;;) keep.push('x'.repeat(1 << 16) + keep.length);",
        ),
        (
            "greedy-factory",
            "define('greedy', () => { const keep = []; for (;;) keep.push(new Array(1 << 16).fill(keep.length)); });",
        ),
    ];
    for (case, body) in cases {
        let dependencies = deps(case, &format!("{COUNTER}\n{body}"), &["counter", "greedy"]);
        let started = std::time::Instant::now();
        let report = job_on(
            &engine,
            "greedy",
            case,
            "greedy-secret",
            r#"console.log(`total ${require("counter").total}`);"#,
            &dependencies,
            limits,
        )
        .await;
        assert!(!snapshot_file(&dependencies).exists(), "{case}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{case}: {:?}",
            started.elapsed()
        );
        let _ = report;
        bystander_works(&engine, case).await;
    }
}

/// Checks a dependency that fills memory and catches the out-of-memory
/// error while it loads. Its jobs must still run under their own memory
/// limit, and other konnectors must still run.
///
/// NOTE: observed, not asserted: no snapshot is taken in this case.
#[tokio::test]
async fn dependency_that_catches_out_of_memory_at_load() {
    let engine = engine_with(PreloadLimits {
        memory_bytes: 96 << 20,
        ..PreloadLimits::default()
    });
    let body = r#"
        define("hog", () => {
          const keep = [];
          // 128 MiB: past the preload's 96 MiB, within a job's 256 MiB.
          try { for (let i = 0; i < 128; i++) keep.push("y".repeat(1 << 20) + i); } catch {}
          const count = keep.length;
          keep.length = 0;
          return { count };
        });
    "#;
    let dependencies = deps("hog", body, &["hog"]);
    let report = job_on(
        &engine,
        "hog",
        "hog-1",
        "hog-secret",
        r#"console.log(`count ${require("hog").count}`);"#,
        &dependencies,
        LimitRequest::default(),
    )
    .await;
    let size = std::fs::metadata(snapshot_file(&dependencies))
        .map(|meta| meta.len())
        .ok();
    eprintln!(
        "hog: snapshot file {size:?} bytes; job {:?} {:?}",
        report.outcome,
        messages(&report)
    );
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    bystander_works(&engine, "hog").await;
}
