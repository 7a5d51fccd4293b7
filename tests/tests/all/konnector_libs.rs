//! The engine's cozy-konnector-libs and the Node.js modules of the runtime.
//!
//! * The `libs-bills` sample, written as public konnectors are, is built
//!   from source and run against the fixture vendor site over HTTPS.
//! * A probe konnector, built once per test process in the target folder,
//!   runs one scenario per job (its `scenario` parameter) against the site
//!   over plain HTTP, and prints results that the tests compare.
//! * The Node.js modules (`buffer`, `path`, `url`, `util`, `querystring`,
//!   `events`) run on the build-time host, where each check prints `ok` or
//!   what went wrong.
//!
//! Building the sample and the probe runs npm, which installs cheerio from
//! the configured registry the first time, then from npm's cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use konnector_engine::host_api::{JobInput, artifact};
use konnector_engine::manifest::Manifest;
use konnector_engine::net::OperatorNetConfig;
use konnector_engine::{
    EngineConfig, Job, JobCode, JobReport, KonnectorEngine, LimitRequest, Outcome,
};
use konnector_tests::{samples, vendor};
use konnector_toolchain::{BuildOptions, build_konnector};
use serde_json::{Value, json};
use vendor_site::{SiteConfig, VendorSite};

use crate::javascript;
use crate::support::{TempStore, messages};

/// The folder the account's files go to.
const FOLDER: &str = "/Administrative/Bills";

/// Builds the konnector folder `dir` into job code, as `konnector build`
/// does.
fn build(dir: &Path) -> JobCode {
    let options = BuildOptions {
        cargo_target_dir: dir.join("target"),
        js_runtime: &javascript::runtime().0,
        progress: &mut |_| {},
    };
    let built = build_konnector(dir, options)
        .unwrap_or_else(|error| panic!("build {}: {error}", dir.display()));
    let bytes: Arc<[u8]> = Arc::from(built.artifact);
    let parsed = artifact::parse(&bytes).expect("valid artifact");
    JobCode::from_artifact(bytes.clone(), parsed.kind)
}

/// Returns the code of `samples/libs-bills`, built once per test process.
fn sample_code() -> JobCode {
    static BUILT: OnceLock<JobCode> = OnceLock::new();
    BUILT
        .get_or_init(|| build(&samples::dir("libs-bills")))
        .clone()
}

fn engine(network: OperatorNetConfig) -> KonnectorEngine {
    let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("module-cache");
    KonnectorEngine::new(EngineConfig {
        network: Arc::new(network),
        cache_dir: Some(cache_dir),
        js_runtime: Some(javascript::runtime().0.clone()),
        ..EngineConfig::default()
    })
    .expect("engine")
}

/// The fixture site, and an engine that reaches it as `vendor.example`.
struct Site {
    site: VendorSite,
    engine: KonnectorEngine,
    _ca: tempfile::NamedTempFile,
}

/// Starts the site with HTTPS, which the sample's hard-coded
/// `https://vendor.example` needs.
async fn https_site(config: SiteConfig) -> Site {
    let site = VendorSite::start(config)
        .await
        .expect("fixture site starts");
    let (network, ca) = vendor::https_network(&site);
    Site {
        engine: engine(network),
        site,
        _ca: ca,
    }
}

/// Starts the site over plain HTTP, as `http://vendor.example` for the
/// probe.
async fn http_site() -> Site {
    let config = SiteConfig {
        https: false,
        ..SiteConfig::default()
    };
    let site = VendorSite::start(config)
        .await
        .expect("fixture site starts");
    let network = vendor::http_network(&site);
    Site {
        engine: engine(network),
        site,
        _ca: tempfile::NamedTempFile::new().expect("file"),
    }
}

impl Site {
    async fn run(
        &self,
        code: JobCode,
        manifest: Manifest,
        store: &TempStore,
        password: &str,
        parameters: Value,
    ) -> JobReport {
        let fields = json!({
            "login": "demo@example.com",
            "password": password,
            "folder_path": FOLDER,
        });
        let job = Job {
            id: "libs-job".into(),
            code,
            manifest: Arc::new(manifest),
            input: JobInput {
                account: Some("libs-account".into()),
                fields: fields.as_object().cloned().unwrap_or_default(),
                parameters: parameters.as_object().cloned().unwrap_or_default(),
                ..JobInput::default()
            },
            limits: LimitRequest::default(),
            sink: store.sink(),
            log_observer: None,
        };
        self.engine.run(job).await.expect("job starts")
    }

    async fn run_sample(&self, store: &TempStore, password: &str) -> JobReport {
        let manifest = Manifest::load(&samples::dir("libs-bills").join("manifest.konnector"))
            .expect("sample manifest");
        self.run(sample_code(), manifest, store, password, json!({}))
            .await
    }
}

fn files(store: &TempStore) -> Vec<Value> {
    store
        .store
        .documents(Some("io.cozy.files"))
        .expect("files")
        .into_iter()
        .filter(|doc| doc["type"] == "file")
        .collect()
}

#[tokio::test]
async fn sample_imports_bills_and_files() {
    let site = https_site(SiteConfig::default()).await;
    let store = TempStore::new();
    let report = site.run_sample(&store, "demo-password").await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);

    let bills = store.store.documents(Some("io.cozy.bills")).expect("bills");
    let files = files(&store);
    assert_eq!(bills.len(), 12);
    assert_eq!(files.len(), 12);
    assert_eq!(report.counters.documents_written, 24);
    // Login page, login post and its redirect, 3 pages, 12 PDFs.
    assert_eq!(report.counters.http_requests, 18);

    let site_bill = &site.site.bills()[0];
    let bill = bills
        .iter()
        .find(|bill| bill["vendorRef"] == site_bill.id.as_str())
        .expect("the site's first bill");
    assert_eq!(bill["amount"], json!(site_bill.amount));
    assert_eq!(bill["label"], site_bill.label.as_str());
    assert_eq!(bill["vendor"], "libs-bills");
    assert_eq!(bill["currency"], "EUR");
    assert_eq!(bill["date"], format!("{}T00:00:00.000Z", site_bill.date));
    assert_eq!(bill["cozyMetadata"]["createdByApp"], "libs-bills");
    assert_eq!(bill["cozyMetadata"]["sourceAccount"], "libs-account");
    assert_eq!(
        bill["cozyMetadata"]["sourceAccountIdentifier"],
        "demo@example.com"
    );

    let invoice = bill["invoice"].as_str().expect("invoice link");
    let file_id = invoice.strip_prefix("io.cozy.files:").expect("file link");
    let file = files
        .iter()
        .find(|file| file["_id"] == file_id)
        .expect("linked file");
    assert_eq!(file["mime"], "application/pdf");
    assert_eq!(file["name"], bill["filename"]);
    assert_eq!(file["metadata"]["fileIdAttributes"], site_bill.id.as_str());
    assert_eq!(
        file["metadata"]["qualification"],
        json!({"label": "other_invoice", "purpose": "invoice"})
    );
    assert_eq!(file["cozyMetadata"]["createdByApp"], "libs-bills");
    let folder = store
        .store
        .documents(Some("io.cozy.files"))
        .expect("folders")
        .into_iter()
        .find(|doc| doc["_id"] == file["dir_id"])
        .expect("the file's folder");
    assert_eq!(folder["path"], FOLDER);
    let on_disk = store
        .store
        .file_path(file_id)
        .expect("lookup")
        .expect("file on disk");
    let contents = std::fs::read(&on_disk).expect("file contents");
    assert!(contents.starts_with(b"%PDF-"), "{}", on_disk.display());

    let requests = site.site.requests();
    let agent = requests[0].header("user-agent").unwrap_or_default();
    assert!(agent.contains("Firefox"), "{agent}");
}

#[tokio::test]
async fn sample_second_run_adds_nothing() {
    let site = https_site(SiteConfig::default()).await;
    let store = TempStore::new();
    let first = site.run_sample(&store, "demo-password").await;
    assert_eq!(first.outcome, Outcome::Succeeded, "{:?}", first.logs);
    let second = site.run_sample(&store, "demo-password").await;
    assert_eq!(second.outcome, Outcome::Succeeded, "{:?}", second.logs);
    assert_eq!(second.counters.documents_written, 0);
    // Login page, login post and its redirect, 3 pages: the PDFs are in
    // the store already, so saveFiles downloads none of them again.
    assert_eq!(second.counters.http_requests, 6);
    let logged = messages(&second).join("\n");
    assert!(
        logged.contains("saveFiles: 0 files saved and 12 kept as they were, for 12 entries"),
        "{logged}"
    );
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 12);
    assert_eq!(files(&store).len(), 12);
}

#[tokio::test]
async fn sample_wrong_password_is_login_failed() {
    let site = https_site(SiteConfig::default()).await;
    let store = TempStore::new();
    let report = site.run_sample(&store, "wrong").await;
    assert_eq!(
        report.outcome.error_code(),
        Some("LOGIN_FAILED"),
        "{}: {:?}",
        report.outcome,
        report.logs
    );
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 0);
    let logged = messages(&report).join("\n");
    assert!(logged.contains("Invalid credentials"), "{logged}");
}

#[tokio::test]
async fn sample_vendor_500_is_vendor_down() {
    let site = https_site(SiteConfig {
        fail_with_500: true,
        ..SiteConfig::default()
    })
    .await;
    let store = TempStore::new();
    let report = site.run_sample(&store, "demo-password").await;
    assert_eq!(
        report.outcome.error_code(),
        Some("VENDOR_DOWN"),
        "{}: {:?}",
        report.outcome,
        report.logs
    );
    // signin stopped at the login page.
    assert_eq!(report.counters.http_requests, 1);
}

/// The probe konnector's entry: one function per scenario, chosen by the
/// job's `scenario` parameter, each printing `name JSON` lines.
const PROBE: &str = r#"
const libs = require('cozy-konnector-libs')
const cheerio = require('cheerio')
const {
  BaseKonnector, requestFactory, signin, scrape, saveBills, saveFiles,
  hydrateAndFilter, addData, updateOrCreate, errors, utils, normalizeFilename,
  mkdirp, manifest
} = libs

const BASE = 'http://vendor.example'

// Prints a result line, marked "= " for the tests.
function show (name, value) {
  console.log(`= ${name} ${JSON.stringify(value)}`)
}

function logIn () {
  return signin({
    url: `${BASE}/login`,
    formSelector: '#login-form',
    formData: { login: 'demo@example.com', password: 'demo-password' },
    validate: (statusCode, $, full) => full.request.uri.pathname === '/bills'
  })
}

const PAGE = `
<ul id="list">
  <li class="item" data-id="a1"><span class="title"> First </span><a href="/one.pdf">PDF</a><em>x</em><em>y</em></li>
  <li class="item" data-id="b2"><span class="title">Second</span><a href="/two.pdf">PDF</a><em>z</em></li>
</ul>
<p id="price">12,50 €</p>`

const scenarios = {
  async scrape () {
    const $ = cheerio.load(PAGE)
    show('single', scrape($, '#price'))
    show('field', scrape($('#list'), { sel: '.item', attr: 'data-id' }))
    show('object', scrape($('li.item').first(), {
      id: { attr: 'data-id' }, title: '.title', link: { sel: 'a', attr: 'href' }
    }))
    show('list', scrape($, {
      id: { attr: 'data-id' },
      title: '.title',
      second: { sel: 'em', index: 1 },
      count: { sel: 'em', fn: (nodes) => nodes.length },
      upper: { sel: '.title', parse: (text) => text.toUpperCase() }
    }, 'li.item'))
    show('root', scrape($, { price: { sel: '#price', parse: (text) => parseFloat(text.replace(',', '.')) } }))
    show('failing field', scrape($, {
      ok: '#price',
      bad: { sel: '#price', parse: () => { throw new Error('unparsable') } }
    }))
  },

  async currency (fields) {
    const currencies = ['€', '$', 'US$', '£', undefined, 'CHF']
    const bills = currencies.map((currency, index) => ({
      vendor: 'probe',
      date: new Date(Date.UTC(2025, 0, index + 1)),
      amount: 10 + index,
      currency,
      filename: `bill-${index}.txt`,
      filestream: `bill ${index}`
    }))
    const saved = await saveBills(bills, fields, { linkBankOperations: false })
    show('currencies', saved.map((bill) => bill.currency))
    show('invoices', saved.every((bill) => bill.invoice.startsWith('io.cozy.files:')))
    show('caller bills kept', bills.every((bill) => bill.invoice === undefined))
  },

  async hydrate () {
    const documents = [
      { vendor: 'a', date: new Date('2025-01-01T00:00:00.000Z'), amount: 1 },
      { vendor: 'a', date: '2025-01-01T00:00:00.000Z', amount: 1, note: 'duplicate' },
      { vendor: 'a', date: '2025-01-02', amount: 1 },
      { vendor: 'b', date: '2025-01-01', amount: 2, skip: true }
    ]
    const keys = ['vendor', 'date', 'amount']
    const toSave = await hydrateAndFilter(documents, 'io.cozy.bills', {
      keys, shouldSave: (doc) => !doc.skip
    })
    show('kept', toSave.map((doc) => `${doc.vendor} ${new Date(doc.date).toISOString().slice(0, 10)}${doc.note ? ' ' + doc.note : ''}`))
    show('without keys', (await hydrateAndFilter(documents.slice(0, 2), 'io.cozy.bills')).length)
    // The old name still works, and warns once.
    show('filterData', (await libs.filterData(documents, 'io.cozy.bills', { keys })).length)
    await libs.filterData(documents, 'io.cozy.bills', { keys })
    const wrapped = { fetch () { return 'same' } }
    show('wrapIfSentrySetUp', libs.wrapIfSentrySetUp(wrapped) === wrapped)
    const first = await addData(toSave.map((doc) => ({ ...doc })), 'io.cozy.bills', { keys })
    const again = await addData(toSave.map((doc) => ({ ...doc })), 'io.cozy.bills', { keys })
    show('same ids', first.map((doc) => doc._id).join() === again.map((doc) => doc._id).join())
    const created = await updateOrCreate([{ vendor: 'c', amount: 3 }], 'io.cozy.bills', ['vendor'])
    const updated = await updateOrCreate([{ vendor: 'c', amount: 4 }], 'io.cozy.bills', ['vendor'])
    show('updateOrCreate', created[0]._id === updated[0]._id)
  },

  async errors () {
    show('codes', [
      errors.LOGIN_FAILED, errors.VENDOR_DOWN,
      errors.USER_ACTION_NEEDED_OAUTH_OUTDATED, errors.UNKNOWN_ERROR
    ])
  },

  async throw (fields, parameters) {
    if (parameters.terminate) {
      this.terminate(parameters.thrown)
      show('after terminate', true)
    }
    if (parameters.string) {
      throw parameters.thrown
    }
    throw new Error(parameters.thrown)
  },

  async request () {
    const full = requestFactory({ json: false, resolveWithFullResponse: true })
    const redirected = await full(`${BASE}/redirect/2`)
    show('redirect', [
      redirected.statusCode, redirected.request.uri.href,
      typeof redirected.body, redirected.headers['content-type']
    ])
    await logIn()
    const api = await requestFactory()({
      uri: '/api/bills', baseUrl: BASE, gzip: true, resolveWithFullResponse: true
    })
    show('json', [api.statusCode, api.body.count, api.body.bills.length, api.request.uri.pathname])
    const html = requestFactory({ cheerio: true, json: false })
    const $ = await html({ uri: `${BASE}/bills`, qs: { page: 2 } })
    show('cheerio', [$('span.page').text(), $('li.bill').length])
    const page = await html.defaults({ resolveWithFullResponse: true })(`${BASE}/bills?page=3`)
    show('cheerio full', [page.statusCode, typeof page.body, page.body('span.page').text(), page.request.uri.href])
    try {
      await full(`${BASE}/nowhere`)
    } catch (error) {
      show('status error', [error.name, error.statusCode, error.message.slice(0, 6)])
    }
    show('simple false', (await full({ uri: `${BASE}/nowhere`, simple: false })).statusCode)
    try {
      await full('http://other.example/')
    } catch (error) {
      show('request error', [error.name, error.cause.name])
    }
    const manual = await full({ uri: `${BASE}/redirect/1`, followRedirect: false, simple: false })
    show('followRedirect', [manual.statusCode, manual.headers.location, manual.request.uri.pathname])
    try {
      await full({ uri: `${BASE}/redirect/1`, followRedirect: false })
    } catch (error) {
      show('followRedirect simple', [error.name, error.statusCode])
    }
    const form = await full.post({ url: `${BASE}/login`, form: { login: 'x', csrf: 'none' } })
    show('form post', [form.statusCode, form.request.method, form.request.uri.pathname])
    const put = await requestFactory({ resolveWithFullResponse: true, simple: false })({
      uri: `${BASE}/api/bills`, method: 'PUT', body: { a: 1 }
    })
    show('json body', [put.statusCode, put.request.method])
  },

  async cookie (fields) {
    const { CookieKonnector } = libs
    class Probe extends CookieKonnector {
      async testSession () {
        const $ = await this.request(`${BASE}/bills?page=1`)
        return $('li.bill').length > 0
      }
    }
    const konnector = new Probe({ cheerio: true, json: false })
    await konnector.initAttributes()
    show('restored session', await konnector.initSession())
    show('session before login', await konnector.testSession())
    await konnector.signin({
      url: `${BASE}/login`,
      formSelector: '#login-form',
      formData: { login: fields.login, password: fields.password },
      validate: (statusCode, $) => $('p.account').length === 1
    })
    show('session after login', await konnector.testSession())
    try {
      new (class extends CookieKonnector {})()
    } catch (error) {
      show('no testSession', error.message)
    }
  },

  async jar () {
    await logIn()
    const rq = requestFactory({ json: false })
    const j = rq.jar()
    show('same jar', j === requestFactory().jar())
    show('cookie names', j.getCookies(`${BASE}/bills`).map((cookie) => cookie.key).sort())
    show('session cookie', j.getCookies(BASE).filter((cookie) => cookie.key === 'session')
      .map((cookie) => [cookie.domain, cookie.path, cookie.httpOnly, cookie.hostOnly, cookie.expires]))
    j.setCookie('extra=1; Path=/bills', BASE)
    j.setCookie(rq.cookie('other=2'), `${BASE}/`)
    show('cookie string', j.getCookieString(`${BASE}/bills`).split('; ').map((pair) => pair.split('=')[0]).sort())
    show('path rule', j.getCookieString(`${BASE}/login`).includes('extra='))
    j.getCookieString(BASE, (error, text) => show('callback', [error, typeof text]))
    await rq(`${BASE}/bills?page=2`)
    try {
      j.setCookie('stolen=1; Domain=other.example', BASE)
    } catch (error) {
      show('foreign domain', [error.name, error.code])
    }
  },

  async session (fields, parameters) {
    const { CookieKonnector } = libs
    class Probe extends CookieKonnector {
      async testSession () {
        const $ = await this.request(`${BASE}/bills?page=1`)
        return $('li.bill').length > 0
      }
    }
    const konnector = new Probe({ cheerio: true, json: false })
    await konnector.initAttributes()
    show('saved session found', konnector.getAccountData().auth !== undefined)
    show('logged in', await konnector.testSession())
    if (parameters.reset) {
      await konnector.resetSession()
      show('after reset', [requestFactory().jar().getCookies(BASE).length, await konnector.testSession()])
      return
    }
    if (!(await konnector.testSession())) {
      await konnector.signin({
        url: `${BASE}/login`,
        formSelector: '#login-form',
        formData: { login: fields.login, password: fields.password },
        validate: (statusCode, $) => $('p.account').length === 1
      })
    }
    await konnector.end()
    const saved = JSON.parse(konnector.getAccountData().auth.session)
    show('saved cookies', saved.cookies.map((cookie) => cookie.key).sort())
  },

  async qualification (fields) {
    const { Qualification } = libs.cozyClient.new.models.document
    const energy = Qualification.getByLabel('energy_invoice')
    show('energy', energy)
    show('subjects', Qualification.getByLabel('isp_invoice').toQualification())
    show('set', Qualification.getByLabel('other_invoice').setSourceCategory('energy'))
    try {
      Qualification.getByLabel('no_such_label')
    } catch (error) {
      show('unknown label', error.message)
    }
    await saveBills([{
      vendor: 'probe', date: new Date(Date.UTC(2025, 0, 1)), amount: 1,
      filename: 'qualified.txt', filestream: 'bill',
      fileAttributes: { metadata: { qualification: energy } }
    }], fields, { linkBankOperations: false })
    try {
      await libs.cozyClient.new.queryAll({ doctype: 'io.cozy.bills' })
    } catch (error) {
      show('queryAll', error.message)
    }
  },

  async identity (fields) {
    const contact = {
      name: { givenName: 'Jane', familyName: 'Doe' },
      email: [{ address: 'jane@example.com' }],
      phone: [{ number: '+33 (0)6 12-34-56-78' }],
      address: [{ formattedAddress: '1 rue <b>Haute</b>\r\n75001 Paris' }]
    }
    await libs.saveIdentity(contact, fields.login)
    await this.saveIdentity({ ...contact, name: { givenName: 'Janet', familyName: 'Doe' } }, fields.login)
    show('no identifier', await libs.saveIdentity(contact, undefined))
  },

  async retry () {
    let calls = 0
    const flaky = async () => {
      calls += 1
      if (calls < 3) throw new Error(`failure ${calls}`)
      return 'done'
    }
    show('eventually', [await libs.retry(flaky, { interval: 5 }), calls])
    calls = 0
    try {
      await libs.retry(async () => { calls += 1; throw new Error('always') }, { max_tries: 3, interval: 5, backoff: 2 })
    } catch (error) {
      show('gave up', [error.name, error.message, error.failure.message, calls])
    }
    calls = 0
    try {
      await libs.retry(async () => { calls += 1; throw new TypeError('fatal') }, {
        interval: 5, predicate: (error) => !(error instanceof TypeError), throw_original: true
      })
    } catch (error) {
      show('not retried', [error.name, error.message, calls])
    }
    const context = { base: 40 }
    show('context', await libs.retry(function (extra) { return this.base + extra }, { context, args: [2] }))
  },

  async unsupported () {
    const calls = [
      ['solveCaptcha', () => libs.solveCaptcha({ websiteKey: 'k', websiteURL: BASE })],
      ['htmlToPDF', () => libs.htmlToPDF(cheerio.load(PAGE), null, null, {})],
      ['cozyClient', () => libs.cozyClient.data.find('io.cozy.bills', 'id')],
      ['categorize', () => libs.categorize([{ label: 'EDF' }])],
      ['Document', () => new libs.Document({})]
    ]
    for (const [name, call] of calls) {
      try {
        await call()
        show(name, 'no error')
      } catch (error) {
        show(name, error.message)
      }
    }
  },

  async account () {
    show('initial', this.getAccountData())
    await this.saveAccountData({ a: 1 })
    await this.saveAccountData({ b: 2 })
    show('merged', this.getAccountData())
    await this.saveAccountData({ c: 3 }, { merge: false })
    show('replaced', this.getAccountData())
    await this.notifySuccessfulLogin()
    show('fields', [this.fields.login, this.fields.folderPath])
  },

  async files (fields) {
    await logIn()
    const $ = await requestFactory({ cheerio: true, json: false })(`${BASE}/bills?page=1`)
    const url = new URL($('a.pdf').first().attr('href'), BASE).href
    const entries = [
      { fileurl: url, filename: 'same.pdf' },
      { fileurl: url, filename: 'same.pdf' },
      { fileurl: url },
      { fileurl: `${BASE}/nowhere.pdf`, filename: 'missing.pdf' },
      { label: 'no file' }
    ]
    const saved = await saveFiles(entries, fields, {
      contentType: true, fileIdAttributes: ['fileurl'], subPath: 'sub'
    })
    show('files', saved.map((entry) => entry.fileDocument
      ? [entry.fileDocument.name, entry.fileDocument.mime, entry.fileDocument.dir_path]
      : null))
    show('same file', saved[0].fileDocument._id === saved[1].fileDocument._id)
  },

  async utils () {
    show('formatDate', utils.formatDate(new Date(Date.UTC(2025, 2, 7))))
    show('normalizeFilename', [
      normalizeFilename('*foo/bar: <baz> \\"qux"\t???', '.txt'),
      normalizeFilename('bill 2025', 'pdf'),
      normalizeFilename('plain')
    ])
    try {
      normalizeFilename('???')
    } catch (error) {
      show('empty name', error.message)
    }
    await mkdirp('/Administrative/Bills/2025')
    show('manifest', manifest.data.slug)
  }
}

module.exports = new BaseKonnector(async function fetch (fields, parameters) {
  const scenario = scenarios[parameters.scenario]
  if (scenario === undefined) {
    throw new Error(`unknown scenario ${parameters.scenario}`)
  }
  await scenario.call(this, fields, parameters)
})
"#;

/// Returns the probe's manifest: bills, files and accounts, and the site
/// as `http://vendor.example`.
fn probe_manifest() -> Manifest {
    let text = json!({
        "slug": "libs-probe",
        "version": "1.0.0",
        "permissions": {
            "bills": {"type": "io.cozy.bills"},
            "files": {"type": "io.cozy.files"},
            "accounts": {"type": "io.cozy.accounts"},
            "identities": {"type": "io.cozy.identities"},
        },
        "network": {"hosts": ["http://vendor.example"]},
    });
    Manifest::parse(&text.to_string()).expect("probe manifest parses")
}

/// Writes `contents` to `path` unless it already contains them, so that the
/// probe's staged dependencies stay up to date between test runs.
fn write_if_changed(path: &Path, contents: &[u8]) {
    if std::fs::read(path).is_ok_and(|current| current == contents) {
        return;
    }
    std::fs::create_dir_all(path.parent().expect("a file has a folder")).expect("create folder");
    std::fs::write(path, contents).expect("write the probe's file");
}

/// Returns the probe's code, built once per test process in the target
/// folder with the sample's `package.json` and lockfile (cheerio and
/// cozy-konnector-libs).
fn probe_code() -> JobCode {
    static BUILT: Mutex<Option<JobCode>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(code) = built.as_ref() {
        return code.clone();
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("konnector-libs-probe");
    let sample = samples::dir("libs-bills");
    for name in ["package.json", "package-lock.json", "manifest.konnector"] {
        let contents = std::fs::read(sample.join(name)).expect("read the sample's file");
        write_if_changed(&dir.join(name), &contents);
    }
    write_if_changed(&dir.join("src/index.js"), PROBE.as_bytes());
    let code = build(&dir);
    *built = Some(code.clone());
    code
}

/// Runs the probe's `scenario` against a new site and store, and returns
/// the report and the store.
async fn probe(scenario: &str) -> (JobReport, TempStore, Site) {
    probe_with(json!({ "scenario": scenario })).await
}

async fn probe_with(parameters: Value) -> (JobReport, TempStore, Site) {
    let site = http_site().await;
    let store = TempStore::new();
    let report = site
        .run(
            probe_code(),
            probe_manifest(),
            &store,
            "demo-password",
            parameters,
        )
        .await;
    (report, store, site)
}

/// Returns the probe's result lines (`name JSON`), failing when the job
/// did not succeed.
fn results(report: &JobReport) -> Vec<&str> {
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    messages(report)
        .into_iter()
        .filter_map(|line| line.strip_prefix("= "))
        .collect()
}

#[tokio::test]
async fn scrape_spec_forms() {
    let (report, _, _) = probe("scrape").await;
    assert_eq!(
        results(&report),
        [
            r#"single "12,50 €""#,
            r#"field "a1""#,
            r#"object {"id":"a1","title":"First","link":"/one.pdf"}"#,
            r#"list [{"id":"a1","title":"First","second":"y","count":2,"upper":"FIRST"},{"id":"b2","title":"Second","second":"","count":1,"upper":"SECOND"}]"#,
            r#"root {"price":12.5}"#,
            r#"failing field {"ok":"12,50 €"}"#,
        ]
    );
    let logged = messages(&report).join("\n");
    assert!(
        logged.contains("scrape: failed to read the field bad: unparsable"),
        "{logged}"
    );
}

#[tokio::test]
async fn save_bills_normalises_currencies() {
    let (report, store, _) = probe("currency").await;
    assert_eq!(
        results(&report),
        [
            r#"currencies ["EUR","USD","USD","GBP","EUR","CHF"]"#,
            "invoices true",
            "caller bills kept true",
        ]
    );
    let mut stored: Vec<(i64, String)> = store
        .store
        .documents(Some("io.cozy.bills"))
        .expect("bills")
        .iter()
        .map(|bill| {
            (
                bill["amount"].as_i64().expect("amount"),
                bill["currency"].as_str().expect("currency").to_owned(),
            )
        })
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            (10, "EUR".to_owned()),
            (11, "USD".to_owned()),
            (12, "USD".to_owned()),
            (13, "GBP".to_owned()),
            (14, "EUR".to_owned()),
            (15, "CHF".to_owned()),
        ]
    );
    let saved = files(&store);
    assert_eq!(saved.len(), 6);
    assert!(saved.iter().all(|file| {
        file["name"]
            .as_str()
            .is_some_and(|name| name.starts_with("bill-"))
    }));
}

#[tokio::test]
async fn hydrate_and_filter_deduplicates() {
    let (report, store, _) = probe("hydrate").await;
    assert_eq!(
        results(&report),
        [
            r#"kept ["a 2025-01-01","a 2025-01-02"]"#,
            "without keys 2",
            "filterData 3",
            "wrapIfSentrySetUp true",
            "same ids true",
            "updateOrCreate true",
        ]
    );
    // Two bills from addData, one from updateOrCreate.
    assert_eq!(store.store.count("io.cozy.bills").expect("count"), 3);
    let warnings: Vec<&str> = messages(&report)
        .into_iter()
        .filter(|line| line.contains("filterData is deprecated"))
        .collect();
    assert_eq!(warnings, ["filterData is deprecated; use hydrateAndFilter"]);
}

#[tokio::test]
async fn errors_are_cozy_codes() {
    let (report, _, _) = probe("errors").await;
    assert_eq!(
        results(&report),
        [
            r#"codes ["LOGIN_FAILED","VENDOR_DOWN","USER_ACTION_NEEDED.OAUTH_OUTDATED","UNKNOWN_ERROR"]"#
        ]
    );
}

#[tokio::test]
async fn thrown_errors_end_job_with_code() {
    let cases = [
        (json!({"thrown": "LOGIN_FAILED"}), "LOGIN_FAILED"),
        (
            json!({"thrown": "USER_ACTION_NEEDED.OAUTH_OUTDATED"}),
            "USER_ACTION_NEEDED.OAUTH_OUTDATED",
        ),
        (
            json!({"thrown": "VENDOR_DOWN", "string": true}),
            "VENDOR_DOWN",
        ),
        (json!({"thrown": "boom at login"}), "UNKNOWN_ERROR"),
        (json!({"thrown": "INVALID_FORM"}), "UNKNOWN_ERROR"),
        (
            json!({"thrown": "LOGIN_FAILED", "terminate": true}),
            "LOGIN_FAILED",
        ),
    ];
    for (mut parameters, code) in cases {
        parameters["scenario"] = json!("throw");
        let (report, _, _) = probe_with(parameters.clone()).await;
        assert_eq!(
            report.outcome.error_code(),
            Some(code),
            "{parameters}: {:?}",
            report.logs
        );
        let lines = messages(&report);
        assert!(!lines.contains(&"= after terminate true"), "{lines:?}");
    }
}

#[tokio::test]
async fn request_factory_responses() {
    let (report, _, site) = probe("request").await;
    assert_eq!(
        results(&report),
        [
            r#"redirect [200,"http://vendor.example/login","string","text/html; charset=utf-8"]"#,
            r#"json [200,12,12,"/api/bills"]"#,
            r#"cheerio ["Page 2 of 3",5]"#,
            r#"cheerio full [200,"function","Page 3 of 3","http://vendor.example/bills?page=3"]"#,
            r#"status error ["StatusCodeError",404,"404 - "]"#,
            "simple false 404",
            r#"request error ["RequestError","TypeError"]"#,
            r#"followRedirect [302,"/bills","/redirect/1"]"#,
            r#"followRedirect simple ["StatusCodeError",302]"#,
            r#"form post [200,"POST","/login"]"#,
            r#"json body [405,"PUT"]"#,
        ]
    );

    // Headers and bodies as the site received them.
    let requests = site.site.requests();
    let api = requests
        .iter()
        .find(|request| request.path == "/api/bills")
        .expect("the API request");
    assert_eq!(api.header("accept"), Some("application/json"));
    assert!(
        api.header("user-agent")
            .is_some_and(|agent| agent.contains("Firefox")),
        "{api:?}"
    );
    assert!(
        requests
            .iter()
            .any(|request| request.path == "/bills?page=2")
    );
    let post = requests
        .iter()
        .rfind(|request| request.method == "POST")
        .expect("the form post");
    assert_eq!(
        post.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(post.body_len, "login=x&csrf=none".len());

    let put = requests
        .iter()
        .find(|request| request.method == "PUT")
        .expect("the PUT request");
    assert_eq!(put.header("content-type"), Some("application/json"));
    assert_eq!(put.body_len, r#"{"a":1}"#.len());
}

#[tokio::test]
async fn cookie_konnector_logs_in_each_job() {
    let (report, _, _) = probe("cookie").await;
    assert_eq!(
        results(&report),
        [
            "restored session false",
            "session before login false",
            "session after login true",
            r#"no testSession "CookieKonnector: the konnector must define a testSession method""#,
        ]
    );
}

#[tokio::test]
async fn unsupported_functions_name_themselves() {
    let (report, _, _) = probe("unsupported").await;
    assert_eq!(
        results(&report),
        [
            r#"solveCaptcha "solveCaptcha is not available in the konnector sandbox: it sends the page to a captcha-solving service with a secret key, which konnectors cannot reach""#,
            r#"htmlToPDF "htmlToPDF is not available in the konnector sandbox: it needs a web browser, and a konnector has only fetch""#,
            r#"cozyClient "cozyClient.data is not available in the konnector sandbox: the host holds the Cozy token, so write documents with saveBills, saveFiles, addData or updateOrCreate""#,
            r#"categorize "categorize is not available in the konnector sandbox: it reads the person's bank operations and the stack's categorization model, which konnectors cannot reach""#,
            r#"Document "Document is not available in the konnector sandbox: it reads and writes the person's documents directly; write them with addData or updateOrCreate""#,
        ]
    );
}

#[tokio::test]
async fn request_jar_reads_and_sets_cookies() {
    let (report, _, site) = probe("jar").await;
    assert_eq!(
        results(&report),
        [
            "same jar true",
            r#"cookie names ["csrf","session"]"#,
            r#"session cookie [["vendor.example","/",true,true,"Infinity"]]"#,
            r#"cookie string ["csrf","extra","other","session"]"#,
            "path rule false",
            r#"callback [null,"string"]"#,
            r#"foreign domain ["TypeError","invalid_argument"]"#,
        ]
    );
    let page = site
        .site
        .requests()
        .into_iter()
        .find(|request| request.path == "/bills?page=2")
        .expect("the page request");
    let cookie = page.header("cookie").unwrap_or_default().to_owned();
    assert!(
        cookie.contains("extra=1") && cookie.contains("other=2"),
        "{cookie}"
    );
    assert!(!cookie.contains("stolen"), "{cookie}");
}

#[tokio::test]
async fn cookie_konnector_keeps_session_between_jobs() {
    let site = http_site().await;
    let store = TempStore::new();
    let run = |reset: bool| {
        let parameters = json!({"scenario": "session", "reset": reset});
        site.run(
            probe_code(),
            probe_manifest(),
            &store,
            "demo-password",
            parameters,
        )
    };

    let first = run(false).await;
    assert_eq!(
        results(&first),
        [
            "saved session found false",
            "logged in false",
            r#"saved cookies ["csrf","session"]"#,
        ]
    );
    let logins = |site: &Site| {
        site.site
            .requests()
            .iter()
            .filter(|request| request.method == "POST" && request.path == "/login")
            .count()
    };
    assert_eq!(logins(&site), 1);

    // The second job finds the session in the account's data: no login.
    let second = run(false).await;
    assert_eq!(
        results(&second),
        [
            "saved session found true",
            "logged in true",
            r#"saved cookies ["csrf","session"]"#,
        ]
    );
    assert_eq!(logins(&site), 1, "the second job logged in again");
    let accounts = store
        .store
        .documents(Some("io.cozy.accounts"))
        .expect("accounts");
    let session: Value = serde_json::from_str(
        accounts[0]["data"]["auth"]["session"]
            .as_str()
            .expect("the session as text"),
    )
    .expect("the session is JSON");
    assert_eq!(session["storeType"], "MemoryCookieStore");
    assert_eq!(session["cookies"][0]["domain"], "vendor.example");

    // resetSession empties the jar and saves it empty.
    let third = run(true).await;
    assert_eq!(
        results(&third),
        [
            "saved session found true",
            "logged in true",
            "after reset [0,false]",
        ]
    );
    let accounts = store
        .store
        .documents(Some("io.cozy.accounts"))
        .expect("accounts");
    let session: Value = serde_json::from_str(
        accounts[0]["data"]["auth"]["session"]
            .as_str()
            .expect("the session as text"),
    )
    .expect("the session is JSON");
    assert_eq!(session["cookies"], json!([]));
}

#[tokio::test]
async fn cozy_client_qualifications() {
    let (report, store, _) = probe("qualification").await;
    assert_eq!(
        results(&report),
        [
            r#"energy {"label":"energy_invoice","purpose":"invoice","sourceCategory":"energy"}"#,
            r#"subjects {"label":"isp_invoice","purpose":"invoice","sourceCategory":"telecom","sourceSubCategory":"internet","subjects":["subscription"]}"#,
            r#"set {"label":"other_invoice","purpose":"invoice","sourceCategory":"energy"}"#,
            r#"unknown label "Qualification: no qualification has the label \"no_such_label\"""#,
            r#"queryAll "cozyClient.new.queryAll is not available in the konnector sandbox: the host holds the Cozy token, so write documents with saveBills, saveFiles, addData or updateOrCreate""#,
        ]
    );
    let saved = files(&store);
    assert_eq!(saved.len(), 1);
    assert_eq!(
        saved[0]["metadata"]["qualification"],
        json!({"label": "energy_invoice", "purpose": "invoice", "sourceCategory": "energy"})
    );
}

#[tokio::test]
async fn save_identity_upserts_one_identity() {
    let (report, store, _) = probe("identity").await;
    assert_eq!(results(&report), ["no identifier undefined"]);
    let identities = store
        .store
        .documents(Some("io.cozy.identities"))
        .expect("identities");
    assert_eq!(identities.len(), 1, "{identities:?}");
    let identity = &identities[0];
    assert_eq!(identity["identifier"], "demo@example.com");
    assert_eq!(identity["contact"]["name"]["givenName"], "Janet");
    assert_eq!(identity["contact"]["phone"][0]["number"], "+330612345678");
    assert_eq!(
        identity["contact"]["address"][0]["formattedAddress"],
        "1 rue Haute 75001 Paris"
    );
    assert_eq!(identity["cozyMetadata"]["createdByApp"], "libs-probe");
    assert_eq!(identity["cozyMetadata"]["sourceAccount"], "libs-account");
    let logged = messages(&report).join("\n");
    assert!(
        logged.contains("saveIdentity: no account identifier was given"),
        "{logged}"
    );
}

#[tokio::test]
async fn retry_until_success_or_give_up() {
    let (report, _, _) = probe("retry").await;
    assert_eq!(
        results(&report),
        [
            r#"eventually ["done",3]"#,
            r#"gave up ["StopError","retry: gave up after 3 tries: always","always",3]"#,
            r#"not retried ["TypeError","fatal",1]"#,
            "context 42",
        ]
    );
}

#[tokio::test]
async fn account_data_saved_and_merged() {
    let (report, store, _) = probe("account").await;
    assert_eq!(
        results(&report),
        [
            "initial {}",
            r#"merged {"a":1,"b":2}"#,
            r#"replaced {"c":3}"#,
            r#"fields ["demo@example.com","/Administrative/Bills"]"#,
        ]
    );
    let accounts = store
        .store
        .documents(Some("io.cozy.accounts"))
        .expect("accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["data"], json!({"c": 3}));
}

#[tokio::test]
async fn save_files_deduplicates_by_name() {
    let (report, store, site) = probe("files").await;
    let bill = &site.site.bills()[0];
    let url_name = bill.pdf_path.rsplit('/').next().expect("a file name");
    let folder = format!("{FOLDER}/sub");
    let pdf = |name: &str| json!([name, "application/pdf", folder]);
    let expected_files = json!([pdf("same.pdf"), pdf("same.pdf"), pdf(url_name), null, null]);
    assert_eq!(
        results(&report),
        [format!("files {expected_files}").as_str(), "same file true"]
    );

    // One download for the two entries named same.pdf, one for the third.
    let downloads = site
        .site
        .requests()
        .iter()
        .filter(|request| request.path == bill.pdf_path)
        .count();
    assert_eq!(downloads, 2);

    let saved = files(&store);
    assert_eq!(saved.len(), 2);
    let same = saved
        .iter()
        .find(|file| file["name"] == "same.pdf")
        .expect("same.pdf");
    assert_eq!(
        same["metadata"]["fileIdAttributes"],
        format!("http://vendor.example{}", bill.pdf_path)
    );

    let logged = messages(&report).join("\n");
    assert!(
        logged.contains("saveFiles: failed to save /Administrative/Bills/sub/missing.pdf"),
        "{logged}"
    );
}

#[tokio::test]
async fn utils_format_and_normalize() {
    let (report, _, _) = probe("utils").await;
    assert_eq!(
        results(&report),
        [
            r#"formatDate "2025-03-07""#,
            r#"normalizeFilename ["foo_bar_baz_qux.txt","bill_2025.pdf","plain"]"#,
            r#"empty name "normalizeFilename: \"???\" has no character usable in a file name""#,
            r#"manifest "libs-probe""#,
        ]
    );
}

/// Runs `checks` after [`NODE_CHECK`] on the build-time host, and asserts
/// that `count` checks ran and none failed.
fn run_node_checks(checks: &str, count: u64) {
    let source = format!("{NODE_CHECK}\n{checks}");
    let (_, compiler) = javascript::runtime();
    let bytecode = compiler
        .compile("checks.js", source.as_bytes())
        .unwrap_or_else(|error| panic!("compile the checks: {error}"));
    let run = compiler.run(&bytecode, 1).expect("run the checks");
    assert_eq!(run.failure, None, "{:?}", run.logs);
    let last = run
        .logs
        .last()
        .map(|(_, line)| line.as_str())
        .unwrap_or_default();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|error| panic!("no summary line ({error}): {:?}", run.logs));
    assert_eq!(summary["failures"], json!([]), "{:?}", run.logs);
    assert_eq!(summary["checked"], count);
}

/// The helpers of the Node.js checks: `check(label, actual, expected)`
/// compares JSON forms, and `report()` prints how many checks ran and the
/// failures.
const NODE_CHECK: &str = r#"
let checked = 0;
const failures = [];
function check(label, actual, expected) {
  checked += 1;
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) failures.push(`${label}: got ${a}, expected ${e}`);
}
function report() { console.log(JSON.stringify({ checked, failures })); }
"#;

/// Checks of the `buffer` module; 33 of them.
const NODE_BUFFER: &str = r##"
const { Buffer: B } = require("buffer");
check("global", B === Buffer, true);
check("node prefix", require("node:buffer").Buffer === B, true);
check("utf8", [...B.from("héllo €")], [104, 195, 169, 108, 108, 111, 32, 226, 130, 172]);
check("latin1", B.from("héllo", "latin1").toString("hex"), "68e96c6c6f");
check("binary", B.from([0xe9, 0x41]).toString("binary"), "éA");
check("base64 in", B.from("aGVsbG8gd29ybGQ=", "base64").toString(), "hello world");
check("base64 out", B.from("hello world").toString("base64"), "aGVsbG8gd29ybGQ=");
check("base64 lenient", B.from("aGVs bG8\n", "base64").toString(), "hello");
check("base64url", B.from([0xfb, 0xff]).toString("base64url"), "-_8");
check("hex", B.from("68656c6c6f", "hex").toString(), "hello");
check("hex stops", B.from("6869zz", "hex").length, 2);
check("utf16le", B.from("hé", "utf16le").toString("hex"), "6800e900");
check("slice range", B.from("hello").toString("utf8", 1, 3), "el");
check("byteLength", [B.byteLength("€"), B.byteLength("aGVsbG8=", "base64"), B.byteLength(new Uint8Array(4))], [3, 5, 4]);
check("concat", B.concat([B.from("ab"), new Uint8Array([99])]).toString(), "abc");
check("concat length", B.concat([B.from("abc"), B.from("def")], 4).toString(), "abcd");
check("isBuffer", [B.isBuffer(B.alloc(1)), B.isBuffer(new Uint8Array(1)), B.isBuffer("x")], [true, false, false]);
check("alloc fill", B.alloc(5, "ab").toString(), "ababa");
check("alloc zero", [...B.allocUnsafe(3)], [0, 0, 0]);
const shared = B.from("hello");
shared.slice(1, 2)[0] = 0x61;
check("slice is a view", shared.toString(), "hallo");
check("subarray is a Buffer", B.isBuffer(shared.subarray(1)), true);
check("json", JSON.stringify(B.from("hi")), '{"type":"Buffer","data":[104,105]}');
check("from json", B.from({ type: "Buffer", data: [104, 105] }).toString(), "hi");
check("equals", [B.from("a").equals(B.from("a")), B.from("a").equals(B.from("b"))], [true, false]);
check("compare", [B.compare(B.from("a"), B.from("b")), B.from("b").compare(B.from("a"))], [-1, 1]);
check("indexOf", [B.from("hello").indexOf("ll"), B.from("hello").indexOf(0x6f), B.from("hello").includes("z")], [2, 4, false]);
const numbers = B.alloc(8);
numbers.writeUInt32BE(0xdeadbeef, 0);
numbers.writeInt16LE(-2, 4);
check("integers", [numbers.readUInt32BE(0), numbers.readUint16LE(0), numbers.readInt16LE(4), numbers.readUInt8(0)], [3735928559, 44510, -2, 222]);
check("out of range", (() => { try { numbers.readUInt32LE(6); return "no error"; } catch (e) { return e.name; } })(), "RangeError");
check("unknown encoding", (() => { try { B.from("x", "klingon"); return "no error"; } catch (e) { return e.name; } })(), "TypeError");
check("new Buffer", new B("abc").toString(), "abc");
check("typed array copy", [...B.from(new Uint16Array([258, 3]))], [2, 3]);
check("arraybuffer view", (() => { const ab = new ArrayBuffer(4); const b = B.from(ab, 1, 2); b[0] = 7; return [b.length, new Uint8Array(ab)[1]]; })(), [2, 7]);
check("write", (() => { const b = B.alloc(4); const n = b.write("héy", 1); return [n, b.toString("hex")]; })(), [3, "0068c3a9"]);
report();
"##;

/// Checks of the `path` module; 14 of them.
const NODE_PATH: &str = r##"
const path = require("path");
check("node prefix", require("node:path") === path, true);
check("posix", typeof path.posix.join, "function");
check("join", [path.join("a", "b", "../c"), path.join("/a/b", "./c/"), path.join(""), path.join("a/", "/b")], ["a/c", "/a/b/c/", ".", "a/b"]);
check("normalize", [path.normalize("a/.."), path.normalize("/.."), path.normalize("//a//b/"), path.normalize("a/b/../../..")], [".", "/", "/a/b/", ".."]);
check("resolve", [path.resolve("/a/b", "../c", "d"), path.resolve("/x", "/y", "z")], ["/a/c/d", "/y/z"]);
check("relative", path.relative("/a/b/c", "/a/d"), "../../d");
check("dirname", [path.dirname("/a/b/c.txt"), path.dirname("a"), path.dirname("/"), path.dirname("a/b/")], ["/a/b", ".", "/", "a"]);
check("basename", [path.basename("/a/b.txt"), path.basename("/a/b.txt", ".txt"), path.basename("a/b/")], ["b.txt", "b", "b"]);
check("extname", [path.extname("a.pdf"), path.extname(".profile"), path.extname("a."), path.extname("a.b.c")], [".pdf", "", ".", ".c"]);
check("isAbsolute", [path.isAbsolute("/a"), path.isAbsolute("a")], [true, false]);
check("parse", path.parse("/home/user/file.txt"), { root: "/", dir: "/home/user", base: "file.txt", ext: ".txt", name: "file" });
check("format", path.format({ dir: "/x", name: "f", ext: ".pdf" }), "/x/f.pdf");
check("sep", [path.sep, path.delimiter], ["/", ":"]);
check("not a string", (() => { try { path.join("a", 1); return "no error"; } catch (e) { return e.name; } })(), "TypeError");
report();
"##;

/// Checks of the `querystring` module; 8 of them.
const NODE_QUERYSTRING: &str = r##"
const qs = require("querystring");
check("node prefix", require("node:querystring") === qs, true);
check("parse", { ...qs.parse("a=1&b=2&a=3&c") }, { a: ["1", "3"], b: "2", c: "" });
check("parse plus and escapes", { ...qs.parse("x=%E2%82%AC+y") }, { x: "€ y" });
check("parse invalid escapes", { ...qs.parse("bad=%E2%82&q=%zz") }, { bad: "\ufffd", q: "%zz" });
check("parse separators", { ...qs.parse("a:1;b:2", ";", ":") }, { a: "1", b: "2" });
check("stringify", qs.stringify({ a: [1, 2], b: "é &", c: null, d: true }), "a=1&a=2&b=%C3%A9%20%26&c=&d=true");
check("escape", [qs.escape("a b/c"), qs.unescape("a%20b%2Fc")], ["a%20b%2Fc", "a b/c"]);
check("aliases", [qs.decode === qs.parse, qs.encode === qs.stringify], [true, true]);
report();
"##;

/// Checks of the `url` module; 12 of them.
const NODE_URL: &str = r##"
const url = require("url");
check("node prefix", require("node:url") === url, true);
check("WHATWG", [url.URL === URL, url.URLSearchParams === URLSearchParams], [true, true]);
const parsed = url.parse("http://user:pw@Example.COM:8080/p/a/t/h?query=string#hash");
check("parse", [parsed.protocol, parsed.slashes, parsed.auth, parsed.host, parsed.port, parsed.hostname, parsed.hash, parsed.search, parsed.query, parsed.pathname, parsed.path, parsed.href],
  ["http:", true, "user:pw", "example.com:8080", "8080", "example.com", "#hash", "?query=string", "query=string", "/p/a/t/h", "/p/a/t/h?query=string", "http://user:pw@example.com:8080/p/a/t/h?query=string#hash"]);
check("parse query", { ...url.parse("/x?a=1&a=2&b=3", true).query }, { a: ["1", "2"], b: "3" });
check("parse relative", [url.parse("/one/two?x=1").pathname, url.parse("/one/two?x=1").host], ["/one/two", null]);
check("parse mailto", [url.parse("mailto:me@x.com").auth, url.parse("mailto:me@x.com").host], ["me", "x.com"]);
check("parse root", url.parse("https://a.com").pathname, "/");
check("resolve", [url.resolve("/one/two/three", "four"), url.resolve("http://example.com/", "/one"), url.resolve("http://a.com/b/c", "../d?x=1"), url.resolve("http://a.com", "https://b.com/x")],
  ["/one/two/four", "http://example.com/one", "http://a.com/d?x=1", "https://b.com/x"]);
check("format object", url.format({ protocol: "https", hostname: "a.com", pathname: "/x", query: { q: "a b" } }), "https://a.com/x?q=a%20b");
check("format URL", url.format(new URL("http://a.com/b?c#d"), { fragment: false }), "http://a.com/b?c");
check("fileURLToPath", url.fileURLToPath("file:///tmp/a%20b.pdf"), "/tmp/a b.pdf");
check("pathToFileURL", url.pathToFileURL("/tmp/a b.pdf").href, "file:///tmp/a%20b.pdf");
report();
"##;

/// Checks of the `util` module; 12 of them.
const NODE_UTIL: &str = r##"
const util = require("util");
check("node prefix", require("node:util") === util, true);
check("format", [util.format("%s is %d years", "Bob", 42), util.format("%j", { a: 1 }), util.format("a", "b", 3), util.format("%i%%", 42.5), util.format("%s", { a: [1] }), util.format("no args %s"), util.format({ x: 1 }, "y")],
  ["Bob is 42 years", '{"a":1}', "a b 3", "42%", "{ a: [Array] }", "no args %s", "{ x: 1 } y"]);
check("inspect", [util.inspect("str"), util.inspect([1, "a", [2, [3, [4]]]]), util.inspect({ a: 1, "b-c": "x", n: { m: { o: { p: 1 } } } }), util.inspect(null), util.inspect(10n), util.inspect(-0)],
  ["'str'", "[ 1, 'a', [ 2, [ 3, [Array] ] ] ]", "{ a: 1, 'b-c': 'x', n: { m: { o: [Object] } } }", "null", "10n", "-0"]);
check("inspect objects", [util.inspect(new Map([["a", 1]])), util.inspect(new Set([1])), util.inspect(new Date(0)), util.inspect(/x/g), util.inspect(function named() {}), util.inspect(class K {}), util.inspect(new Uint8Array([1, 2]))],
  ["Map(1) { 'a' => 1 }", "Set(1) { 1 }", "1970-01-01T00:00:00.000Z", "/x/g", "[Function: named]", "[class K]", "Uint8Array(2) [ 1, 2 ]"]);
check("inspect buffer", util.inspect(Buffer.from("hi")), "<Buffer 68 69>");
const circular = { name: "c" };
circular.self = circular;
check("inspect circular", util.inspect(circular).includes("[Circular *1]"), true);
check("inspect custom", util.inspect({ [util.inspect.custom]: () => "custom!" }), "custom!");
function Base() {}
Base.prototype.hello = function () { return "hello"; };
function Derived() { Base.call(this); }
util.inherits(Derived, Base);
check("inherits", [new Derived().hello(), Derived.super_ === Base], ["hello", true]);
check("types", [util.types.isDate(new Date()), util.types.isRegExp(/x/), util.types.isPromise(Promise.resolve())], [true, true, true]);
check("isDeepStrictEqual", [util.isDeepStrictEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), util.isDeepStrictEqual({ a: 1 }, { a: "1" })], [true, false]);
const results = [];
const callbackStyle = (value, callback) => setTimeout(() => callback(value === "bad" ? new Error("bad value") : null, value + "!"), 1);
const promisified = util.promisify(callbackStyle);
const sleep = util.promisify(setTimeout);
const deprecated = util.deprecate(() => "still works", "old() is deprecated");
check("deprecate", [deprecated(), deprecated()], ["still works", "still works"]);
(async () => {
  results.push(await promisified("ok"));
  try { await promisified("bad"); } catch (error) { results.push(error.message); }
  results.push(await sleep(5, "slept"));
  check("promisify", results, ["ok!", "bad value", "slept"]);
  report();
})();
"##;

/// Checks of the `events` module; 9 of them.
const NODE_EVENTS: &str = r##"
const EventEmitter = require("events");
check("node prefix", require("node:events") === EventEmitter, true);
check("named export", EventEmitter.EventEmitter === EventEmitter, true);
const got = [];
function Legacy() { EventEmitter.call(this); }
require("util").inherits(Legacy, EventEmitter);
const legacy = new Legacy();
legacy.once("x", (value) => got.push(`once ${value}`));
legacy.on("x", (value) => got.push(`on ${value}`));
legacy.prependListener("x", (value) => got.push(`first ${value}`));
check("emit returns", [legacy.emit("x", 1), legacy.emit("x", 2), legacy.emit("y")], [true, true, false]);
check("order", got, ["first 1", "once 1", "on 1", "first 2", "on 2"]);
check("listenerCount", [legacy.listenerCount("x"), legacy.eventNames()], [2, ["x"]]);
const handler = () => got.push("removed");
legacy.on("z", handler).off("z", handler);
check("off", legacy.emit("z"), false);
check("error without listener", (() => { try { legacy.emit("error", new Error("boom")); return "no error"; } catch (e) { return e.message; } })(), "boom");
class Modern extends EventEmitter {}
const modern = new Modern();
modern.on("data", function () { got.push(this === modern); });
modern.emit("data");
check("this", got[got.length - 1], true);
EventEmitter.once(modern, "ready").then((args) => {
  check("once promise", args, [1, 2]);
  report();
});
modern.emit("ready", 1, 2);
"##;

#[test]
fn node_buffer_module() {
    run_node_checks(NODE_BUFFER, 33);
}

#[test]
fn node_path_module() {
    run_node_checks(NODE_PATH, 14);
}

#[test]
fn node_querystring_module() {
    run_node_checks(NODE_QUERYSTRING, 8);
}

#[test]
fn node_url_module() {
    run_node_checks(NODE_URL, 12);
}

#[test]
fn node_util_module() {
    run_node_checks(NODE_UTIL, 12);
}

#[test]
fn node_events_module() {
    run_node_checks(NODE_EVENTS, 9);
}

#[test]
fn node_modules_import_by_name() {
    let source = r#"
        import { Buffer as ImportedBuffer, constants } from "node:buffer";
        import path, { join } from "path";
        import { format } from "util";
        import EventEmitter from "events";
        console.log(ImportedBuffer === Buffer, typeof constants.MAX_LENGTH, join === path.join,
            format("%d items", 3), typeof EventEmitter.prototype.emit);
    "#;
    let (_, compiler) = javascript::runtime();
    let bytecode = compiler
        .compile("imports.js", source.as_bytes())
        .expect("compile");
    let run = compiler.run(&bytecode, 1).expect("run");
    assert_eq!(run.failure, None, "{:?}", run.logs);
    let lines: Vec<&str> = run.logs.iter().map(|(_, line)| line.as_str()).collect();
    assert_eq!(lines, ["true number true 3 items function"]);
}

/// moment and date-fns, installed from the npm registry and bundled, parse,
/// compute and format dates in QuickJS as they do in Node.js.
#[tokio::test]
async fn moment_and_date_fns_run() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let files = [
        (
            "manifest.konnector",
            r#"{"slug": "dates", "version": "1.0.0", "permissions": {}}"#,
        ),
        (
            "package.json",
            r#"{"name": "dates", "main": "src/index.js", "dependencies": {"moment": "2.31.0", "date-fns": "4.4.0"}}"#,
        ),
        (
            "src/index.js",
            r#"const moment = require("moment");
const { addDays, format, parseISO, differenceInCalendarDays } = require("date-fns");
console.log(moment.utc("2025-03-01T10:00:00Z").add(1, "month").format("YYYY-MM-DD HH:mm"));
console.log(moment.utc("15/03/2025", "DD/MM/YYYY").format("MMMM D, YYYY"));
console.log(format(addDays(parseISO("2025-02-27"), 2), "yyyy-MM-dd"));
console.log(differenceInCalendarDays(parseISO("2025-12-25"), parseISO("2025-01-01")));
"#,
        ),
    ];
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        std::fs::write(path, text).expect("write");
    }
    let code = build(dir.path());
    let store = TempStore::new();
    let mut job = crate::support::job(
        b"",
        Manifest::unprivileged("dates"),
        store.sink(),
        LimitRequest::default(),
    );
    job.code = code;
    let report = javascript::js_engine().run(job).await.expect("job starts");
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    assert_eq!(
        messages(&report),
        ["2025-04-01 10:00", "March 15, 2025", "2025-03-01", "358"]
    );
}

/// Fuel a first run of the sample used against the default fixture site
/// (12 bills on 3 pages) when it was pinned, starting from its snapshot,
/// in which cozy-konnector-libs and cheerio are already evaluated. The
/// default budget of a job is 10 billion units, 26 times this.
const SAMPLE_PINNED_FUEL: u64 = 376_730_000;

/// How far the sample's fuel may drift either way from its pin, in percent.
const SAMPLE_FUEL_TOLERANCE_PERCENT: u64 = 10;

/// Linear memory the sample may reach, in bytes: 16 MiB. It measured 7.6
/// MiB, its snapshot's size, which it does not grow; a job's default
/// memory limit of 256 MiB is 32 times that.
const SAMPLE_MAX_MEMORY_BYTES: u64 = 16 << 20;

/// Fuel that evaluating cozy-konnector-libs and cheerio costs a job that
/// has no snapshot, at least: about 200 million units when measured.
const SNAPSHOT_SAVES_AT_LEAST: u64 = 150_000_000;

#[tokio::test]
async fn sample_fuel_is_pinned() {
    let site = https_site(SiteConfig::default()).await;
    let store = TempStore::new();
    let report = site.run_sample(&store, "demo-password").await;
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.logs);
    let used = report.counters.fuel_used;
    let tolerance = SAMPLE_PINNED_FUEL * SAMPLE_FUEL_TOLERANCE_PERCENT / 100;
    assert!(
        used.abs_diff(SAMPLE_PINNED_FUEL) <= tolerance,
        "libs-bills used {used} fuel, pinned at {SAMPLE_PINNED_FUEL} ± {SAMPLE_FUEL_TOLERANCE_PERCENT}%"
    );
    assert!(
        report.counters.peak_memory_bytes <= SAMPLE_MAX_MEMORY_BYTES,
        "libs-bills reached {} bytes of memory",
        report.counters.peak_memory_bytes
    );

    // The same artifact with a plan that evaluates nothing ahead of time:
    // the job evaluates its dependencies itself.
    let JobCode::JavaScript {
        bytecode,
        runtime,
        dependencies: Some(dependencies),
    } = sample_code()
    else {
        panic!("the sample has a dependency bundle");
    };
    let mut in_job = (*dependencies).clone();
    assert_eq!(in_job.plan.evaluate, ["cozy-konnector-libs", "cheerio"]);
    assert!(in_job.plan.per_job.is_empty(), "{:?}", in_job.plan.per_job);
    in_job.plan.evaluate.clear();
    let code = JobCode::JavaScript {
        bytecode,
        runtime,
        dependencies: Some(Arc::new(in_job)),
    };
    let manifest = Manifest::load(&samples::dir("libs-bills").join("manifest.konnector"))
        .expect("sample manifest");
    let without = site
        .run(
            code,
            manifest,
            &TempStore::new(),
            "demo-password",
            json!({}),
        )
        .await;
    assert_eq!(without.outcome, Outcome::Succeeded, "{:?}", without.logs);
    assert!(
        without.counters.fuel_used > used + SNAPSHOT_SAVES_AT_LEAST,
        "with the snapshot {used} fuel, without {}",
        without.counters.fuel_used
    );
}
