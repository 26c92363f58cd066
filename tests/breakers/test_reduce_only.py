"""reduce_only: never refuses a true reducing order, never lets an increase or a flip through.

The oracle below knows nothing of the rule's formula: it takes the individual working orders
and tries every way they could fill before the new order (any subset, each fully or partly),
and checks that the new order then moves the position towards zero without crossing it.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from apps.breakers.reduce_only import Side, reduce_only_allows, reduce_only_decide

# Quantities on a 0.1 grid, like the venues' minimum trade amounts.
qty = st.integers(min_value=1, max_value=400).map(lambda n: Decimal(n) / 10)
position = st.integers(min_value=-400, max_value=400).map(lambda n: Decimal(n) / 10)
working = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), qty), max_size=6)


@st.composite
def exits(draw):
    """Orders on the side that shrinks the position, sized up to the position: about half of
    them truly reduce (random working orders may cover or exceed the position)."""
    pos = draw(position.filter(lambda p: p != 0))
    side = "sell" if pos > 0 else "buy"
    steps = int(abs(pos) * 10)
    q = Decimal(draw(st.integers(min_value=1, max_value=steps))) / 10
    small = st.integers(min_value=1, max_value=max(1, steps // 2)).map(lambda n: Decimal(n) / 10)
    orders = draw(st.lists(st.tuples(st.sampled_from(["buy", "sell"]), small), max_size=4))
    return pos, orders, side, q


LENIENT = settings(
    max_examples=800, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


def _signed(side: str, quantity: Decimal) -> Decimal:
    return quantity if side == "buy" else -quantity


def moves_towards_zero_without_crossing(before: Decimal, after: Decimal) -> bool:
    if before > 0:
        return Decimal(0) <= after < before
    if before < 0:
        return before < after <= Decimal(0)
    return False  # from flat, every order opens a position


def truly_reducing(pos: Decimal, orders: list[tuple[str, Decimal]], side: str, q: Decimal) -> bool:
    """Brute force: in every way the working orders can (partly) fill first, the new order,
    fully or partly filled, moves the position towards zero and never across it."""
    for fractions in itertools.product(
        (Decimal(0), Decimal("0.5"), Decimal(1)), repeat=len(orders)
    ):
        reached = pos + sum(
            (_signed(s, quantity) * f for (s, quantity), f in zip(orders, fractions, strict=True)),
            Decimal(0),
        )
        for part in (q, q / 2):
            if not moves_towards_zero_without_crossing(reached, reached + _signed(side, part)):
                return False
    return True


def decide(pos, orders, side, q):
    buys = sum((quantity for s, quantity in orders if s == "buy"), Decimal(0))
    sells = sum((quantity for s, quantity in orders if s == "sell"), Decimal(0))
    return reduce_only_allows(
        position=pos, working_buy=buys, working_sell=sells, side=side, quantity=q
    )


@settings(max_examples=600, deadline=None)
@given(pos=position, orders=working, side=st.sampled_from(["buy", "sell"]), q=qty)
@example(pos=Decimal(10), orders=[], side="sell", q=Decimal(10))  # exit to flat
@example(pos=Decimal(10), orders=[("buy", Decimal(5))], side="sell", q=Decimal(10))
@example(pos=Decimal(-3), orders=[], side="buy", q=Decimal(3))
def test_the_rule_agrees_with_the_brute_force_oracle(pos, orders, side, q):
    assert decide(pos, orders, side, q) == truly_reducing(pos, orders, side, q)


@LENIENT
@given(case=exits())
def test_never_refuses_a_true_reducing_order(case):
    pos, orders, side, q = case
    assume(truly_reducing(pos, orders, side, q))
    assert decide(pos, orders, side, q)


@LENIENT
@given(
    case=st.one_of(exits(), st.tuples(position, working, st.sampled_from(["buy", "sell"]), qty)),
    fill_order=st.randoms(use_true_random=False),
    fractions=st.lists(st.sampled_from([0, 0.25, 0.5, 1]), min_size=7, max_size=7),
)
def test_an_allowed_order_never_flips_or_grows_the_position(case, fill_order, fractions):
    """Simulate: the working orders and the new one fill in a random order, each partly or
    fully; whenever the new order fills, the position moves towards zero and stays on its
    side of zero."""
    pos, orders, side, q = case
    assume(decide(pos, orders, side, q))
    events = [("working", s, quantity) for s, quantity in orders] + [("new", side, q)]
    fill_order.shuffle(events)
    current = pos
    for (kind, s, quantity), f in zip(events, fractions, strict=False):
        filled = (quantity * Decimal(str(f))).quantize(Decimal("0.01"))
        if kind == "new":
            filled = filled or quantity  # make the new order fill at least somewhat
            after = current + _signed(s, filled)
            assert moves_towards_zero_without_crossing(current, after), (current, after)
            current = after
        else:
            current += _signed(s, filled)


@given(buys=qty, sells=qty, q=qty)
def test_a_flat_position_admits_nothing(buys, sells, q):
    for side in ("buy", "sell"):
        assert not reduce_only_allows(
            position=0, working_buy=buys, working_sell=sells, side=side, quantity=q
        )


def test_decisions_say_why_and_how_much_is_left():
    flip = reduce_only_decide(position=5, working_buy=0, working_sell=2, side="sell", quantity=4)
    assert (flip.allowed, flip.code, flip.max_quantity) == (False, "reduce_only_would_flip", 3)
    wrong_way = reduce_only_decide(position=5, working_buy=0, working_sell=0, side=Side.BUY,
                                   quantity=1)  # fmt: skip
    assert (wrong_way.allowed, wrong_way.code) == (False, "reduce_only_increases")
    covered = reduce_only_decide(position=5, working_buy=0, working_sell=5, side="sell", quantity=1)
    assert (covered.allowed, covered.code) == (False, "reduce_only_working_orders")
    ok = reduce_only_decide(position=-5, working_buy=1, working_sell=9, side="buy", quantity=4)
    assert (ok.allowed, ok.code, ok.max_quantity) == (True, "", 4)


def test_floats_are_refused():
    with pytest.raises(TypeError):
        reduce_only_allows(position=0.3, working_buy=0, working_sell=0, side="sell", quantity=0.1)
