"""Deribit through ccxt: inverse (coin-settled) options, normalised to the adapter structures.

What ccxt does and what we do:

* instruments: ``load_markets()`` (Deribit ``public/get_currencies`` + ``public/get_instruments``);
  we keep the coin-settled options and futures of the venue's underlyings (USDC-settled linear
  options price differently and are left out);
* chains: the raw ``public/get_book_summary_by_currency?currency=BTC&kind=option`` through
  ccxt's implicit API (``publicGetGetBookSummaryByCurrency``). ccxt's unified
  ``fetch_option_chain`` calls the same endpoint but drops ``underlying_price`` (the forward
  each option is priced against) and the quote timestamps, which the pricing needs;
* positions and orders: ccxt's unified ``fetch_positions``, ``create_order``, ``cancel_order``,
  ``fetch_open_orders``, read back from the raw Deribit fields in ``info``.

Symbols are Deribit's instrument names (``BTC-27DEC24-100000-C``), prices in coin. ccxt
exceptions become :mod:`apps.venues.adapters.base` errors with credentials redacted. Deribit's
``label`` carries our client order id, but Deribit does not enforce its uniqueness: idempotent
placement is the gateway's job for this venue.

``config``: ``testnet`` (bool), ``timeout_ms`` (default 5000), ``replay_dir`` (serve recorded
responses from that directory instead of the network, see adapters/replay.py).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
from django.conf import settings

from apps.venues.adapters.base import (
    AccountRef,
    Credentials,
    Fill,
    InstrumentSpec,
    OptionChain,
    OrderRequest,
    OrderResult,
    OrderStatus,
    PositionReport,
    Side,
    VenueAuthError,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from apps.venues.adapters.replay import mount_replay

__all__ = ["DeribitAdapter"]

logger = logging.getLogger(__name__)

_ORDER_STATES = {
    "open": OrderStatus.OPEN,
    "untriggered": OrderStatus.OPEN,
    "filled": OrderStatus.FILLED,
    "cancelled": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}
_REJECT_CODES: list[tuple[type[Exception], str]] = [
    (ccxt.InsufficientFunds, "insufficient_funds"),
    (ccxt.OrderNotFound, "order_not_found"),
    (ccxt.BadSymbol, "unknown_instrument"),
    (ccxt.InvalidOrder, "invalid_order"),
    (ccxt.BadRequest, "bad_request"),
]


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _float(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


_AUTH_HEADER = re.compile(r"""(authorization['"]?\s*[:=]\s*)(?:'[^']*'|"[^"]*"|[^\s,}]+)""", re.I)


class _RedactingLogger(logging.LoggerAdapter):
    """ccxt logs request headers at DEBUG; Deribit's Authorization header names the API key.
    Every line ccxt logs through this adapter has that header and the credentials removed."""

    def __init__(self, logger: logging.Logger, secrets: list[str]) -> None:
        super().__init__(logger, {})
        self._secrets = [s for s in secrets if s]

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = (str(msg) % args) if args else str(msg)
        text = _AUTH_HEADER.sub(r"\1'<redacted>'", text)
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        self.logger.log(level, "%s", text, **kwargs)


def _book_rows(response: Any, *, venue: str) -> list[dict[str, Any]]:
    """The rows of a book summary, or VenueUnavailable when the answer is not one.

    ccxt hands over whatever body came with a 200 (an HTML error page from a proxy, a cut-off
    JSON text) as a string: say so in the health record, rather than "'str' object has no
    attribute 'get'". The body itself is not quoted (length only)."""
    rows = response.get("result") if isinstance(response, dict) else None
    if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        return rows
    if isinstance(response, str):
        got = f"text of {len(response)} characters, not JSON"
    elif isinstance(response, dict):
        got = f"a result of type {type(rows).__name__}"
    else:
        got = type(response).__name__
    raise VenueUnavailable(
        f"{venue} answered get_book_summary_by_currency with a malformed body "
        f"(expected a JSON object whose result is a list of rows; got {got})"
    )


def _ms_to_dt(ms: Any) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


@contextlib.contextmanager
def _translated(secrets: list[str]) -> Iterator[None]:
    """ccxt exceptions -> adapter exceptions, with any credential scrubbed from the message."""

    def clean(exc: Exception) -> str:
        text = str(exc)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "<redacted>")
        return text[:400]

    try:
        yield
    except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended) as exc:
        raise VenueAuthError(clean(exc)) from None
    except ccxt.NetworkError as exc:  # timeouts, 5xx, maintenance, rate limits
        # ccxt's message is often just the request line: its class says which of them it was.
        raise VenueUnavailable(f"{type(exc).__name__}: {clean(exc)}") from None
    except ccxt.ExchangeError as exc:
        for klass, code in _REJECT_CODES:
            if isinstance(exc, klass):
                raise VenueRejected(code, clean(exc)) from None
        raise VenueError(clean(exc)) from None
    except ccxt.BaseError as exc:
        raise VenueError(clean(exc)) from None


class DeribitAdapter:
    """:class:`~apps.venues.adapters.base.VenueAdapter` for ``AdapterKind.DERIBIT``."""

    kind = "deribit"

    def __init__(
        self,
        venue_name: str,
        config: dict[str, Any] | None = None,
        *,
        underlyings: list[str] | None = None,
    ) -> None:
        self.venue_name = venue_name
        self.config = dict(config or {})
        self.underlyings = [
            u.upper() for u in (underlyings or self.config.get("underlyings") or [])
        ]
        self._lock = threading.Lock()  # ccxt exchanges are not thread-safe
        self.replay_transports: list[Any] = []  # set in replay mode: what was requested
        self._public = self._exchange(None)
        self._private: dict[tuple[str, int], ccxt.deribit] = {}

    def _replay_dir(self) -> Path | None:
        raw = self.config.get("replay_dir")
        if not raw:
            return None
        path = Path(raw)
        return path if path.is_absolute() else Path(settings.BASE_DIR) / path

    def _exchange(self, credentials: Credentials | None) -> ccxt.deribit:
        options: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": int(self.config.get("timeout_ms", 5000)),
        }
        if credentials is not None:
            options["apiKey"] = credentials.api_key
            options["secret"] = credentials.secret
        exchange = ccxt.deribit(options)
        exchange.logger = _RedactingLogger(
            logging.getLogger("apps.venues.adapters.ccxt"),
            credentials.secrets() if credentials else [],
        )
        if self.config.get("testnet"):
            exchange.set_sandbox_mode(True)
        replay = self._replay_dir()
        if replay is not None:
            exchange.enableRateLimit = False
            self.replay_transports.append(mount_replay(exchange.session, replay))
        return exchange

    def _for_account(self, account: AccountRef) -> ccxt.deribit:
        credentials = account.credentials
        if credentials is None:
            raise VenueAuthError(
                f"account {account.label or account.external_id} has no credentials"
            )
        # Keyed by a hash of the credentials so replaced credentials get a fresh client; the
        # hash never leaves this process.
        key = (account.external_id, hash((credentials.api_key, credentials.secret)))
        exchange = self._private.get(key)
        if exchange is None:
            exchange = self._exchange(credentials)
            self._ensure_markets()
            exchange.set_markets(self._public.markets, self._public.currencies)
            self._private = {k: v for k, v in self._private.items() if k[0] != account.external_id}
            self._private[key] = exchange
        return exchange

    def _ensure_markets(self, *, reload: bool = False) -> None:
        with _translated([]):
            self._public.load_markets(reload)

    def _market(self, instrument_name: str) -> dict[str, Any] | None:
        found = (self._public.markets_by_id or {}).get(instrument_name)
        return found[0] if found else None

    def _symbol(self, instrument_name: str) -> str:
        market = self._market(instrument_name)
        if market is None:
            raise VenueRejected("unknown_instrument", f"{instrument_name} is not listed")
        return market["symbol"]

    # --- reference and market data --------------------------------------------------------

    def _wanted(self, market: dict[str, Any]) -> bool:
        base, settle = market.get("base"), market.get("settle")
        if self.underlyings and base not in self.underlyings:
            return False
        return settle == base and (
            market.get("option") or market.get("future") or market.get("swap")
        )

    def list_instruments(self) -> list[InstrumentSpec]:
        with self._lock:
            self._ensure_markets(reload=True)
            markets = list(self._public.markets.values())
        specs = []
        for market in markets:
            if not self._wanted(market):
                continue
            info = market.get("info") or {}
            kind = (
                "option"
                if market.get("option")
                else "perpetual"
                if market.get("swap")
                else "future"
            )
            expiry = market.get("expiry")
            specs.append(
                InstrumentSpec(
                    symbol=market["id"],
                    underlying=market["base"],
                    kind=kind,
                    quote_currency=str(info.get("quote_currency") or market.get("settle")),
                    settlement_currency=str(
                        info.get("settlement_currency") or market.get("settle")
                    ),
                    strike=_dec(market.get("strike")) if kind == "option" else None,
                    expiry=_ms_to_dt(expiry) if expiry and kind != "perpetual" else None,
                    option_type=str(market.get("optionType") or "") if kind == "option" else "",
                    contract_size=_dec(market.get("contractSize")) or Decimal(1),
                    tick_size=_dec(info.get("tick_size")),
                    min_trade_amount=_dec(info.get("min_trade_amount")),
                    active=bool(market.get("active", True)),
                )
            )
        return specs

    def fetch_chain(self, underlying: str) -> OptionChain:
        with self._lock, _translated([]):
            self._public.load_markets()
            response = self._public.publicGetGetBookSummaryByCurrency(
                {"currency": underlying, "kind": "option"}
            )
            rows = _book_rows(response, venue=self.venue_name)
            if any(self._market(r.get("instrument_name", "")) is None for r in rows):
                self._public.load_markets(True)  # a listing newer than our markets
        names, expiries, strikes, calls = [], [], [], []
        bids, asks, marks, forwards, stamps, index_prices = [], [], [], [], [], []
        for row in rows:
            market = self._market(row.get("instrument_name", ""))
            if market is None or not market.get("option") or market.get("settle") != underlying:
                continue
            names.append(market["id"])
            expiries.append(int(market["expiry"]))
            strikes.append(float(market["strike"]))
            calls.append(market.get("optionType") == "call")
            bids.append(_float(row.get("bid_price")))
            asks.append(_float(row.get("ask_price")))
            marks.append(_float(row.get("mark_price")))
            forwards.append(_float(row.get("underlying_price")))
            stamps.append(int(row.get("creation_timestamp") or 0))
            index_prices.append(_float(row.get("estimated_delivery_price")))
        us_out = response.get("usOut")
        as_of = (
            datetime.fromtimestamp(int(us_out) / 1_000_000, tz=UTC)
            if us_out
            else datetime.now(tz=UTC)
        )
        finite_index = [p for p in index_prices if math.isfinite(p)]
        n = len(names)
        nan = np.full(n, np.nan)
        return OptionChain(
            venue=self.venue_name,
            underlying=underlying,
            as_of=as_of,
            index_price=float(np.median(finite_index)) if finite_index else math.nan,
            price_currency=underlying,
            price_in_coin=True,
            symbol=np.array(names, dtype=object),
            expiry_ms=np.array(expiries, dtype=np.int64),
            strike=np.array(strikes, dtype=np.float64),
            is_call=np.array(calls, dtype=bool),
            bid=np.array(bids, dtype=np.float64),
            ask=np.array(asks, dtype=np.float64),
            mark=np.array(marks, dtype=np.float64),
            bid_size=nan.copy(),  # the book summary carries no sizes
            ask_size=nan.copy(),
            forward=np.array(forwards, dtype=np.float64),
            quote_ts=np.array(stamps, dtype=np.int64),
        )

    # --- account --------------------------------------------------------------------------

    def fetch_positions(self, account: AccountRef) -> list[PositionReport]:
        secrets = account.credentials.secrets() if account.credentials else []
        with self._lock, _translated(secrets):
            exchange = self._for_account(account)
            positions = exchange.fetch_positions()
        reports = []
        for position in positions:
            info = position.get("info") or {}
            name = info.get("instrument_name")
            size = _dec(info.get("size"))
            if not name or size is None or size == 0:
                continue
            reports.append(
                PositionReport(
                    symbol=name,
                    size=size,
                    average_price=_dec(info.get("average_price")) or Decimal(0),
                )
            )
        return reports

    def _result(self, order: dict[str, Any]) -> OrderResult:
        info = order.get("info") or order
        trades = info.get("trades") or order.get("trades") or []
        fills = tuple(
            Fill(
                fill_id=str(t.get("trade_id")),
                quantity=_dec(t.get("amount")) or Decimal(0),
                price=_dec(t.get("price")) or Decimal(0),
                fee=_dec(t.get("fee")) or Decimal(0),
                timestamp=_ms_to_dt(t.get("timestamp") or 0),
            )
            for t in trades
            if isinstance(t, dict)
        )
        price = info.get("price")
        return OrderResult(
            venue_order_id=str(info.get("order_id")),
            client_order_id=str(info.get("label") or ""),
            symbol=str(info.get("instrument_name")),
            side=Side(str(info.get("direction", "buy")).lower()),
            status=_ORDER_STATES.get(str(info.get("order_state")), OrderStatus.OPEN),
            quantity=_dec(info.get("amount")) or Decimal(0),
            filled_quantity=_dec(info.get("filled_amount")) or Decimal(0),
            average_price=_dec(info.get("average_price")) if info.get("filled_amount") else None,
            limit_price=None if price in (None, "market_price") else _dec(price),
            timestamp=_ms_to_dt(
                info.get("last_update_timestamp") or info.get("creation_timestamp") or 0
            ),
            fills=fills,
            reject_code=str(info.get("reject_reason") or "")
            if info.get("order_state") == "rejected"
            else "",
        )

    def place_order(self, account: AccountRef, order: OrderRequest) -> OrderResult:
        secrets = account.credentials.secrets() if account.credentials else []
        params: dict[str, Any] = {"timeInForce": order.time_in_force.upper()}
        if order.client_order_id:
            params["label"] = order.client_order_id[:64]
        if order.reduce_only:
            params["reduceOnly"] = True
        with self._lock, _translated(secrets):
            exchange = self._for_account(account)
            symbol = self._symbol(order.symbol)
            placed = exchange.create_order(
                symbol,
                order.order_type,
                order.side.value,
                float(order.quantity),
                float(order.limit_price) if order.limit_price is not None else None,
                params,
            )
        return self._result(placed)

    def cancel_order(self, account: AccountRef, venue_order_id: str) -> OrderResult:
        secrets = account.credentials.secrets() if account.credentials else []
        with self._lock, _translated(secrets):
            exchange = self._for_account(account)
            return self._result(exchange.cancel_order(venue_order_id))

    def fetch_open_orders(self, account: AccountRef) -> list[OrderResult]:
        secrets = account.credentials.secrets() if account.credentials else []
        results: list[OrderResult] = []
        with self._lock, _translated(secrets):
            exchange = self._for_account(account)
            for underlying in self.underlyings or ["BTC"]:
                response = exchange.privateGetGetOpenOrdersByCurrency({"currency": underlying})
                results.extend(self._result(o) for o in response.get("result") or [])
        return results

    def cancel_all(
        self, account: AccountRef, *, underlying: str | None = None
    ) -> list[OrderResult]:
        """Deribit's cancel-all answers with a count only, so the working orders are read first
        and reported as cancelled once the venue confirms."""
        open_orders = [
            o
            for o in self.fetch_open_orders(account)
            if underlying is None or o.symbol.startswith(f"{underlying}-")
        ]
        secrets = account.credentials.secrets() if account.credentials else []
        with self._lock, _translated(secrets):
            exchange = self._for_account(account)
            for code in [underlying] if underlying else self.underlyings or ["BTC"]:
                exchange.privateGetCancelAllByCurrency({"currency": code, "kind": "option"})
        return [
            OrderResult(
                venue_order_id=o.venue_order_id,
                client_order_id=o.client_order_id,
                symbol=o.symbol,
                side=o.side,
                status=OrderStatus.CANCELLED,
                quantity=o.quantity,
                filled_quantity=o.filled_quantity,
                average_price=o.average_price,
                limit_price=o.limit_price,
                timestamp=datetime.now(tz=UTC),
                fills=o.fills,
            )
            for o in open_orders
        ]
