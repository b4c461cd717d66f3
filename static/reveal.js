// The one-time link page. Nothing happens until the Reveal click: then the
// server hands over the ciphertext exactly once, and this script decrypts
// it with the key from the URL fragment (which never reaches the server).
"use strict";
(() => {
  const card = document.getElementById("reveal-card");
  if (!card) return;
  const linkId = card.dataset.linkId;
  const revealButton = document.getElementById("reveal-button");
  const revealError = document.getElementById("reveal-error");
  const fragmentKey = window.location.hash.slice(1);
  let enrolToken = null;

  const show = (el, text) => { el.textContent = text; el.hidden = false; };

  const b64urlDecode = (s) => {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  };

  const b64urlEncode = (bytes) => {
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  // Refuse before asking the server for anything, so nothing is used up.
  if (!window.isSecureContext || !window.crypto || !window.crypto.subtle) {
    revealButton.disabled = true;
    show(revealError, "Your browser only decrypts secrets on a secure page (https, or localhost). " +
      "Nothing was used up: open the link over https.");
    return;
  }
  if (!/^[A-Za-z0-9_-]{43}$/.test(fragmentKey)) {
    revealButton.disabled = true;
    show(revealError, "This link is incomplete: the part after # is missing or cut off. " +
      "Nothing was used up: copy the whole link and open it again.");
    return;
  }

  const fill = (payload) => {
    enrolToken = payload.enrol_token;
    // The name to sign in with (and for password managers to save with the password).
    document.getElementById("portal-username").textContent = payload.username;
    document.getElementById("enrol-username").value = payload.username;
    const accountOnly = payload.kind === "account" || !payload.access_key_id;
    document.getElementById("account-only").hidden = !accountOnly;
    document.getElementById("key-section").hidden = accountOnly;
    if (!accountOnly) fillKey(payload);
    document.getElementById("before-reveal").hidden = true;
    document.getElementById("after-reveal").hidden = false;
    // The key has done its work: drop it from the address bar and history.
    window.history.replaceState(null, "", window.location.pathname);
  };

  const fillKey = (payload) => {
    document.getElementById("access-key-id").textContent = payload.access_key_id;
    document.getElementById("secret-access-key").textContent = payload.secret_access_key;
    const profile = payload.username;
    const lines = [
      `aws configure set aws_access_key_id ${payload.access_key_id} --profile ${profile}`,
      `aws configure set aws_secret_access_key ${payload.secret_access_key} --profile ${profile}`,
      `aws configure set region ${payload.region} --profile ${profile}`,
    ];
    if (payload.endpoint_url) {
      lines.push(`aws configure set endpoint_url ${payload.endpoint_url} --profile ${profile}`);
    }
    document.getElementById("aws-configure").textContent = lines.join("\n");
    const prefix = (payload.prefixes && payload.prefixes[0]) || "streaming/";
    // A test key of the teammate's own, so two teammates' tests never meet.
    document.getElementById("aws-test").textContent =
      `aws s3 cp ./example.csv "s3://${payload.bucket}/${prefix}${profile}/example.csv" --profile ${profile}`;
    document.getElementById("key-warming").hidden = payload.key_verified !== false;
  };

  revealButton.addEventListener("click", async () => {
    revealButton.disabled = true;
    revealError.hidden = true;
    let response;
    try {
      // Proof that this browser holds the whole link (a hash of its key, which
      // reveals nothing): without it the portal uses nothing up.
      const prefix = new TextEncoder().encode(`egx-link-key-check:v1:${linkId}:`);
      const raw = b64urlDecode(fragmentKey);
      const message = new Uint8Array(prefix.length + raw.length);
      message.set(prefix);
      message.set(raw, prefix.length);
      const check = b64urlEncode(new Uint8Array(await crypto.subtle.digest("SHA-256", message)));
      response = await fetch(`/l/${encodeURIComponent(linkId)}/reveal`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ check }),
      });
    } catch (e) {
      revealButton.disabled = false;
      show(revealError, "The portal could not be reached. Check your connection and try again.");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      // The link may still be intact if this copy of it was cut or altered: say so.
      revealButton.disabled = false;
      show(revealError, (body.message || "This link is not available.") +
        " If the link was copied from a message, check that it was copied whole.");
      return;
    }
    try {
      const stored = b64urlDecode(body.payload);
      const key = await crypto.subtle.importKey("raw", b64urlDecode(fragmentKey), { name: "AES-GCM" }, false, ["decrypt"]);
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: stored.slice(0, 12), additionalData: new TextEncoder().encode(linkId) },
        key,
        stored.slice(12),
      );
      fill(JSON.parse(new TextDecoder().decode(plain)));
    } catch (e) {
      show(revealError, "The secret could not be decrypted: the link was altered or cut off. " +
        "Ask the portal owner for a new link.");
    }
  });

  document.querySelectorAll("button.copy").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch (e) {
        window.getSelection().selectAllChildren(source);
      }
    });
  });

  const enrolForm = document.getElementById("enrol-form");
  const enrolError = document.getElementById("enrol-error");
  enrolForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    enrolError.hidden = true;
    const data = new FormData(enrolForm);
    const response = await fetch(`/l/${encodeURIComponent(linkId)}/enrol`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ enrol_token: enrolToken, password: data.get("password"), confirm: data.get("confirm") }),
    }).catch(() => null);
    if (!response) {
      show(enrolError, "The portal could not be reached. Check your connection and try again.");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      show(enrolError, body.message || "The password could not be set.");
      return;
    }
    window.location.assign(body.redirect || "/upload");
  });
})();
