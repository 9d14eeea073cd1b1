// certrotor console: the only script of the pages (no inline scripts: the CSP forbids them).
// Two jobs: the fleet page refreshes itself, and a credential page shows a running rotation's steps.
"use strict";

const REFRESH_HEADERS = { "X-Console-Refresh": "1" };

async function fetchRefresh(url) {
  const response = await fetch(url, { headers: REFRESH_HEADERS, credentials: "same-origin" });
  if (response.redirected && new URL(response.url).pathname === "/login") {
    window.location.reload(); // the session timed out: show the login page
    return null;
  }
  return response.ok ? response : null;
}

function refreshFleet(fleet) {
  const seconds = Number(fleet.dataset.refresh) || 15;
  window.setInterval(async () => {
    try {
      const response = await fetchRefresh(window.location.href);
      if (!response) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("fleet");
      if (fresh) fleet.replaceChildren(...fresh.childNodes);
    } catch (error) {
      // The console is unreachable for a moment: keep the last table and try again later.
    }
  }, seconds * 1000);
}

function showProgress(credential) {
  const name = credential.dataset.name;
  const box = document.getElementById("progress");
  const status = document.getElementById("progress-status");
  const list = document.getElementById("progress-steps");
  const url = "/credentials/" + encodeURIComponent(name) + "/rotation.json";
  let timer = null;
  async function poll() {
    let data;
    try {
      const response = await fetchRefresh(url);
      if (!response) return;
      data = await response.json();
    } catch (error) {
      return;
    }
    box.hidden = false;
    const rotation = data.rotation;
    const job = data.job;
    let text = job ? job.status : "";
    if (rotation) text += " · journal step " + rotation.step;
    if (job && job.message) text += ": " + job.message;
    status.textContent = text;
    list.replaceChildren(...data.steps.map((step) => {
      const item = document.createElement("li");
      item.className = "outcome-" + step.outcome;
      item.textContent = step.action + " (" + step.outcome + ") at " + step.at.replace("T", " ").slice(0, 19) + " UTC";
      return item;
    }));
    if (!job || !job.running) {
      window.clearInterval(timer);
      if (job) {
        // Done: load the page again (without the notice) to show the new certificates and health.
        window.setTimeout(() => window.location.replace(window.location.pathname), 800);
      }
    }
  }
  timer = window.setInterval(poll, 700);
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  const fleet = document.getElementById("fleet");
  if (fleet) refreshFleet(fleet);
  const credential = document.getElementById("credential");
  if (credential && credential.dataset.jobRunning === "yes") showProgress(credential);
  const share = document.getElementById("share-link");
  if (share) share.addEventListener("focus", () => share.select());
});
