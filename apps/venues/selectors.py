"""Reads of market data, instruments, positions and venue health (for views, risk, gateway).

For later issues: :func:`marks_for_symbols` gives risk the latest mark, bid/ask, IV and Greeks
per instrument from the hot chain; :func:`positions_for_accounts` the positions as last
reported; :func:`surface_latest` what the API serves. Staleness of a surface is decided from
the local time its chain was received (``received_at_ms``), against the venue's
``stale_after_seconds``, the same rule as ``services.health.venue_market_data_stale``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.venues.models import Instrument, SurfaceSnapshot, TradingAccount, Venue, VenuePosition
from apps.venues.services import store

__all__ = [
    "ChainView",
    "Mark",
    "SurfaceView",
    "chain_latest",
    "instruments_list",
    "market_data_venue",
    "market_overview",
    "marks_for_symbols",
    "normalise_underlying",
    "positions_for_accounts",
    "surface_history",
    "surface_latest",
    "underlying_is_known",
    "venues_health",
]

_UNDERLYING = re.compile(r"^[A-Za-z0-9]{2,16}$")


def normalise_underlying(raw: str) -> str | None:
    """``btc`` -> ``BTC``; None for anything that cannot be an underlying code."""
    return raw.upper() if raw and _UNDERLYING.match(raw) else None


def underlying_is_known(underlying: str) -> bool:
    return (
        Venue.objects.filter(underlyings__contains=[underlying]).exists()
        or Instrument.objects.filter(underlying=underlying).exists()
    )


def market_data_venue(underlying: str, venue_name: str | None = None) -> Venue | None:
    """The venue whose data is served for ``underlying``: the named one, else the enabled venue
    with the lowest ``priority`` that has a live surface for it (else the first configured)."""
    venues = Venue.objects.filter(underlyings__contains=[underlying])
    if venue_name:
        return venues.filter(name=venue_name.upper()).first()
    candidates = list(venues.filter(enabled=True).order_by("priority", "name"))
    if len(candidates) > 1:
        surfaces = store.surfaces_read_many([(v.name, underlying) for v in candidates])
        for venue, surface in zip(candidates, surfaces, strict=True):
            if surface is not None:
                return venue
    return candidates[0] if candidates else venues.order_by("priority", "name").first()


def _is_stale(venue: Venue, received_at_ms: int | None, now: datetime | None = None) -> bool:
    if received_at_ms is None:
        return True
    now_ms = (now or timezone.now()).timestamp() * 1000.0
    return now_ms - received_at_ms > venue.stale_after_seconds * 1000.0


@dataclass(frozen=True)
class SurfaceView:
    venue: Venue
    payload: dict[str, Any]
    stale: bool


def surface_latest(
    *, underlying: str, venue_name: str | None = None, now: datetime | None = None
) -> SurfaceView | None:
    """The hot surface with its ``stale`` flag, or None if the venue has none yet.

    Raises ``store.StoreUnavailable`` if Redis cannot be read."""
    venue = market_data_venue(underlying, venue_name)
    if venue is None:
        return None
    payload = store.surface_read(venue.name, underlying)
    if payload is None:
        return None
    stale = _is_stale(venue, payload.get("received_at_ms"), now)
    return SurfaceView(venue=venue, payload={**payload, "stale": stale}, stale=stale)


@dataclass(frozen=True)
class ChainView:
    venue: Venue
    chain: store.ChainColumns
    stale: bool


def chain_latest(*, underlying: str, venue_name: str | None = None) -> ChainView | None:
    """The hot chain (validated quotes with IVs and Greeks as columns), or None."""
    venue = market_data_venue(underlying, venue_name)
    if venue is None:
        return None
    chain = store.chain_read(venue.name, underlying)
    if chain is None:
        return None
    return ChainView(
        venue=venue, chain=chain, stale=_is_stale(venue, chain.meta.get("received_at_ms"))
    )


@dataclass(frozen=True)
class Mark:
    """Latest market of one option (coin prices for inverse options; Greeks in USD terms)."""

    symbol: str
    mark: float
    bid: float
    ask: float
    iv: float
    delta: float
    gamma: float
    vega: float
    theta: float
    forward: float
    as_of_ms: int
    stale: bool


def marks_for_symbols(*, venue: Venue, symbols: Iterable[str]) -> dict[str, Mark]:
    """Marks of the given symbols from the venue's hot chains (missing symbols are absent:
    dropped by validation, or no chain yet)."""
    wanted = set(symbols)
    by_underlying: dict[str, list[str]] = {}
    for symbol in wanted:
        by_underlying.setdefault(symbol.split("-", 1)[0].split("_", 1)[0], []).append(symbol)
    out: dict[str, Mark] = {}
    for underlying, names in by_underlying.items():
        chain = store.chain_read_latest(venue.name, underlying)
        if chain is None:
            continue
        stale = _is_stale(venue, chain.meta.get("received_at_ms"))
        c = chain.columns
        index = chain.row_of
        for name in names:
            i = index.get(name)
            if i is None:
                continue
            out[name] = Mark(
                symbol=name,
                mark=float(c["mark"][i]),
                bid=float(c["bid"][i]),
                ask=float(c["ask"][i]),
                iv=float(c["iv"][i]),
                delta=float(c["delta"][i]),
                gamma=float(c["gamma"][i]),
                vega=float(c["vega"][i]),
                theta=float(c["theta"][i]),
                forward=float(c["forward"][i]),
                as_of_ms=int(chain.meta["as_of_ms"]),
                stale=stale,
            )
    return out


def instruments_list(
    *,
    underlying: str | None = None,
    venue_name: str | None = None,
    kind: str | None = None,
    include_inactive: bool = False,
) -> QuerySet[Instrument]:
    qs = Instrument.objects.select_related("venue")
    if underlying:
        qs = qs.filter(underlying=underlying)
    if venue_name:
        qs = qs.filter(venue__name=venue_name.upper())
    if kind:
        qs = qs.filter(kind=kind)
    if not include_inactive:
        qs = qs.filter(active=True)
    return qs.order_by("venue__name", "underlying", "kind", "expiry", "strike", "option_type")


def surface_history(
    *,
    underlying: str,
    start: datetime,
    end: datetime,
    venue: Venue | None = None,
    limit: int = 1440,
) -> tuple[list[SurfaceSnapshot], bool]:
    """Snapshots in [start, end], oldest first, at most ``limit``; and whether more existed."""
    qs = SurfaceSnapshot.objects.filter(underlying=underlying, as_of__gte=start, as_of__lte=end)
    if venue is not None:
        qs = qs.filter(venue=venue)
    rows = list(qs.select_related("venue").order_by("as_of")[: limit + 1])
    return rows[:limit], len(rows) > limit


def positions_for_accounts(accounts: QuerySet[TradingAccount]) -> QuerySet[VenuePosition]:
    """Positions (as last reported by the venues) of the given accounts."""
    return (
        VenuePosition.objects.filter(account__in=accounts)
        .select_related("account", "instrument", "account__venue")
        .order_by("account__label", "instrument__symbol")
    )


def _health_row(venue: Venue, now: datetime) -> dict[str, Any]:
    health = getattr(venue, "health", None)

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    if health is None:
        return {"venue": venue.name, "adapter": venue.adapter, "enabled": venue.enabled,
                "status": "never polled", "stale": True}  # fmt: skip
    stale = health.is_stale(venue.stale_after, now)
    if not venue.enabled:
        status = "disabled"
    elif health.consecutive_errors:
        status = "backing off"
    elif stale:
        status = "stale"
    else:
        status = "ok"
    return {
        "venue": venue.name,
        "adapter": venue.adapter,
        "enabled": venue.enabled,
        "status": status,
        "stale": stale,
        "last_chain_ok_at": iso(health.last_chain_ok_at),
        "last_positions_ok_at": iso(health.last_positions_ok_at),
        "consecutive_errors": health.consecutive_errors,
        "positions_consecutive_errors": health.positions_consecutive_errors,
        "error_count": health.error_count,
        "last_error": health.last_error,
        "last_error_job": health.last_error_job,
        "last_error_at": iso(health.last_error_at),
        "next_chain_at": iso(health.next_chain_at),
    }


def venues_health(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every venue's health row (as in ``market_overview()["venues"]``), by priority; one
    database query, no Redis."""
    now = now or timezone.now()
    venues = Venue.objects.select_related("health").order_by("priority", "name")
    return [_health_row(v, now) for v in venues]


def market_overview(*, now: datetime | None = None) -> dict[str, Any]:
    """What the market page shows: per underlying the served surface's summary, and per venue
    its health. One database query for venues and one Redis round trip for all surfaces."""
    now = now or timezone.now()
    venues = list(Venue.objects.select_related("health").order_by("priority", "name"))
    underlyings = sorted({u for v in venues if v.enabled for u in v.underlyings})
    pairs = [(v.name, u) for u in underlyings for v in venues if v.enabled and u in v.underlyings]
    surfaces = dict(zip(pairs, store.surfaces_read_many(pairs), strict=True))
    by_name = {v.name: v for v in venues}
    markets = []
    for underlying in underlyings:
        chosen = next(
            ((name, s) for (name, u), s in surfaces.items() if u == underlying and s),
            None,
        )
        if chosen is None:
            markets.append({"underlying": underlying, "venue": None, "available": False})
            continue
        name, s = chosen
        stale = _is_stale(by_name[name], s.get("received_at_ms"), now)
        markets.append(
            {
                "underlying": underlying,
                "venue": name,
                "available": True,
                "as_of": s["as_of"],
                "stale": stale,
                "index_price": s["index_price"],
                "price_currency": s["price_currency"],
                "quotes": s["quotes"],
                "arbitrage": {
                    "butterfly_ok": s["arbitrage"]["butterfly_ok"],
                    "calendar_ok": s["arbitrage"]["calendar_ok"],
                },
                "skipped": s.get("skipped", []),
                "expiries": [
                    {
                        "expiry": x["expiry"],
                        "forward": x["forward"],
                        "atm_vol": x["atm_vol"],
                        "rr25": x["rr25"],
                        "bf25": x["bf25"],
                        "n_points": x["n_points"],
                        "butterfly_ok": x["arbitrage"]["butterfly_ok"],
                    }
                    for x in s["slices"]
                ],
            }
        )
    return {
        "now": now.isoformat(),
        "markets": markets,
        "venues": [_health_row(v, now) for v in venues],
    }
