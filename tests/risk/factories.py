"""A small simulated world for the risk tests: venue SIM with polled chains, accounts, positions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.risk.models import RiskLimit
from apps.venues.models import Instrument, TradingAccount, Venue, VenuePosition
from apps.venues.services.polling import venue_poll_chain
from tests.venues.factories import make_account, make_sim_venue


@dataclass
class World:
    venue: Venue
    accounts: dict[str, TradingAccount]

    def instrument(self, underlying: str, option_type: str, moneyness: float, rank: int = 2):
        """The listed option nearest ``moneyness`` x forward-ish on the rank-th expiry."""
        options = Instrument.objects.filter(
            venue=self.venue, underlying=underlying, kind="option", option_type=option_type
        )
        expiries = sorted({i.expiry for i in options})
        expiry = expiries[min(rank, len(expiries) - 1)]
        candidates = list(options.filter(expiry=expiry))
        strikes = sorted(float(i.strike) for i in candidates)
        middle = strikes[len(strikes) // 2]
        return min(candidates, key=lambda i: abs(float(i.strike) - moneyness * middle))

    def hold(self, account: str, instrument: Instrument, size: float, average_price: float):
        return VenuePosition.objects.update_or_create(
            account=self.accounts[account],
            instrument=instrument,
            defaults={
                "size": Decimal(str(size)),
                "average_price": Decimal(str(average_price)),
                "reported_at": timezone.now(),
            },
        )[0]


def sim_world(*, underlyings=("BTC", "ETH"), accounts=("SIM-A", "SIM-B")) -> World:
    venue = make_sim_venue("SIM", underlyings=underlyings)
    made = {label: make_account(venue, label) for label in accounts}
    outcome = venue_poll_chain(venue_id=venue.pk)
    assert outcome.ok, outcome.error
    return World(venue=venue, accounts=made)


def make_limit(**fields: Any) -> RiskLimit:
    defaults: dict[str, Any] = {
        "name": "limit",
        "scope": "account",
        "target": "SIM-A",
        "metric": "vega_usd",
        "threshold": 1_000.0,
        "action": "reduce_only",
    }
    defaults.update(fields)
    return RiskLimit.objects.create(**defaults)
