"""The built-in simulated venue: the default market-data source and the demo's exchange.

Its state (market, working orders, fills, positions) lives in PostgreSQL (models.simulation),
so it survives restarts and every worker process sees one venue. Each chain fetch advances the
market by the wall-clock time since the previous step (see sim_engine), lists the calendar's
expiries and strikes, quotes them, fills working orders the new quotes cross, and returns the
chain with a configurable share of deliberately bad quotes. Orders fill against the honest
quotes of the last step: marketable ones at once (as taker, at the quote), the rest rest (gtc)
and fill at their limit when a later quote crosses them.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
from django.db import (
    IntegrityError,
    connection,
    transaction,
)
from django.db.models import QuerySet
from django.utils import timezone

from apps.venues.adapters import sim_engine as engine
from apps.venues.adapters.base import (
    AccountRef,
    Fill,
    InstrumentSpec,
    OptionChain,
    OrderRequest,
    OrderResult,
    OrderStatus,
    PositionReport,
    Side,
    VenueRejected,
)
from apps.venues.models import SimFill, SimMarket, SimOrder, SimPosition, Venue
from config.model_sql import insert, select_one, update_fields
from config.prepared_sql import prepared_cursor

__all__ = ["SimulatedAdapter"]

MIN_TRADE_AMOUNT = Decimal("0.1")
TAKER_FEE_PER_CONTRACT = 0.0003  # coin, capped at 12.5% of the option price (Deribit's rule)
PRICE_QUANT = Decimal("0.00000001")


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(PRICE_QUANT, rounding=ROUND_HALF_EVEN)


def _fee(price: float, quantity: Decimal) -> Decimal:
    return _dec(min(TAKER_FEE_PER_CONTRACT, 0.125 * price)) * quantity


@functools.lru_cache(maxsize=16)
def _listed(listing_key: str, underlying: str) -> tuple[engine.ListedOptions, dict[str, int]]:
    import json

    options = engine.listing_arrays(json.loads(listing_key), underlying)
    return options, {symbol: i for i, symbol in enumerate(options.symbol)}


@dataclass(frozen=True, slots=True)
class _PricedChain:
    index: dict[str, int]  # symbol -> row of quotes
    quotes: engine.CleanQuotes  # read-only arrays


@functools.lru_cache(maxsize=16)
def _priced_chain(
    state_json: str, listing_json: str, underlying: str, now_ms: int, step: int
) -> _PricedChain:
    """The honest quotes of every option listed at one market step. They are a function of
    the market row alone (state, listing, step and its time), so a process keeps the last
    few: orders between two steps are priced from the one computation, bit for bit the
    chain's quotes."""
    import json

    options = engine.listing_arrays(json.loads(listing_json), underlying)
    state = engine.MarketState.from_json(json.loads(state_json))
    quotes = engine.clean_quotes(state, engine.SPECS[underlying], options, now_ms, step)
    for array in (quotes.forward, quotes.mark, quotes.bid, quotes.ask, quotes.bid_size,
                  quotes.ask_size):  # fmt: skip
        array.flags.writeable = False  # shared by every order of the step
    return _PricedChain({str(s): i for i, s in enumerate(options.symbol)}, quotes)


def listed_options(listing: dict, underlying: str) -> tuple[engine.ListedOptions, dict[str, int]]:
    """The listed options of a SimMarket listing, and symbol -> row index (cached per listing:
    listings change a few times a day; building 2,000 symbols per poll is wasted work)."""
    import json

    return _listed(json.dumps(listing, sort_keys=True), underlying)


def _apply_fill(position: SimPosition, side: Side, quantity: Decimal, price: Decimal) -> None:
    """Signed position arithmetic: average price moves only when the position grows."""
    signed = quantity if side == Side.BUY else -quantity
    size, avg = position.size, position.average_price
    new_size = size + signed
    if size == 0 or (size > 0) == (signed > 0):
        position.average_price = (
            (abs(size) * avg + quantity * price) / abs(new_size) if new_size != 0 else Decimal(0)
        )
    else:
        closed = min(abs(size), quantity)
        direction = 1 if size > 0 else -1
        position.realized_pnl += direction * closed * (price - avg)
        if new_size != 0 and (new_size > 0) != (size > 0):  # flipped through zero
            position.average_price = price
        elif new_size == 0:
            position.average_price = Decimal(0)
    position.size = new_size
    position.updated_at = timezone.now()


# The order path's statements are built once per process from the models
# (config/model_sql.py): compiling ORM queries cost several times running them.


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


# The unique rule of SimOrder "sim_order_client_id_unique" (a partial index), as an ON CONFLICT
# target.
_CLIENT_ID_CONFLICT = "(venue_id, account_ref, client_order_id) WHERE NOT (client_order_id = '')"


class SimulatedAdapter:
    """:class:`~apps.venues.adapters.base.VenueAdapter` for ``AdapterKind.SIMULATED``."""

    kind = "simulated"

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.venue_name = venue.name
        self.config = engine.SimConfig.from_mapping(venue.config)

    # --- market ---------------------------------------------------------------------------

    def _spec(self, underlying: str) -> engine.UnderlyingSpec:
        try:
            return engine.SPECS[underlying]
        except KeyError:
            raise VenueRejected(
                "unknown_underlying", f"the simulated venue lists no {underlying} options"
            ) from None

    def _locked_market(self, underlying: str, now: datetime, *, shared: bool = False) -> SimMarket:
        """The market row of ``underlying``, locked until the transaction ends: exclusively
        (a step, which moves the market and matches working orders), or ``shared`` (placing
        an order: placements run side by side, a step waits for them and they for it, so an
        order is always listed and priced against a committed step)."""
        spec = self._spec(underlying)
        lock = " FOR SHARE" if shared else " FOR UPDATE"
        where, params = "venue_id = %s AND underlying = %s", [self.venue.pk, underlying]
        market = select_one(SimMarket, where, params, lock)
        if market is None:
            state = engine.MarketState.initial(spec)
            try:
                with transaction.atomic():
                    SimMarket.objects.create(
                        venue=self.venue,
                        underlying=underlying,
                        state=state.to_json(),
                        listing=engine.listing_update({}, state, spec, now, self.config),
                        stepped_at=now,
                    )
            except IntegrityError:
                pass  # another process created it first
            market = select_one(SimMarket, where, params, lock)
            if market is None:
                raise SimMarket.DoesNotExist(f"no market for {underlying}")
        return market

    def _advance(self, market: SimMarket, now: datetime) -> engine.MarketState:
        spec = self._spec(market.underlying)
        state = engine.MarketState.from_json(market.state)
        elapsed = (now - market.stepped_at).total_seconds()
        market.step += 1
        state = engine.evolve(
            state, spec, elapsed_seconds=elapsed, config=self.config, step=market.step
        )
        old_listing = market.listing
        market.listing = engine.listing_update(old_listing, state, spec, now, self.config)
        expired = [key for key in old_listing if key not in market.listing]
        if expired:
            self._settle_expired(market.underlying, expired, state.spot)
        market.state = state.to_json()
        market.stepped_at = max(now, market.stepped_at)
        market.save(update_fields=["state", "listing", "step", "stepped_at"])
        return state

    def _settle_expired(self, underlying: str, expired_keys: list[str], spot: float) -> None:
        """Expired options settle at intrinsic value (coin) against the spot of the step."""
        codes = {
            engine.expiry_code(datetime.fromtimestamp(int(k) / 1000, tz=UTC)) for k in expired_keys
        }
        prefixes = tuple(f"{underlying}-{code}-" for code in codes)
        for order in self._working(underlying).select_for_update():
            if order.symbol.startswith(prefixes):
                order.status = SimOrder.Status.CANCELLED
                order.updated_at = timezone.now()
                order.save(update_fields=["status", "updated_at"])
        positions = SimPosition.objects.select_for_update().filter(
            venue=self.venue, underlying=underlying
        )
        for position in positions:
            if not position.symbol.startswith(prefixes) or position.size == 0:
                continue
            strike = float(position.symbol.split("-")[2].replace("d", "."))
            is_call = position.symbol.endswith("-C")
            payoff = max((spot - strike) if is_call else (strike - spot), 0.0) / spot
            _apply_fill(
                position,
                Side.SELL if position.size > 0 else Side.BUY,
                abs(position.size),
                _dec(payoff),
            )
            position.save()

    def _working(self, underlying: str) -> QuerySet[SimOrder]:
        return SimOrder.objects.filter(
            venue=self.venue, underlying=underlying, status=SimOrder.Status.OPEN
        )

    def _quotes_now(
        self, market: SimMarket
    ) -> tuple[engine.ListedOptions, dict[str, int], engine.CleanQuotes]:
        state = engine.MarketState.from_json(market.state)
        options, index = listed_options(market.listing, market.underlying)
        now_ms = int(market.stepped_at.timestamp() * 1000)
        quotes = engine.clean_quotes(
            state, self._spec(market.underlying), options, now_ms, market.step
        )
        return options, index, quotes

    def _placement_quotes(self, underlying: str) -> _PricedChain:
        """The quotes an order is placed against: the market row of ``underlying`` locked
        shared until the transaction ends (placements run side by side; a step waits for
        them and they for it, so an order is always priced against a committed step), and
        that step's quotes. Only the row's text is read: the quotes of a step are computed
        once per process (``_priced_chain``), not decoded and recomputed for every order."""
        meta = SimMarket._meta
        sql = (
            f"SELECT state::text, listing::text, step, stepped_at FROM {_qn(meta.db_table)} "  # noqa: S608  # nosec B608  # names from model metadata, values bound as parameters
            "WHERE venue_id = %s AND underlying = %s FOR SHARE"
        )
        for _ in range(2):
            with prepared_cursor() as cursor:
                cursor.execute(sql, [self.venue.pk, underlying])
                row = cursor.fetchone()
            if row is not None:
                break
            self._locked_market(underlying, timezone.now(), shared=True)  # creates the market
        state_json, listing_json, step, stepped_at = row
        now_ms = int(stepped_at.timestamp() * 1000)
        return _priced_chain(state_json, listing_json, underlying, now_ms, step)

    def list_instruments(self) -> list[InstrumentSpec]:
        specs: list[InstrumentSpec] = []
        now = timezone.now()
        for underlying in self.venue.underlyings:
            with transaction.atomic():
                market = self._locked_market(underlying, now)
                options, _ = listed_options(market.listing, underlying)
            for i, symbol in enumerate(options.symbol):
                specs.append(
                    InstrumentSpec(
                        symbol=str(symbol),
                        underlying=underlying,
                        kind="option",
                        quote_currency=underlying,
                        settlement_currency=underlying,
                        strike=Decimal(repr(float(options.strike[i]))),
                        expiry=datetime.fromtimestamp(int(options.expiry_ms[i]) / 1000, tz=UTC),
                        option_type="call" if options.is_call[i] else "put",
                        contract_size=Decimal(1),
                        tick_size=Decimal("0.0001"),
                        min_trade_amount=MIN_TRADE_AMOUNT,
                    )
                )
        return specs

    def fetch_chain(self, underlying: str) -> OptionChain:
        now = timezone.now()
        with transaction.atomic():
            market = self._locked_market(underlying, now)
            state = self._advance(market, now)
            options, _, quotes = self._quotes_now(market)
            self._match_working(market, options, quotes)
        step = market.step
        now_ms = int(market.stepped_at.timestamp() * 1000)
        n = options.symbol.shape[0]
        rng = engine.step_rng(self.config.seed, underlying, step, stream=1)
        quote_ts = now_ms - rng.integers(0, 400, size=n).astype(np.int64)
        bid, ask = quotes.bid.copy(), quotes.ask.copy()
        engine.inject_bad_quotes(
            bid,
            ask,
            quote_ts,
            rate=self.config.bad_quote_rate,
            rng=engine.step_rng(self.config.seed, underlying, step, stream=2),
            now_ms=now_ms,
        )
        return OptionChain(
            venue=self.venue_name,
            underlying=underlying,
            as_of=market.stepped_at,
            index_price=state.spot,
            price_currency=underlying,
            price_in_coin=True,
            symbol=options.symbol,
            expiry_ms=options.expiry_ms,
            strike=options.strike,
            is_call=options.is_call,
            bid=bid,
            ask=ask,
            mark=quotes.mark,
            bid_size=quotes.bid_size,
            ask_size=quotes.ask_size,
            forward=quotes.forward,
            quote_ts=quote_ts,
        )

    # --- orders ---------------------------------------------------------------------------

    def _match_working(
        self, market: SimMarket, options: engine.ListedOptions, quotes: engine.CleanQuotes
    ) -> None:
        """Working limit orders the new quotes cross fill at their limit (as makers)."""
        _, index = listed_options(market.listing, market.underlying)
        for order in self._working(market.underlying).select_for_update().order_by("created_at"):
            i = index.get(order.symbol)
            if i is None:
                continue
            self._fill_against(order, i, quotes, as_maker=True)

    @staticmethod
    def _fill_terms(
        order: SimOrder, i: int, quotes: engine.CleanQuotes, *, as_maker: bool
    ) -> tuple[Decimal, Decimal] | None:
        """(quantity, price) of what ``order`` fills against the quotes of row ``i`` now, or
        None. Pure: nothing is written."""
        remaining = order.quantity - order.filled_quantity
        limit = float(order.limit_price) if order.limit_price is not None else None
        if order.side == Side.BUY:
            quote, size = float(quotes.ask[i]), float(quotes.ask_size[i])
            crosses = quote > 0 and (limit is None or limit >= quote)
        else:
            quote, size = float(quotes.bid[i]), float(quotes.bid_size[i])
            crosses = quote > 0 and (limit is None or limit <= quote)
        if not crosses or remaining <= 0:
            return None
        available = Decimal(repr(size)).quantize(MIN_TRADE_AMOUNT)
        quantity = min(remaining, available)
        if quantity <= 0:
            return None
        return quantity, _dec(limit if as_maker and limit is not None else quote)

    @staticmethod
    def _take_fill(order: SimOrder, quantity: Decimal, price: Decimal) -> None:
        """Move ``order``'s filled quantity, average price and status by one fill (unsaved)."""
        total = order.filled_quantity + quantity
        previous_value = (order.average_price or Decimal(0)) * order.filled_quantity
        order.average_price = ((previous_value + price * quantity) / total).quantize(
            Decimal("0.000000000001")
        )
        order.filled_quantity = total
        if total >= order.quantity:
            order.status = SimOrder.Status.FILLED
        order.updated_at = timezone.now()

    def _record_fill(
        self, order: SimOrder, quantity: Decimal, price: Decimal, filled_at: datetime
    ) -> Fill:
        """Store one fill of the saved ``order`` and move the account's position by it."""
        fill = SimFill(
            order=order,
            fill_id=f"SIMF-{uuid.uuid4().hex[:20]}",
            quantity=quantity,
            price=price,
            fee=_fee(float(price), quantity),
            created_at=filled_at,
        )
        insert(fill)
        position = self._locked_position(order)
        _apply_fill(position, Side(order.side), quantity, price)
        update_fields(position, ["size", "average_price", "realized_pnl", "updated_at"])
        return Fill(fill.fill_id, quantity, price, fill.fee, fill.created_at)

    def _locked_position(self, order: SimOrder) -> SimPosition:
        """The account's position in the order's instrument, created flat if missing, locked
        until the transaction ends (``select_for_update().get_or_create``, in statements)."""
        where = "venue_id = %s AND account_ref = %s AND symbol = %s"
        params = [self.venue.pk, order.account_ref, order.symbol]
        position = select_one(SimPosition, where, params, " FOR UPDATE")
        if position is None:
            new = SimPosition(
                venue=self.venue,
                account_ref=order.account_ref,
                symbol=order.symbol,
                underlying=order.underlying,
                size=0,
                average_price=0,
            )
            # A concurrent fill may create it first: then wait for it and lock that row.
            insert(new, on_conflict="ON CONSTRAINT sim_position_unique")
            position = select_one(SimPosition, where, params, " FOR UPDATE")
        return position

    def _fill_against(
        self, order: SimOrder, i: int, quotes: engine.CleanQuotes, *, as_maker: bool
    ) -> Fill | None:
        """Fill a saved working order against the quotes of row ``i``, if they cross it."""
        terms = self._fill_terms(order, i, quotes, as_maker=as_maker)
        if terms is None:
            return None
        quantity, price = terms
        filled_at = timezone.now()
        self._take_fill(order, quantity, price)
        order.save()
        return self._record_fill(order, quantity, price, filled_at)

    @staticmethod
    def _result(order: SimOrder, fills: tuple[Fill, ...] = ()) -> OrderResult:
        return OrderResult(
            venue_order_id=order.venue_order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=Side(order.side),
            status=OrderStatus(order.status),
            quantity=order.quantity,
            filled_quantity=order.filled_quantity,
            average_price=order.average_price,
            limit_price=order.limit_price,
            timestamp=order.updated_at,
            fills=fills,
            reject_code=order.reject_reason,
        )

    def _order_fills(self, order: SimOrder) -> tuple[Fill, ...]:
        return tuple(
            Fill(f.fill_id, f.quantity, f.price, f.fee, f.created_at)
            for f in order.fills.order_by("created_at", "pk")
        )

    def _by_client_id(self, account: AccountRef, client_order_id: str) -> SimOrder | None:
        return select_one(
            SimOrder,
            "venue_id = %s AND account_ref = %s AND client_order_id = %s",
            [self.venue.pk, account.external_id, client_order_id],
        )

    def place_order(self, account: AccountRef, order: OrderRequest) -> OrderResult:
        underlying = order.symbol.split("-", 1)[0]
        self._spec(underlying)
        if order.quantity <= 0 or order.quantity % MIN_TRADE_AMOUNT != 0:
            raise VenueRejected("invalid_quantity", "quantity must be a positive multiple of 0.1")
        if order.order_type not in ("limit", "market"):
            raise VenueRejected("invalid_order_type", "order type must be limit or market")
        if order.order_type == "limit" and (order.limit_price is None or order.limit_price <= 0):
            raise VenueRejected("invalid_price", "a limit order needs a positive limit price")
        if order.time_in_force not in ("gtc", "ioc"):
            raise VenueRejected("invalid_time_in_force", "time in force must be gtc or ioc")
        result, refusal = self._place(account, order, underlying)
        if refusal is not None:
            raise refusal
        return result

    def _place(
        self, account: AccountRef, order: OrderRequest, underlying: str
    ) -> tuple[OrderResult | None, VenueRejected | None]:
        """place_order's work: the result, or the refusal to raise once the transaction block
        is left. Refusals are raised outside it, so this block needs no savepoint of its own
        inside a caller's transaction (the caller's transaction stays usable after a refusal;
        a database error aborts a PostgreSQL transaction with or without one, and the gateway
        routes inside a savepoint of its own)."""
        with transaction.atomic(savepoint=False):
            # A shared market lock: orders are placed side by side (a step waits for them).
            # What two placements could race on is settled row by row: a client order id by
            # its unique index (the later insert waits for the earlier to commit and returns
            # it), a position by its row lock (fills, reduce-only checks).
            chain = self._placement_quotes(underlying)
            i = chain.index.get(order.symbol)
            refusal = None
            if i is None:
                refusal = VenueRejected("unknown_instrument", f"{order.symbol} is not listed")
            elif order.reduce_only:
                position = (
                    SimPosition.objects.select_for_update()
                    .filter(venue=self.venue, account_ref=account.external_id, symbol=order.symbol)
                    .first()
                )
                size = position.size if position else Decimal(0)
                shrinks = (size > 0 and order.side == Side.SELL) or (
                    size < 0 and order.side == Side.BUY
                )
                if not shrinks or order.quantity > abs(size):
                    refusal = VenueRejected(
                        "reduce_only_would_increase", "a reduce-only order must shrink a position"
                    )
            if refusal is not None:
                # A retry of an order placed before is answered with that order, refused or
                # not now.
                existing = (
                    self._by_client_id(account, order.client_order_id)
                    if order.client_order_id
                    else None
                )
                if existing is not None:
                    return self._result(existing, self._order_fills(existing)), None
                return None, refusal
            now = timezone.now()
            sim_order = SimOrder(
                venue=self.venue,
                account_ref=account.external_id,
                venue_order_id=f"SIM-{uuid.uuid4().hex[:20]}",
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                underlying=underlying,
                side=order.side.value,
                order_type=order.order_type,
                time_in_force=order.time_in_force,
                quantity=order.quantity,
                limit_price=order.limit_price if order.order_type == "limit" else None,
                reduce_only=order.reduce_only,
                status=SimOrder.Status.OPEN,
                created_at=now,
                updated_at=now,
            )
            # The order is written once, as it ends this call: the taker fill (if the quotes
            # cross it) and, for ioc and market orders, the unfilled rest cancelled.
            terms = self._fill_terms(sim_order, i, chain.quotes, as_maker=False)
            filled_at = timezone.now()
            if terms is not None:
                self._take_fill(sim_order, *terms)
            if sim_order.status == SimOrder.Status.OPEN and (
                order.order_type == "market" or order.time_in_force == "ioc"
            ):
                sim_order.status = SimOrder.Status.CANCELLED  # the rest dies (no resting)
            if not insert(sim_order, on_conflict=_CLIENT_ID_CONFLICT):
                # The client order id was placed before (committed, or concurrently and
                # waited for): that order is the answer, and nothing is written.
                existing = self._by_client_id(account, order.client_order_id)
                return self._result(existing, self._order_fills(existing)), None
            fill = self._record_fill(sim_order, *terms, filled_at) if terms else None
        return self._result(sim_order, (fill,) if fill else ()), None

    def cancel_order(self, account: AccountRef, venue_order_id: str) -> OrderResult:
        with transaction.atomic():
            order = (
                SimOrder.objects.select_for_update()
                .filter(
                    venue=self.venue, account_ref=account.external_id, venue_order_id=venue_order_id
                )
                .first()
            )
            if order is None:
                raise VenueRejected("order_not_found", f"no order {venue_order_id}")
            if order.status == SimOrder.Status.OPEN:
                order.status = SimOrder.Status.CANCELLED
                order.updated_at = timezone.now()
                order.save(update_fields=["status", "updated_at"])
        return self._result(order, self._order_fills(order))

    def cancel_all(
        self, account: AccountRef, *, underlying: str | None = None
    ) -> list[OrderResult]:
        with transaction.atomic():
            orders = SimOrder.objects.select_for_update().filter(
                venue=self.venue, account_ref=account.external_id, status=SimOrder.Status.OPEN
            )
            if underlying:
                orders = orders.filter(underlying=underlying)
            cancelled = list(orders.order_by("created_at"))
            now = timezone.now()
            for order in cancelled:
                order.status = SimOrder.Status.CANCELLED
                order.updated_at = now
            SimOrder.objects.bulk_update(cancelled, ["status", "updated_at"])
        return [self._result(order, self._order_fills(order)) for order in cancelled]

    def fetch_open_orders(self, account: AccountRef) -> list[OrderResult]:
        orders = SimOrder.objects.filter(
            venue=self.venue, account_ref=account.external_id, status=SimOrder.Status.OPEN
        ).order_by("created_at")
        return [self._result(order, self._order_fills(order)) for order in orders]

    def fetch_positions(self, account: AccountRef) -> list[PositionReport]:
        positions = SimPosition.objects.filter(
            venue=self.venue, account_ref=account.external_id
        ).exclude(size=0)
        return [
            PositionReport(symbol=p.symbol, size=p.size, average_price=p.average_price)
            for p in positions.order_by("symbol")
        ]
