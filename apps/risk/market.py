"""Market data for risk: the latest chain (marks, forwards) and surface (SVI slices) per venue
and underlying, read from the venues' hot store in Redis.

A position is valued with its own venue's market when that venue publishes one for the
underlying; otherwise with the highest-priority venue that does (a venue used only for trading
still gets marked), and the position says which venue priced it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from apps.pricing.svi import SVIParams
from apps.risk.engine import Market
from apps.venues.services import store

__all__ = ["MarketData", "market_data_load"]


@dataclass(frozen=True)
class MarketData:
    venue: str
    underlying: str
    market: Market
    price_in_coin: bool
    marks: dict[str, float] = field(repr=False)
    as_of_ms: int
    received_at_ms: int
    stale: bool


def _slices(surface: dict | None) -> list[tuple[float, SVIParams]]:
    out = []
    for s in (surface or {}).get("slices", []):
        params = s.get("svi") or {}
        try:
            out.append(
                (
                    float(s["t"]),
                    SVIParams(
                        float(params["a"]),
                        float(params["b"]),
                        float(params["rho"]),
                        float(params["m"]),
                        float(params["sigma"]),
                    ),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(out, key=lambda pair: pair[0])


def _one(venue: str, underlying: str, stale_after_seconds: float) -> MarketData | None:
    chain = store.chain_read(venue, underlying)
    if chain is None:
        return None
    surface = store.surface_read(venue, underlying)
    meta, columns = chain.meta, chain.columns
    expiry = np.asarray(columns["expiry_ms"], dtype=np.int64)
    forward = np.asarray(columns["forward"], dtype=np.float64)
    finite = np.isfinite(forward) & (forward > 0)
    expiries = np.unique(expiry[finite])
    forwards = np.array([np.median(forward[finite & (expiry == e)]) for e in expiries])
    marks = {
        str(symbol): float(mark)
        for symbol, mark in zip(columns["symbol"], columns["mark"], strict=True)
        if np.isfinite(mark) and mark > 0
    }
    received = int(meta.get("received_at_ms") or meta.get("as_of_ms") or 0)
    return MarketData(
        venue=venue,
        underlying=underlying,
        market=Market(
            as_of_ms=int(meta["as_of_ms"]),
            index=float(meta["index_price"]),
            slices=_slices(surface),
            forward_expiry_ms=expiries,
            forward=forwards,
        ),
        price_in_coin=bool(meta.get("price_in_coin")),
        marks=marks,
        as_of_ms=int(meta["as_of_ms"]),
        received_at_ms=received,
        stale=(time.time() * 1000 - received) > stale_after_seconds * 1000,
    )


def market_data_load(
    needed: set[tuple[str, str]],
    *,
    venue_priority: list[tuple[str, list[str], float]],
) -> dict[tuple[str, str], MarketData | None]:
    """Market data for each (venue, underlying) in ``needed``, falling back to another venue's
    market for the underlying. ``venue_priority`` lists (venue name, underlyings polled,
    stale-after seconds) best first. Raises store.StoreUnavailable when Redis is down."""
    thresholds = {name: stale for name, _, stale in venue_priority}
    loaded: dict[tuple[str, str], MarketData | None] = {}

    def load(venue: str, underlying: str) -> MarketData | None:
        key = (venue, underlying)
        if key not in loaded:
            loaded[key] = _one(venue, underlying, thresholds.get(venue, 10.0))
        return loaded[key]

    out: dict[tuple[str, str], MarketData | None] = {}
    for venue, underlying in sorted(needed):
        data = load(venue, underlying)
        if data is None or not data.market.slices:
            for other, underlyings, _ in venue_priority:
                if other != venue and underlying in underlyings:
                    candidate = load(other, underlying)
                    if candidate is not None and candidate.market.slices:
                        data = candidate
                        break
        out[(venue, underlying)] = data
    return out
