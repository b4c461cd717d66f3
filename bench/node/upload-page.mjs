// bench/node/upload-page.mjs — one file uploaded through the portal's upload
// page in headless Chromium (/usr/bin/chromium, driven by playwright-core),
// timed from choosing the file to its row reaching "done" (the portal has
// then confirmed the object with HeadObject). Sign-in is not timed.
//
//   EGX_BASE_URL EGX_TEAMMATE EGX_TEAMMATE_PASSWORD EGX_FILE [EGX_FOLDER] node upload-page.mjs
// stdout: {"seconds", "bytes", "mb_per_s", "state", "key", "part_puts", "console_errors"}
import { statSync } from "node:fs";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env("EGX_BASE_URL");
const file = env("EGX_FILE");
const watchdog = setTimeout(() => {
  console.error("upload-page.mjs: watchdog (30 min) fired");
  process.exit(3);
}, 30 * 60_000);

const browser = await chromium.launch({
  executablePath: process.env.EGX_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(60_000);
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  let partPuts = 0;
  page.on("requestfinished", (req) => {
    if (req.method() === "PUT" && new URL(req.url()).searchParams.has("partNumber")) partPuts++;
  });
  await page.goto(`${base}/login`);
  await page.fill("input[name=username]", env("EGX_TEAMMATE"));
  await page.fill("input[name=password]", env("EGX_TEAMMATE_PASSWORD"));
  await page.click("#login-form button[type=submit]");
  await page.waitForURL(/\/upload$/);
  await page.waitForSelector("#dashboard .uppy-Dashboard");
  await page.check("input[name=prefix][value=batch]");
  await page.fill("#folder", process.env.EGX_FOLDER || "page");
  const started = performance.now();
  await page.setInputFiles("#file-input", [file]);
  await page.waitForFunction(
    () => {
      const li = document.querySelector("#queue li");
      return li && /state-(done|error)/.test(li.className);
    },
    null,
    { timeout: 25 * 60_000, polling: 50 },
  );
  const seconds = (performance.now() - started) / 1000;
  const row = await page.$eval("#queue li", (li) => ({
    state: li.className.replace(/^state-/, ""),
    key: li.dataset.key || null,
    msg: li.querySelector(".msg")?.textContent || "",
  }));
  const bytes = statSync(file).size;
  console.log(JSON.stringify({ seconds, bytes, mb_per_s: bytes / 1e6 / seconds, ...row, part_puts: partPuts, console_errors: errors }));
} finally {
  await browser.close();
  clearTimeout(watchdog);
}
