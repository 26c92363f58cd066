"""Small factories for the venues tests."""

from __future__ import annotations

from typing import Any

from apps.venues.models import AdapterKind, TradingAccount, Venue

# Small enough to keep the suite fast on two shared cores, large enough for every expiry to fit.
SMALL_SIM = {"seed": 11, "strikes_per_expiry": 12, "max_expiries": 5, "bad_quote_rate": 0.0}


def make_sim_venue(name: str = "SIM", *, underlyings=("BTC",), **overrides: Any) -> Venue:
    config = {**SMALL_SIM, **overrides.pop("config", {})}
    return Venue.objects.create(
        name=name,
        adapter=AdapterKind.SIMULATED,
        underlyings=list(underlyings),
        config=config,
        **overrides,
    )


def make_account(
    venue: Venue, label: str = "SIM-A", external_id: str | None = None
) -> TradingAccount:
    return TradingAccount.objects.create(
        venue=venue, label=label, external_id=external_id or label.lower()
    )
