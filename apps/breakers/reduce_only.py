"""Whether an order may pass a ``reduce_only`` breaker. Pure Python (no Django), exact decimals.

The rule (issue 8): an order is allowed only if, counting the position and the account's
working orders on the instrument, it can only bring the position closer to zero and never flip
its sign.

"Can only" means in every way the working orders might still fill: any of them, in any order,
fully or partly, before or after the new order. The worst case for a sell is that every working
sell fills first and no working buy fills (buys may be cancelled), leaving
``position - working_sell``; the sell of ``q`` must then still leave a position ``>= 0``. So:

* a sell of ``q > 0`` is allowed  iff  ``position - working_sell - q >= 0``;
* a buy of ``q > 0`` is allowed   iff  ``position + working_buy + q <= 0``.

Both conditions are exact (not a safe approximation): if one fails, there is a way for the
working orders to fill after which the new order would grow the position or flip it; if it
holds, in every such way the new order moves the position towards zero without crossing it
(tests/breakers/test_reduce_only.py proves both directions against a brute-force oracle).
Working orders on the *other* side never count in favour of an order, because they may never
fill. A flat position therefore admits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = ["ReduceOnlyDecision", "Side", "reduce_only_allows", "reduce_only_decide"]

Number = Decimal | int


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class ReduceOnlyDecision:
    allowed: bool
    code: str  # "" when allowed; otherwise a stable machine-readable reason
    max_quantity: Decimal  # the largest quantity of this side that would be allowed now (>= 0)


def _dec(value: Number | str) -> Decimal:
    if isinstance(value, float):
        # Floats are refused: 0.1 + 0.2 != 0.3 would decide borderline exits wrongly.
        raise TypeError("reduce_only takes Decimal or int quantities, not float")
    return value if isinstance(value, Decimal) else Decimal(value)


def reduce_only_decide(
    *,
    position: Number,
    working_buy: Number,
    working_sell: Number,
    side: Side | str,
    quantity: Number,
) -> ReduceOnlyDecision:
    """Decide one order. ``position`` is signed (contracts, negative = short);
    ``working_buy``/``working_sell`` are the sums of the *remaining* quantities of the account's
    open orders on the instrument on each side (>= 0); ``quantity`` is the new order's (> 0)."""
    pos = _dec(position)
    buys = _dec(working_buy)
    sells = _dec(working_sell)
    qty = _dec(quantity)
    side = Side(side)
    if buys < 0 or sells < 0:
        raise ValueError("working order sums must be >= 0")
    if qty <= 0:
        return ReduceOnlyDecision(False, "invalid_quantity", _room(pos, buys, sells, side))
    room = _room(pos, buys, sells, side)
    if room == 0:
        flat_or_wrong_way = (side == Side.SELL and pos <= 0) or (side == Side.BUY and pos >= 0)
        code = "reduce_only_increases" if flat_or_wrong_way else "reduce_only_working_orders"
        return ReduceOnlyDecision(False, code, room)
    if qty > room:
        return ReduceOnlyDecision(False, "reduce_only_would_flip", room)
    return ReduceOnlyDecision(True, "", room)


def _room(pos: Decimal, buys: Decimal, sells: Decimal, side: Side) -> Decimal:
    """The largest order of ``side`` that can only reduce (0 if none can)."""
    if side == Side.SELL:
        return max(pos - sells, Decimal(0))
    return max(-pos - buys, Decimal(0))


def reduce_only_allows(
    *,
    position: Number,
    working_buy: Number,
    working_sell: Number,
    side: Side | str,
    quantity: Number,
) -> bool:
    """True when the order may pass a ``reduce_only`` breaker (see the module docstring)."""
    return reduce_only_decide(
        position=position,
        working_buy=working_buy,
        working_sell=working_sell,
        side=side,
        quantity=quantity,
    ).allowed
