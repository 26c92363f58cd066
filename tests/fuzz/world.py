"""The world the fuzzer trades in: a polled simulated venue, two trading accounts with generous
limits, resting and filled orders, positions valued by a risk evaluation, a risk limit and a
tripped breaker elsewhere. Enough that generated requests reach the pre-trade pipeline, the
venue adapter and the risk read models, not only 404s.

Everything trades on the simulated venue: no other venue exists in the fuzz database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.breakers.models import Breaker
from apps.gateway.models import GatewayLimits
from apps.risk.services.evaluation import risk_evaluate
from apps.venues.models import AdapterKind, Venue
from tests.breakers.factories import trip
from tests.gateway.conftest import (
    Market,
    make_bot,
    make_market,
    marketable_buy_price,
    passive_buy_price,
)
from tests.risk.factories import make_limit
from tests.venues.factories import make_account

ACCOUNTS = ("FUZZ-A", "FUZZ-B")
# Limits wide enough that a fuzz run is decided by the checks it aims at (collar, quantity,
# instrument, breaker), not by the account running out of open orders or rate.
FUZZ_LIMITS = {
    "max_open_orders": 100_000,
    "max_orders_per_second": 10_000.0,
    "order_burst": 100_000,
    "max_position": Decimal(100_000),
}
# Per-key rate: every fuzz request passes the throttle (429 stays reachable, not routine).
KEY_RATE = {"rate": 10_000.0, "burst": 100_000}


@dataclass
class FuzzWorld:
    market: Market
    accounts: tuple[str, ...]
    symbols: list[str]  # liquid options, most liquid first
    order_ids: list[str]  # orders of both accounts, resting and filled
    prices: list[str]  # limit prices inside the collar of ``symbols``

    def dictionaries(self) -> dict[str, Any]:
        """Schemathesis dictionaries: real values the generator mixes into its own."""
        return {
            "accounts": {"values": list(self.accounts)},
            "symbols": {"values": self.symbols},
            "prices": {"values": self.prices},
            "quantities": {"values": ["1", "0.5", "2", "10"]},
            "orders": {"values": self.order_ids},
            "underlyings": {"values": ["BTC", "btc"]},
            "venues": {"values": [self.market.venue.name]},
        }


def _prices_near_marks(market: Market, symbols: list[str]) -> list[str]:
    """Resting, marketable and at-mark prices, written as the schema's decimal pattern
    wants them (no trailing zeros)."""
    prices = []
    for symbol in symbols:
        mark = f"{market.quote(symbol)['mark']:.4f}"
        for price in (
            passive_buy_price(market, symbol),
            marketable_buy_price(market, symbol),
            mark,
        ):
            prices.append(format(Decimal(price).normalize(), "f"))
    return prices


def fuzz_world_build(server: Any) -> FuzzWorld:
    """Seed the world through the real services and the real server (orders go through HTTP),
    and commit it so the server process sees it."""
    market = make_market(ACCOUNTS[0])
    assert Venue.objects.exclude(adapter=AdapterKind.SIMULATED).count() == 0
    accounts = [market.account, make_account(market.venue, ACCOUNTS[1])]
    for account in accounts:
        GatewayLimits.objects.update_or_create(account=account, defaults=FUZZ_LIMITS)
    symbols = market.symbols[:4]

    seeder = make_bot(server, accounts=list(ACCOUNTS), name="fuzz seeder", **KEY_RATE)
    order_ids = []
    try:
        for i, (account, symbol) in enumerate((a, s) for a in ACCOUNTS for s in symbols[:2]):
            for kind, price in (
                ("rest", passive_buy_price(market, symbol)),
                ("fill", marketable_buy_price(market, symbol)),
            ):
                response = seeder.order(
                    symbol, account=account, price=price, client_order_id=f"seed-{kind}-{i}"
                )
                assert response.status_code == 201, response.text
                order_ids.append(response.json()["id"])
    finally:
        seeder.close()

    make_limit(name="fuzz-a vega", target=ACCOUNTS[0], metric="vega_usd", threshold=1e9)
    # FUZZ-B trades reduce-only (it holds positions from the seed fills), so generated orders
    # reach the reduce-only rule too, and GET /breakers has a tripped breaker to show.
    trip("account", ACCOUNTS[1], state="reduce_only", reason="fuzz world: B reduce-only")
    assert Breaker.objects.get(scope="account", target=ACCOUNTS[1]).state == "reduce_only"
    risk_evaluate(publish_results=False)
    return FuzzWorld(
        market=market,
        accounts=ACCOUNTS,
        symbols=symbols,
        order_ids=order_ids,
        prices=_prices_near_marks(market, symbols),
    )
