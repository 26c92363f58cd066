"""The simulated venue's order path as tuned for throughput: each step's quotes computed once
per process, placements side by side under a shared market lock, idempotency settled by the
unique index, refusals that leave a caller's transaction usable."""

from __future__ import annotations

import threading
from decimal import Decimal

import numpy as np
import pytest
from django.db import OperationalError, connection, connections, transaction

from apps.venues.adapters.base import AccountRef, OrderRequest, OrderStatus, Side, VenueRejected
from apps.venues.adapters.simulated import SimulatedAdapter
from apps.venues.models import SimMarket, SimOrder
from tests.venues.factories import make_sim_venue

ALICE = AccountRef(external_id="sim-a", label="SIM-A")


@pytest.fixture
def adapter(db):
    sim = SimulatedAdapter(make_sim_venue())
    sim.fetch_chain("BTC")
    return sim


def _liquid_call(adapter: SimulatedAdapter) -> tuple[str, float]:
    market = SimMarket.objects.get(venue=adapter.venue, underlying="BTC")
    options, _, quotes = adapter._quotes_now(market)
    i = int(np.flatnonzero(options.is_call & (quotes.bid > 0.005) & (quotes.ask_size >= 1))[0])
    return str(options.symbol[i]), float(quotes.ask[i])


def test_an_order_fills_at_the_quotes_of_the_market_as_committed_when_it_is_placed(adapter):
    # Placements price from a per-process copy of each step's quotes: a market moved since
    # (here: the spot marked up 20% in the database, as a step would) must be priced anew.
    for bump in (1.0, 1.2, 1.44):
        if bump != 1.0:
            market = SimMarket.objects.get(venue=adapter.venue, underlying="BTC")
            market.state = {**market.state, "spot": market.state["spot"] * 1.2}
            market.save(update_fields=["state"])
        symbol, ask = _liquid_call(adapter)
        placed = adapter.place_order(
            ALICE, OrderRequest(symbol, Side.BUY, Decimal("0.1"), order_type="market")
        )
        assert placed.status == OrderStatus.FILLED
        assert placed.fills[0].price == Decimal(repr(ask)).quantize(Decimal("0.00000001"))


def test_a_refusal_inside_a_callers_transaction_leaves_it_usable(adapter):
    symbol, _ = _liquid_call(adapter)
    with transaction.atomic():
        with pytest.raises(VenueRejected):
            unlisted = OrderRequest("BTC-1JAN20-1-C", Side.BUY, Decimal(1), limit_price=Decimal(1))
            adapter.place_order(ALICE, unlisted)
        placed = adapter.place_order(
            ALICE, OrderRequest(symbol, Side.BUY, Decimal(1), limit_price=Decimal("0.0001"))
        )
        assert SimOrder.objects.filter(venue_order_id=placed.venue_order_id).exists()


def test_a_retry_is_answered_with_the_original_even_if_it_would_be_refused_now(adapter):
    symbol, _ = _liquid_call(adapter)
    adapter.place_order(ALICE, OrderRequest(symbol, Side.BUY, Decimal(1), order_type="market"))
    exit_order = OrderRequest(
        symbol, Side.SELL, Decimal(1), order_type="market", reduce_only=True, client_order_id="x-1"
    )
    first = adapter.place_order(ALICE, exit_order)
    assert first.status == OrderStatus.FILLED
    # Flat now: a new reduce-only sell would be refused, but this is the same order again.
    again = adapter.place_order(ALICE, exit_order)
    assert again.venue_order_id == first.venue_order_id
    assert SimOrder.objects.filter(client_order_id="x-1").count() == 1


def _in_thread(target):
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.django_db(transaction=True)
def test_placements_run_side_by_side_and_a_market_step_waits_for_them():
    adapter = SimulatedAdapter(make_sim_venue())
    adapter.fetch_chain("BTC")
    symbol, _ = _liquid_call(adapter)
    holding, release = threading.Event(), threading.Event()

    def slow_placement() -> None:
        with transaction.atomic():
            adapter.place_order(
                ALICE, OrderRequest(symbol, Side.BUY, Decimal(1), limit_price=Decimal("0.0001"))
            )
            holding.set()
            release.wait(20)

    thread, errors = _in_thread(slow_placement)
    try:
        assert holding.wait(20)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            # Another placement of the same market does not wait for the open one...
            adapter.place_order(
                ALICE, OrderRequest(symbol, Side.BUY, Decimal(1), limit_price=Decimal("0.0001"))
            )
        # ...while a step of that market does.
        with pytest.raises(OperationalError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            adapter.fetch_chain("BTC")
    finally:
        release.set()
        thread.join(30)
    assert not errors
    assert SimOrder.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_placements_of_one_client_order_id_place_it_once():
    adapter = SimulatedAdapter(make_sim_venue())
    adapter.fetch_chain("BTC")
    symbol, ask = _liquid_call(adapter)
    order = OrderRequest(
        symbol, Side.BUY, Decimal(1), limit_price=Decimal(f"{ask:.4f}"), client_order_id="dup"
    )
    placed, release = threading.Event(), threading.Event()
    results = {}

    def first() -> None:
        with transaction.atomic():
            results["first"] = adapter.place_order(ALICE, order)
            placed.set()
            release.wait(20)

    thread, errors = _in_thread(first)
    try:
        assert placed.wait(20)
        second, second_errors = _in_thread(
            lambda: results.__setitem__("second", adapter.place_order(ALICE, order))
        )
        second.join(1.0)
        assert second.is_alive()  # waits on the unique index for the first to commit
    finally:
        release.set()
        thread.join(30)
    second.join(30)
    assert not errors and not second_errors
    assert results["second"].venue_order_id == results["first"].venue_order_id
    assert results["second"].filled_quantity == results["first"].filled_quantity
    assert SimOrder.objects.filter(client_order_id="dup").count() == 1
