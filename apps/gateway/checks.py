"""The pre-trade pipeline: an explicit, ordered tuple of small checks.

Each check takes the :class:`CheckContext` of one order and returns ``None`` (pass) or a
:class:`Reject` (a stable machine-readable code plus a sentence for people). The first reject
wins; the order is stored ``rejected`` with that code. Checks that need data read it through
the context's lazy properties, so an order rejected early costs no further queries and each
piece of data is read at most once per order.

Dependencies that cannot be consulted raise :class:`GatewayUnavailable` (the view answers 503,
nothing is stored or sent): breaker state from neither Redis nor PostgreSQL, the per-account
rate limiter's Redis, the database.

Every reject code is listed in ``REJECT_CODES`` (and in docs/gateway.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.utils import timezone

from apps.apikeys.ratelimit import RateLimiterUnavailable, rate_limit_take
from apps.breakers.enforcement import SOURCE_FAIL_CLOSED, EffectiveState, breaker_effective_state
from apps.breakers.reduce_only import reduce_only_decide
from apps.gateway.models import WORKING_STATUSES

__all__ = [
    "BOOK_SQL_LATERAL",
    "DEFAULT_LIMITS",
    "PIPELINE",
    "REJECT_CODES",
    "CheckContext",
    "EffectiveLimits",
    "GatewayUnavailable",
    "Reject",
    "pipeline_run",
]

ZERO = Decimal(0)


class GatewayUnavailable(Exception):
    """A dependency needed to decide could not be consulted: refuse with 503 (fail closed)."""


@dataclass(frozen=True, slots=True)
class Reject:
    code: str
    detail: str


# code -> what it means (docs/gateway.md lists the same; a test keeps them in step).
REJECT_CODES: dict[str, str] = {
    "unknown_instrument": "No such instrument at the account's venue.",
    "instrument_inactive": "The instrument is delisted or inactive.",
    "instrument_expired": "The instrument has expired.",
    "account_not_allowed": "The key may not trade this account (or it does not exist).",
    "breaker_halted": "A circuit breaker covering this order is halted.",
    "reduce_only_increases": "Reduce-only: the order would grow the position (or it is flat).",
    "reduce_only_would_flip": "Reduce-only: the order could flip the position's sign.",
    "reduce_only_working_orders": (
        "Reduce-only: working orders on the same side already cover the position."
    ),
    "market_data_stale": "The venue's market data is stale.",
    "no_market_data": "No mark for this instrument.",
    "price_outside_collar": "The limit price is too far from the mark.",
    "price_outside_vol_collar": "The limit price's implied vol is too far from our SVI fit.",
    "quantity_too_large": "Quantity above the account's maximum order quantity.",
    "notional_too_large": "Notional above the account's maximum order notional.",
    "position_limit": "The position after a full fill would exceed the account's limit.",
    "too_many_open_orders": "The account has its maximum number of working orders.",
    "account_rate_limited": "The account's order rate limit is exceeded.",
    "venue_rejected": "The venue refused the order (its code is in venue_message).",
}


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    max_order_quantity: Decimal
    max_order_notional: Decimal
    max_position: Decimal
    max_open_orders: int
    max_orders_per_second: float
    order_burst: int
    price_collar: float
    svi_collar_vol_points: float | None = None


DEFAULT_LIMITS = EffectiveLimits(
    max_order_quantity=Decimal(100),
    max_order_notional=Decimal(5_000_000),
    max_position=Decimal(500),
    max_open_orders=200,
    max_orders_per_second=500.0,
    order_burst=1000,
    price_collar=0.5,
)


def limits_of(account: Any) -> EffectiveLimits:
    """The account's limits: its GatewayLimits row where set, the defaults elsewhere."""
    row = getattr(account, "gateway_limits", None) if account is not None else None
    if row is None:
        return DEFAULT_LIMITS
    values: dict[str, Any] = {}
    for name in EffectiveLimits.__dataclass_fields__:
        if name == "svi_collar_vol_points":  # None means off, not "the default"
            values[name] = getattr(row, name, None)
            continue
        value = getattr(row, name, None)
        values[name] = getattr(DEFAULT_LIMITS, name) if value is None else value
    return EffectiveLimits(**values)


@dataclass
class CheckContext:
    """Everything the checks may look at, for one order. Data is loaded lazily, once."""

    api_key: Any
    account: Any  # TradingAccount (with venue, gateway_limits) or None
    account_allowed: bool
    instrument: Any  # Instrument or None
    side: str
    order_type: str
    quantity: Decimal
    limit_price: Decimal | None
    reduce_only: bool
    now: Any = field(default_factory=timezone.now)

    @cached_property
    def limits(self) -> EffectiveLimits:
        return limits_of(self.account)

    @cached_property
    def breaker(self) -> EffectiveState:
        state = breaker_effective_state(
            account=self.account.label,
            venue=self.account.venue.name,
            underlying=self.instrument.underlying,
            api_key=self.api_key.key_id,
        )
        if state.source == SOURCE_FAIL_CLOSED:
            raise GatewayUnavailable("breaker state unavailable")
        return state

    @cached_property
    def mark(self) -> Any:
        from apps.venues.selectors import marks_for_symbols

        try:
            return marks_for_symbols(
                venue=self.account.venue, symbols=[self.instrument.symbol]
            ).get(self.instrument.symbol)
        except Exception as exc:  # Redis down: market data cannot be consulted
            if _is_redis_error(exc):
                raise GatewayUnavailable("market data unavailable") from exc
            raise

    @cached_property
    def book(self) -> dict[str, Any]:
        """Position and working orders of the account, in one query: the number of working
        orders of the account, the remaining quantities of its working buys and sells on this
        instrument, and its position in it. Plain SQL: this runs for every order, and the ORM
        would compile the same conditional aggregate each time."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                _BOOK_SQL, {"account": self.account.pk, "instrument": self.instrument.pk}
            )
            open_orders, working_buy, working_sell, position = cursor.fetchone()
        return {
            "open_orders": int(open_orders),
            "working_buy": Decimal(working_buy),
            "working_sell": Decimal(working_sell),
            "position": Decimal(position),
        }

    @property
    def position(self) -> Decimal:
        return Decimal(self.book["position"])

    @property
    def reference_price(self) -> Decimal | None:
        """The limit price, or for a market order the far side (ask for buys, bid for sells)."""
        if self.limit_price is not None:
            return self.limit_price
        mark = self.mark
        if mark is None:
            return None
        far = mark.ask if self.side == "buy" else mark.bid
        value = far if math.isfinite(far) and far > 0 else mark.mark
        return Decimal(repr(value)) if math.isfinite(value) else None


# The book of one account and instrument: working orders of the account, remaining quantity
# of its working buys and sells on the instrument, its position in it. One template, so the
# standalone query and the one the gateway reads with the account (LATERAL, per row) agree.
# The working statuses are literals, not a parameter: only then can the prepared statement's
# generic plan use the partial index of working orders (order_working_by_account), which
# keeps this read independent of the account's order history.
_BOOK_TEMPLATE = """
SELECT
    COUNT(*) AS open_orders,
    COALESCE(SUM(o.quantity - o.filled_quantity)
             FILTER (WHERE o.instrument_id = {instrument} AND o.side = 'buy'), 0) AS working_buy,
    COALESCE(SUM(o.quantity - o.filled_quantity)
             FILTER (WHERE o.instrument_id = {instrument} AND o.side = 'sell'), 0) AS working_sell,
    COALESCE((SELECT p.size FROM gateway_position p
              WHERE p.account_id = {account} AND p.instrument_id = {instrument}), 0) AS position
FROM gateway_order o
WHERE o.account_id = {account} AND o.status IN ({working})
"""


def _sql_literals(values: tuple[str, ...]) -> str:
    if not all(v.replace("_", "").isalpha() for v in values):  # plain status names only
        raise ValueError(f"not a status name list: {values!r}")
    return ", ".join(f"'{v}'" for v in values)


_BOOK_SQL = _BOOK_TEMPLATE.format(
    account="%(account)s", instrument="%(instrument)s", working=_sql_literals(WORKING_STATUSES)
)
# For a query whose FROM has the account as ``a`` and the instrument as ``i``.
BOOK_SQL_LATERAL = _BOOK_TEMPLATE.format(
    account="a.id", instrument="i.id", working=_sql_literals(WORKING_STATUSES)
)


def _is_redis_error(exc: BaseException) -> bool:
    import redis

    from apps.venues.services.store import StoreUnavailable

    return isinstance(exc, redis.RedisError | StoreUnavailable)


# --- the checks, in pipeline order -------------------------------------------------------


def check_account_allowed(ctx: CheckContext) -> Reject | None:
    if ctx.account is None or not ctx.account_allowed:
        return Reject("account_not_allowed", "This key may not trade that account.")
    return None


def check_instrument(ctx: CheckContext) -> Reject | None:
    instrument = ctx.instrument
    if instrument is None:
        return Reject("unknown_instrument", "No such instrument at the account's venue.")
    if instrument.expiry is not None and instrument.expiry <= ctx.now:
        return Reject("instrument_expired", f"{instrument.symbol} expired at {instrument.expiry}.")
    if not instrument.active:
        return Reject("instrument_inactive", f"{instrument.symbol} is not active.")
    return None


def check_breaker(ctx: CheckContext) -> Reject | None:
    state = ctx.breaker
    if state.halted:
        where = state.breaker.label if state.breaker else "a breaker"
        return Reject("breaker_halted", f"Trading is halted ({where}).")
    if state.reduce_only:
        book = ctx.book
        decision = reduce_only_decide(
            position=Decimal(book["position"]),
            working_buy=Decimal(book["working_buy"]),
            working_sell=Decimal(book["working_sell"]),
            side=ctx.side,
            quantity=ctx.quantity,
        )
        if not decision.allowed:
            where = state.breaker.label if state.breaker else "a breaker"
            return Reject(
                decision.code,
                f"Reduce-only ({where}): at most {decision.max_quantity} may be "
                f"{'sold' if ctx.side == 'sell' else 'bought'} now.",
            )
    return None


def check_market_data(ctx: CheckContext) -> Reject | None:
    mark = ctx.mark
    if mark is None or not math.isfinite(mark.mark):
        return Reject("no_market_data", f"No mark for {ctx.instrument.symbol}.")
    if mark.stale:
        return Reject("market_data_stale", "The venue's market data is stale.")
    return None


def check_price_collar(ctx: CheckContext) -> Reject | None:
    if ctx.limit_price is None:
        return None
    mark = Decimal(repr(ctx.mark.mark))
    band = Decimal(repr(ctx.limits.price_collar))
    low, high = mark * (1 - band), mark * (1 + band)
    # A buy above the band or a sell below it would trade far through the market; a passive
    # price outside the band is refused too (fat-finger on either side).
    if not (low <= ctx.limit_price <= high):
        return Reject(
            "price_outside_collar",
            f"Limit price {ctx.limit_price} is outside {low:.8f}..{high:.8f} "
            f"(mark {mark}, collar {ctx.limits.price_collar:.0%}).",
        )
    return None


def check_svi_collar(ctx: CheckContext) -> Reject | None:
    """Options only, when the account sets ``svi_collar_vol_points``: the limit price's Black-76
    implied vol (against the fitted slice's forward and time) must lie within N vol points of
    our SVI fit at its strike. Catches prices the venue's mark-based collar lets through on an
    illiquid strike whose mark is itself off the smile."""
    points = ctx.limits.svi_collar_vol_points
    instrument = ctx.instrument
    if points is None or ctx.limit_price is None or instrument.kind != "option":
        return None
    from apps.venues.services.store import StoreUnavailable, surface_read

    try:
        surface = surface_read(ctx.account.venue.name, instrument.underlying)
    except StoreUnavailable as exc:
        raise GatewayUnavailable("surface unavailable") from exc
    expiry_ms = int(instrument.expiry.timestamp() * 1000) if instrument.expiry else None
    fitted = next(
        (s for s in (surface or {}).get("slices", []) if int(s.get("expiry_ms", -1)) == expiry_ms),
        None,
    )
    if fitted is None:
        return Reject("price_outside_vol_collar", "No SVI fit for this expiry to check against.")
    import numpy as np

    from apps.pricing.iv import implied_vol
    from apps.pricing.svi import SVIParams, svi_implied_vol

    forward, t, strike = float(fitted["forward"]), float(fitted["t"]), float(instrument.strike)
    price = float(ctx.limit_price)
    if instrument.quote_currency == instrument.underlying:
        price *= forward  # coin-quoted (inverse) option: Black-76 works in USD
    params = SVIParams(*(float(fitted["svi"][n]) for n in ("a", "b", "rho", "m", "sigma")))
    fit_vol = float(svi_implied_vol(params, np.array([np.log(strike / forward)]), t)[0])
    vol = float(implied_vol(price, forward, strike, t, instrument.option_type == "call"))
    if not math.isfinite(vol) or abs(vol - fit_vol) * 100 > points:
        shown = f"{vol * 100:.1f}" if math.isfinite(vol) else "undefined"
        return Reject(
            "price_outside_vol_collar",
            f"Implied vol {shown} is more than {points:g} vol points from the SVI fit "
            f"({fit_vol * 100:.1f}).",
        )
    return None


def check_quantity(ctx: CheckContext) -> Reject | None:
    if ctx.quantity > ctx.limits.max_order_quantity:
        return Reject(
            "quantity_too_large",
            f"Quantity {ctx.quantity} is above the maximum {ctx.limits.max_order_quantity}.",
        )
    return None


def check_notional(ctx: CheckContext) -> Reject | None:
    price = ctx.reference_price
    if price is None:
        return None
    instrument = ctx.instrument
    notional = ctx.quantity * price * instrument.contract_size
    # Inverse (coin-quoted) options: convert with the forward so the limit reads in USD.
    if instrument.quote_currency == instrument.underlying and math.isfinite(ctx.mark.forward):
        notional *= Decimal(repr(ctx.mark.forward))
    if notional > ctx.limits.max_order_notional:
        return Reject(
            "notional_too_large",
            f"Notional {notional:.2f} is above the maximum {ctx.limits.max_order_notional}.",
        )
    return None


def check_position_limit(ctx: CheckContext) -> Reject | None:
    signed = ctx.quantity if ctx.side == "buy" else -ctx.quantity
    after = ctx.position + signed
    # Only an order that moves the position further from zero can breach the limit: an exit is
    # never refused by it.
    if abs(after) > ctx.limits.max_position and abs(after) > abs(ctx.position):
        return Reject(
            "position_limit",
            f"Position would be {after}, beyond the limit of {ctx.limits.max_position}.",
        )
    return None


def check_open_orders(ctx: CheckContext) -> Reject | None:
    if ctx.book["open_orders"] >= ctx.limits.max_open_orders:
        return Reject(
            "too_many_open_orders",
            f"The account already has {ctx.book['open_orders']} working orders "
            f"(maximum {ctx.limits.max_open_orders}).",
        )
    return None


def check_account_rate(ctx: CheckContext) -> Reject | None:
    limits = ctx.limits
    try:
        decision = rate_limit_take(
            bucket=f"gw:acct:{ctx.account.pk}",
            rate_per_second=limits.max_orders_per_second,
            burst=limits.order_burst,
        )
    except RateLimiterUnavailable as exc:
        raise GatewayUnavailable("account rate limiter unavailable") from exc
    if not decision.allowed:
        return Reject(
            "account_rate_limited",
            f"Order rate of the account exceeded; retry in {decision.retry_after_seconds} s.",
        )
    return None


Check = Callable[[CheckContext], Reject | None]

# The order matters: identity first (cheap, no I/O), then the breaker (a halt must win over
# every other reason), market data, per-order limits, book-based limits, and the rate limit
# last so rejected orders do not consume the account's rate.
PIPELINE: tuple[Check, ...] = (
    check_account_allowed,
    check_instrument,
    check_breaker,
    check_market_data,
    check_price_collar,
    check_svi_collar,
    check_quantity,
    check_notional,
    check_position_limit,
    check_open_orders,
    check_account_rate,
)


def pipeline_run(ctx: CheckContext, checks: tuple[Check, ...] = PIPELINE) -> Reject | None:
    """Run ``checks`` in order; the first reject, or None when the order may go to the venue.
    Raises GatewayUnavailable when a dependency cannot be consulted."""
    for check in checks:
        reject = check(ctx)
        if reject is not None:
            return reject
    return None
