#!/usr/bin/env node
// tests/browser/screenshots.mjs — the README's screenshots, in headless Chromium.
//
// Signs in as the owner and takes /admin/teammates, then as a teammate and
// takes /upload with a few files uploaded (their rows done). Run by
// scripts/screenshots.sh after tests/browser/journey.mjs has made the owner
// and the teammate.
//   env: EGX_BASE_URL EGX_OWNER_USER EGX_OWNER_PASSWORD EGX_TEAMMATE
//        EGX_TEAMMATE_PASSWORD EGX_FILES (JSON [{path,prefix,folder}]) EGX_OUT_DIR
// Every wait is bounded; nothing secret is printed.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const TIMEOUT_MS = 20_000;
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

async function signIn(page, base, user, password) {
  await page.goto(`${base}/login`, { waitUntil: 'load' });
  await page.locator('#login-form input[name="username"]').fill(user);
  await page.locator('#login-form input[name="password"]').fill(password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.locator('#login-form button[type=submit]').click()]);
}

async function main() {
  const base = env('EGX_BASE_URL').replace(/\/$/, '');
  const out = env('EGX_OUT_DIR');
  mkdirSync(out, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.EGX_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
    timeout: 30_000,
  });
  try {
    const viewport = { width: 1200, height: 800 };
    const owner = await (await browser.newContext({ viewport })).newPage();
    owner.setDefaultTimeout(TIMEOUT_MS);
    await signIn(owner, base, env('EGX_OWNER_USER'), env('EGX_OWNER_PASSWORD'));
    await owner.goto(`${base}/admin/teammates`, { waitUntil: 'load' });
    await owner.screenshot({ path: path.join(out, 'teammates.png'), fullPage: true });

    const mate = await (await browser.newContext({ viewport })).newPage();
    mate.setDefaultTimeout(TIMEOUT_MS);
    await signIn(mate, base, env('EGX_TEAMMATE'), env('EGX_TEAMMATE_PASSWORD'));
    await mate.goto(`${base}/upload`, { waitUntil: 'load' });
    const files = JSON.parse(env('EGX_FILES'));
    for (const [i, file] of files.entries()) {
      await mate.locator(`input[name=prefix][value="${file.prefix}"]`).check();
      await mate.locator('#folder').fill(file.folder || '');
      await mate.locator('#file-input').setInputFiles(file.path);
      await mate.locator(`#queue > li:nth-child(${i + 1}).state-done`).waitFor({ timeout: 60_000 });
    }
    await mate.screenshot({ path: path.join(out, 'upload.png'), fullPage: true });
    process.stdout.write(`${JSON.stringify({ ok: true, files: ['teammates.png', 'upload.png'] })}\n`);
  } finally {
    await browser.close();
  }
}

const watchdog = setTimeout(() => {
  process.stderr.write('[screenshots] watchdog: took longer than 240 s\n');
  process.exit(1);
}, 240_000);
watchdog.unref();
main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`[screenshots] FAILED: ${e.message}\n`);
    process.exit(1);
  },
);
