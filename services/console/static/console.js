// Progressive enhancement only: every form works without this file.
// - Uploads show their progress (XMLHttpRequest reports it; a plain form post cannot).
// - Forms marked data-confirm ask first; the org selector switches on change.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const form of document.querySelectorAll("form[data-upload]")) {
    form.addEventListener("submit", (event) => uploadWithProgress(event, form));
  }
});

function uploadWithProgress(event, form) {
  if (!window.FormData || !window.XMLHttpRequest) return;
  event.preventDefault();
  const progress = form.querySelector("progress");
  const status = form.querySelector(".upload-status");
  const button = form.querySelector("button[type=submit]");
  const request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.setRequestHeader("Accept", "application/json");
  request.upload.addEventListener("progress", (e) => {
    if (!e.lengthComputable) return;
    progress.hidden = false;
    progress.value = Math.round((e.loaded / e.total) * 100);
    status.textContent = progress.value < 100 ? `Uploading… ${progress.value}%` : "Uploaded; reading the documents…";
  });
  request.addEventListener("load", () => {
    button.disabled = false;
    let body = {};
    try { body = JSON.parse(request.responseText); } catch (e) { body = { error: `The upload failed (HTTP ${request.status}).` }; }
    if (body.error) { status.textContent = body.error; return; }
    const failed = body.results.filter((r) => !r.ok);
    if (failed.length) {
      status.textContent = failed.map((r) => `${r.name}: ${r.error}`).join("; ");
      return;
    }
    status.textContent = body.results.map((r) => `${r.name}: ${r.chunks} chunks`).join("; ") + ". Reloading…";
    window.location.reload();
  });
  request.addEventListener("error", () => {
    button.disabled = false;
    status.textContent = "The upload failed: the console cannot be reached.";
  });
  button.disabled = true;
  status.textContent = "Uploading…";
  request.send(new FormData(form));
}
