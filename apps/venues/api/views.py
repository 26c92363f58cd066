"""Market-data API (scope ``market:read``): instruments, chains, surfaces, surface history.

Thin views: parse, call a selector, shape. Errors use the project's ``{"code", "detail"}``:
``unknown_underlying`` / ``unknown_venue`` (404), ``market_data_unavailable`` (503: the
underlying is known but no chain has been computed yet), ``dependency_unavailable`` (503:
Redis is down), ``invalid_request`` (400) for bad query parameters.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.venues import selectors
from apps.venues.models import InstrumentKind
from apps.venues.services.payloads import iso_ms, json_number
from apps.venues.services.store import StoreUnavailable
from config.api_errors import ServiceUnavailable
from config.api_fields import query_datetime, refuse_nul_in_query
from config.api_schema import error_responses

MARKET_READ = "market:read"
HISTORY_DEFAULT = timedelta(hours=24)
HISTORY_MAX_ROWS = 10_000


class UnknownUnderlying(exceptions.NotFound):
    error_code = "unknown_underlying"


class UnknownVenue(exceptions.NotFound):
    error_code = "unknown_venue"


class MarketDataUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    error_code = "market_data_unavailable"
    default_detail = "No market data has been computed for this underlying yet; retry shortly."


class InvalidParameter(exceptions.ValidationError):
    error_code = "invalid_request"


def _underlying(raw: str) -> str:
    underlying = selectors.normalise_underlying(raw)
    if underlying is None or not selectors.underlying_is_known(underlying):
        raise UnknownUnderlying(f"No venue lists options on {raw!r}.")
    return underlying


def _venue_param(request: Request, underlying: str) -> str | None:
    name = request.query_params.get("venue")
    if not name:
        return None
    if selectors.market_data_venue(underlying, name) is None:
        raise UnknownVenue(f"No venue {name!r} quotes {underlying}.")
    return name


class MarketReadView(APIView):
    required_scope = MARKET_READ

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        refuse_nul_in_query(request)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, StoreUnavailable):
            exc = ServiceUnavailable("Market data store unavailable; retry shortly.")
        return super().handle_exception(exc)


class InstrumentSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    venue = serializers.CharField()
    underlying = serializers.CharField()
    kind = serializers.ChoiceField(choices=InstrumentKind.choices)
    strike = serializers.FloatField(allow_null=True)
    expiry = serializers.DateTimeField(allow_null=True)
    option_type = serializers.CharField(allow_null=True)
    contract_size = serializers.FloatField()
    quote_currency = serializers.CharField()
    settlement_currency = serializers.CharField()
    tick_size = serializers.FloatField(allow_null=True)
    min_trade_amount = serializers.FloatField(allow_null=True)
    active = serializers.BooleanField()


def _instrument_row(i: Any) -> dict[str, Any]:
    return {
        "symbol": i.symbol,
        "venue": i.venue.name,
        "underlying": i.underlying,
        "kind": i.kind,
        "strike": float(i.strike) if i.strike is not None else None,
        "expiry": i.expiry.isoformat().replace("+00:00", "Z") if i.expiry else None,
        "option_type": i.option_type or None,
        "contract_size": float(i.contract_size),
        "quote_currency": i.quote_currency,
        "settlement_currency": i.settlement_currency,
        "tick_size": float(i.tick_size) if i.tick_size is not None else None,
        "min_trade_amount": float(i.min_trade_amount) if i.min_trade_amount is not None else None,
        "active": i.active,
    }


_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw.lower() not in _FLAGS:
        raise InvalidParameter({name: ["true or false"]})
    return _FLAGS[raw.lower()]


class InstrumentListView(MarketReadView):
    @extend_schema(
        summary="List instruments",
        parameters=[
            OpenApiParameter("underlying", str, description="e.g. BTC"),
            OpenApiParameter("venue", str, description="Venue name, e.g. SIM"),
            OpenApiParameter("kind", str, enum=InstrumentKind.values),
            OpenApiParameter("include_inactive", bool, description="Include expired/delisted"),
        ],
        responses={
            200: inline_serializer(
                "InstrumentList",
                {
                    "count": serializers.IntegerField(),
                    "results": InstrumentSerializer(many=True),
                },
            ),
            **error_responses(400, 404),
        },
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("underlying")
        underlying = _underlying(raw) if raw else None
        kind = request.query_params.get("kind")
        if kind is not None and kind not in InstrumentKind.values:
            raise InvalidParameter({"kind": [f"one of {', '.join(InstrumentKind.values)}"]})
        rows = selectors.instruments_list(
            underlying=underlying,
            venue_name=request.query_params.get("venue"),
            kind=kind,
            include_inactive=_flag(request, "include_inactive"),
        )
        results = [_instrument_row(i) for i in rows]
        return Response({"count": len(results), "results": results})


# Chain columns served per quote, in order: (output name, column, significant digits).
_QUOTE_FIELDS = (
    ("bid", "bid", 10),
    ("ask", "ask", 10),
    ("mark", "mark", 10),
    ("bid_size", "bid_size", 8),
    ("ask_size", "ask_size", 8),
    ("forward", "forward", 12),
    ("iv", "iv", 8),
    ("iv_bid", "iv_bid", 8),
    ("iv_ask", "iv_ask", 8),
    ("price_usd", "price_usd", 10),
    ("delta", "delta", 8),
    ("gamma", "gamma", 8),
    ("vega", "vega", 8),
    ("theta", "theta", 8),
    ("delta_coin", "delta_coin", 8),
)


class ChainView(MarketReadView):
    @extend_schema(
        summary="Latest option chain of an underlying, with implied vols and Greeks",
        description=(
            "Validated quotes only (dropped quotes are counted in `dropped` by reason). Prices "
            "are in `price_currency` (the coin for inverse options); `iv*` are annualised "
            "fractions of the mid/bid/ask; Greeks are Black-76 in USD per contract "
            "(delta in coins of underlying, vega per vol point, theta per day); `delta_coin` "
            "is the premium-adjusted delta of inverse options."
        ),
        parameters=[
            OpenApiParameter("venue", str, description="Venue name (default: best source)"),
            OpenApiParameter("expiry", OpenApiTypes.DATE, description="Only this expiry date"),
        ],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404)},
    )
    def get(self, request: Request, underlying: str) -> Response:
        underlying = _underlying(underlying)
        venue_name = _venue_param(request, underlying)
        expiry_filter = request.query_params.get("expiry")
        day = _date(expiry_filter) if expiry_filter is not None else None
        if expiry_filter is not None and day is None:
            raise InvalidParameter({"expiry": ["a date, YYYY-MM-DD"]})
        view = selectors.chain_latest(underlying=underlying, venue_name=venue_name)
        if view is None:
            raise MarketDataUnavailable()
        c = view.chain.columns
        quotes = []
        columns = [(name, c[col], digits) for name, col, digits in _QUOTE_FIELDS if col in c]
        for i in range(len(view.chain)):
            expiry_ms = int(c["expiry_ms"][i])
            if day is not None and datetime.fromtimestamp(expiry_ms / 1000, tz=UTC).date() != day:
                continue
            row: dict[str, Any] = {
                "symbol": str(c["symbol"][i]),
                "expiry": iso_ms(expiry_ms),
                "strike": json_number(c["strike"][i], 12),
                "option_type": "call" if c["is_call"][i] else "put",
            }
            for name, values, digits in columns:
                row[name] = json_number(values[i], digits)
            row["quote_ts"] = iso_ms(int(c["quote_ts"][i]))
            quotes.append(row)
        meta = view.chain.meta
        return Response(
            {
                "venue": view.venue.name,
                "underlying": underlying,
                "as_of": iso_ms(int(meta["as_of_ms"])),
                "received_at": iso_ms(int(meta["received_at_ms"])),
                "stale": view.stale,
                "index_price": json_number(meta["index_price"]),
                "price_currency": meta["price_currency"],
                "price_in_coin": meta["price_in_coin"],
                "dropped": meta["dropped"],
                "count": len(quotes),
                "quotes": quotes,
            }
        )


class SurfaceView(MarketReadView):
    @extend_schema(
        summary="Latest volatility surface of an underlying",
        description=(
            "Per expiry: raw SVI parameters (total variance in k = ln(K/F)), fit RMSE in vol, "
            "Durrleman butterfly check, ATM vol, 25-delta call/put vols, risk reversal and "
            "butterfly; the calendar check across expiries; an implied-vol grid (rows: tenors "
            "in years, columns: log-moneyness); quote counts (dropped by reason). `stale` is "
            "true when the venue's last good chain is older than its stale_after."
        ),
        parameters=[OpenApiParameter("venue", str, description="Venue name")],
        responses={200: OpenApiTypes.OBJECT, **error_responses(404)},
    )
    def get(self, request: Request, underlying: str) -> Response:
        underlying = _underlying(underlying)
        venue_name = _venue_param(request, underlying)
        view = selectors.surface_latest(underlying=underlying, venue_name=venue_name)
        if view is None:
            raise MarketDataUnavailable()
        payload = {k: v for k, v in view.payload.items() if k not in ("v",)}
        payload["stale_after_seconds"] = view.venue.stale_after_seconds
        return Response(payload)


def _date(raw: str) -> date | None:
    try:
        return parse_date(raw)
    except ValueError:  # well formed but impossible, e.g. 2026-02-30
        return None


def _when(raw: str | None, name: str) -> datetime | None:
    # Present but empty is not "absent": the schema says a date-time, so it is refused.
    if raw is None:
        return None
    value = query_datetime(raw, dates=True)
    if value is None:
        raise InvalidParameter({name: ["an ISO 8601 date or date-time"]})
    return value


class SurfaceHistoryView(MarketReadView):
    @extend_schema(
        summary="Surface history (one snapshot per venue per snapshot interval)",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="Default: to - 24 h"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="Default: now"),
            OpenApiParameter("venue", str, description="Venue name"),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": HISTORY_MAX_ROWS},
                description=f"1 to {HISTORY_MAX_ROWS} (default 1440)",
            ),
        ],
        responses={200: OpenApiTypes.OBJECT, **error_responses(400, 404)},
    )
    def get(self, request: Request, underlying: str) -> Response:
        underlying = _underlying(underlying)
        venue_name = _venue_param(request, underlying)
        end = _when(request.query_params.get("to"), "to") or timezone.now()
        start = _when(request.query_params.get("from"), "from") or end - HISTORY_DEFAULT
        if start > end:
            raise InvalidParameter({"from": ["must not be after 'to'"]})
        try:
            limit = int(request.query_params.get("limit", 1440))
        except ValueError:
            raise InvalidParameter({"limit": ["an integer"]}) from None
        if not 1 <= limit <= HISTORY_MAX_ROWS:
            raise InvalidParameter({"limit": [f"between 1 and {HISTORY_MAX_ROWS}"]})
        venue = selectors.market_data_venue(underlying, venue_name) if venue_name else None
        rows, truncated = selectors.surface_history(
            underlying=underlying, start=start, end=end, venue=venue, limit=limit
        )
        return Response(
            {
                "underlying": underlying,
                "venue": venue.name if venue else None,
                "from": start.isoformat(),
                "to": end.isoformat(),
                "count": len(rows),
                "truncated": truncated,
                "snapshots": [
                    {
                        "venue": row.venue.name,
                        "as_of": row.as_of.isoformat().replace("+00:00", "Z"),
                        "index_price": row.index_price,
                        "quote_count": row.quote_count,
                        "used_count": row.used_count,
                        "dropped": row.dropped,
                        "calendar_ok": row.calendar_ok,
                        "slices": row.slices,
                    }
                    for row in rows
                ],
            }
        )
