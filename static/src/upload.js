// The upload page: Uppy (core + Dashboard + AWS S3) wired to the portal's API.
//
// Files go straight from the browser to S3. The portal decides every key and
// Content-Type, signs one URL at a time (a part's URL just before that part
// is sent, C09), creates / lists / completes / aborts multipart uploads
// itself, and confirms every object with HeadObject before it is recorded.
//
// Besides Uppy's Dashboard, this file keeps the page's own plain controls and
// one row per file in #queue (classes state-waiting|signing|uploading|
// confirming|done|error, data-key = the object key): tests and people who
// prefer a plain list rely on them.
//
// Built by scripts/build-assets.sh into static/dist/upload.js (committed).
import AwsS3 from "@uppy/aws-s3";
import Uppy from "@uppy/core";
import Dashboard from "@uppy/dashboard";

const MIB = 1024 * 1024;
const MAX_PARTS = 10000;

/** The portal's part size rule (src/domain/multipart.rs, PartPlan::new). */
export function partSizeFor(size, preferred) {
  const forCount = Math.ceil(Math.ceil(size / MAX_PARTS) / MIB) * MIB;
  return Math.max(preferred, 5 * MIB, forCount);
}

const human = (n) => {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
};

/** An error with the HTTP status Uppy's retry logic looks at. */
class PortalError extends Error {
  constructor(message, status, code) {
    super(message);
    this.source = { status };
    this.code = code;
  }
}

function start() {
  const root = document.getElementById("uploader");
  if (!root) return;
  const csrf = root.dataset.csrf;
  const cfg = {
    maxBytes: Number(root.dataset.maxBytes),
    threshold: Number(root.dataset.multipartThreshold),
    partSize: Number(root.dataset.partSize),
  };
  const form = document.getElementById("upload-form");
  const queueList = document.getElementById("queue");
  const totals = document.getElementById("totals");
  const corsWarning = document.getElementById("cors-warning");

  const api = async (method, url, body) => {
    let response;
    try {
      response = await fetch(url, {
        method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "x-csrf-token": csrf },
        body: method === "GET" ? undefined : JSON.stringify(body || {}),
      });
    } catch {
      throw new PortalError("The portal could not be reached. Check your connection; Uppy retries by itself.", 0);
    }
    const data = await response.json().catch(() => ({}));
    if (response.status === 401) {
      throw new PortalError("Your session has ended. Sign in again (in another tab), then press Retry.", 401);
    }
    if (!response.ok) {
      throw new PortalError(data.message || `The portal answered ${response.status}.`, response.status, data.error);
    }
    return data;
  };

  // -- the plain list (#queue) ------------------------------------------------
  const rows = new Map();
  const keys = new Map(); // file id -> object key
  const uploadIds = new Map(); // file id -> portal upload id (single PUT)
  const singleByUrl = new Map(); // presigned URL -> file id (single PUT)

  const row = (file) => {
    let r = rows.get(file.id);
    if (r) return r;
    const li = document.createElement("li");
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = file.meta.egxPath;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    const msg = document.createElement("div");
    msg.className = "msg";
    const actions = document.createElement("div");
    actions.className = "actions";
    li.append(name, bar, msg, actions);
    queueList.append(li);
    r = { li, bar, msg, actions };
    rows.set(file.id, r);
    setState(file.id, "waiting", "Waiting");
    return r;
  };
  const setState = (id, state, text) => {
    const r = rows.get(id);
    if (!r) return;
    r.li.className = `state-${state}`;
    r.msg.textContent = text;
    if (state !== "error") r.actions.replaceChildren();
  };
  const setKey = (id, key) => {
    keys.set(id, key);
    const r = rows.get(id);
    if (r) r.li.dataset.key = key;
  };

  // -- destination of each file, fixed when it is added -----------------------
  const destinationOf = (file) => ({
    prefix: file.meta.egxPrefix,
    folder: file.meta.egxFolder,
    relative_path: file.meta.egxPath,
    size: file.size,
    replace: Boolean(file.meta.egxReplace),
  });
  const isMultipart = (file) => file.size > cfg.threshold;

  const uppy = new Uppy({
    autoProceed: true,
    allowMultipleUploadBatches: true,
    restrictions: { maxFileSize: cfg.maxBytes },
    onBeforeFileAdded: (file) => {
      const data = new FormData(form);
      const relative = String(file.meta.relativePath || file.data.webkitRelativePath || "").replace(/^\/+/, "");
      return {
        ...file,
        meta: {
          ...file.meta,
          egxPrefix: String(data.get("prefix") || ""),
          egxFolder: String(data.get("folder") || ""),
          egxPath: relative || file.name,
        },
      };
    },
  });

  uppy.use(Dashboard, {
    inline: true,
    target: "#dashboard",
    height: 360,
    width: "100%",
    fileManagerSelectionType: "both",
    showProgressDetails: true,
    proudlyDisplayPoweredByUppy: false,
    disableThumbnailGenerator: true,
    showRemoveButtonAfterComplete: false,
    doneButtonHandler: null,
    note: `Up to ${human(cfg.maxBytes)} per file. Existing files are never overwritten unless you choose Replace.`,
  });

  // One PUT (or one part) to S3. Like Uppy's own, but an unreadable ETag on a
  // part fails at once with a message that says why (C11), and a single PUT
  // is confirmed with the portal before it counts as done.
  const putBytes = ({ signature: { url, headers, method = "PUT" }, body, size = body.size, onProgress, onComplete, signal }) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new DOMException("Aborted", "AbortError"));
        return;
      }
      const xhr = new XMLHttpRequest();
      xhr.open(method, url, true);
      for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
      xhr.responseType = "text";
      const onabort = () => xhr.abort();
      signal?.addEventListener("abort", onabort);
      const done = () => signal?.removeEventListener("abort", onabort);
      xhr.upload.addEventListener("progress", (ev) => onProgress?.(ev));
      xhr.addEventListener("abort", () => {
        done();
        reject(new DOMException("Aborted", "AbortError"));
      });
      xhr.addEventListener("error", () => {
        done();
        const err = new Error(
          "The browser could not send the file to S3. Usually the bucket's CORS settings do not allow this " +
            "portal: ask the portal owner to open Doctor (or run `egx-portal doctor`). Also check your connection.",
        );
        err.source = xhr;
        reject(err);
      });
      xhr.addEventListener("load", () => {
        done();
        if (xhr.status < 200 || xhr.status >= 300) {
          const code = (/<Code>([^<]+)<\/Code>/.exec(xhr.responseText || "") || [])[1] || `HTTP ${xhr.status}`;
          let text = `S3 refused the upload (${code}). Press Retry; if it keeps failing, tell the portal owner.`;
          if (code === "PreconditionFailed" || xhr.status === 412) {
            text = "A file with this name appeared in the bucket or changed meanwhile; it was not overwritten. Choose Replace to overwrite it (only your own files can be replaced).";
          }
          const err = new Error(text);
          err.source = xhr;
          err.code = code === "PreconditionFailed" ? "conflict" : code;
          reject(err);
          return;
        }
        onProgress?.({ loaded: size, lengthComputable: true });
        const etag = xhr.getResponseHeader("ETag");
        const single = singleByUrl.get(url);
        if (etag == null && !single) {
          corsWarning.hidden = false;
          const err = new Error(
            "The bucket's CORS settings do not expose the ETag header, so large files cannot be uploaded in " +
              "parts. Nothing was stored. Ask the portal owner to open Doctor (or run `egx-portal doctor --fix`).",
          );
          // No status: Uppy does not retry, and aborts the upload at once.
          err.source = {};
          err.code = "etag_hidden";
          reject(err);
          return;
        }
        onComplete?.(etag);
        resolve({ ETag: etag, etag });
      });
      xhr.send(body);
    });

  const uploadPartBytes = async (opts) => {
    const result = await putBytes(opts);
    const fileId = singleByUrl.get(opts.signature.url);
    if (fileId !== undefined) {
      singleByUrl.delete(opts.signature.url);
      setState(fileId, "confirming", "Confirming with S3");
      await api("POST", `/api/uploads/${uploadIds.get(fileId)}/complete`);
    }
    return result;
  };

  uppy.use(AwsS3, {
    limit: 4,
    retryDelays: [0, 1000, 3000, 5000, 10000],
    shouldUseMultipart: (file) => isMultipart(file),
    getChunkSize: (blob) => partSizeFor(blob.size, cfg.partSize),
    uploadPartBytes,
    async getUploadParameters(file) {
      setState(file.id, "signing", "Preparing");
      const signed = await api("POST", "/api/uploads", destinationOf(file));
      setKey(file.id, signed.key);
      uploadIds.set(file.id, signed.upload_id);
      singleByUrl.set(signed.url, file.id);
      setState(file.id, "uploading", "Uploading");
      return { method: "PUT", url: signed.url, headers: signed.headers };
    },
    async createMultipartUpload(file) {
      setState(file.id, "signing", "Preparing");
      const started = await api("POST", "/api/multipart", destinationOf(file));
      setKey(file.id, started.key);
      setState(file.id, "uploading", `Uploading in ${started.part_count} parts`);
      return { uploadId: started.upload_id, key: started.key };
    },
    async signPart(file, { uploadId, partNumber, signal }) {
      signal?.throwIfAborted?.();
      const signed = await api("POST", `/api/multipart/${encodeURIComponent(uploadId)}/parts/${partNumber}`);
      return { method: "PUT", url: signed.url, headers: signed.headers };
    },
    async listParts(file, { uploadId }) {
      setState(file.id, "uploading", "Resuming: asking S3 which parts arrived");
      return api("GET", `/api/multipart/${encodeURIComponent(uploadId)}/parts`);
    },
    async completeMultipartUpload(file, { uploadId, parts }) {
      setState(file.id, "confirming", "Completing and confirming with S3");
      const done = await api("POST", `/api/multipart/${encodeURIComponent(uploadId)}/complete`, {
        parts: parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })),
      });
      return { location: done.key, key: done.key };
    },
    async abortMultipartUpload(file, { uploadId }) {
      if (!uploadId) return;
      await api("DELETE", `/api/multipart/${encodeURIComponent(uploadId)}`).catch(() => {});
    },
  });

  // Resume after a reload: the same file (same key and size) continues the
  // teammate's unfinished upload; S3 is asked which parts it holds (ListParts).
  uppy.addPreProcessor(async (fileIDs) => {
    for (const id of fileIDs) {
      const file = uppy.getFile(id);
      if (!file || !isMultipart(file) || file.s3Multipart?.uploadId || file.meta.egxReplace) continue;
      let found;
      try {
        found = await api("POST", "/api/multipart/resumable", destinationOf(file));
      } catch {
        continue; // The portal could not say: a new upload starts.
      }
      if (!found.upload_id) continue; // Nothing to resume: a new upload starts.
      try {
        // Resume only if S3 can say which parts it holds; otherwise free the
        // old parts and start over, rather than retrying a resume forever.
        await api("GET", `/api/multipart/${encodeURIComponent(found.upload_id)}/parts`);
      } catch {
        await api("DELETE", `/api/multipart/${encodeURIComponent(found.upload_id)}`).catch(() => {});
        setState(id, "waiting", "An earlier upload of this file could not be resumed; starting over");
        continue;
      }
      uppy.setFileState(id, { s3Multipart: { uploadId: found.upload_id, key: found.key } });
      setKey(id, found.key);
      setState(id, "uploading", "Resuming an earlier upload of this file");
    }
  });

  // -- events -> the plain list and the totals line ---------------------------
  uppy.on("file-added", (file) => row(file));
  uppy.on("upload-progress", (file, progress) => {
    const r = rows.get(file.id);
    if (!r || !progress.bytesTotal) return;
    r.bar.value = progress.bytesUploaded / progress.bytesTotal;
    if (!/^state-(confirming|done|error)$/.test(r.li.className)) {
      setState(file.id, "uploading", `Uploading ${human(progress.bytesUploaded)} of ${human(progress.bytesTotal)}`);
    }
  });
  // "Your recent uploads" gains each file as S3 confirms it (no reload needed).
  const addToHistory = (key, size) => {
    let table = document.getElementById("history");
    if (!table) {
      table = document.createElement("table");
      table.id = "history";
      const head = table.createTHead().insertRow();
      for (const title of ["Key", "Size", "When"]) {
        const th = document.createElement("th");
        th.textContent = title;
        head.append(th);
      }
      table.createTBody();
      const empty = document.getElementById("no-uploads");
      (empty || document.getElementById("history-card").lastElementChild).after(table);
      empty?.remove();
    }
    const tr = table.tBodies[0].insertRow(0);
    const code = document.createElement("code");
    code.textContent = key;
    tr.insertCell().append(code);
    tr.insertCell().textContent = human(size);
    tr.insertCell().textContent = "just now";
  };
  uppy.on("upload-success", (file) => {
    const r = rows.get(file.id);
    if (r) r.bar.value = 1;
    setState(file.id, "done", `Uploaded to ${keys.get(file.id)} (${human(file.size)})`);
    addToHistory(keys.get(file.id), file.size);
  });
  uppy.on("upload-error", (file, error) => {
    if (!file) return;
    const message = error?.message || "The upload failed.";
    setState(file.id, "error", message);
    if (error?.code === "conflict") {
      const r = rows.get(file.id);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "replace";
      button.textContent = "Replace the existing file";
      button.addEventListener("click", () => {
        uppy.setFileMeta(file.id, { egxReplace: true });
        setState(file.id, "waiting", "Replacing");
        uppy.retryUpload(file.id);
      });
      r?.actions.append(button);
    }
  });
  uppy.on("upload-retry", (file) => setState(typeof file === "string" ? file : file.id, "waiting", "Retrying"));
  uppy.on("file-removed", (file) => setState(file.id, "error", "Cancelled; nothing was stored."));
  uppy.on("restriction-failed", (file, error) => {
    if (!file) return;
    const r = row({ id: file.id, meta: { egxPath: file.meta?.egxPath || file.name } });
    setState(file.id, "error", error.message);
    r.bar.value = 0;
  });
  uppy.on("progress", () => {
    const files = uppy.getFiles();
    const done = files.filter((f) => f.progress.uploadComplete).length;
    const failed = files.filter((f) => f.error).length;
    const total = files.reduce((n, f) => n + (f.size || 0), 0);
    const sent = files.reduce((n, f) => n + (f.progress.bytesUploaded || 0), 0);
    totals.textContent = `${done} of ${files.length} files uploaded${failed ? `, ${failed} failed` : ""} — ${human(sent)} of ${human(total)}`;
  });

  // -- the page's own plain controls ------------------------------------------
  const addFiles = (list) => {
    for (const file of Array.from(list)) {
      try {
        uppy.addFile({
          name: file.name,
          type: file.type,
          data: file,
          source: "file-input",
          meta: { relativePath: file.webkitRelativePath || null },
        });
      } catch (err) {
        // Uppy shows restriction errors itself (and "restriction-failed" above).
        if (!err.isRestriction) throw err;
      }
    }
  };
  document.getElementById("file-input").addEventListener("change", (e) => {
    addFiles(e.target.files);
    e.target.value = "";
  });
  document.getElementById("folder-input").addEventListener("change", (e) => {
    addFiles(e.target.files);
    e.target.value = "";
  });

  window.egxUppy = uppy; // for people debugging from the console, and tests
}

start();
