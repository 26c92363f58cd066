// Dependency banner: tells a person, on any page, that the data may be stale because a
// dependency is down, and disables the page's actions until it is back (docs/operations.md,
// "Failure modes").
//
//   <script src="{% static 'js/outage.js' %}" defer></script>
//   data-poll-seconds="5"             how often /readyz is asked while all is well
//   data-reload-when-ready="true"     the 503 page: reload once /readyz answers 200
//
// An open page learns of an outage by polling /readyz, not from its websocket: with PostgreSQL
// down the socket stays open (Redis carries it), yet nothing the page shows can be refreshed and
// no action can succeed. The probe is sent without cookies: a session lives in PostgreSQL, and
// /readyz needs none. While a dependency is down the probe runs every 2 s, so the banner goes
// as soon as it is back; then "breakwater:recovered" is dispatched on window (live pages fetch
// their panels again) and POST forms work again.
(function () {
  "use strict";

  const script = document.currentScript;
  const data = (script && script.dataset) || {};
  const READY_URL = data.readyUrl || "/readyz";
  const POLL_MS = 1000 * Number(data.pollSeconds || 5);
  const OUTAGE_POLL_MS = 2000;
  const PROBE_TIMEOUT_MS = 8000; // /readyz itself waits up to the pool timeout (2 s) per check
  const RELOAD = data.reloadWhenReady === "true";
  const TEXTS = {
    postgres: "Database unavailable — data may be stale; actions are disabled.",
    redis: "Live updates unavailable (Redis) — data may be stale; actions are disabled.",
    server: "Breakwater is not answering — data may be stale; actions are disabled.",
  };

  let down = null; // null, or the failed dependencies (["postgres"], ["redis"], ["server"])
  let timer = null;

  function banner() {
    let el = document.getElementById("outage-banner");
    if (!el) {
      el = document.createElement("div");
      el.id = "outage-banner";
      el.className = "outage-banner";
      el.setAttribute("role", "alert"); // announced when it appears
      el.tabIndex = -1;
      el.hidden = true;
      const header = document.querySelector("header.topbar");
      if (header) header.after(el);
      else document.body.prepend(el);
    }
    return el;
  }

  function submitControls() {
    return document.querySelectorAll(
      'form[method="post"] button, form[method="post"] input[type="submit"]'
    );
  }

  function showOutage(failed) {
    const key = failed.includes("postgres") ? "postgres" : failed.includes("redis") ? "redis" : "server";
    const el = banner();
    el.dataset.failed = key;
    el.textContent = TEXTS[key];
    el.hidden = false;
    document.documentElement.dataset.outage = key;
    submitControls().forEach((control) => {
      if (control.disabled) return;
      control.disabled = true;
      control.dataset.outageDisabled = "true";
      control.title = "Disabled while " + (key === "server" ? "Breakwater" : key) + " is unavailable";
    });
  }

  function showRecovered() {
    const el = banner();
    el.hidden = true;
    el.textContent = "";
    delete document.documentElement.dataset.outage;
    document.querySelectorAll('[data-outage-disabled="true"]').forEach((control) => {
      control.disabled = false;
      control.removeAttribute("title");
      delete control.dataset.outageDisabled;
    });
    window.dispatchEvent(new CustomEvent("breakwater:recovered"));
  }

  function update(failed) {
    if (failed === null) {
      if (down !== null || RELOAD) {
        down = null;
        if (RELOAD) {
          window.location.reload();
          return;
        }
        showRecovered();
      }
      return;
    }
    down = failed;
    showOutage(failed);
  }

  async function probe() {
    const abort = new AbortController();
    const giveUp = setTimeout(() => abort.abort(), PROBE_TIMEOUT_MS);
    try {
      const response = await fetch(READY_URL, {
        credentials: "omit",
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: abort.signal,
      });
      if (response.ok) return null;
      const body = await response.json().catch(() => null);
      return body && Array.isArray(body.failed) && body.failed.length ? body.failed : ["server"];
    } catch (_) {
      return ["server"]; // refused, reset or timed out: the server itself is unreachable
    } finally {
      clearTimeout(giveUp);
    }
  }

  async function check() {
    clearTimeout(timer);
    if (!document.hidden) update(await probe());
    timer = setTimeout(check, down !== null ? OUTAGE_POLL_MS : POLL_MS);
  }

  // A form that was added to the page after the outage began is not disabled: refuse it here.
  document.addEventListener(
    "submit",
    (event) => {
      if (down !== null) {
        event.preventDefault();
        banner().focus();
      }
    },
    true
  );
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) check();
  });
  // The 503 page was served because of the outage: its first probe waits a little too.
  timer = setTimeout(check, RELOAD ? OUTAGE_POLL_MS : POLL_MS);
})();
