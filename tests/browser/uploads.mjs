// Upload-page scenarios in a real headless Chromium, run by tests/api/multipart.rs
// and tests/api/doctor.rs. The Rust test prepares the portal (LocalStack,
// teammate, bucket CORS) and the files, runs this script, then checks S3.
//
// Input (environment):
//   EGX_BASE_URL, EGX_TEAMMATE, EGX_TEAMMATE_PASSWORD
//   EGX_STEPS   JSON list of steps, run in order:
//     {"do": "login"}
//     {"do": "upload", "prefix": "batch", "folder": "", "files": [paths], "input": "file"|"folder",
//      "expect": "done"|"error", "count": N}          waits until N new rows are settled
//                                 (a file may be {"path", "name", "mimeType"}: that type is what the page sees)
//     {"do": "upload-and-reload", "prefix", "folder", "file", "hold_from_part": 3}
//                                 holds parts >= hold_from_part, reloads once the earlier ones
//                                 are stored, adds the same file again and waits for done;
//                                 "fail_list_parts": true makes listing the parts fail after the reload
//     {"do": "replace"}            clicks "Replace" on the (one) conflicting row, waits for done
//     {"do": "reload"}
// Output: the last stdout line is JSON {ok, rows, parts_put, console, csp, warning_visible, ...}.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env("EGX_BASE_URL");
const steps = JSON.parse(env("EGX_STEPS"));
const result = { ok: false, rows: [], parts_put: [], part_puts_after_reload: [], list_parts_calls: 0, console: [], csp: [] };

const browser = await chromium.launch({
  executablePath: process.env.EGX_CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const context = await browser.newContext();
const page = await context.newPage();
page.setDefaultTimeout(120_000);
let reloaded = false;
page.on("console", (msg) => {
  if (msg.type() !== "error" && msg.type() !== "warning") return;
  const text = msg.text();
  result.console.push(text);
  if (/Content Security Policy/.test(text)) result.csp.push(text);
});
page.on("pageerror", (err) => result.console.push(`pageerror: ${err.message}`));
result.requests = [];
// The page's requests to the portal's API that have not finished yet.
const inFlight = new Set();
const isApi = (req) => req.url().startsWith(`${base}/api/`);
page.on("request", (req) => isApi(req) && inFlight.add(req));
page.on("requestfinished", (req) => inFlight.delete(req));
page.on("requestfailed", (req) => inFlight.delete(req));
page.on("requestfailed", (req) => result.requests.push(`${reloaded ? "after" : "before"} FAILED ${req.method()} ${req.url().slice(0, 90)}`));
page.on("requestfinished", async (req) => {
  result.requests.push(`${reloaded ? "after" : "before"} ${req.method()} ${(await req.response())?.status()} ${req.url().slice(0, 90)}`);
  const url = new URL(req.url());
  if (req.method() === "PUT" && url.searchParams.has("partNumber")) {
    const n = Number(url.searchParams.get("partNumber"));
    const status = (await req.response())?.status();
    (reloaded ? result.part_puts_after_reload : result.parts_put).push({ n, status });
  }
  if (req.method() === "GET" && /\/api\/multipart\/\d+\/parts$/.test(url.pathname)) result.list_parts_calls++;
});

const rowsNow = () =>
  page.$$eval("#queue li", (lis) =>
    lis.map((li) => ({
      state: li.className.replace(/^state-/, ""),
      key: li.dataset.key || null,
      name: li.querySelector(".name")?.textContent || "",
      msg: li.querySelector(".msg")?.textContent || "",
    })),
  );

const settled = async (count) => {
  await page.waitForFunction(
    (n) => {
      const lis = Array.from(document.querySelectorAll("#queue li"));
      return lis.length >= n && lis.slice(-n).every((li) => /state-(done|error)/.test(li.className));
    },
    count,
    { timeout: 300_000, polling: 200 },
  );
  return (await rowsNow()).slice(-count);
};

const destination = async (prefix, folder) => {
  await page.check(`input[name=prefix][value=${prefix}]`);
  await page.fill("#folder", folder || "");
};

for (const step of steps) {
  switch (step.do) {
    case "login": {
      await page.goto(`${base}/login`);
      await page.fill("input[name=username]", env("EGX_TEAMMATE"));
      await page.fill("input[name=password]", env("EGX_TEAMMATE_PASSWORD"));
      await page.click("#login-form button[type=submit]");
      await page.waitForLoadState("load");
      if (!/\/upload$/.test(page.url())) {
        const error = await page.textContent("#form-error").catch(() => "");
        throw new Error(`login did not reach /upload (at ${page.url()}): ${error} ${result.console.join(" | ")}`);
      }
      await page.waitForSelector("#dashboard .uppy-Dashboard");
      break;
    }
    case "reload": {
      await page.reload();
      await page.waitForSelector("#dashboard .uppy-Dashboard");
      break;
    }
    case "upload": {
      await destination(step.prefix, step.folder);
      const input = step.input === "folder" ? "#folder-input" : "#file-input";
      // A file given as {path, name, mimeType} reaches the page with exactly
      // that browser-reported type (as a browser's OS mapping may give).
      const files = Array.isArray(step.files)
        ? step.files.map((f) => (typeof f === "string" ? f : { name: f.name, mimeType: f.mimeType, buffer: readFileSync(f.path) }))
        : step.files;
      await page.setInputFiles(input, files);
      const rows = await settled(step.count ?? step.files.length);
      result.rows.push(...rows);
      break;
    }
    case "replace": {
      await page.click("#queue li.state-error button.replace");
      await page.waitForSelector("#queue li.state-done", { timeout: 120_000 });
      result.rows.push(...(await rowsNow()));
      break;
    }
    case "upload-and-reload": {
      // Cut the later parts off (as a dropped network would: Uppy retries them)
      // so the reload surely happens mid-upload with only the earlier parts stored.
      const from = step.hold_from_part;
      let held = 0;
      await page.route(
        (url) => url.searchParams.has("partNumber") && Number(url.searchParams.get("partNumber")) >= from,
        (route) => {
          held++;
          return route.abort("connectionfailed");
        },
      );
      await destination(step.prefix, step.folder);
      await page.setInputFiles("#file-input", [step.file]);
      const deadline = Date.now() + 60_000;
      while (result.parts_put.filter((p) => p.status === 200).length < from - 1) {
        if (Date.now() > deadline) throw new Error(`parts before ${from} never finished: ${JSON.stringify(result.parts_put)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      result.held_parts = held;
      // Reload first, then let the network through: a part cut off mid-body by
      // the reload would otherwise reach S3 half sent.
      reloaded = true;
      await page.reload();
      await page.unrouteAll({ behavior: "ignoreErrors" });
      if (step.fail_list_parts) {
        // S3 cannot say which parts it holds (as moto's ListParts answers the SDK
        // in a shape it cannot read): the portal's listing answers 502.
        await page.route(
          (url) => /\/api\/multipart\/\d+\/parts$/.test(url.pathname),
          (route) =>
            route.fulfill({
              status: 502,
              contentType: "application/json",
              body: JSON.stringify({ error: "upstream", message: "S3 could not list the uploaded parts; try again." }),
            }),
        );
      }
      await page.waitForSelector("#dashboard .uppy-Dashboard");
      await destination(step.prefix, step.folder);
      await page.setInputFiles("#file-input", [step.file]);
      result.rows.push(...(await settled(1)));
      break;
    }
    default:
      throw new Error(`unknown step ${JSON.stringify(step)}`);
  }
}
// Let the page's last calls to the portal (an abort after an error, a
// completion) finish before the browser closes: wait until none has been
// open for half a second (bounded).
const quietBy = Date.now() + 15_000;
let quietSince = Date.now();
while (Date.now() < quietBy && (inFlight.size > 0 || Date.now() - quietSince < 500)) {
  if (inFlight.size > 0) quietSince = Date.now();
  await new Promise((r) => setTimeout(r, 50));
}
result.unfinished_api_calls = [...inFlight].map((r) => `${r.method()} ${r.url()}`);
result.warning_visible = await page.isVisible("#cors-warning");
result.history = await page.$$eval("#history tbody tr td code", (cs) => cs.map((c) => c.textContent));
await page.screenshot({ path: process.env.EGX_SCREENSHOT || "/tmp/egx-uploads-last.png", fullPage: true }).catch(() => {});
result.ok = true;
await browser.close();
console.log(JSON.stringify(result));
