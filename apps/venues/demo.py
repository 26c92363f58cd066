"""Demo data for venues: the simulated venue SIM with accounts SIM-A and SIM-B.

Called from apps.dashboard.demo (``seed_demo``). Idempotent: venue and accounts are found by
name/label; the opening positions are traded once per account (marked by client order ids),
through the simulated venue's own order path, so they have fills and average prices like any
position.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.venues.adapters.base import AccountRef, OrderRequest, Side, VenueRejected
from apps.venues.adapters.sim_engine import SPECS
from apps.venues.adapters.simulated import SimulatedAdapter, listed_options
from apps.venues.models import AdapterKind, SimMarket, SimOrder, TradingAccount, Venue
from apps.venues.services.instruments import venue_instruments_sync
from apps.venues.services.polling import positions_sync

__all__ = ["DEMO_SIM_CONFIG", "venues_seed_demo"]

# Enough strikes for smooth smiles (about 600-700 options per underlying); a faster market
# clock so the smiles visibly move on the page; 1% deliberately bad quotes.
DEMO_SIM_CONFIG = {
    "seed": 20240601,
    "strikes_per_expiry": 24,
    "bad_quote_rate": 0.01,
    "time_scale": 20.0,
}

# account label -> (underlying, C/P, strike / spot, expiry rank, side, quantity).
OPENING_TRADES = {
    "SIM-A": [
        ("BTC", "C", 1.05, 2, Side.BUY, Decimal("5")),
        ("BTC", "P", 0.95, 2, Side.SELL, Decimal("3")),
        ("ETH", "C", 1.10, 4, Side.BUY, Decimal("20")),
    ],
    "SIM-B": [
        ("BTC", "P", 0.90, 5, Side.BUY, Decimal("10")),
        ("ETH", "P", 0.95, 3, Side.SELL, Decimal("15")),
    ],
}


def _pick(
    adapter: SimulatedAdapter, underlying: str, letter: str, moneyness: float, expiry_rank: int
) -> str:
    """The listed option nearest ``moneyness`` x spot on the ``expiry_rank``-th expiry."""
    market = SimMarket.objects.get(venue=adapter.venue, underlying=underlying)
    options, _ = listed_options(market.listing, underlying)
    spot = float(market.state["spot"])
    expiries = sorted(set(options.expiry_ms.tolist()))
    expiry = expiries[min(expiry_rank, len(expiries) - 1)]
    best, best_gap = "", float("inf")
    for symbol, e, strike in zip(options.symbol, options.expiry_ms, options.strike, strict=True):
        if e != expiry or not symbol.endswith(f"-{letter}"):
            continue
        gap = abs(strike - moneyness * spot)
        if gap < best_gap:
            best, best_gap = str(symbol), gap
    return best


def venues_seed_demo(*, trader_username: str = "demo-trader") -> str:
    """Create the simulated venue SIM (BTC, ETH), accounts SIM-A and SIM-B with opening
    positions, link ``trader_username`` (if that user exists) to SIM-A. Idempotent."""
    with transaction.atomic():
        venue, created = Venue.objects.get_or_create(
            name="SIM",
            defaults={
                "description": "Built-in simulated venue (no network)",
                "adapter": AdapterKind.SIMULATED,
                "underlyings": sorted(SPECS),
                "config": DEMO_SIM_CONFIG,
                "priority": 10,
            },
        )
        accounts = {}
        for label in OPENING_TRADES:
            accounts[label], _ = TradingAccount.objects.get_or_create(
                label=label, defaults={"venue": venue, "external_id": label.lower()}
            )
        trader = get_user_model().objects.filter(username=trader_username).first()
        if trader is not None:
            accounts["SIM-A"].traders.add(trader)
    adapter = SimulatedAdapter(venue)
    for underlying in venue.underlyings:
        adapter.fetch_chain(underlying)  # creates the market state and quotes
    venue_instruments_sync(venue=venue, adapter=adapter)
    traded = 0
    for label, trades in OPENING_TRADES.items():
        account = accounts[label]
        ref = AccountRef(external_id=account.external_id, label=label)
        for n, (underlying, letter, moneyness, rank, side, quantity) in enumerate(trades):
            client_id = f"demo-open-{label}-{n}"
            if SimOrder.objects.filter(venue=venue, client_order_id=client_id).exists():
                continue
            symbol = _pick(adapter, underlying, letter, moneyness, rank)
            try:
                result = adapter.place_order(
                    ref,
                    OrderRequest(
                        symbol=symbol,
                        side=side,
                        quantity=quantity,
                        order_type="market",
                        client_order_id=client_id,
                    ),
                )
            except VenueRejected:
                continue
            traded += result.filled_quantity > 0
        positions_sync(account=account, reports=adapter.fetch_positions(ref), adapter=adapter)
    linked = " (demo-trader on SIM-A)" if trader is not None else ""
    return (
        f"venue SIM {'created' if created else 'present'}, accounts SIM-A and SIM-B{linked}, "
        f"{traded} opening trades"
    )
