// The upload page: files and folders go straight from the browser to S3
// through URLs the portal signs one file at a time. The portal decides the
// key and the Content-Type; this script sends exactly what was signed.
"use strict";
(() => {
  const root = document.getElementById("uploader");
  if (!root) return;
  const csrf = root.dataset.csrf;
  const maxBytes = Number(root.dataset.maxBytes);
  const form = document.getElementById("upload-form");
  const dropZone = document.getElementById("drop-zone");
  const queueList = document.getElementById("queue");
  const totals = document.getElementById("totals");
  const CONCURRENCY = 3;

  const queue = [];
  let active = 0;
  let bytesTotal = 0;
  let bytesDone = 0;
  let filesDone = 0;
  let filesFailed = 0;
  let startedAt = null;

  const human = (n) => {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(1)} ${units[i]}`;
  };

  const updateTotals = () => {
    const all = queue.length;
    const seconds = startedAt ? Math.max((Date.now() - startedAt) / 1000, 0.001) : 1;
    const speed = bytesDone / seconds;
    totals.textContent = `${filesDone} of ${all} files uploaded` +
      (filesFailed ? `, ${filesFailed} failed` : "") +
      ` — ${human(bytesDone)} of ${human(bytesTotal)}` + (bytesDone ? `, ${human(speed)}/s` : "");
  };

  const destination = () => {
    const data = new FormData(form);
    return { prefix: String(data.get("prefix") || ""), folder: String(data.get("folder") || "") };
  };

  const addRow = (path) => {
    const li = document.createElement("li");
    li.className = "state-waiting";
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = path;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    const msg = document.createElement("div");
    msg.className = "msg";
    msg.textContent = "Waiting";
    li.append(name, bar, msg);
    queueList.append(li);
    return { li, bar, msg };
  };

  const setState = (item, state, text) => {
    item.row.li.className = `state-${state}`;
    item.row.msg.textContent = text;
  };

  const s3ErrorCode = (xhr) => {
    const m = /<Code>([^<]+)<\/Code>/.exec(xhr.responseText || "");
    return m ? m[1] : `HTTP ${xhr.status}`;
  };

  const put = (item, signed) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", signed.url);
    for (const [name, value] of Object.entries(signed.headers || {})) xhr.setRequestHeader(name, value);
    let last = 0;
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      bytesDone += e.loaded - last;
      last = e.loaded;
      item.row.bar.value = e.loaded / Math.max(e.total, 1);
      setState(item, "uploading", `Uploading ${human(e.loaded)} of ${human(e.total)}`);
      updateTotals();
    };
    xhr.onload = () => {
      bytesDone += item.file.size - last;
      last = item.file.size;
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else {
        bytesDone -= last;
        reject(new Error(`S3 refused the upload (${s3ErrorCode(xhr)}). Try again; if it keeps failing, tell the portal owner.`));
      }
    };
    xhr.onerror = () => {
      bytesDone -= last;
      reject(new Error("The browser could not send the file to S3. Usually the bucket's CORS settings do not allow " +
        "this portal: ask the portal owner to run \"egx-portal doctor\". Also check your connection."));
    };
    xhr.send(item.file);
  });

  const api = async (url, body) => {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (response.status === 401) throw new Error("Your session has ended. Sign in again and retry.");
    if (!response.ok) throw new Error(data.message || `The portal answered ${response.status}.`);
    return data;
  };

  const uploadOne = async (item) => {
    if (startedAt === null) startedAt = Date.now();
    setState(item, "signing", "Preparing");
    const signed = await api("/api/uploads", {
      prefix: item.prefix, folder: item.folder, relative_path: item.path, size: item.file.size,
    });
    item.row.li.dataset.key = signed.key;
    setState(item, "uploading", "Uploading");
    await put(item, signed);
    setState(item, "confirming", "Confirming with S3");
    const done = await api(`/api/uploads/${signed.upload_id}/complete`);
    item.row.bar.value = 1;
    setState(item, "done", `Uploaded to ${done.key} (${human(done.size)})`);
    addToHistory(done.key, human(done.size));
  };

  // The history table below the uploader, kept current without a reload.
  const addToHistory = (key, size) => {
    let body = document.querySelector("#history tbody");
    if (!body) {
      const empty = document.getElementById("no-uploads");
      const table = document.createElement("table");
      table.id = "history";
      table.innerHTML = "<thead><tr><th>Key</th><th>Size</th><th>When</th></tr></thead><tbody></tbody>";
      if (empty) empty.replaceWith(table);
      body = table.querySelector("tbody");
    }
    const row = document.createElement("tr");
    const cells = [key, size, "just now"].map((text, i) => {
      const td = document.createElement("td");
      if (i === 0) {
        const code = document.createElement("code");
        code.textContent = text;
        td.append(code);
      } else {
        td.textContent = text;
      }
      return td;
    });
    row.append(...cells);
    body.prepend(row);
  };

  const pump = () => {
    while (active < CONCURRENCY) {
      const next = queue.find((i) => i.status === "waiting");
      if (!next) break;
      next.status = "running";
      active++;
      uploadOne(next)
        .then(() => { next.status = "done"; filesDone++; })
        .catch((e) => {
          next.status = "failed";
          filesFailed++;
          bytesTotal -= next.file.size;
          next.row.bar.value = 0;
          setState(next, "error", e.message);
        })
        .finally(() => { active--; updateTotals(); pump(); });
    }
  };

  const enqueue = (entries) => {
    const { prefix, folder } = destination();
    for (const { file, path } of entries) {
      const item = { file, path, prefix, folder, status: "waiting", row: addRow(path) };
      queue.push(item);
      if (file.size > maxBytes) {
        item.status = "failed";
        filesFailed++;
        setState(item, "error", `Larger than the limit of ${human(maxBytes)}; not uploaded.`);
        continue;
      }
      bytesTotal += file.size;
    }
    updateTotals();
    pump();
  };

  // Folders dropped in: walk them, keeping each file's path inside the folder.
  const readAll = (reader) => new Promise((resolve, reject) => {
    const all = [];
    const next = () => reader.readEntries((batch) => {
      if (batch.length === 0) resolve(all);
      else { all.push(...batch); next(); }
    }, reject);
    next();
  });
  const walk = async (entry, prefix, out) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, path: prefix + file.name });
    } else if (entry.isDirectory) {
      for (const child of await readAll(entry.createReader())) await walk(child, `${prefix}${entry.name}/`, out);
    }
  };

  dropZone.addEventListener("dragover", (e) => { e.preventDefault(); dropZone.classList.add("over"); });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
  dropZone.addEventListener("drop", async (e) => {
    e.preventDefault();
    dropZone.classList.remove("over");
    const items = Array.from(e.dataTransfer.items || []);
    const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
    if (entries.length && entries.every(Boolean)) {
      const out = [];
      for (const entry of entries) await walk(entry, "", out);
      enqueue(out);
    } else {
      enqueue(Array.from(e.dataTransfer.files).map((file) => ({ file, path: file.name })));
    }
  });

  document.getElementById("file-input").addEventListener("change", (e) => {
    enqueue(Array.from(e.target.files).map((file) => ({ file, path: file.name })));
    e.target.value = "";
  });
  document.getElementById("folder-input").addEventListener("change", (e) => {
    enqueue(Array.from(e.target.files).map((file) => ({ file, path: file.webkitRelativePath || file.name })));
    e.target.value = "";
  });
})();
