#!/usr/bin/env node
// tests/browser/journey.mjs — drive a real headless Chromium through egx-portal.
//
// Two modes, chosen by EGX_MODE:
//
//   journey (default)  owner setup → sign out/in → add a teammate → the teammate
//                      opens the one-time link (after a link-preview bot fetched
//                      it), reveals the key, sets a password → uploads files from
//                      the browser straight to S3 → history lists them. A third
//                      person opening the used link must get an error.
//     env: EGX_BASE_URL EGX_SETUP_LINK EGX_OWNER_USER EGX_OWNER_PASSWORD
//          EGX_TEAMMATE EGX_TEAMMATE_PASSWORD EGX_FILES [EGX_SCREENSHOT_DIR]
//     stdout: {"ok":true,"access_key_id":"...","uploaded":["streaming/...", ...]}
//
//   lifecycle          sign in as the (existing) owner; bulk-add teammates from the
//                      CSV file EGX_CSV_FILE through the file input (the page's
//                      script reads it into the form); issue a portal-account link
//                      for EGX_TEAMMATE, reveal it as the teammate (no key shown)
//                      and set EGX_TEAMMATE_PASSWORD with it.
//     env: EGX_BASE_URL EGX_OWNER_USER EGX_OWNER_PASSWORD EGX_TEAMMATE
//          EGX_TEAMMATE_PASSWORD EGX_CSV_FILE [EGX_SCREENSHOT_DIR]
//     stdout: {"ok":true,"added":["name", ...],"account_link_used":true}
//
//   upload-only        sign in as an existing teammate and upload EGX_FILES;
//                      EGX_EXPECT=success wants every row done, EGX_EXPECT=failure
//                      wants every row in error with a message about CORS (run it
//                      against a bucket whose CORS does not allow the portal).
//     env: EGX_BASE_URL EGX_TEAMMATE EGX_TEAMMATE_PASSWORD EGX_FILES EGX_EXPECT
//          [EGX_SCREENSHOT_DIR]
//     stdout: {"ok":true,"rows":["row text", ...]}
//
//   link-guards        open a one-time link where Reveal must refuse BEFORE asking
//                      the server for anything: over plain http on a host that is
//                      not localhost (no WebCrypto: not a secure context), and with
//                      the #fragment cut short; then with one character of the
//                      fragment changed (the page asks, the portal refuses).
//                      Nothing may be used up.
//     env: EGX_LINK
//     stdout: {"ok":true,"insecure":"…","incomplete":"…","altered":"…","reveal_posts":1}
//
// EGX_FILES is a JSON array of {"path": "/abs/file", "prefix": "streaming"|"batch",
// "folder": "optional/sub"}. EGX_CHROMIUM overrides /usr/bin/chromium.
//
// Setup: `npm ci` in tests/browser (playwright-core only; it drives the system
// Chromium and never downloads a browser). Against a local portal:
//   EGX_LISTEN=127.0.0.1:8080 scripts/dev.sh > /tmp/dev.log 2>&1 &   # prints the setup link
//   EGX_BASE_URL=http://127.0.0.1:8080 EGX_SETUP_LINK=... EGX_OWNER_USER=owner \
//   EGX_OWNER_PASSWORD=... EGX_TEAMMATE=alice-1 EGX_TEAMMATE_PASSWORD=... \
//   EGX_FILES='[{"path":"/tmp/a.csv","prefix":"streaming"}]' node tests/browser/journey.mjs
//
// Progress goes to stderr; stdout gets exactly one line of JSON on success.
// On anything unexpected the script exits 1 naming the step, with the page's
// URL and visible text. Secrets (passwords, the secret access key, the key in
// the link's #fragment) are never printed: every line of output is redacted.
// Every wait is bounded and a watchdog ends the process if all else fails.

import { chromium } from 'playwright-core';
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

// ----------------------------------------------------------------- limits ---
const NAV_TIMEOUT_MS = 15_000; // one page load or form submission
const ACTION_TIMEOUT_MS = 15_000; // one click / fill / visibility wait
const UPLOAD_TIMEOUT_MS = 60_000; // one file, from choosing it to state-done
const LAUNCH_TIMEOUT_MS = 30_000;
// Hard ceiling for the whole run, in case something hangs outside Playwright's
// own timeouts (e.g. the browser process wedges while closing).
const WATCHDOG_BASE_MS = 180_000;

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// ---------------------------------------------------- output and secrets ---
// Strings that must never reach stdout/stderr. Filled as they become known.
const secrets = new Set();
function addSecret(value) {
  if (typeof value === 'string' && value.length >= 4) secrets.add(value);
}
function redact(text) {
  let out = String(text);
  for (const s of secrets) out = out.split(s).join('[redacted]');
  // Presigned S3 URLs in browser diagnostics are short-lived write grants.
  return out.replace(/(X-Amz-(?:Signature|Security-Token)=)[^&\s'"]+/gi, '$1[redacted]');
}
function log(message) {
  process.stderr.write(`[journey] ${redact(message)}\n`);
}

// A failure that already carries its step name and page state.
class StepFailure extends Error {}

// ------------------------------------------------------------------ inputs --
function requireEnv(name) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new StepFailure(`missing environment variable ${name}`);
  }
  return value;
}

function readFiles() {
  const raw = requireEnv('EGX_FILES');
  let files;
  try {
    files = JSON.parse(raw);
  } catch (e) {
    throw new StepFailure(`EGX_FILES is not valid JSON: ${e.message}`);
  }
  if (!Array.isArray(files) || files.length === 0) {
    throw new StepFailure('EGX_FILES must be a non-empty JSON array');
  }
  return files.map((f, i) => {
    if (!f || typeof f.path !== 'string' || !path.isAbsolute(f.path)) {
      throw new StepFailure(`EGX_FILES[${i}].path must be an absolute path`);
    }
    if (f.prefix !== 'streaming' && f.prefix !== 'batch') {
      throw new StepFailure(`EGX_FILES[${i}].prefix must be "streaming" or "batch"`);
    }
    try {
      if (!statSync(f.path).isFile()) throw new Error('not a regular file');
    } catch (e) {
      throw new StepFailure(`EGX_FILES[${i}].path ${f.path}: ${e.message}`);
    }
    return { path: f.path, prefix: f.prefix, folder: typeof f.folder === 'string' ? f.folder : '' };
  });
}

function baseUrl() {
  const raw = requireEnv('EGX_BASE_URL').replace(/\/+$/, '');
  try {
    return new URL(raw).origin;
  } catch {
    throw new StepFailure(`EGX_BASE_URL is not a URL: ${raw}`);
  }
}

// ------------------------------------------------------ browser plumbing ---
// Per-page diagnostics (console errors, failed requests, HTTP errors) so that a
// failure report says more than "timed out".
const diagnostics = new WeakMap();

async function newPage(browser, label) {
  const context = await browser.newContext({ acceptDownloads: false });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAV_TIMEOUT_MS);
  const page = await context.newPage();
  const notes = [];
  const note = (line) => {
    notes.push(line);
    if (notes.length > 20) notes.shift();
  };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') note(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => note(`page error: ${e.message}`));
  page.on('requestfailed', (r) => note(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => {
    if (r.status() >= 400) note(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  diagnostics.set(page, { label, notes });
  return { context, page };
}

// The state of a page, for failure messages: URL, visible text, recent errors.
async function describePage(page) {
  if (!page || page.isClosed()) return '(no page open)';
  const url = page.url();
  let text = '';
  try {
    text = await page.locator('body').innerText({ timeout: 3_000 });
  } catch (e) {
    text = `(could not read the page text: ${e.message.split('\n')[0]})`;
  }
  const { label = '?', notes = [] } = diagnostics.get(page) || {};
  const lines = [
    `--- page (${label}) ---`,
    `URL: ${url}`,
    'visible text:',
    ...text.split('\n').filter((l) => l.trim()).map((l) => `  | ${l}`),
  ];
  if (notes.length) lines.push('recent browser events:', ...notes.map((n) => `  ! ${n}`));
  return lines.join('\n');
}

// Screenshots, numbered in the order taken, when EGX_SCREENSHOT_DIR is set.
// Elements that show a secret or a live one-time link are painted over, so the
// pictures can be kept as CI artifacts.
const SECRET_ELEMENTS = '#secret-access-key, #aws-configure, #one-time-link';
let shotCounter = 0;
async function screenshot(page, name) {
  const dir = process.env.EGX_SCREENSHOT_DIR;
  if (!dir || !page || page.isClosed()) return;
  mkdirSync(dir, { recursive: true });
  shotCounter += 1;
  const file = path.join(dir, `${String(shotCounter).padStart(2, '0')}-${name}.png`);
  try {
    await page.screenshot({ path: file, fullPage: true, timeout: 10_000, mask: [page.locator(SECRET_ELEMENTS)] });
    log(`screenshot ${file}`);
  } catch (e) {
    log(`screenshot ${file} failed: ${e.message.split('\n')[0]}`);
  }
}

// Run one named step. Whatever goes wrong inside is rethrown as a StepFailure
// that names the step and shows the page the step was looking at.
let currentPage = null;
async function step(name, fn) {
  log(`step: ${name}`);
  try {
    return await fn();
  } catch (e) {
    if (e instanceof StepFailure) throw e;
    const state = await describePage(currentPage);
    await screenshot(currentPage, 'FAILED');
    throw new StepFailure(`step "${name}" failed: ${e.message}\n${state}`);
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// --------------------------------------------------------- page helpers ---
async function open(page, url, name) {
  const response = await page.goto(url, { waitUntil: 'load' });
  check(response, `no response for ${url}`);
  check(response.ok(), `GET ${url} answered HTTP ${response.status()}`);
  await screenshot(page, name);
}

// Click a form's submit button and wait for the new page. The browser's own
// validation (required, minlength, pattern) would silently block the submit;
// ask the form first so that shows up as a clear message instead of a timeout.
async function submitForm(page, formSelector, buttonSelector = 'button[type=submit]') {
  const form = page.locator(formSelector);
  await form.waitFor({ state: 'visible' });
  const invalid = await form.evaluate((f) =>
    f.checkValidity()
      ? null
      : Array.from(f.elements)
          .filter((el) => el.willValidate && !el.checkValidity())
          .map((el) => `${el.name || el.id}: ${el.validationMessage}`)
          .join('; '),
  );
  check(!invalid, `the browser refuses to submit ${formSelector}: ${invalid}`);
  await Promise.all([
    page.waitForEvent('load', { timeout: NAV_TIMEOUT_MS }),
    form.locator(buttonSelector).click(),
  ]);
}

// After a navigation: must be on `pathname`, and the page must not be showing
// a form error (the portal renders those as #form-error).
async function expectPath(page, pathname) {
  const formError = page.locator('#form-error');
  if (await formError.count()) {
    throw new Error(`the page shows an error: ${await formError.innerText()}`);
  }
  const actual = new URL(page.url()).pathname;
  check(actual === pathname, `expected to be on ${pathname}, but the browser is on ${actual}`);
}

async function fillForm(page, formSelector, values) {
  for (const [name, value] of Object.entries(values)) {
    await page.locator(`${formSelector} input[name="${name}"]`).fill(value);
  }
}

async function signOut(page) {
  await submitForm(page, 'form.logout');
  await expectPath(page, '/login');
}

async function signIn(page, base, username, password, landing) {
  await open(page, `${base}/login`, 'login');
  await fillForm(page, '#login-form', { username, password });
  await submitForm(page, '#login-form');
  await expectPath(page, landing);
}

async function textOf(page, selector) {
  return (await page.locator(selector).innerText()).trim();
}

// Upload each file through the page's own UI, one at a time, and wait for
// its row in #queue to settle. Returns [{key, state, text}] per file.
async function uploadFiles(page, files) {
  const rows = [];
  for (const file of files) {
    const label = `${file.prefix}/${file.folder ? `${file.folder}/` : ''}${path.basename(file.path)}`;
    await page.locator(`input[name=prefix][value="${file.prefix}"]`).check();
    await page.locator('#folder').fill(file.folder);
    // Each file adds exactly one <li>: the new one is the next child.
    const index = (await page.locator('#queue > li').count()) + 1;
    await page.locator('#file-input').setInputFiles(file.path);
    const row = page.locator(`#queue > li:nth-child(${index})`);
    await row.waitFor({ state: 'attached' });
    let state;
    try {
      state = await row.evaluate(
        (li, timeout) =>
          new Promise((resolve, reject) => {
            const settled = () => /\bstate-(done|error)\b/.exec(li.className)?.[1];
            if (settled()) return resolve(settled());
            const timer = setTimeout(() => {
              observer.disconnect();
              reject(new Error(`still "${li.className}" after ${timeout} ms`));
            }, timeout);
            const observer = new MutationObserver(() => {
              if (!settled()) return;
              clearTimeout(timer);
              observer.disconnect();
              resolve(settled());
            });
            observer.observe(li, { attributes: true, attributeFilter: ['class'] });
          }),
        UPLOAD_TIMEOUT_MS,
      );
    } catch (e) {
      throw new Error(`upload of ${label}: ${e.message.split('\n')[0]}; row: ${await row.innerText()}`);
    }
    const text = (await row.innerText()).replace(/\s+/g, ' ').trim();
    const key = await row.getAttribute('data-key');
    log(`upload ${label}: ${state}: ${text}`);
    rows.push({ label, key, state, text });
  }
  await screenshot(page, 'upload-queue');
  return rows;
}

// ----------------------------------------------------------- the journey ---
async function runJourney(browser) {
  const base = baseUrl();
  const setupLink = requireEnv('EGX_SETUP_LINK');
  const ownerUser = requireEnv('EGX_OWNER_USER');
  const ownerPassword = requireEnv('EGX_OWNER_PASSWORD');
  const teammate = requireEnv('EGX_TEAMMATE');
  const teammatePassword = requireEnv('EGX_TEAMMATE_PASSWORD');
  const files = readFiles();
  addSecret(ownerPassword);
  addSecret(teammatePassword);

  // --- the owner -----------------------------------------------------------
  const owner = await newPage(browser, 'owner');
  currentPage = owner.page;

  await step('1. owner setup through the one-time setup link', async () => {
    await open(owner.page, setupLink, 'setup');
    await fillForm(owner.page, '#setup-form', { username: ownerUser, password: ownerPassword, confirm: ownerPassword });
    await submitForm(owner.page, '#setup-form');
    // The new owner is offered two-factor authentication first; skip it here.
    await expectPath(owner.page, '/admin/security');
    await screenshot(owner.page, 'two-factor-offer');
    await Promise.all([
      owner.page.waitForEvent('load', { timeout: NAV_TIMEOUT_MS }),
      owner.page.locator('#skip-two-factor').click(),
    ]);
    await expectPath(owner.page, '/admin/teammates');
    await screenshot(owner.page, 'teammates-after-setup');
  });

  await step('2. owner signs out and in again', async () => {
    await signOut(owner.page);
    await screenshot(owner.page, 'signed-out');
    await signIn(owner.page, base, ownerUser, ownerPassword, '/admin/teammates');
  });

  const { link, ownerKeyId } = await step('3. owner adds the teammate', async () => {
    await fillForm(owner.page, '#add-teammate', { username: teammate });
    await submitForm(owner.page, '#add-teammate');
    await expectPath(owner.page, '/admin/teammates');
    const linkText = await textOf(owner.page, '#one-time-link');
    const keyId = await textOf(owner.page, '#access-key-id');
    // The part after # decrypts the secret: treat it as a secret from now on.
    const hash = linkText.indexOf('#');
    if (hash >= 0) addSecret(linkText.slice(hash + 1));
    check(/^https?:\/\/[^/]+\/l\/[^/#]+#.+$/.test(linkText), `#one-time-link does not look like http://…/l/<id>#<key>: ${linkText}`);
    check(keyId.length > 0, '#access-key-id is empty');
    await screenshot(owner.page, 'teammate-created');
    log(`teammate ${teammate} created, access key id ${keyId}`);
    return { link: linkText, ownerKeyId: keyId };
  });

  await step('3b. owner signs out', async () => {
    await signOut(owner.page);
    await owner.context.close();
  });

  // --- the teammate, in a browser of their own ------------------------------
  const mate = await newPage(browser, 'teammate');
  currentPage = mate.page;

  await step('4a. a link-preview bot fetches the link first', async () => {
    // Chat apps GET a pasted link to build a preview. That GET (which never
    // carries the #fragment) must not use the link up.
    const response = await mate.context.request.get(link, { timeout: NAV_TIMEOUT_MS, maxRedirects: 5 });
    check(response.ok(), `the bot's GET answered HTTP ${response.status()}`);
    const body = await response.text();
    check(!body.includes('aws_secret_access_key'), 'the page sent to the bot contains secret material');
    log(`bot GET ${response.status()} (${body.length} bytes)`);
  });

  // A third person who was sent the same link loads it now, before the
  // teammate reveals; step 4d clicks their Reveal button afterwards.
  const other = await newPage(browser, 'third person');
  await step('4b. a third person loads the link too (not revealing yet)', async () => {
    currentPage = other.page;
    await open(other.page, link, 'link-third-person');
    await other.page.locator('#reveal-button').waitFor({ state: 'visible' });
    currentPage = mate.page;
  });

  const secretKey = await step('4c. teammate opens the link and reveals the key', async () => {
    await open(mate.page, link, 'link-before-reveal');
    const card = mate.page.locator('#reveal-card');
    await card.waitFor({ state: 'visible' });
    await mate.page.locator('#reveal-button').waitFor({ state: 'visible' });
    // Nothing secret may be on screen before the click.
    check(await mate.page.locator('#after-reveal').isHidden(), '#after-reveal is visible before Reveal was clicked');
    check((await mate.page.locator('#secret-access-key').textContent()) === '', '#secret-access-key has text before Reveal');
    check(await mate.page.locator('#reveal-error').isHidden(), `#reveal-error shows before Reveal: ${await mate.page.locator('#reveal-error').textContent()}`);
    check(await mate.page.locator('#reveal-button').isEnabled(), '#reveal-button is disabled');

    await mate.page.locator('#reveal-button').click();
    // Either the secret or an error: whichever comes first, then judge.
    await mate.page.locator('#after-reveal:visible, #reveal-error:visible').first().waitFor({ state: 'visible' });
    if (await mate.page.locator('#reveal-error').isVisible()) {
      throw new Error(`Reveal showed an error: ${await textOf(mate.page, '#reveal-error')}`);
    }
    const secret = await textOf(mate.page, '#secret-access-key');
    addSecret(secret); // before anything else can print the page
    const keyId = await textOf(mate.page, '#access-key-id');
    const configure = await textOf(mate.page, '#aws-configure');
    check(keyId === ownerKeyId, `the revealed key id ${keyId} is not the one the owner saw (${ownerKeyId})`);
    check(secret.length > 0, '#secret-access-key is empty after Reveal');
    check(configure.includes('aws configure set aws_access_key_id'), '#aws-configure lacks "aws configure set aws_access_key_id"');
    check(configure.includes(`--profile ${teammate}`), `#aws-configure lacks "--profile ${teammate}"`);
    check(!mate.page.url().includes('#'), 'the address bar still has the #fragment after Reveal');
    await screenshot(mate.page, 'link-after-reveal');
    return secret;
  });
  check(secretKey, 'no secret'); // keep the value in scope only for redaction

  await step('4d. a used link reveals nothing to anyone else', async () => {
    // Someone who loaded the page before the teammate revealed (a colleague
    // who was also sent the link) still sees a Reveal button; their click
    // must come back empty.
    await other.page.locator('#reveal-button').click();
    await other.page.locator('#reveal-error').waitFor({ state: 'visible' });
    check(await other.page.locator('#after-reveal').isHidden(), 'a used link revealed a secret again');
    check((await other.page.locator('#secret-access-key').textContent()) === '', 'a used link filled #secret-access-key');
    log(`late Reveal says: ${await textOf(other.page, '#reveal-error')}`);
    await screenshot(other.page, 'used-link-late-reveal');

    // Someone opening the link only now: the portal may refuse the page
    // outright (4xx) or show it and refuse the Reveal. Either way no secret.
    const fresh = await other.context.newPage();
    diagnostics.set(fresh, { label: 'third person, fresh tab', notes: [] });
    currentPage = fresh;
    const response = await fresh.goto(link, { waitUntil: 'load' });
    check(response, `no response for ${link}`);
    if (response.ok()) {
      await fresh.locator('#reveal-button').click();
      await fresh.locator('#reveal-error').waitFor({ state: 'visible' });
      check(await fresh.locator('#after-reveal').isHidden(), 'a used link revealed a secret again');
      log(`used link, Reveal says: ${await textOf(fresh, '#reveal-error')}`);
    } else {
      check(response.status() >= 400 && response.status() < 500, `a used link answered HTTP ${response.status()}`);
      check((await fresh.locator('#reveal-button').count()) === 0, 'a refused link still shows #reveal-button');
      log(`used link answers HTTP ${response.status()}: ${(await fresh.locator('main').innerText()).replace(/\s+/g, ' ').trim()}`);
    }
    await screenshot(fresh, 'used-link-fresh-open');
    await other.context.close();
    currentPage = mate.page;
  });

  await step('5. teammate sets a portal password', async () => {
    await fillForm(mate.page, '#enrol-form', { password: teammatePassword, confirm: teammatePassword });
    // The form posts with fetch and then moves on with location.assign.
    await Promise.all([
      mate.page.waitForURL((url) => url.pathname === '/upload', { timeout: NAV_TIMEOUT_MS }).catch(async (e) => {
        const error = mate.page.locator('#enrol-error');
        if (await error.isVisible()) throw new Error(`#enrol-error: ${await error.innerText()}`);
        throw e;
      }),
      mate.page.locator('#enrol-form button[type=submit]').click(),
    ]);
    await mate.page.waitForLoadState('load');
    await expectPath(mate.page, '/upload');
    await screenshot(mate.page, 'upload-empty');
  });

  const rows = await step('6. teammate uploads the files from the browser', async () => {
    const result = await uploadFiles(mate.page, files);
    const failed = result.filter((r) => r.state !== 'done');
    check(failed.length === 0, `uploads failed:\n${failed.map((r) => `  ${r.label}: ${r.text}`).join('\n')}`);
    for (const r of result) check(r.key, `row for ${r.label} has no data-key`);
    return result;
  });

  await step('7. the upload history lists every file', async () => {
    await open(mate.page, `${base}/upload`, 'upload-history');
    await mate.page.locator('#history').waitFor({ state: 'visible' });
    const listed = (await mate.page.locator('#history tbody tr td:first-child').allInnerTexts()).map((t) => t.trim());
    const missing = rows.filter((r) => !listed.includes(r.key)).map((r) => r.key);
    check(missing.length === 0, `#history does not list: ${missing.join(', ')}`);
  });

  return { ok: true, access_key_id: ownerKeyId, uploaded: rows.map((r) => r.key) };
}

// -------------------------------------------------------- upload-only ------
async function runUploadOnly(browser) {
  const base = baseUrl();
  const teammate = requireEnv('EGX_TEAMMATE');
  const password = requireEnv('EGX_TEAMMATE_PASSWORD');
  const files = readFiles();
  const expect = requireEnv('EGX_EXPECT');
  if (expect !== 'success' && expect !== 'failure') {
    throw new StepFailure(`EGX_EXPECT must be "success" or "failure", got "${expect}"`);
  }
  addSecret(password);

  const mate = await newPage(browser, 'teammate');
  currentPage = mate.page;

  await step('sign in as the teammate', () => signIn(mate.page, base, teammate, password, '/upload'));

  const rows = await step(`upload the files (expecting ${expect})`, async () => {
    const result = await uploadFiles(mate.page, files);
    for (const r of result) {
      if (expect === 'success') {
        check(r.state === 'done', `${r.label} did not upload: ${r.text}`);
      } else {
        check(r.state === 'error', `${r.label} ended in state-${r.state}, but this run expects a failure: ${r.text}`);
        check(/CORS/.test(r.text), `${r.label} failed without mentioning CORS: ${r.text}`);
      }
    }
    return result;
  });

  return { ok: true, rows: rows.map((r) => r.text) };
}

// ------------------------------------------------------------ lifecycle ---
// The owner's lifecycle pages where the browser does the work: a CSV file
// read into the bulk-add form by the page's script, and a portal-account
// link (no key) revealed and used to set a new password.
async function runLifecycle(browser) {
  const base = baseUrl();
  const ownerUser = requireEnv('EGX_OWNER_USER');
  const ownerPassword = requireEnv('EGX_OWNER_PASSWORD');
  const teammate = requireEnv('EGX_TEAMMATE');
  const newPassword = requireEnv('EGX_TEAMMATE_PASSWORD');
  const csvFile = requireEnv('EGX_CSV_FILE');
  addSecret(ownerPassword);
  addSecret(newPassword);

  const owner = await newPage(browser, 'owner');
  currentPage = owner.page;
  await step('1. owner signs in', () => signIn(owner.page, base, ownerUser, ownerPassword, '/admin/teammates'));

  const added = await step('2. owner adds teammates from a CSV file', async () => {
    await open(owner.page, `${base}/admin/bulk-add`, 'bulk-add');
    await owner.page.locator('#csv-file').setInputFiles(csvFile);
    // The page's script puts the file's text into the CSV field.
    await owner.page.waitForFunction(() => document.getElementById('bulk-csv').value.length > 0, null, {
      timeout: ACTION_TIMEOUT_MS,
    });
    const text = await owner.page.locator('#bulk-csv').inputValue();
    check(text.startsWith('name'), `#bulk-csv does not hold the file: ${text.slice(0, 40)}`);
    await submitForm(owner.page, '#bulk-add');
    await expectPath(owner.page, '/admin/bulk-add');
    await owner.page.locator('#bulk-results').waitFor({ state: 'visible' });
    const rows = owner.page.locator('#bulk-results tbody tr');
    const names = [];
    for (let i = 0; i < (await rows.count()); i += 1) {
      const row = rows.nth(i);
      const name = await row.getAttribute('data-name');
      const outcome = (await row.locator('.outcome').innerText()).trim();
      check(outcome.startsWith('added'), `${name}: ${outcome}`);
      const link = (await row.locator('code.link').innerText()).trim();
      addSecret(link.slice(link.indexOf('#') + 1));
      check(/\/l\/[^/#]+#.+$/.test(link), `${name} has no one-time link`);
      names.push(name);
    }
    await screenshot(owner.page, 'bulk-results');
    return names;
  });

  const link = await step('3. owner issues a portal-account link', async () => {
    await open(owner.page, `${base}/admin/teammates/${teammate}`, 'teammate-page');
    await submitForm(owner.page, '#account-link');
    const text = await textOf(owner.page, '#one-time-link');
    addSecret(text.slice(text.indexOf('#') + 1));
    check((await owner.page.locator('#access-key-id').count()) === 0, 'an account link shows an access key');
    await screenshot(owner.page, 'account-link');
    return text;
  });

  const mate = await newPage(browser, 'teammate');
  currentPage = mate.page;
  await step('4. teammate reveals it: no key, a password form', async () => {
    await open(mate.page, link, 'account-link-before-reveal');
    await mate.page.locator('#reveal-button').click();
    await mate.page.locator('#after-reveal:visible, #reveal-error:visible').first().waitFor({ state: 'visible' });
    if (await mate.page.locator('#reveal-error').isVisible()) {
      throw new Error(`Reveal showed an error: ${await textOf(mate.page, '#reveal-error')}`);
    }
    check(await mate.page.locator('#account-only').isVisible(), '#account-only is not shown');
    check(await mate.page.locator('#key-section').isHidden(), 'the key section is shown for an account link');
    check((await mate.page.locator('#secret-access-key').textContent()) === '', 'a secret key was filled in');
    await screenshot(mate.page, 'account-link-after-reveal');
  });

  await step('5. teammate sets the new password', async () => {
    await fillForm(mate.page, '#enrol-form', { password: newPassword, confirm: newPassword });
    await Promise.all([
      mate.page.waitForURL((url) => url.pathname === '/upload', { timeout: NAV_TIMEOUT_MS }),
      mate.page.locator('#enrol-form button[type=submit]').click(),
    ]);
    await mate.page.waitForLoadState('load');
    await expectPath(mate.page, '/upload');
  });

  return { ok: true, added, account_link_used: true };
}

// -------------------------------------------------------- link-guards ------
// A host name that is not "potentially trustworthy" to the browser, mapped to
// 127.0.0.1 by a resolver rule: pages served from it over http get no WebCrypto.
const INSECURE_HOST = 'egx-insecure.test';

async function runLinkGuards(browser) {
  const link = requireEnv('EGX_LINK');
  const hash = link.indexOf('#');
  check(hash > 0, 'EGX_LINK has no #fragment');
  addSecret(link.slice(hash + 1));
  const { context, page } = await newPage(browser, 'teammate');
  currentPage = page;
  let revealPosts = 0;
  page.on('request', (r) => {
    if (r.method() === 'POST' && /\/reveal$/.test(new URL(r.url()).pathname)) revealPosts += 1;
  });

  const refusal = async (url, name) => {
    await open(page, url, name);
    const error = page.locator('#reveal-error');
    await error.waitFor({ state: 'visible' });
    check(await page.locator('#reveal-button').isDisabled(), '#reveal-button is still enabled');
    await page.locator('#reveal-button').click({ force: true }).catch(() => {});
    check(await page.locator('#after-reveal').isHidden(), '#after-reveal became visible');
    return textOf(page, '#reveal-error');
  };

  const insecure = await step('open the link over http on a host that is not localhost', async () => {
    const url = new URL(link);
    url.hostname = INSECURE_HOST;
    const message = await refusal(url.toString(), 'link-insecure-context');
    check(!(await page.evaluate(() => window.isSecureContext)), 'the page is a secure context after all');
    return message;
  });
  const incomplete = await step('open the link with its #fragment cut short', () =>
    refusal(link.slice(0, hash + 11), 'link-incomplete-fragment'),
  );
  check(revealPosts === 0, `the page POSTed to /reveal ${revealPosts} time(s)`);
  // A fragment of the right shape but altered: the page asks, the portal
  // refuses without using the link up (the key check does not match).
  const altered = await step('open the link with one character of the #fragment changed', async () => {
    const key = link.slice(hash + 1);
    const flipped = key.slice(0, 5) + (key[5] === 'A' ? 'B' : 'A') + key.slice(6);
    // (From another page: a change of the fragment alone would not load the page again.)
    await page.goto('about:blank');
    await open(page, `${link.slice(0, hash)}#${flipped}`, 'link-altered-fragment');
    await page.locator('#reveal-button').click();
    await page.locator('#reveal-error').waitFor({ state: 'visible' });
    check(await page.locator('#after-reveal').isHidden(), '#after-reveal became visible');
    return textOf(page, '#reveal-error');
  });
  await context.close();
  return { ok: true, insecure, incomplete, altered, reveal_posts: revealPosts };
}

// ------------------------------------------------------------------ main ---
async function main() {
  const mode = process.env.EGX_MODE || 'journey';
  const run = { journey: runJourney, 'upload-only': runUploadOnly, 'link-guards': runLinkGuards, lifecycle: runLifecycle }[
    mode
  ];
  if (!run) {
    throw new StepFailure(`EGX_MODE must be "journey", "upload-only", "link-guards" or "lifecycle", got "${mode}"`);
  }

  let fileCount = 0;
  try {
    fileCount = JSON.parse(process.env.EGX_FILES || '[]').length || 0;
  } catch {
    // readFiles() reports it properly
  }
  const watchdog = setTimeout(() => {
    process.stderr.write(`[journey] FAILED: watchdog: the run took longer than ${WATCHDOG_BASE_MS / 1000 + fileCount * 60} s\n`);
    process.exit(1);
  }, WATCHDOG_BASE_MS + fileCount * UPLOAD_TIMEOUT_MS);
  watchdog.unref();

  const executablePath = process.env.EGX_CHROMIUM || '/usr/bin/chromium';
  log(`mode ${mode}, browser ${executablePath}`);
  const args = [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`];
  const browser = await chromium.launch({ executablePath, args, timeout: LAUNCH_TIMEOUT_MS });
  try {
    const result = await run(browser);
    process.stdout.write(`${redact(JSON.stringify(result))}\n`);
  } finally {
    await browser.close().catch((e) => log(`closing the browser: ${e.message}`));
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    const message = e instanceof StepFailure ? e.message : `unexpected error: ${e.stack || e}`;
    process.stderr.write(`[journey] FAILED: ${redact(message)}\n`);
    process.exit(1);
  },
);
