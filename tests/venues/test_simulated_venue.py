"""The simulated venue as an exchange: state in PostgreSQL, quotes, orders, fills, positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from apps.venues.adapters.base import (
    AccountRef,
    OptionChain,
    OrderRequest,
    OrderStatus,
    Side,
    VenueAdapter,
    VenueRejected,
)
from apps.venues.adapters.simulated import SimulatedAdapter, listed_options
from apps.venues.models import SimMarket, SimOrder, SimPosition
from tests.venues.factories import make_sim_venue

pytestmark = pytest.mark.django_db

ALICE = AccountRef(external_id="sim-a", label="SIM-A")
BOB = AccountRef(external_id="sim-b", label="SIM-B")


@pytest.fixture
def venue():
    return make_sim_venue(underlyings=("BTC", "ETH"))


@pytest.fixture
def adapter(venue):
    sim = SimulatedAdapter(venue)
    sim.fetch_chain("BTC")
    return sim


def quote_of(adapter: SimulatedAdapter, symbol: str, underlying: str = "BTC"):
    market = SimMarket.objects.get(venue=adapter.venue, underlying=underlying)
    _, index, quotes = adapter._quotes_now(market)
    i = index[symbol]
    return quotes.bid[i], quotes.ask[i], quotes.bid_size[i], quotes.ask_size[i]


def atm_call(adapter: SimulatedAdapter, rank: int = 2) -> str:
    market = SimMarket.objects.get(venue=adapter.venue, underlying="BTC")
    options, _ = listed_options(market.listing, "BTC")
    expiry = sorted(set(options.expiry_ms.tolist()))[rank]
    spot = market.state["spot"]
    rows = [
        (abs(k - spot), s)
        for s, e, k, c in zip(
            options.symbol, options.expiry_ms, options.strike, options.is_call, strict=True
        )
        if e == expiry and c
    ]
    return min(rows)[1]


def test_it_implements_the_adapter_protocol(venue):
    assert isinstance(SimulatedAdapter(venue), VenueAdapter)


def test_a_chain_is_a_normalised_set_of_numpy_columns(adapter):
    chain = adapter.fetch_chain("ETH")
    assert isinstance(chain, OptionChain)
    assert chain.price_in_coin and chain.price_currency == "ETH"
    n = len(chain)
    assert n > 50
    assert chain.strike.dtype == np.float64 and chain.expiry_ms.dtype == np.int64
    assert chain.is_call.dtype == np.bool_ and chain.quote_ts.dtype == np.int64
    assert np.all(chain.forward > 0) and np.isfinite(chain.index_price)
    assert np.all(np.abs(chain.quote_ts - chain.as_of_ms) < 1000)  # bad-quote rate is 0 here


def test_state_lives_in_postgresql_and_survives_a_restart(venue):
    first = SimulatedAdapter(venue)
    chain1 = first.fetch_chain("BTC")
    market = SimMarket.objects.get(venue=venue, underlying="BTC")
    step, spot = market.step, market.state["spot"]
    # A "restarted" process: a new adapter; its module caches say nothing about the state.
    restarted = SimulatedAdapter(type(venue).objects.get(pk=venue.pk))
    chain2 = restarted.fetch_chain("BTC")
    market.refresh_from_db()
    assert market.step == step + 1
    # The path continues from the stored spot: one ~second step moves it by a hair.
    assert abs(chain2.index_price / spot - 1) < 0.01
    assert chain1.symbol.tolist() == chain2.symbol.tolist()


def test_each_chain_poll_steps_by_the_wall_clock_time_since_the_last(venue):
    adapter = SimulatedAdapter(venue)
    adapter.fetch_chain("BTC")
    market = SimMarket.objects.get(venue=venue, underlying="BTC")
    before = market.state["spot"]
    # As if the last poll were a week ago (a long outage): the step covers the whole week.
    SimMarket.objects.filter(pk=market.pk).update(stepped_at=market.stepped_at - timedelta(days=7))
    moves = []
    for _ in range(3):
        adapter.fetch_chain("BTC")
        market.refresh_from_db()
        moves.append(abs(np.log(market.state["spot"] / before)))
        before = market.state["spot"]
        SimMarket.objects.filter(pk=market.pk).update(
            stepped_at=market.stepped_at - timedelta(days=7)
        )
    # Weekly moves at ~52% vol are several percent; two-second moves are hundredths of one.
    assert max(moves) > 0.01


def test_a_marketable_buy_fills_at_the_ask_and_builds_a_position(adapter):
    symbol = atm_call(adapter)
    _bid, ask, _, ask_size = quote_of(adapter, symbol)
    qty = Decimal("1.0")
    assert ask_size >= 1
    result = adapter.place_order(
        ALICE, OrderRequest(symbol, Side.BUY, qty, limit_price=Decimal(str(round(ask + 0.01, 4))))
    )
    assert result.status == OrderStatus.FILLED
    assert result.filled_quantity == qty and len(result.fills) == 1
    assert float(result.fills[0].price) == pytest.approx(ask, abs=1e-8)
    assert result.fills[0].fee > 0
    positions = adapter.fetch_positions(ALICE)
    assert [(p.symbol, p.size) for p in positions] == [(symbol, qty)]
    assert float(positions[0].average_price) == pytest.approx(ask, abs=1e-8)
    assert adapter.fetch_positions(BOB) == []


def test_a_passive_limit_rests_then_fills_at_its_limit_when_the_market_comes_to_it(adapter):
    symbol = atm_call(adapter)
    bid, _ask, _, _ = quote_of(adapter, symbol)
    limit = Decimal(str(round(bid * 0.5, 4)))
    result = adapter.place_order(
        BOB, OrderRequest(symbol, Side.BUY, Decimal("0.5"), limit_price=limit)
    )
    assert result.status == OrderStatus.OPEN and result.filled_quantity == 0
    assert [o.venue_order_id for o in adapter.fetch_open_orders(BOB)] == [result.venue_order_id]
    # The market falls 15%: the call's ask drops below our bid; the next poll matches it.
    market = SimMarket.objects.get(venue=adapter.venue, underlying="BTC")
    market.state = {**market.state, "spot": market.state["spot"] * 0.85}
    market.save()
    adapter.fetch_chain("BTC")
    order = SimOrder.objects.get(venue_order_id=result.venue_order_id)
    assert order.status == SimOrder.Status.FILLED
    assert order.average_price == limit  # a resting order fills at its own price
    assert adapter.fetch_open_orders(BOB) == []
    assert adapter.fetch_positions(BOB)[0].size == Decimal("0.5")


def test_ioc_and_market_orders_never_rest(adapter):
    symbol = atm_call(adapter)
    bid, _, _, _ = quote_of(adapter, symbol)
    passive = Decimal(str(round(bid * 0.5, 4)))
    ioc = adapter.place_order(
        ALICE,
        OrderRequest(symbol, Side.BUY, Decimal("1"), limit_price=passive, time_in_force="ioc"),
    )
    assert ioc.status == OrderStatus.CANCELLED and ioc.filled_quantity == 0
    _, _, _, ask_size = quote_of(adapter, symbol)
    too_big = Decimal(str(round(ask_size + 50, 1)))
    market = adapter.place_order(
        ALICE, OrderRequest(symbol, Side.BUY, too_big, order_type="market")
    )
    assert market.status == OrderStatus.CANCELLED  # the rest dies, nothing rests
    assert 0 < market.filled_quantity < too_big
    assert adapter.fetch_open_orders(ALICE) == []


def test_a_client_order_id_makes_placement_idempotent(adapter):
    symbol = atm_call(adapter)
    _, ask, _, _ = quote_of(adapter, symbol)
    order = OrderRequest(
        symbol,
        Side.BUY,
        Decimal("1"),
        # Above the ask, so it fills (round(ask, 4) could round below it and rest unfilled).
        limit_price=Decimal(str(round(ask + 0.01, 4))),
        client_order_id="c-1",
    )
    first = adapter.place_order(ALICE, order)
    assert first.filled_quantity > 0
    again = adapter.place_order(ALICE, order)
    assert again.venue_order_id == first.venue_order_id
    assert again.filled_quantity == first.filled_quantity
    assert adapter.fetch_positions(ALICE)[0].size == first.filled_quantity  # traded once


def test_refusals_are_machine_readable(adapter):
    symbol = atm_call(adapter)
    price = Decimal("0.1")
    cases = [
        (
            OrderRequest("BTC-1JAN20-1-C", Side.BUY, Decimal(1), limit_price=price),
            "unknown_instrument",
        ),
        (OrderRequest(symbol, Side.BUY, Decimal("0.05"), limit_price=price), "invalid_quantity"),
        (OrderRequest(symbol, Side.BUY, Decimal(1)), "invalid_price"),
        (
            OrderRequest(symbol, Side.SELL, Decimal(1), limit_price=price, reduce_only=True),
            "reduce_only_would_increase",
        ),
        (
            OrderRequest("DOGE-1JAN30-1-C", Side.BUY, Decimal(1), limit_price=price),
            "unknown_underlying",
        ),
    ]
    for order, code in cases:
        with pytest.raises(VenueRejected) as info:
            adapter.place_order(ALICE, order)
        assert info.value.code == code
    assert not SimOrder.objects.exists()


def test_selling_through_a_long_flips_it_short_with_pnl_realised(adapter):
    symbol = atm_call(adapter)
    bid, ask, bid_size, _ = quote_of(adapter, symbol)
    adapter.place_order(ALICE, OrderRequest(symbol, Side.BUY, Decimal("1"), order_type="market"))
    qty = min(Decimal("2"), Decimal(str(bid_size)).quantize(Decimal("0.1")))
    adapter.place_order(ALICE, OrderRequest(symbol, Side.SELL, qty, order_type="market"))
    position = SimPosition.objects.get(account_ref="sim-a", symbol=symbol)
    assert position.size == Decimal("1") - qty
    expected_pnl = Decimal(str(round(bid, 8))) - Decimal(str(round(ask, 8)))  # 1 contract
    assert position.realized_pnl == pytest.approx(expected_pnl, abs=Decimal("1e-8"))
    if position.size < 0:
        assert position.average_price == Decimal(str(round(bid, 8))).quantize(
            position.average_price
        )


def test_cancel_and_cancel_all(adapter):
    symbol = atm_call(adapter)
    bid, _, _, _ = quote_of(adapter, symbol)
    low = Decimal(str(round(bid * 0.3, 4)))
    ids = [
        adapter.place_order(
            ALICE, OrderRequest(symbol, Side.BUY, Decimal("1"), limit_price=low)
        ).venue_order_id
        for _ in range(3)
    ]
    assert adapter.cancel_order(ALICE, ids[0]).status == OrderStatus.CANCELLED
    with pytest.raises(VenueRejected) as info:
        adapter.cancel_order(BOB, ids[1])  # not Bob's order
    assert info.value.code == "order_not_found"
    cancelled = adapter.cancel_all(ALICE, underlying="BTC")
    assert sorted(o.venue_order_id for o in cancelled) == sorted(ids[1:])
    assert all(o.status == OrderStatus.CANCELLED for o in cancelled)
    assert adapter.fetch_open_orders(ALICE) == []


def test_listed_instruments_match_the_chain(adapter):
    specs = adapter.list_instruments()
    btc = {s.symbol for s in specs if s.underlying == "BTC"}
    assert btc == set(adapter.fetch_chain("BTC").symbol.tolist())
    sample = specs[0]
    assert sample.kind == "option" and sample.quote_currency == sample.underlying
    assert sample.expiry is not None and sample.strike > 0 and sample.option_type in ("call", "put")


def test_expired_options_settle_at_intrinsic_and_their_orders_are_cancelled(adapter):
    from django.db import transaction

    market = SimMarket.objects.get(venue=adapter.venue, underlying="BTC")
    options, _ = listed_options(market.listing, "BTC")
    first_expiry = int(min(options.expiry_ms))
    spot = market.state["spot"]
    itm_put = max(
        (k, s)
        for s, e, k, c in zip(
            options.symbol, options.expiry_ms, options.strike, options.is_call, strict=True
        )
        if e == first_expiry and not c and k > spot
    )[1]
    adapter.place_order(ALICE, OrderRequest(itm_put, Side.BUY, Decimal("1"), order_type="market"))
    paid = SimPosition.objects.get(account_ref="sim-a", symbol=itm_put).average_price
    resting = adapter.place_order(
        BOB, OrderRequest(itm_put, Side.BUY, Decimal("1"), limit_price=Decimal("0.0001"))
    )
    assert resting.status == OrderStatus.OPEN
    after_expiry = datetime.fromtimestamp(first_expiry / 1000, tz=UTC) + timedelta(hours=1)
    with transaction.atomic():
        locked = SimMarket.objects.select_for_update().get(pk=market.pk)
        state = adapter._advance(locked, after_expiry)  # the market's clock passes the expiry
    position = SimPosition.objects.get(account_ref="sim-a", symbol=itm_put)
    strike = float(itm_put.split("-")[2])
    payoff = Decimal(repr(round(max(strike - state.spot, 0.0) / state.spot, 8)))
    assert position.size == 0
    assert position.realized_pnl == pytest.approx(payoff - paid, abs=Decimal("1e-8"))
    assert SimOrder.objects.get(venue_order_id=resting.venue_order_id).status == "cancelled"
    assert str(first_expiry) not in SimMarket.objects.get(pk=market.pk).listing
    assert adapter.fetch_positions(ALICE) == []
