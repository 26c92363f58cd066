"""The shapes market data is stored, published and served in (one place for all of them)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from apps.pricing.svi import SVIParams
from apps.venues.services.analytics import SurfaceComputation
from apps.venues.services.validation import ValidatedChain

__all__ = [
    "chain_columns",
    "iso_ms",
    "previous_params",
    "publish_message",
    "surface_payload",
]

SURFACE_VERSION = 1


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _r(x: float, digits: int = 8) -> float:
    return round(float(x), digits)


def surface_payload(
    *,
    venue: str,
    validated: ValidatedChain,
    computed: SurfaceComputation,
    received_at_ms: int,
) -> dict[str, Any]:
    """The surface as stored in Redis and served by the API (``stale`` is added at read time).

    ``as_of`` is the venue's time of the chain; ``received_at`` our clock when it arrived
    (staleness is judged on our clock, so a venue's clock skew cannot hide a dead feed).

    Finite numbers only (the store refuses NaN), vols as fractions."""
    chain = computed.chain
    slices = []
    for s in computed.slices:
        slices.append(
            {
                "expiry": iso_ms(s.expiry_ms),
                "expiry_ms": s.expiry_ms,
                "t": _r(s.t, 10),
                "forward": _r(s.forward, 6),
                "svi": {name: _r(value, 10) for name, value in s.params._asdict().items()},
                "rmse": _r(s.rmse, 8),
                "n_points": s.n_points,
                "converged": s.converged,
                "arbitrage": {
                    "butterfly_ok": s.butterfly_ok,
                    "g_min": _r(s.g_min, 8),
                    "k_at_g_min": _r(s.k_at_g_min, 6),
                },
                "atm_vol": _r(s.atm_vol, 6),
                "vol_25d_call": _r(s.vol_25d_call, 6),
                "vol_25d_put": _r(s.vol_25d_put, 6),
                "rr25": _r(s.rr25, 6),
                "bf25": _r(s.bf25, 6),
            }
        )
    butterfly_ok = all(s.butterfly_ok for s in computed.slices)
    return {
        "v": SURFACE_VERSION,
        "venue": venue,
        "underlying": chain.underlying,
        "as_of": iso_ms(chain.as_of_ms),
        "as_of_ms": chain.as_of_ms,
        "received_at": iso_ms(received_at_ms),
        "received_at_ms": received_at_ms,
        "index_price": json_number(chain.index_price, 12),
        "price_currency": chain.price_currency,
        "quotes": {
            "received": validated.received,
            "valid": len(chain),
            "priced": computed.used_count,
            "dropped": validated.dropped,
            "dropped_total": validated.dropped_total,
            "unpriced": computed.unpriced,
        },
        "slices": slices,
        "skipped": [
            {"expiry": iso_ms(ms), "expiry_ms": ms, "reason": reason}
            for ms, reason in sorted(computed.skipped.items())
        ],
        "arbitrage": {
            "butterfly_ok": butterfly_ok,
            "calendar_ok": computed.calendar_ok,
            "calendar_violations": [
                {k: _r(v, 8) for k, v in violation.items()}
                for violation in computed.calendar_violations
            ],
        },
        "grid": {
            "k": [_r(k, 6) for k in computed.grid_k],
            "t": [_r(t, 8) for t in computed.grid_t],
            "iv": [[_r(v, 6) for v in row] for row in computed.grid_iv],
        },
    }


def publish_message(payload: dict[str, Any]) -> dict[str, Any]:
    """The compact message for the ``surface:<UND>`` topic: enough to redraw a summary, with
    the full surface a GET away."""
    return {
        "type": "surface.updated",
        "venue": payload["venue"],
        "underlying": payload["underlying"],
        "as_of": payload["as_of"],
        "received_at": payload["received_at"],
        "stale": False,
        "index_price": payload["index_price"],
        "dropped": payload["quotes"]["dropped_total"],
        # [expiry ms, ATM vol, 25d RR, 25d BF]
        "smiles": [[s["expiry_ms"], s["atm_vol"], s["rr25"], s["bf25"]] for s in payload["slices"]],
    }


def previous_params(payload: dict[str, Any] | None) -> dict[int, SVIParams]:
    """Warm starts for the next fit: last poll's SVI parameters per expiry."""
    if not payload:
        return {}
    out = {}
    for s in payload.get("slices", []):
        params = s.get("svi") or {}
        try:
            out[int(s["expiry_ms"])] = SVIParams(
                params["a"], params["b"], params["rho"], params["m"], params["sigma"]
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out


def chain_columns(computed: SurfaceComputation) -> dict[str, np.ndarray]:
    """Columns of the stored chain (validated quotes with IVs and USD/coin Greeks)."""
    chain, a = computed.chain, computed.analytics
    columns: dict[str, np.ndarray] = {
        "symbol": chain.symbol,
        "expiry_ms": chain.expiry_ms.astype(np.int64),
        "strike": chain.strike.astype(np.float64),
        "is_call": chain.is_call.astype(np.bool_),
        "bid": chain.bid,
        "ask": chain.ask,
        "mark": chain.mark,
        "bid_size": chain.bid_size,
        "ask_size": chain.ask_size,
        "forward": chain.forward,
        "quote_ts": chain.quote_ts.astype(np.int64),
        "iv": a.iv,
        "iv_bid": computed.iv_bid,
        "iv_ask": computed.iv_ask,
        "price_usd": a.price_usd,
        "delta": a.greeks.delta,
        "gamma": a.greeks.gamma,
        "vega": a.greeks.vega,
        "theta": a.greeks.theta,
    }
    if a.coin is not None:
        columns["delta_coin"] = a.coin.delta_coin
    return {k: np.asarray(v) for k, v in columns.items()}


def json_number(x: float, digits: int = 10) -> float | None:
    """A JSON-safe number: None for NaN/inf, else rounded to ``digits`` significant digits."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")
