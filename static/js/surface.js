// Vol-surface page: draw the Python-built figures embedded in the page, then follow
// surface:<UND> over the tab's websocket. A push only announces a new surface; the page then
// fetches figures.json (one request in flight, at most one queued: latest wins) and swaps the
// charts with Plotly.react. Every figure has layout.uirevision, so the user's camera and zoom
// stay. The stale marker also turns on by itself when no new surface arrives in time.
(function () {
  "use strict";
  const root = document.getElementById("surface-page");
  const dataEl = document.getElementById("surface-data");
  if (!root || !dataEl || !window.Plotly || !window.BreakwaterLive) return;
  const underlying = root.dataset.underlying;
  const url = root.dataset.figuresUrl + "?underlying=" + encodeURIComponent(underlying);
  const CONFIG = { responsive: true, displaylogo: false };
  const $ = (id) => document.getElementById(id);

  let current = JSON.parse(dataEl.textContent) || {};
  let clockOffset = (current.server_now_ms || Date.now()) - Date.now();
  let updates = 0;

  function li(text) {
    const node = document.createElement("li");
    node.textContent = text;
    return node;
  }

  function cells(values) {
    const tr = document.createElement("tr");
    values.forEach((v) => {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    });
    return tr;
  }

  function isStale() {
    if (!current.available) return false;
    const facts = current.facts;
    const age = Date.now() + clockOffset - (facts.received_at_ms || 0);
    return facts.stale || age > current.stale_after_ms;
  }

  function showStale() {
    $("surface-stale").hidden = !isStale();
  }

  function renderFacts(facts) {
    $("surface-as-of").textContent = facts.as_of_text;
    $("fact-venue").textContent = facts.venue;
    $("fact-index").textContent = facts.index;
    $("fact-quotes").textContent = facts.quotes;
    const flags = $("fact-arbitrage");
    flags.dataset.ok = String(facts.arbitrage_ok);
    flags.replaceChildren(...facts.arbitrage.map((f) => li((facts.arbitrage_ok ? "" : "⚠ ") + f)));
    const skipped = facts.not_fitted.length ? facts.not_fitted : ["none"];
    $("fact-not-fitted").replaceChildren(...skipped.map(li));
    $("surface-expiries").tBodies[0].replaceChildren(...facts.expiries.map((e) =>
      cells([e.expiry, e.forward, e.atm, e.rr25, e.bf25, e.points, e.butterfly])));
  }

  function draw(data) {
    current = data;
    $("surface-unavailable").hidden = !!data.available;
    if (!data.available) return;
    Object.entries(data.figures).forEach(([id, fig]) => {
      const el = $(id);
      if (el) window.Plotly.react(el, fig.data, fig.layout, CONFIG);
    });
    renderFacts(data.facts);
    showStale();
  }

  const refresh = window.BreakwaterLive.singleFlight(async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        clockOffset = data.server_now_ms - Date.now();
        const changed = !current.available || !data.available || data.facts.as_of !== current.facts.as_of;
        draw(data);
        if (changed) root.dataset.updates = String(++updates);
      }
    } catch (err) {
      // Network hiccup: keep the figures shown; the stale marker tells their age.
    }
  });

  draw(current);
  const live = window.BreakwaterLive.get();
  window.BreakwaterLive.bindIndicator($("live-status"), live);
  live.subscribe("surface:" + underlying, (payload) => {
    if (!current.available || payload.as_of !== current.facts.as_of) refresh();
    else if (payload.stale !== current.facts.stale) {
      current.facts.stale = payload.stale;
      showStale();
    }
  }, {
    onRefused: () => {
      $("surface-unavailable").textContent = "Live updates are not available to you for " + underlying + ".";
      $("surface-unavailable").hidden = false;
    },
    onUnavailable: () => refresh(),
  });
  window.setInterval(showStale, 1000);
})();
