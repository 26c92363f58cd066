"""Reduce-only through the whole gateway (pipeline, simulated venue, fills, positions):
over generated sequences of orders, a reduce-only account never flips or grows its position,
every genuine exit the rule allows is accepted, and it can always close what is left."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.breakers.reduce_only import reduce_only_decide
from apps.gateway.models import Fill, Order, Position
from apps.gateway.services.cancel import orders_cancel_in_scope
from apps.gateway.services.orders import OrderInput, order_submit
from apps.venues.models import SimFill, SimOrder, SimPosition
from tests.apikeys.factories import issue
from tests.breakers.factories import trip
from tests.gateway.conftest import make_market

pytestmark = pytest.mark.django_db(transaction=True)

REDUCE_ONLY_CODES = {
    "reduce_only_increases",
    "reduce_only_would_flip",
    "reduce_only_working_orders",
}

quantities = st.integers(min_value=1, max_value=25).map(lambda n: Decimal(n) / 10)
actions = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), quantities, st.sampled_from(["take", "rest"])),
    min_size=1,
    max_size=6,
)


@pytest.fixture
def world(redis_client):
    market = make_market()
    key = issue(accounts=["SIM-A"]).api_key
    return market, key


def _reset(market) -> None:
    Fill.objects.all().delete()
    Order.objects.all().delete()
    Position.objects.all().delete()
    SimFill.objects.all().delete()
    SimOrder.objects.all().delete()
    SimPosition.objects.all().delete()


def _price(market, symbol: str, side: str, how: str) -> Decimal:
    q = market.quote(symbol)
    if how == "take":
        value = q["ask"] * 1.05 if side == "buy" else q["bid"] * 0.95
    else:
        value = q["bid"] * 0.9 if side == "buy" else q["ask"] * 1.1
    return Decimal(f"{value:.4f}")


def _position(market, symbol: str) -> Decimal:
    return Position.objects.filter(account=market.account, instrument__symbol=symbol).values_list(
        "size", flat=True
    ).first() or Decimal(0)


def _working(symbol: str) -> tuple[Decimal, Decimal]:
    buy = sell = Decimal(0)
    for o in Order.objects.working().filter(symbol=symbol):
        if o.side == "buy":
            buy += o.remaining
        else:
            sell += o.remaining
    return buy, sell


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(start_side=st.sampled_from(["buy", "sell"]), start=st.integers(2, 20), steps=actions)
def test_reduce_only_never_flips_and_always_lets_the_position_close(
    world, start_side, start, steps
):
    market, key = world
    _reset(market)
    from apps.breakers.models import Breaker
    from apps.breakers.services import breaker_reset_break_glass

    if Breaker.objects.filter(scope="account", target="SIM-A").exclude(state="active").exists():
        breaker_reset_break_glass(
            scope="account", target="SIM-A", reason="next example", operator="tests"
        )
    symbol = market.symbols[0]
    n = [0]

    def submit(side: str, quantity: Decimal, how: str):
        n[0] += 1
        data = OrderInput(
            account="SIM-A",
            instrument=symbol,
            side=side,
            order_type="limit",
            quantity=quantity,
            limit_price=_price(market, symbol, side, how),
            time_in_force="gtc",
            reduce_only=False,
            client_order_id=f"h{n[0]}",
        )
        return order_submit(api_key=key, data=data, arrived_at=timezone.now())

    opened = submit(start_side, Decimal(start) / 10, "take")
    assert opened.reject is None, opened.reject
    initial = _position(market, symbol)
    if initial == 0:
        return  # nothing filled against the quote: no position to reduce
    trip("account", "SIM-A", state="reduce_only")
    previous = initial
    for side, quantity, how in steps:
        buy, sell = _working(symbol)
        expected = reduce_only_decide(
            position=_position(market, symbol),
            working_buy=buy,
            working_sell=sell,
            side=side,
            quantity=quantity,
        )
        outcome = submit(side, quantity, how)
        if expected.allowed:
            # A genuine exit is never refused (the venue's own tick/size rules aside).
            assert outcome.reject is None, (outcome.reject, expected)
        else:
            assert outcome.reject is not None and outcome.reject.code in REDUCE_ONLY_CODES
            assert outcome.reject.code == expected.code
        now = _position(market, symbol)
        assert now * initial >= 0, f"position flipped: {initial} -> {now}"
        assert abs(now) <= abs(previous), f"position grew: {previous} -> {now}"
        previous = now
        # Worst case of the working orders cannot flip it either.
        buy, sell = _working(symbol)
        assert (now - sell >= 0) if initial > 0 else (now + buy <= 0)

    # With working orders outstanding, the part they do not cover can always be closed...
    buy, sell = _working(symbol)
    now = _position(market, symbol)
    room = (now - sell) if initial > 0 else (-now - buy)
    exit_side = "sell" if initial > 0 else "buy"
    if room > 0:
        assert submit(exit_side, room, "rest").reject is None
    # ...and after cancelling them (never refused by a breaker), the whole position.
    report = orders_cancel_in_scope(accounts=[market.account])
    assert report.done
    now = _position(market, symbol)
    if now != 0:
        closing = submit(exit_side, abs(now), "take")
        assert closing.reject is None, closing.reject
        assert _position(market, symbol) * initial >= 0


def test_concurrent_exits_under_reduce_only_cannot_flip_together(world):
    """Eight simultaneous resting sells of the whole position: exactly one may pass."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    market, key = world
    symbol = market.symbols[0]
    q = market.quote(symbol)

    def submit(side: str, quantity: Decimal, price: float, cid: str):
        data = OrderInput(
            "SIM-A", symbol, side, "limit", quantity, Decimal(f"{price:.4f}"), "gtc", False, cid
        )
        return order_submit(api_key=key, data=data, arrived_at=timezone.now())

    assert submit("buy", Decimal(1), q["ask"] * 1.05, "open").reject is None
    size = _position(market, symbol)
    assert size > 0
    trip("account", "SIM-A", state="reduce_only")
    barrier = threading.Barrier(8)

    def exit_(i: int):
        try:
            barrier.wait()
            return submit("sell", size, q["ask"] * 1.2, f"exit-{i}")
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(exit_, range(8)))
    accepted = [o for o in outcomes if o.reject is None]
    assert len(accepted) == 1, [o.reject for o in outcomes]
    assert {o.reject.code for o in outcomes if o.reject} == {"reduce_only_working_orders"}
