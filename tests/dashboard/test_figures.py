"""The figure builders on a real surface (a simulated-venue poll) and on edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apps.dashboard.figures import figure_dict
from apps.dashboard.figures.facts import surface_facts
from apps.dashboard.figures.scenario import amount, scenario_heatmap
from apps.dashboard.figures.surface import (
    smile_quotes,
    smiles_figure,
    surface_figure,
    surface_figures,
    term_structure_figure,
)
from apps.pricing.svi import SVIParams, svi_implied_vol
from apps.venues.selectors import chain_latest, surface_latest
from apps.venues.services.polling import venue_poll_chain
from tests.venues.factories import make_sim_venue


@pytest.fixture
def surface(db, redis_client):
    venue = make_sim_venue(underlyings=("BTC",), config={"bad_quote_rate": 0.05})
    assert venue_poll_chain(venue_id=venue.pk).ok
    return surface_latest(underlying="BTC").payload, chain_latest(underlying="BTC").chain


def test_the_surface_figure_is_the_payload_grid_in_percent_and_days(surface):
    payload, _ = surface
    fig = figure_dict(surface_figure(payload))
    trace = fig["data"][0]
    grid = payload["grid"]
    assert trace["x"] == grid["k"]
    assert trace["y"] == pytest.approx([365 * t for t in grid["t"]], abs=1e-2)
    assert trace["z"][0][0] == pytest.approx(100 * grid["iv"][0][0], abs=1e-3)
    assert fig["layout"]["uirevision"] == "surface:BTC"
    assert "camera" not in fig["layout"].get("scene", {})  # the user's camera is never reset


def test_each_smile_has_bid_and_ask_markers_and_the_svi_line_through_the_fit(surface):
    payload, chain = surface
    quotes = smile_quotes(chain.columns)
    fig = figure_dict(smiles_figure(payload, quotes))
    slices = payload["slices"]
    fits = [t for t in fig["data"] if t["name"] == "SVI fit"]
    bids = [t for t in fig["data"] if t["name"] == "bid IV"]
    asks = [t for t in fig["data"] if t["name"] == "ask IV"]
    assert len(fits) == len(slices) and len(bids) == len(asks) == len(slices)
    assert {b["marker"]["symbol"] for b in bids} != {a["marker"]["symbol"] for a in asks}
    # The line is the SVI smile: check one point by hand.
    s, fit = slices[0], fits[0]
    strike = fit["x"][30]
    params = SVIParams(**s["svi"])
    expected = 100 * svi_implied_vol(params, np.array([math.log(strike / s["forward"])]), s["t"])[0]
    assert fit["y"][30] == pytest.approx(expected, rel=1e-3)
    # Quotes are OTM, finite and positive (bad quotes were dropped upstream).
    for b, a in zip(bids, asks, strict=True):
        ys = [y for y in b["y"] + a["y"] if y is not None]
        assert ys and all(0 < y < 1000 for y in ys)
    # The SVI fit sits between the bid and ask markers on average (a sane fit, not garbage).
    q = quotes[s["expiry_ms"]]
    mids = (q.bid_iv + q.ask_iv) / 2
    model = svi_implied_vol(params, q.k, s["t"])
    ok = np.isfinite(mids)
    assert np.nanmedian(np.abs(model[ok] - mids[ok])) < 0.05
    assert len(fig["layout"]["annotations"]) == len(slices)  # one title per panel


def test_arbitrage_is_flagged_in_words(surface):
    payload, _ = surface
    bad = {
        **payload,
        "slices": [
            {**payload["slices"][0], "arbitrage": {"butterfly_ok": False}},
            *payload["slices"][1:],
        ],
        "arbitrage": {"butterfly_ok": False, "calendar_ok": False, "calendar_violations": [{}]},
    }
    facts = surface_facts(bad)
    assert facts["arbitrage_ok"] is False
    assert facts["arbitrage"][0].startswith("Butterfly arbitrage in ")
    assert facts["arbitrage"][1] == "Calendar arbitrage between 1 expiry pair(s)"
    assert facts["expiries"][0]["butterfly"] == "ARBITRAGE"
    titles = [a["text"] for a in figure_dict(smiles_figure(bad))["layout"]["annotations"]]
    assert "butterfly arbitrage" in titles[0] and "arbitrage" not in titles[1]
    clean = {
        **payload,
        "slices": [{**s, "arbitrage": {"butterfly_ok": True}} for s in payload["slices"]],
        "arbitrage": {"butterfly_ok": True, "calendar_ok": True, "calendar_violations": []},
    }
    assert surface_facts(clean)["arbitrage_ok"] is True
    assert surface_facts(clean)["arbitrage"] == [
        "No arbitrage detected (butterfly and calendar checks pass)"
    ]


def test_term_structure_and_skew_follow_the_slices(surface):
    payload, _ = surface
    figs = {k: figure_dict(v) for k, v in surface_figures(payload).items()}
    term = figs["term-structure"]["data"][0]
    assert term["y"] == pytest.approx([100 * s["atm_vol"] for s in payload["slices"]])
    assert term["x"] == sorted(term["x"])
    rr, bf = figs["skew"]["data"]
    assert rr["y"] == pytest.approx([100 * s["rr25"] for s in payload["slices"]])
    assert bf["y"] == pytest.approx([100 * s["bf25"] for s in payload["slices"]])
    assert rr["marker"]["symbol"] != bf["marker"]["symbol"]


def test_an_empty_surface_draws_notes_instead_of_failing():
    empty = {"underlying": "BTC", "slices": [], "grid": {"k": [], "t": [], "iv": []}}
    for fig in surface_figures(empty).values():
        assert figure_dict(fig)["layout"]["uirevision"].endswith(":BTC")
    assert figure_dict(surface_figure(empty))["layout"]["annotations"][0]["text"]
    assert smile_quotes({}) == {}
    assert figure_dict(term_structure_figure(empty))["data"][0]["x"] == []


def test_the_scenario_heatmap_writes_each_amount_and_centres_the_scale_on_zero():
    shocks = {"spot": [-0.1, 0.0, 0.1], "vol_points": [-5.0, 0.0, 5.0]}
    grid = [[-1_250_000.0, -900.0, 10.0], [-2.0, 0.0, 3.0], [12_000.0, None, 5e9]]
    fig = figure_dict(scenario_heatmap(shocks, grid, uirevision="grid:x"))
    trace = fig["data"][0]
    assert trace["x"] == ["-5", "+0", "+5"] and trace["y"] == ["-10%", "+0%", "+10%"]
    assert trace["text"] == [["-1.25M", "-900", "+10"], ["-2", "0", "+3"], ["+12K", "n/a", "+5B"]]
    assert trace["zmid"] == 0 and trace["zmin"] == -trace["zmax"]
    assert amount(None) == "n/a" and amount(-0.2) == "0"
    mismatched = figure_dict(scenario_heatmap(shocks, [[1.0]], uirevision="grid:x"))
    assert mismatched["data"] == [] and mismatched["layout"]["annotations"]
