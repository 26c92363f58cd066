"""The one adapter interface every venue implements, and the normalised results it returns.

Adapters import no Django model: they receive plain values (an :class:`AccountRef` with the
decrypted credentials, never logged) and return frozen dataclasses. Option chains are columns
of NumPy arrays (:class:`OptionChain`), so the pricing engine consumes them as they are.

Units: prices are in the instrument's quote currency (``OptionChain.price_currency``; the coin
for inverse options such as Deribit's, flagged by ``price_in_coin``); quantities are contracts;
times are UTC epoch milliseconds in arrays and aware datetimes elsewhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "AccountRef",
    "Credentials",
    "Fill",
    "InstrumentSpec",
    "OptionChain",
    "OrderRequest",
    "OrderResult",
    "OrderStatus",
    "PositionReport",
    "Side",
    "VenueAdapter",
    "VenueAuthError",
    "VenueError",
    "VenueRejected",
    "VenueUnavailable",
]

MS_PER_YEAR = 365.0 * 86400.0 * 1000.0


class VenueError(Exception):
    """Base of adapter errors. Messages never contain credentials."""


class VenueUnavailable(VenueError):
    """Network failure, timeout, 5xx or maintenance: retry later (pollers back off)."""


class VenueAuthError(VenueError):
    """The venue refused the account's credentials."""


class VenueRejected(VenueError):
    """The venue refused a request for a business reason (``code`` is machine-readable)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True, slots=True)
class Credentials:
    """API credentials of a trading account, decrypted only for the adapter call."""

    api_key: str
    secret: str
    extra: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never let a secret reach a log line or traceback
        return "Credentials(<redacted>)"

    __str__ = __repr__

    def secrets(self) -> list[str]:
        """Every secret string, for redacting error messages."""
        return [s for s in (self.api_key, self.secret, *self.extra.values()) if s]


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Which account an adapter call acts for: the venue's id plus (maybe) its credentials."""

    external_id: str
    label: str = ""
    credentials: Credentials | None = None

    def __repr__(self) -> str:
        return f"AccountRef({self.label or self.external_id!r})"


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One listed instrument as the venue describes it."""

    symbol: str
    underlying: str
    kind: str  # option | future | perpetual | spot
    quote_currency: str
    settlement_currency: str = ""
    strike: Decimal | None = None
    expiry: datetime | None = None
    option_type: str = ""  # call | put | ""
    contract_size: Decimal = Decimal(1)
    tick_size: Decimal | None = None
    min_trade_amount: Decimal | None = None
    active: bool = True


@dataclass(frozen=True, eq=False)
class OptionChain:
    """An option chain for one underlying, as columns (one row per option, same length).

    ``forward`` is the price each option is valued against (the venue's underlying future or
    synthetic forward for its expiry); ``index_price`` the spot index. Missing values are NaN
    (Deribit publishes no sizes in its book summary). ``quote_ts`` is the venue's timestamp of
    each quote, ``as_of`` when the chain was fetched.
    """

    venue: str
    underlying: str
    as_of: datetime
    index_price: float
    price_currency: str
    price_in_coin: bool
    symbol: np.ndarray  # str
    expiry_ms: np.ndarray  # int64, UTC epoch ms
    strike: np.ndarray  # float64
    is_call: np.ndarray  # bool
    bid: np.ndarray
    ask: np.ndarray
    mark: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    forward: np.ndarray
    quote_ts: np.ndarray  # int64, UTC epoch ms

    def __post_init__(self) -> None:
        n = self.symbol.shape[0]
        for name in ("expiry_ms", "strike", "is_call", "bid", "ask", "mark", "bid_size",
                     "ask_size", "forward", "quote_ts"):  # fmt: skip
            if getattr(self, name).shape != (n,):
                raise ValueError(f"OptionChain.{name} must have shape ({n},)")

    def __len__(self) -> int:
        return int(self.symbol.shape[0])

    @property
    def as_of_ms(self) -> int:
        return int(self.as_of.timestamp() * 1000)

    def years_to_expiry(self) -> np.ndarray:
        """ACT/365 year fractions from ``as_of`` to each expiry (the pricing engine's ``t``)."""
        return (self.expiry_ms - self.as_of_ms) / MS_PER_YEAR

    def take(self, mask: np.ndarray) -> OptionChain:
        """The rows where ``mask`` is true (a new chain; arrays are copied once, columnwise)."""
        columns = {
            name: getattr(self, name)[mask]
            for name in (
                "symbol",
                "expiry_ms",
                "strike",
                "is_call",
                "bid",
                "ask",
                "mark",
                "bid_size",
                "ask_size",
                "forward",
                "quote_ts",
            )
        }
        return OptionChain(
            venue=self.venue,
            underlying=self.underlying,
            as_of=self.as_of,
            index_price=self.index_price,
            price_currency=self.price_currency,
            price_in_coin=self.price_in_coin,
            **columns,
        )


@dataclass(frozen=True, slots=True)
class PositionReport:
    """A position as the venue reports it: signed contracts, average price in quote currency."""

    symbol: str
    size: Decimal
    average_price: Decimal


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(enum.StrEnum):
    OPEN = "open"  # working at the venue (possibly partly filled)
    FILLED = "filled"
    CANCELLED = "cancelled"  # possibly partly filled before
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to place. ``limit_price`` is in the instrument's quote currency; ``quantity``
    in contracts. ``time_in_force``: ``gtc`` rests the unfilled part, ``ioc`` cancels it.
    ``client_order_id`` makes placement idempotent where the venue supports it."""

    symbol: str
    side: Side
    quantity: Decimal
    order_type: str = "limit"  # limit | market
    limit_price: Decimal | None = None
    time_in_force: str = "gtc"  # gtc | ioc
    client_order_id: str = ""
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class OrderResult:
    """The venue's view of one order after a call. ``fills`` lists executions made by this call
    (placement) or known so far (queries); ``reject_code`` is set when ``status`` is rejected."""

    venue_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    average_price: Decimal | None
    limit_price: Decimal | None
    timestamp: datetime
    fills: tuple[Fill, ...] = ()
    reject_code: str = ""

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity


@runtime_checkable
class VenueAdapter(Protocol):
    """What Breakwater needs from a venue. Implementations: ``SimulatedAdapter`` and
    ``DeribitAdapter``. Every method may raise :class:`VenueUnavailable` (retry later) or
    :class:`VenueAuthError`; order methods raise :class:`VenueRejected` for business refusals
    (unknown instrument, bad quantity), never for fills."""

    kind: str
    venue_name: str

    def list_instruments(self) -> list[InstrumentSpec]:
        """Every instrument the venue lists now (options and the futures they reference)."""
        ...

    def fetch_chain(self, underlying: str) -> OptionChain:
        """The current option chain of ``underlying`` (bid/ask/mark, sizes, forwards, stamps)."""
        ...

    def fetch_positions(self, account: AccountRef) -> list[PositionReport]:
        """Every non-zero position of the account."""
        ...

    def place_order(self, account: AccountRef, order: OrderRequest) -> OrderResult:
        """Place an order; marketable parts fill at once, the rest rests (gtc) or dies (ioc)."""
        ...

    def cancel_order(self, account: AccountRef, venue_order_id: str) -> OrderResult:
        """Cancel one working order (a finished order is returned as it is)."""
        ...

    def cancel_all(
        self, account: AccountRef, *, underlying: str | None = None
    ) -> list[OrderResult]:
        """Cancel every working order of the account (of one underlying if given)."""
        ...

    def fetch_open_orders(self, account: AccountRef) -> list[OrderResult]:
        """The account's working orders."""
        ...
