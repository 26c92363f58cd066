// Market page: re-render from /market/live.json every few seconds. The JSON carries display
// strings already (formatted server-side), so this only builds DOM (textContent, never HTML).
(function () {
  const root = document.getElementById("market");
  if (!root) return;
  const url = root.dataset.liveUrl;
  const every = 1000 * Number(root.dataset.refreshSeconds || 2);
  const HEAD = ["Expiry", "Forward", "ATM vol", "25d RR (vol pts)", "25d BF (vol pts)", "Options fitted", "Butterfly"];

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((child) => node.appendChild(child));
    return node;
  }

  function row(cells, cellTag) {
    return el("tr", {}, cells.map((c) => el(cellTag || "td", cellTag === "th" ? { scope: "col", text: c } : { text: c })));
  }

  function market(m) {
    const title = el("h2", { text: m.underlying });
    if (m.available && m.stale) {
      title.appendChild(document.createTextNode(" "));
      title.appendChild(el("span", { class: "badge warn stale-marker", text: "STALE" }));
    }
    const section = el("section", { class: "card market", "data-underlying": m.underlying, "aria-label": m.underlying + " market" }, [title]);
    if (!m.available) {
      section.appendChild(el("p", { class: "muted", text: "No market data yet." }));
      return section;
    }
    const facts = [["Venue", m.venue, ""], ["As of", m.as_of, "as-of"], ["Index", m.index, "index"],
      ["Quotes", m.quotes, ""], ["Dropped", m.dropped, "dropped"], ["Arbitrage", m.arbitrage, ""],
      ["Not fitted", m.not_fitted, "not-fitted"]];
    const dl = el("dl", { class: "facts" });
    facts.forEach(([term, value, cls]) => {
      dl.appendChild(el("dt", { text: term }));
      dl.appendChild(el("dd", cls ? { class: cls, text: value } : { text: value }));
    });
    section.appendChild(dl);
    section.appendChild(el("table", { class: "table expiries" }, [
      el("thead", {}, [row(HEAD, "th")]),
      el("tbody", {}, m.expiries.map((cells) => row(cells))),
    ]));
    return section;
  }

  function render(data) {
    document.getElementById("market-updated").textContent = data.updated;
    document.getElementById("market-warning").hidden = data.store_available;
    const markets = document.getElementById("markets");
    markets.replaceChildren(...data.markets.map(market));
    const body = document.querySelector("#venue-health tbody");
    body.replaceChildren(...data.venues.map((cells) => row(cells)));
  }

  async function refresh() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok && (response.headers.get("Content-Type") || "").startsWith("application/json")) {
        render(await response.json());
      }
    } catch (err) {
      // Network hiccup: keep the last figures; the "updated" time shows their age.
    }
    window.setTimeout(refresh, every);
  }
  window.setTimeout(refresh, every);
})();
