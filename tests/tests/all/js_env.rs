//! The JavaScript environment against a real host: fetch to the fixture
//! vendor site on loopback, the `konnector:host` module writing into the
//! SQLite store, the job input, timers under the job's deadline, and error
//! codes from thrown errors.

use std::path::PathBuf;
use std::sync::Arc;

use konnector_engine::host_api::JobInput;
use konnector_engine::manifest::Manifest;
use konnector_engine::{EngineConfig, JobReport, KonnectorEngine, LimitRequest, Outcome};
use serde_json::json;
use vendor_site::{SiteConfig, VendorSite};

use crate::javascript::{compile, run_js, run_js_with, runtime};
use crate::support::{self, TempStore, messages};

/// A manifest that grants `io.cozy.bills` and `io.cozy.files`, and the
/// fixture site as `http://vendor.example`.
fn manifest() -> Manifest {
    let text = json!({
        "slug": "js-env",
        "version": "1.0.0",
        "permissions": {
            "bills": {"type": "io.cozy.bills"},
            "files": {"type": "io.cozy.files"},
        },
        "network": {"hosts": ["http://vendor.example"]},
    });
    Manifest::parse(&text.to_string()).expect("test manifest parses")
}

/// Returns a job input with the vendor site's credentials as account
/// fields.
fn input() -> JobInput {
    let config = SiteConfig::default();
    let fields = json!({"login": config.login, "password": config.password});
    JobInput {
        account: Some("test-account".into()),
        fields: fields.as_object().cloned().unwrap_or_default(),
        ..JobInput::default()
    }
}

/// The fixture vendor site over plain HTTP, and an engine that reaches it
/// as `http://vendor.example`.
struct Site {
    site: VendorSite,
    engine: KonnectorEngine,
}

async fn site() -> Site {
    let config = SiteConfig {
        https: false,
        ..SiteConfig::default()
    };
    let site = VendorSite::start(config).await.expect("vendor site starts");
    let network = konnector_tests::vendor::http_network(&site);
    let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
    let engine = KonnectorEngine::new(EngineConfig {
        cache_dir: Some(cache_dir),
        network: Arc::new(network),
        js_runtime: Some(runtime().0.clone()),
        ..EngineConfig::default()
    })
    .expect("engine builds");
    Site { site, engine }
}

impl Site {
    async fn run(&self, source: &str, store: &TempStore) -> JobReport {
        let mut job = support::job(b"", manifest(), store.sink(), LimitRequest::default());
        job.code = compile(source);
        job.input = input();
        self.engine.run(job).await.expect("job starts")
    }
}

/// Returns the documents of the files in the store, without the folders.
fn saved_files(store: &TempStore) -> Vec<serde_json::Value> {
    let documents = store
        .store
        .documents(Some("io.cozy.files"))
        .expect("documents");
    documents
        .into_iter()
        .filter(|document| document["type"] == "file")
        .collect()
}

/// Logs in to the vendor site with a form, reads the bills as JSON, and
/// saves them and the first PDF through `konnector:host`.
const IMPORT_BILLS: &str = r#"
import { input, upsert, saveFile } from "konnector:host";

const base = "http://vendor.example";
const form = await fetch(`${base}/login`);
console.log("form", form.status, form.ok, form.statusText === "", form.redirected,
    form.headers.get("Content-Type"), form.headers.getSetCookie().length);
const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())[1];
try {
    form.headers.set("x-test", "1");
    console.log("headers mutable");
} catch (error) {
    console.log("headers", error.name);
}

const credentials = new URLSearchParams({
    login: input.fields.login,
    password: input.fields.password,
    csrf,
});
const home = await fetch(`${base}/login`, { method: "POST", body: credentials });
console.log("login", home.status, home.redirected, new URL(home.url).pathname, home.url === home.clone().url);

const api = await fetch(new Request(`${base}/api/bills`, { headers: [["Accept", "application/json"]] }));
const copy = api.clone();
const { count, bills } = await api.json();
console.log("bills", count, bills.length, api.bodyUsed, JSON.parse(await copy.text()).count);

for (const bill of bills) {
    const result = await upsert("io.cozy.bills", ["vendorRef"], {
        vendor: "vendor-site",
        vendorRef: bill.id,
        date: bill.date,
        amount: bill.amount,
    });
    if (result.status !== "created") throw new Error(`bill ${bill.id} was ${result.status}`);
}

const pdf = await fetch(base + bills[0].pdf_path);
const bytes = await pdf.bytes();
console.log("pdf", pdf.headers.get("content-type"), new TextDecoder().decode(bytes.subarray(0, 5)));
const saved = await saveFile(
    { name: `${bills[0].id}.pdf`, dir_path: "/Administrative/Vendor", metadata: { bill: bills[0].id } },
    bytes,
);
console.log("file", saved.status);
"#;

#[tokio::test]
async fn fetch_and_writes_import_bills() {
    let site = site().await;
    let store = TempStore::new();
    let report = site.run(IMPORT_BILLS, &store).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);

    let bill_count = site.site.bills().len();
    assert_eq!(
        messages(&report),
        [
            "form 200 true true false text/html; charset=utf-8 1",
            "headers TypeError",
            "login 200 true /bills true",
            &format!("bills {bill_count} {bill_count} true {bill_count}"),
            "pdf application/pdf %PDF-",
            "file created",
        ]
    );
    assert_eq!(
        store.store.count("io.cozy.bills").expect("count"),
        bill_count
    );
    assert_eq!(saved_files(&store).len(), 1);

    // The form went out urlencoded, with the cookies the host kept.
    let requests = site.site.requests();
    let post = requests
        .iter()
        .find(|request| request.method == "POST")
        .expect("a POST request");
    assert_eq!(
        post.header("content-type"),
        Some("application/x-www-form-urlencoded;charset=UTF-8")
    );
    let cookie = post.header("cookie").unwrap_or_default();
    assert!(cookie.contains("csrf="), "{cookie}");
    // The login page, the form, its redirect, the API and the PDF.
    assert_eq!(requests.len(), 5, "{requests:?}");
}

#[tokio::test]
async fn refused_fetch_rejects_with_type_error() {
    let site = site().await;
    let store = TempStore::new();
    let forbidden = format!("http://{}/bills", site.site.http_addr());
    let source = format!(
        r#"
        for (const url of ["http://other.example/", "{forbidden}", "http://vendor.example:8080/"]) {{
            await fetch(url).then(
                () => console.log("reached", url),
                (error) => console.log(error.name, error.code, error.message),
            );
        }}
        "#
    );
    let report = site.run(&source, &store).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);

    let lines = messages(&report);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "TypeError network failed to fetch http://other.example/: \
             request to http://other.example/ refused: \
             http://other.example:80 is not allowed by the manifest's network policy"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!("TypeError network failed to fetch {forbidden}: ")),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("TypeError network failed to fetch http://vendor.example:8080/: "),
        "{}",
        lines[2]
    );

    // The policy rejected every request before it left the engine.
    assert!(site.site.requests().is_empty());
}

#[tokio::test]
async fn host_writes_reach_the_store() {
    let store = TempStore::new();
    let report = run_js_with(
        r#"
        import { create, update, upsert, saveFile, accountData, setAccountData } from "konnector:host";
        const bill = { vendor: "acme", amount: 12.5, date: "2026-11-01" };
        const created = await create("io.cozy.bills", bill);
        console.log("create", created.status, typeof created.id, typeof created.rev);
        const updated = await update("io.cozy.bills", created.id, { ...bill, amount: 13 }, created.rev);
        console.log("update", updated.status, updated.id === created.id, updated.rev !== created.rev);
        await update("io.cozy.bills", created.id, bill, created.rev).then(
            () => console.log("stale revision accepted"),
            (error) => console.log("stale", error.name, error.code),
        );
        const other = { vendor: "other", amount: 1, date: "2026-10-01" };
        const first = await upsert("io.cozy.bills", ["vendor", "date"], other);
        const again = await upsert("io.cozy.bills", ["vendor", "date"], other);
        console.log("upsert", first.status, again.status, again.id === first.id);
        const pdf = await saveFile(
            { name: "bill.pdf", dir_path: "/Administrative/Acme", content_type: "application/pdf" },
            new Uint8Array([0x25, 0x50, 0x44, 0x46]).buffer,
        );
        const text = await saveFile({ name: "notes.txt", dir_path: "/Administrative/Acme" }, "h\u00e9llo");
        console.log("files", pdf.status, text.status);
        console.log("data", JSON.stringify(await accountData()));
        await setAccountData({ lastSync: "2026-11-01" });
        console.log("data", JSON.stringify(await accountData()));
        "#,
        manifest(),
        input(),
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    assert_eq!(
        messages(&report),
        [
            "create created string string",
            "update updated true true",
            "stale Error conflict",
            "upsert created unchanged true",
            "files created created",
            "data {}",
            r#"data {"lastSync":"2026-11-01"}"#,
        ]
    );

    let bills = store
        .store
        .documents(Some("io.cozy.bills"))
        .expect("documents");
    let mut amounts: Vec<f64> = bills
        .iter()
        .filter_map(|bill| bill["amount"].as_f64())
        .collect();
    amounts.sort_by(f64::total_cmp);
    assert_eq!(amounts, [1.0, 13.0]);

    let files = saved_files(&store);
    assert_eq!(files.len(), 2, "{files:?}");
    let notes = files
        .iter()
        .find(|file| file["name"] == "notes.txt")
        .expect("notes.txt saved");
    let id = notes["_id"].as_str().expect("an id");
    let path = store.store.file_path(id).expect("lookup").expect("a path");
    assert_eq!(std::fs::read(path).expect("contents"), "héllo".as_bytes());
}

#[tokio::test]
async fn refused_doctype_rejects_with_code() {
    let store = TempStore::new();
    let report = run_js_with(
        r#"
        import { create, saveFile } from "konnector:host";
        for (const write of [
            () => create("io.cozy.bank.operations", { amount: -12 }),
            () => saveFile({ name: "a.txt" }, "a"),
        ]) {
            await write().then(
                () => console.log("written"),
                (error) => console.log(error instanceof Error, error.code, error.message),
            );
        }
        "#,
        Manifest::unprivileged("js"),
        input(),
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    let lines = messages(&report);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "true permission_denied failed to create a document in io.cozy.bank.operations: \
             permission denied: POST on doctype io.cozy.bank.operations is not granted"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("true permission_denied failed to save file a.txt: permission denied"),
        "{}",
        lines[1]
    );
    assert_eq!(report.counters.writes_refused, 2);
    assert_eq!(
        store.store.count("io.cozy.bank.operations").expect("count"),
        0
    );
}

#[tokio::test]
async fn input_is_the_jobs() {
    let store = TempStore::new();
    let mut job_input = input();
    job_input.parameters = json!({"region": "fr"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    job_input.locale = "fr".into();
    job_input.trigger_id = Some("trigger-1".into());
    let report = run_js_with(
        r#"
        import { input } from "konnector:host";
        const host = require("konnector:host");
        console.log(input.fields.login, input.parameters.region, input.account, input.locale);
        console.log(input.job_id, input.konnector, input.trigger_id, input.manual_execution);
        console.log(Object.keys(input).sort().join(","), host.input === input);
        "#,
        manifest(),
        job_input,
        &store,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    assert_eq!(
        messages(&report),
        [
            "demo@example.com fr test-account fr",
            "test-job js-env trigger-1 false",
            "account,fields,job_id,konnector,locale,manual_execution,parameters,trigger_id true",
        ]
    );
}

#[tokio::test]
async fn timer_waits_for_real() {
    let report = run_js(
        r#"
        const start = Date.now();
        setTimeout(() => console.log("waited", Date.now() - start >= 200), 200);
        "#,
        LimitRequest::default(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    assert_eq!(messages(&report), ["waited true"]);
    assert!(report.counters.wall_time_ms >= 200, "{:?}", report.counters);
}

#[tokio::test]
async fn endless_interval_meets_deadline() {
    let limits = LimitRequest {
        deadline_ms: Some(500),
        ..LimitRequest::default()
    };
    let report = run_js(
        "let ticks = 0;\nsetInterval(() => { ticks += 1; }, 20);\n",
        limits,
    )
    .await;
    assert_eq!(report.outcome, Outcome::DeadlinePassed, "{:?}", report.logs);
    // Waiting costs no fuel: about 25 ticks of a tiny callback.
    assert!(
        report.counters.fuel_used < 10_000_000,
        "{:?}",
        report.counters
    );
}

/// Logs in, then downloads one bill's PDF straight into the store, once
/// more (unchanged), and tries a missing path and a refused host.
const DOWNLOAD_BILL: &str = r#"
import { input, downloadFile } from "konnector:host";

const base = "http://vendor.example";
const form = await (await fetch(`${base}/login`)).text();
const csrf = /name="csrf" value="([^"]+)"/.exec(form)[1];
const credentials = new URLSearchParams({ login: input.fields.login, password: input.fields.password, csrf });
await fetch(`${base}/login`, { method: "POST", body: credentials });
const { bills } = await (await fetch(`${base}/api/bills`)).json();

const file = { name: `${bills[0].id}.pdf`, dir_path: "/Administrative/Vendor", metadata: { bill: bills[0].id } };
console.log("first", (await downloadFile(file, base + bills[0].pdf_path)).status);
console.log("again", (await downloadFile(file, new Request(base + bills[0].pdf_path))).status);
for (const url of [`${base}/bills/missing.pdf`, "http://other.example/a.pdf"]) {
  try {
    await downloadFile({ name: "x.pdf" }, url);
    console.log("saved", url);
  } catch (error) {
    console.log("refused", error.code);
  }
}
"#;

#[tokio::test]
async fn download_goes_straight_to_the_store() {
    let site = site().await;
    let store = TempStore::new();
    let report = site.run(DOWNLOAD_BILL, &store).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    assert_eq!(
        messages(&report),
        [
            "first created",
            "again unchanged",
            "refused network",
            "refused network",
        ]
    );
    let files = saved_files(&store);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    assert_eq!(file["mime"], "application/pdf");
    let bill = &site.site.bills()[0];
    assert_eq!(file["name"], format!("{}.pdf", bill.id));
    assert_eq!(file["metadata"]["bill"], bill.id.as_str());
    let id = file["_id"].as_str().expect("file id");
    let path = store.store.file_path(id).expect("lookup").expect("on disk");
    let contents = std::fs::read(path).expect("contents");
    assert!(contents.starts_with(b"%PDF-"));
    // The refused host was never asked: the site saw the login, the API,
    // two PDF downloads and the missing one.
    assert_eq!(report.counters.http_refused, 1);
}

#[tokio::test]
async fn download_needs_the_files_permission() {
    let site = site().await;
    let store = TempStore::new();
    let manifest = Manifest::parse(
        r#"{"slug": "no-files", "version": "1.0.0", "network": {"hosts": ["http://vendor.example"]}, "permissions": {}}"#,
    )
    .expect("manifest");
    let mut job = support::job(b"", manifest, store.sink(), LimitRequest::default());
    job.code = compile(
        r#"
        import { downloadFile } from "konnector:host";
        try {
          await downloadFile({ name: "a.pdf" }, "http://vendor.example/login");
        } catch (error) {
          console.log(error.code);
        }
        "#,
    );
    job.input = input();
    let report = site.engine.run(job).await.expect("job starts");
    assert_eq!(
        messages(&report),
        ["permission_denied"],
        "{:?}",
        report.logs
    );
    // Refused before anything was sent.
    assert!(site.site.requests().is_empty());
    assert!(saved_files(&store).is_empty());
}

#[tokio::test]
async fn fetch_waiting_at_deadline_is_deadline_passed() {
    let site = site().await;
    let store = TempStore::new();
    let mut job = support::job(
        b"",
        manifest(),
        store.sink(),
        LimitRequest {
            deadline_ms: Some(1_000),
            ..LimitRequest::default()
        },
    );
    job.code = compile(
        r#"
        try {
          await fetch("http://vendor.example/stall");
        } catch (error) {
          console.log(`caught ${error}`);
        }
        "#,
    );
    job.input = input();
    let report = site.engine.run(job).await.expect("job starts");
    assert_eq!(report.outcome, Outcome::DeadlinePassed, "{:?}", report.logs);
    assert!(messages(&report).is_empty(), "{:?}", report.logs);
}

#[tokio::test]
async fn thrown_cozy_code_ends_job() {
    let report = run_js(
        "async function login() {\n  throw new Error(\"LOGIN_FAILED\");\n}\nawait login();\n",
        LimitRequest::default(),
    )
    .await;
    assert_eq!(
        report.outcome.error_code(),
        Some("LOGIN_FAILED"),
        "{}",
        report.outcome
    );
    let logged = messages(&report).join("\n");
    assert!(logged.contains("at login (index.js:2"), "{logged}");
}

/// Prints the fuel of a trivial job (run with `--nocapture`). The test
/// fails when it grows past 60,000 units, about 1.5 times the 40,700 it
/// took when it was written, as a regression signal.
#[tokio::test]
async fn trivial_job_fuel() {
    let report = run_js(r#"console.log("hi");"#, LimitRequest::default()).await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    let fuel = report.counters.fuel_used;
    println!("fuel of console.log(\"hi\"): {fuel}");
    assert!(fuel < 60_000, "{fuel}");
    let empty = run_js("", LimitRequest::default()).await;
    println!("fuel of an empty script: {}", empty.counters.fuel_used);
}
