// Positions page: draw the embedded scenario heatmaps, then follow positions:<account> for
// each account shown. A push makes the page fetch data.json (tables already formatted and
// figures built in Python; one request in flight, at most one queued: latest wins) and
// redraw rows, totals and heatmaps in place (Plotly.react keeps zoom via uirevision).
(function () {
  "use strict";
  const root = document.getElementById("positions-page");
  const dataEl = document.getElementById("positions-data");
  if (!root || !dataEl || !window.Plotly || !window.BreakwaterLive) return;
  const url = root.dataset.dataUrl;
  const CONFIG = { responsive: true, displaylogo: false };
  const COLUMNS = ["size", "average_price", "mark", "iv", "value", "upnl", "delta", "gamma", "vega", "theta"];
  let updates = 0;
  let shown = null;

  function td(text, cls) {
    const cell = document.createElement("td");
    cell.textContent = text;
    cell.className = cls;
    return cell;
  }

  function positionRow(p) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = p.symbol;
    tr.appendChild(th);
    COLUMNS.forEach((c) => tr.appendChild(td(p[c], "num" + (c === "upnl" && p.loss ? " loss" : ""))));
    return tr;
  }

  function renderAccount(a) {
    const section = root.querySelector('section[data-account="' + CSS.escape(a.label) + '"]');
    if (!section) return false; // an account not rendered yet: reload the structure
    const body = section.querySelector("table.positions tbody");
    if (a.positions.length) body.replaceChildren(...a.positions.map(positionRow));
    else {
      const tr = document.createElement("tr");
      const cell = td("No positions.", "muted");
      cell.colSpan = 11;
      tr.appendChild(cell);
      body.replaceChildren(tr);
    }
    const totals = section.querySelectorAll("tr.totals td");
    ["value", "upnl", "delta", "gamma", "vega", "theta"].forEach((c, i) => {
      const cell = totals[4 + i];
      cell.textContent = a.totals[c];
      cell.className = "num" + (c === "upnl" && a.totals.loss ? " loss" : "");
    });
    section.querySelector(".unpriced").hidden = !a.unpriced;
    section.querySelector(".unpriced-count").textContent = String(a.unpriced);
    for (const g of a.grids) {
      const el = document.getElementById(g.id);
      if (!el) return false;
      window.Plotly.react(el, g.figure.data, g.figure.layout, CONFIG);
      el.closest("figure").querySelector(".worst").textContent = g.worst;
    }
    return true;
  }

  function draw(data) {
    document.getElementById("positions-unavailable").hidden = !!data.available;
    if (!data.available) return true;
    document.getElementById("positions-evaluated").textContent = data.evaluated_text || "–";
    return data.accounts.every(renderAccount);
  }

  const refresh = window.BreakwaterLive.singleFlight(async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        if (!draw(data)) window.location.reload(); // a new account or underlying: new layout
        else if (data.evaluated_at !== shown) {
          shown = data.evaluated_at;
          root.dataset.updates = String(++updates);
        }
      } else if (response.status === 503) {
        document.getElementById("positions-unavailable").hidden = false;
      }
    } catch (err) {
      // Network hiccup: keep the figures shown; the status indicator tells the rest.
    }
  });

  const initial = JSON.parse(dataEl.textContent) || {};
  shown = initial.evaluated_at || null;
  draw(initial);
  const live = window.BreakwaterLive.get();
  window.BreakwaterLive.bindIndicator(document.getElementById("live-status"), live);
  (initial.accounts || []).forEach((a) => {
    live.subscribe("positions:" + a.label, (payload) => {
      if (payload.evaluated_at !== shown) refresh();
    });
  });
})();
