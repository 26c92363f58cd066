// Live panels, for the overview and the breakers board (docs/dashboard.md, "Overview").
//
// Each panel is a server-rendered fragment (<div data-panel="board" data-url="...">) inside
// <div id="live-panels">, and the page's {{ live_config|json_script:"live-panels-config" }}
// says which websocket topics feed which panel ({"topics": {"board": ["breakers"]},
// "poll_seconds": {"venues": 5}}). When a topic changes (a snapshot after (re)connecting, or a
// pushed message) its panels are fetched again from their data-url and swapped in; the server
// renders them for this person (buttons only for roles that may use them). The alert feed is
// drawn straight from the pushed items. Panels no topic carries are fetched every few seconds.
// The header's indicator says live / reconnecting / stale / signed out in words (live.js).
(function () {
  "use strict";

  const configEl = document.getElementById("live-panels-config");
  if (!configEl || !window.BreakwaterLive) return;
  const config = JSON.parse(configEl.textContent);
  const MAX_ALERTS = 20;

  const live = window.BreakwaterLive.get();
  window.BreakwaterLive.bindIndicator(document.getElementById("live-status"));
  const root = document.getElementById("live-panels");
  live.onStatus((status) => {
    if (root) root.dataset.live = status;
  });

  const panels = new Map();
  document.querySelectorAll("[data-panel]").forEach((el) => {
    panels.set(el.dataset.panel, { el, inFlight: false, dirty: false });
  });

  function swap(el, html) {
    const active = document.activeElement;
    const focusKey = active && el.contains(active) ? active.dataset.focusKey : null;
    const parsed = new DOMParser().parseFromString(html, "text/html"); // inert: no scripts run
    el.replaceChildren(...Array.from(parsed.body.childNodes));
    if (focusKey) {
      const again = el.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  // Fetch a panel again; calls during a fetch coalesce into one more fetch after it.
  function refresh(name) {
    const panel = panels.get(name);
    if (!panel || live.status === "signed_out") return;
    if (panel.inFlight) {
      panel.dirty = true;
      return;
    }
    panel.inFlight = true;
    fetch(panel.el.dataset.url, {
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual", // a signed-out session is redirected to the login page: keep the panel
      headers: { "X-Requested-With": "fetch" },
    })
      .then((response) => (response.ok && response.type !== "opaqueredirect" ? response.text() : null))
      .then((html) => {
        if (html !== null) swap(panel.el, html);
      })
      .catch(() => {}) // the indicator shows the connection state; the next push retries
      .finally(() => {
        panel.inFlight = false;
        if (panel.dirty) {
          panel.dirty = false;
          refresh(name);
        }
      });
  }

  // --- Alert feed, drawn from the items themselves ------------------------------------------
  const alertPanel = panels.get("alerts");

  function alertItem(a) {
    const li = document.createElement("li");
    li.className = `alert alert-${a.severity}`;
    li.dataset.alertId = String(a.id);
    const sev = document.createElement("span");
    sev.className = `sev sev-${a.severity}`;
    sev.textContent = a.severity;
    const time = document.createElement("time");
    time.dateTime = a.at;
    const at = new Date(a.at);
    time.textContent = isNaN(at) ? "" : at.toISOString().slice(11, 19);
    const title = document.createElement("strong");
    title.textContent = a.title;
    li.append(sev, " ", time, " ", title);
    if (a.detail) {
      const detail = document.createElement("span");
      detail.className = "muted";
      detail.textContent = a.detail;
      li.append(" ", detail);
    }
    if (a.link && a.link.startsWith("/")) {
      const link = document.createElement("a");
      link.href = a.link;
      link.textContent = "details";
      li.append(" ", link);
    }
    return li;
  }

  function alertList() {
    return alertPanel ? alertPanel.el.querySelector("#alert-feed") : null;
  }

  function alertsShow(items, replace) {
    const list = alertList();
    if (!list) return;
    if (replace) list.replaceChildren();
    // items arrive newest first; insert oldest first so the newest ends on top
    items
      .slice()
      .reverse()
      .forEach((a) => {
        if (list.querySelector(`[data-alert-id="${CSS.escape(String(a.id))}"]`)) return;
        list.prepend(alertItem(a));
      });
    while (list.children.length > MAX_ALERTS) list.lastElementChild.remove();
    const empty = alertPanel.el.querySelector(".alerts-empty");
    if (empty) empty.hidden = list.children.length > 0;
  }

  // --- Subscriptions --------------------------------------------------------------------------
  const byTopic = new Map();
  Object.entries(config.topics || {}).forEach(([name, topics]) => {
    topics.forEach((topic) => {
      if (!byTopic.has(topic)) byTopic.set(topic, []);
      byTopic.get(topic).push(name);
    });
  });

  // The page was rendered with every message up to config.seq[topic] included: a snapshot or
  // message no newer than what the panels already show needs no fetch.
  const shown = new Map(Object.entries(config.seq || {}));

  byTopic.forEach((names, topic) => {
    live.subscribe(
      topic,
      (payload, meta) => {
        if (typeof meta.seq === "number") {
          const upTo = shown.has(topic) ? shown.get(topic) : -1;
          if (meta.seq <= upTo) return;
          shown.set(topic, meta.seq);
        }
        if (topic === "alerts") {
          if (meta.kind === "snapshot") alertsShow(payload.alerts || [], true);
          else if (payload.alert) alertsShow([payload.alert], false);
          return;
        }
        names.forEach(refresh);
      },
      {
        onRefused: () => names.forEach((name) => {
          const panel = panels.get(name);
          if (panel) panel.el.dataset.refused = "true";
        }),
      }
    );
  });

  // After a database outage (static/js/outage.js) every panel is fetched again: pushes that
  // arrived meanwhile could not be fetched, and the socket itself saw no gap to resync.
  window.addEventListener("breakwater:recovered", () => panels.forEach((_, name) => refresh(name)));

  Object.entries(config.poll_seconds || {}).forEach(([name, seconds]) => {
    setInterval(() => {
      if (!document.hidden) refresh(name);
    }, 1000 * seconds);
  });
})();
