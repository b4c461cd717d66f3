// bench/node/portal.mjs — the HTTP steps the benchmarks need, played as a
// browser would (forms, CSRF tokens, the one-time link's reveal and its
// decryption with the key from the #fragment). Secrets it handles (cookies,
// passwords, link keys) go only to the file named by --out (mode 600), never
// to stdout, which gets timings and counts as JSON.
//
//   node portal.mjs onboard BASE OWNER OWNER_PW NAME NAME_PW --out FILE
//       owner signs in, adds teammate NAME (IAM user + key + link), NAME
//       reveals and enrols; FILE gets {owner:{cookie,csrf}, teammate:{cookie,csrf}}
//   node portal.mjs login BASE USER PASSWORD --out FILE
//       signs in; FILE gets {cookie, csrf}
//   node portal.mjs add-many BASE OWNER OWNER_PW PREFIX COUNT
//       the owner adds PREFIX-01..COUNT one after another through the
//       "Add teammate" form; prints {count, ok, seconds, per_teammate_s}
//   node portal.mjs bulk BASE OWNER OWNER_PW PATH FIELD PREFIX COUNT
//       one POST of all the names (newline-separated in form field FIELD) to
//       PATH; prints {status, seconds, names} (status 404: no such route yet)
//   node portal.mjs race BASE LINKS_FILE ROUNDS CONCURRENCY
//       LINKS_FILE: "ID KEY_CHECK" a line (examples/bench_seed.rs links);
//       per round, CONCURRENCY simultaneous reveals of one fresh link, each on
//       its own connection from its own X-Forwarded-For address; prints
//       {rounds, winners_per_round, bad_rounds}
import { createDecipheriv, createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";

const [cmd, ...args] = process.argv.slice(2);
const outIndex = args.indexOf("--out");
const out = outIndex >= 0 ? args.splice(outIndex, 2)[1] : null;

class Person {
  constructor(base) {
    this.base = base;
    this.cookie = "";
  }
  async fetch(path, init = {}) {
    const headers = { ...(init.headers || {}) };
    if (this.cookie) headers.cookie = this.cookie;
    const res = await fetch(this.base + path, { ...init, headers, redirect: "manual" });
    const set = res.headers.getSetCookie?.() || [];
    for (const c of set) {
      const pair = c.split(";")[0];
      if (pair.startsWith("egx_session=")) this.cookie = pair.endsWith("=") ? "" : pair;
    }
    return res;
  }
  async form(path, fields) {
    return this.fetch(path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
  }
  async csrf(path) {
    const html = await (await this.fetch(path)).text();
    const m = html.match(/name="csrf_token" value="([^"]+)"/) || html.match(/data-csrf="([^"]+)"/);
    if (!m) throw new Error(`no CSRF token on ${path}`);
    return m[1];
  }
  async login(user, password) {
    const res = await this.form("/login", { username: user, password });
    if (res.status !== 303 || !this.cookie) throw new Error(`login as ${user}: HTTP ${res.status}`);
  }
}

const text = (html, id) => {
  const m = html.match(new RegExp(`id="${id}"[^>]*>([^<]*)<`));
  return m ? m[1].trim() : "";
};

async function addTeammate(owner, name, csrf) {
  const res = await owner.form("/admin/teammates", { csrf_token: csrf, username: name });
  const html = await res.text();
  const link = text(html, "one-time-link");
  if (res.status !== 200 || !link) throw new Error(`adding ${name}: HTTP ${res.status} ${text(html, "form-error")}`);
  return link.replaceAll("&#x23;", "#").replaceAll("&#35;", "#");
}

function openPayload(id, storedB64, keyB64) {
  const stored = Buffer.from(storedB64, "base64url");
  const key = Buffer.from(keyB64, "base64url");
  const d = createDecipheriv("aes-256-gcm", key, stored.subarray(0, 12));
  d.setAAD(Buffer.from(id));
  d.setAuthTag(stored.subarray(stored.length - 16));
  return JSON.parse(Buffer.concat([d.update(stored.subarray(12, stored.length - 16)), d.final()]).toString());
}

// What the page's script sends with Reveal: proof of holding the link's key.
const keyCheck = (id, keyB64) =>
  createHash("sha256").update(`egx-link-key-check:v1:${id}:`).update(Buffer.from(keyB64, "base64url")).digest("base64url");

async function onboard([base, ownerUser, ownerPw, name, namePw]) {
  const owner = new Person(base);
  await owner.login(ownerUser, ownerPw);
  const link = await addTeammate(owner, name, await owner.csrf("/admin/teammates"));
  const [url, key] = link.split("#");
  const id = url.split("/").pop();
  const mate = new Person(base);
  const revealed = await mate.fetch(`/l/${id}/reveal`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ check: keyCheck(id, key) }),
  });
  if (revealed.status !== 200) throw new Error(`reveal: HTTP ${revealed.status}`);
  const payload = openPayload(id, (await revealed.json()).payload, key);
  const enrol = await mate.fetch(`/l/${id}/enrol`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ enrol_token: payload.enrol_token, password: namePw, confirm: namePw }),
  });
  if (enrol.status !== 200 || !mate.cookie) throw new Error(`enrol: HTTP ${enrol.status}`);
  const secrets = {
    owner: { cookie: owner.cookie, csrf: await owner.csrf("/admin/teammates") },
    teammate: { cookie: mate.cookie, csrf: await mate.csrf("/upload") },
  };
  writeFileSync(out, JSON.stringify(secrets), { mode: 0o600 });
  return { onboarded: name };
}

async function login([base, user, password]) {
  const who = new Person(base);
  await who.login(user, password);
  const csrf = await who.csrf(user === "owner" ? "/admin/teammates" : "/upload");
  writeFileSync(out, JSON.stringify({ cookie: who.cookie, csrf }), { mode: 0o600 });
  return { signed_in: user };
}

const names = (prefix, count) => Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(2, "0")}`);

async function addMany([base, ownerUser, ownerPw, prefix, count]) {
  const owner = new Person(base);
  await owner.login(ownerUser, ownerPw);
  const csrf = await owner.csrf("/admin/teammates");
  const started = performance.now();
  let ok = 0;
  const failures = [];
  for (const name of names(prefix, Number(count))) {
    try {
      await addTeammate(owner, name, csrf);
      ok++;
    } catch (e) {
      failures.push(e.message);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { count: Number(count), ok, failures, seconds, per_teammate_s: seconds / Number(count) };
}

async function bulk([base, ownerUser, ownerPw, path, field, prefix, count]) {
  const owner = new Person(base);
  await owner.login(ownerUser, ownerPw);
  const csrf = await owner.csrf("/admin/teammates");
  const list = names(prefix, Number(count));
  const started = performance.now();
  const res = await owner.form(path, { csrf_token: csrf, [field]: list.join("\n") });
  const html = await res.text();
  const seconds = (performance.now() - started) / 1000;
  return { status: res.status, seconds, names: list.length, links_on_page: (html.match(/\/l\/[A-Za-z0-9_-]{22}#/g) || []).length };
}

function reveal(base, link, ip) {
  const [id, check] = link.split(" ");
  const body = JSON.stringify({ check });
  return new Promise((resolve) => {
    const req = http.request(`${base}/l/${id}/reveal`, {
      method: "POST",
      agent: false,
      headers: { "x-forwarded-for": ip, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      timeout: 30_000,
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

async function race([base, linksFile, rounds, concurrency]) {
  const ids = readFileSync(linksFile, "utf8").split("\n").filter(Boolean);
  if (ids.length < Number(rounds)) throw new Error(`need ${rounds} links, have ${ids.length}`);
  const winners = [];
  const statuses = {};
  for (let r = 0; r < Number(rounds); r++) {
    const all = await Promise.all(
      Array.from({ length: Number(concurrency) }, (_, i) => reveal(base, ids[r], `10.99.${r % 250}.${i + 1}`)),
    );
    for (const s of all) statuses[s] = (statuses[s] || 0) + 1;
    winners.push(all.filter((s) => s === 200).length);
  }
  const bad = winners.map((w, r) => ({ round: r + 1, winners: w })).filter((x) => x.winners !== 1);
  return { rounds: Number(rounds), concurrency: Number(concurrency), winners_per_round: winners, statuses, bad_rounds: bad };
}

const commands = { login, onboard, "add-many": addMany, bulk, race };
if (!commands[cmd]) {
  console.error(`usage: node portal.mjs ${Object.keys(commands).join("|")} ...`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await commands[cmd](args)));
} catch (e) {
  console.error(`portal.mjs ${cmd}: ${e.message}`);
  process.exit(1);
}
