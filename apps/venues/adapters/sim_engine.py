"""The simulated venue's market model: pure NumPy, no Django, deterministic under a seed.

* Spot follows a GBM with jumps; its volatility is the short-dated ATM vol (so quotes and the
  path agree). Log ATM vols, skew and curvature mean-revert (Ornstein-Uhlenbeck), with spot and
  vol moves negatively correlated, as crypto markets mostly show.
* Smiles are SSVI (Gatheral-Jacquier 2014, power-law ``phi`` with gamma 1/2):
  ``w(k, T) = theta/2 (1 + rho phi k + sqrt((phi k + rho)^2 + 1 - rho^2))`` with
  ``theta = atm(T)^2 T``. With ``eta (1 + |rho|) <= 2`` (enforced) the surface is free of
  butterfly arbitrage, and every expiry is exactly a raw SVI slice, so the fitter has a known
  answer.
* Expiries follow Deribit's calendar (dailies, weeklies, monthlies, quarterlies at 08:00 UTC);
  each expiry's strike step is fixed when it is listed and its strike range only ever grows as
  spot moves, like an exchange adding strikes.
* Quotes are inverse (coin-priced, Deribit-like), on Deribit's tick grid, with a spread in vol
  points that widens in the wings and near expiry.
* Bad quotes (crossed, zero, NaN, stale timestamp) are injected at a configurable rate.

Randomness: step ``n`` of underlying ``u`` uses ``SeedSequence([seed, crc32(u), n])``; the same
seed and the same step lengths reproduce the same path exactly.
"""

from __future__ import annotations

import calendar
import math
import zlib
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from apps.pricing.black76 import black76

__all__ = [
    "BAD_QUOTE_KINDS",
    "SPECS",
    "CleanQuotes",
    "Listing",
    "MarketState",
    "SimConfig",
    "UnderlyingSpec",
    "clean_quotes",
    "expiry_calendar",
    "inject_bad_quotes",
    "listing_arrays",
    "listing_update",
    "model_vols",
    "sim_step",
    "step_rng",
]

YEAR_SECONDS = 365.0 * 86400.0
MS_PER_YEAR = YEAR_SECONDS * 1000.0
EXPIRY_HOUR_UTC = 8
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
BAD_QUOTE_KINDS = ("crossed", "zero", "nan", "stale")
STALE_QUOTE_AGE_MS = 120_000  # older than any sensible max quote age
ETA_BOUND = 1.9  # eta (1 + |rho|) <= 2 keeps SSVI free of butterfly arbitrage; keep a margin


@dataclass(frozen=True)
class UnderlyingSpec:
    """Long-run parameters of one simulated underlying."""

    code: str
    spot0: float
    vol_mean: float  # long-run ATM vol
    rho_mean: float  # long-run SSVI skew
    eta_mean: float  # long-run SSVI curvature
    basis: float = 0.05  # annual carry: forward = spot * exp(basis * T)
    jump_intensity: float = 12.0  # jumps per year
    jump_mean: float = -0.005
    jump_std: float = 0.02
    vol_of_vol: float = 1.2
    spot_vol_corr: float = -0.5
    base_size: int = 10


SPECS: dict[str, UnderlyingSpec] = {
    "BTC": UnderlyingSpec("BTC", spot0=95_000.0, vol_mean=0.52, rho_mean=-0.12, eta_mean=0.9),
    "ETH": UnderlyingSpec("ETH", spot0=3_400.0, vol_mean=0.68, rho_mean=-0.08, eta_mean=1.0),
}


@dataclass(frozen=True)
class SimConfig:
    """Settings of a simulated venue (``Venue.config``), with defaults for the demo."""

    seed: int = 7
    bad_quote_rate: float = 0.01
    strikes_per_expiry: int = 24
    max_expiries: int | None = None
    time_scale: float = 1.0  # > 1 makes the market move faster than the wall clock
    max_step_seconds: float = 86400.0  # a long outage is simulated as at most one day

    @classmethod
    def from_mapping(cls, raw: dict | None) -> SimConfig:
        raw = dict(raw or {})
        known = {f: raw[f] for f in cls.__dataclass_fields__ if f in raw}
        config = cls(**known)
        if not 0.0 <= config.bad_quote_rate <= 1.0:
            raise ValueError("bad_quote_rate must be within [0, 1]")
        if config.strikes_per_expiry < 2:
            raise ValueError("strikes_per_expiry must be at least 2")
        return config


@dataclass(frozen=True)
class MarketState:
    """Spot and smile state of one underlying (everything a step changes)."""

    spot: float
    v_short: float  # ATM vol at the short end
    v_long: float  # ATM vol at the long end
    rho: float
    eta: float

    @classmethod
    def initial(cls, spec: UnderlyingSpec) -> MarketState:
        return cls(spec.spot0, spec.vol_mean, spec.vol_mean, spec.rho_mean, spec.eta_mean)

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict) -> MarketState:
        return cls(**{k: float(raw[k]) for k in cls.__dataclass_fields__})

    def atm_vol(self, t: np.ndarray) -> np.ndarray:
        """ATM-forward vol by tenor: short vol decays to long vol over about six weeks."""
        return self.v_long + (self.v_short - self.v_long) * np.exp(-np.asarray(t) / 0.12)


def step_rng(seed: int, underlying: str, step: int, stream: int = 0) -> np.random.Generator:
    """The generator of one step (``stream`` separates uses within a step)."""
    return np.random.default_rng(
        np.random.SeedSequence([seed, zlib.crc32(underlying.encode()), step, stream])
    )


def _ou_log(x: float, mean: float, kappa: float, sigma: float, dt: float, z: float) -> float:
    """Exact OU step of log(x) towards log(mean)."""
    decay = math.exp(-kappa * dt)
    sd = sigma * math.sqrt((1.0 - decay * decay) / (2.0 * kappa))
    return math.exp(math.log(mean) + (math.log(x) - math.log(mean)) * decay + sd * z)


def sim_step(
    state: MarketState, spec: UnderlyingSpec, dt_years: float, rng: np.random.Generator
) -> MarketState:
    """Evolve the market by ``dt_years`` (>= 0). Deterministic given ``rng``'s seed."""
    z = rng.standard_normal(5)
    n_jumps = rng.poisson(spec.jump_intensity * dt_years) if dt_years > 0 else 0
    jump = float(rng.normal(spec.jump_mean, spec.jump_std, size=n_jumps).sum()) if n_jumps else 0.0
    if dt_years <= 0:
        return state
    sqdt = math.sqrt(dt_years)
    vol = state.v_short
    corr = spec.spot_vol_corr
    z_vol = corr * z[0] + math.sqrt(1.0 - corr * corr) * z[1]
    # Martingale in the risk-neutral sense apart from the carry the forward adds.
    comp = spec.jump_intensity * (math.exp(spec.jump_mean + 0.5 * spec.jump_std**2) - 1.0)
    log_ret = (-0.5 * vol * vol - comp) * dt_years + vol * sqdt * z[0] + jump
    spot = state.spot * math.exp(log_ret)
    # A jump lifts short-dated vol (realised turbulence feeds implied vol).
    v_short = _ou_log(state.v_short, spec.vol_mean, 6.0, spec.vol_of_vol, dt_years, z_vol)
    v_short *= math.exp(2.0 * abs(jump))
    v_long = _ou_log(state.v_long, spec.vol_mean, 0.8, 0.3, dt_years, z[2])
    v_short = float(np.clip(v_short, 0.4 * v_long, 2.5 * v_long))
    x = math.atanh(np.clip(state.rho, -0.95, 0.95))
    x_mean = math.atanh(spec.rho_mean)
    decay = math.exp(-3.0 * dt_years)
    x = x_mean + (x - x_mean) * decay + 0.6 * math.sqrt((1 - decay**2) / 6.0) * z[3]
    rho = float(np.clip(math.tanh(x), -0.9, 0.9))
    eta = _ou_log(state.eta, spec.eta_mean, 3.0, 0.5, dt_years, z[4])
    eta = float(min(eta, ETA_BOUND / (1.0 + abs(rho))))
    return MarketState(spot=spot, v_short=v_short, v_long=v_long, rho=rho, eta=eta)


def model_vols(state: MarketState, k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """SSVI implied vols at log-moneyness ``k = ln(K/F)`` and tenor ``t`` (years, > 0)."""
    t = np.maximum(np.asarray(t, dtype=np.float64), 1e-6)
    theta = state.atm_vol(t) ** 2 * t
    phi = state.eta / np.sqrt(theta * (1.0 + theta))
    pk = phi * k
    w = 0.5 * theta * (1.0 + state.rho * pk + np.sqrt((pk + state.rho) ** 2 + 1.0 - state.rho**2))
    return np.sqrt(w / t)


def ssvi_raw_params(state: MarketState, t: float) -> tuple[float, float, float, float, float]:
    """The raw SVI parameters (a, b, rho, m, sigma) of the model's slice at tenor ``t``."""
    theta = float(state.atm_vol(np.array(t)) ** 2 * t)
    phi = state.eta / math.sqrt(theta * (1.0 + theta))
    rho = state.rho
    return (
        0.5 * theta * (1.0 - rho * rho),
        0.5 * theta * phi,
        rho,
        -rho / phi,
        math.sqrt(1.0 - rho * rho) / phi,
    )


# --- calendar and strikes ---------------------------------------------------------------------


def _at_expiry_hour(day: datetime) -> datetime:
    return datetime(day.year, day.month, day.day, EXPIRY_HOUR_UTC, tzinfo=UTC)


def _last_friday(year: int, month: int) -> datetime:
    last_day = calendar.monthrange(year, month)[1]
    day = datetime(year, month, last_day, EXPIRY_HOUR_UTC, tzinfo=UTC)
    return day - timedelta(days=(day.weekday() - 4) % 7)


def expiry_calendar(now: datetime, *, max_expiries: int | None = None) -> list[datetime]:
    """Deribit-like expiries after ``now``: 4 dailies, 4 weeklies (Fridays), 3 monthlies (last
    Friday) and 4 quarterlies (last Friday of Mar/Jun/Sep/Dec), all 08:00 UTC, de-duplicated."""
    now = now.astimezone(UTC)
    today = _at_expiry_hour(now)
    dailies = [d for d in (today + timedelta(days=i) for i in range(6)) if d > now][:4]
    first_friday = today + timedelta(days=(4 - today.weekday()) % 7)
    fridays = [d for d in (first_friday + timedelta(weeks=i) for i in range(6)) if d > now][:4]
    months, quarters = [], []
    year, month = now.year, now.month
    for _ in range(16):
        expiry = _last_friday(year, month)
        if expiry > now:
            if len(months) < 3:
                months.append(expiry)
            if month % 3 == 0 and len(quarters) < 4:
                quarters.append(expiry)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    expiries = sorted(set(dailies + fridays + months + quarters))
    return expiries[:max_expiries] if max_expiries else expiries


def expiry_code(expiry: datetime) -> str:
    """Deribit's date code: 5JAN26, 27MAR26 (no leading zero)."""
    return f"{expiry.day}{MONTHS[expiry.month - 1]}{expiry.year % 100:02d}"


def _nice_step(raw: float) -> float:
    exponent = math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = mult * 10.0**exponent
        if step >= raw:
            return step
    return 10.0 ** (exponent + 1)


Listing = dict[str, list[float]]  # expiry ms (str) -> [strike step, lowest index, highest index]


def listing_update(
    listing: Listing,
    state: MarketState,
    spec: UnderlyingSpec,
    now: datetime,
    config: SimConfig,
) -> Listing:
    """Expiries of the calendar with their strike grids: new expiries get a step fixed now,
    existing ranges grow to cover +-2.5 standard deviations around the current forward (capped
    at three times ``strikes_per_expiry``), expired ones go."""
    now_ms = now.timestamp() * 1000.0
    updated: Listing = {}
    for expiry in expiry_calendar(now, max_expiries=config.max_expiries):
        key = str(int(expiry.timestamp() * 1000))
        t = max((float(key) - now_ms) / MS_PER_YEAR, 1.0 / 365.0)
        forward = state.spot * math.exp(spec.basis * t)
        sd = float(state.atm_vol(np.array(t))) * math.sqrt(t)
        lo_price, hi_price = forward * math.exp(-2.5 * sd), forward * math.exp(2.5 * sd)
        if key in listing:
            step, lo, hi = listing[key]
        else:
            step = _nice_step((hi_price - lo_price) / config.strikes_per_expiry)
            lo, hi = math.inf, -math.inf
        lo = max(1, min(lo, math.ceil(lo_price / step)))
        hi = max(hi, math.floor(hi_price / step))
        cap = 3 * config.strikes_per_expiry
        if hi - lo + 1 > cap:  # keep the strikes nearest the forward
            centre = round(forward / step)
            lo = max(lo, centre - cap // 2)
            hi = min(hi, lo + cap - 1)
        updated[key] = [float(step), float(lo), float(hi)]
    return updated


def _strike_text(strike: float) -> str:
    return str(int(strike)) if float(strike).is_integer() else f"{strike:g}".replace(".", "d")


@dataclass(frozen=True)
class ListedOptions:
    symbol: np.ndarray
    expiry_ms: np.ndarray
    strike: np.ndarray
    is_call: np.ndarray


def listing_arrays(listing: Listing, underlying: str) -> ListedOptions:
    """Every listed option as columns: per expiry (ascending), strikes ascending, call then put."""
    symbols, expiries, strikes, calls = [], [], [], []
    for key in sorted(listing, key=float):
        step, lo, hi = listing[key]
        expiry_ms = int(key)
        code = expiry_code(datetime.fromtimestamp(expiry_ms / 1000, tz=UTC))
        for index in range(int(lo), int(hi) + 1):
            strike = round(step * index, 8)
            text = _strike_text(strike)
            for is_call, letter in ((True, "C"), (False, "P")):
                symbols.append(f"{underlying}-{code}-{text}-{letter}")
                expiries.append(expiry_ms)
                strikes.append(strike)
                calls.append(is_call)
    return ListedOptions(
        symbol=np.array(symbols, dtype=object),
        expiry_ms=np.array(expiries, dtype=np.int64),
        strike=np.array(strikes, dtype=np.float64),
        is_call=np.array(calls, dtype=bool),
    )


# --- quotes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanQuotes:
    """The simulated market maker's honest quotes (coin prices, contracts)."""

    forward: np.ndarray
    mark: np.ndarray
    bid: np.ndarray  # 0 where the option is worth less than a tick (no bid)
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray


def tick_size(price_coin: np.ndarray) -> np.ndarray:
    """Deribit's option tick: 0.0001 coin below 0.005, 0.0005 above."""
    return np.where(price_coin < 0.005, 1e-4, 5e-4)


def clean_quotes(
    state: MarketState,
    spec: UnderlyingSpec,
    options: ListedOptions,
    now_ms: int,
    step: int,
) -> CleanQuotes:
    """Deterministic quotes of every listed option from the market state at ``now_ms``."""
    index = np.arange(options.expiry_ms.shape[0], dtype=np.int64)
    expiry_ms, strike, is_call = options.expiry_ms, options.strike, options.is_call
    t = np.maximum((expiry_ms - now_ms) / MS_PER_YEAR, 1e-6)
    forward = state.spot * np.exp(spec.basis * t)
    k = np.log(strike / forward)
    vol = model_vols(state, k, t)
    greeks = black76(forward, strike, t, vol, is_call)
    mark = greeks.price / forward
    z = np.abs(k) / np.maximum(vol * np.sqrt(t), 1e-9)
    # Half spread in vol: tight at the money, wider in the wings and in the last days.
    half_vol = 0.004 + 0.003 * np.minimum(z, 4.0) + 0.01 * np.exp(-t * 365.0 / 3.0)
    half_price = greeks.vega * (half_vol * 100.0) / forward
    tick = tick_size(mark)
    half_price = np.maximum(half_price, tick)
    bid = np.floor((mark - half_price) / tick + 1e-9) * tick
    bid = np.where(bid >= tick, bid, 0.0)
    ask = np.maximum(np.ceil((mark + half_price) / tick - 1e-9) * tick, tick)
    # Sizes vary by option and step without consuming random numbers (orders placed between
    # two steps see the sizes the chain showed).
    mix = (index * 2654435761 + (step + 1) * 40503) % 97
    depth = np.maximum(1.0, spec.base_size * np.exp(-0.3 * np.minimum(z, 6.0)))
    bid_size = np.where(bid > 0, np.round(depth * (0.5 + mix / 97.0), 1), 0.0)
    ask_size = np.round(depth * (0.5 + ((mix * 7) % 97) / 97.0), 1)
    return CleanQuotes(forward, mark, bid, ask, np.maximum(bid_size, 0.1 * (bid > 0)), ask_size)


def inject_bad_quotes(
    bid: np.ndarray,
    ask: np.ndarray,
    quote_ts: np.ndarray,
    *,
    rate: float,
    rng: np.random.Generator,
    now_ms: int,
) -> dict[str, np.ndarray]:
    """Corrupt a ``rate`` fraction of quotes in place, one kind each; returns the row indices
    per kind (``crossed``: bid above ask, ``zero``: both sides 0, ``nan``: both sides NaN,
    ``stale``: timestamp two minutes old)."""
    n = bid.shape[0]
    hit = np.flatnonzero(rng.random(n) < rate)
    kinds = rng.integers(0, len(BAD_QUOTE_KINDS), size=hit.shape[0])
    rows = {kind: hit[kinds == i] for i, kind in enumerate(BAD_QUOTE_KINDS)}
    crossed = rows["crossed"]
    wide = np.maximum(ask[crossed], 1e-4)
    bid[crossed], ask[crossed] = wide * 1.5 + 1e-4, wide
    bid[rows["zero"]] = 0.0
    ask[rows["zero"]] = 0.0
    bid[rows["nan"]] = np.nan
    ask[rows["nan"]] = np.nan
    quote_ts[rows["stale"]] = now_ms - STALE_QUOTE_AGE_MS
    return rows


def evolve(
    state: MarketState,
    spec: UnderlyingSpec,
    *,
    elapsed_seconds: float,
    config: SimConfig,
    step: int,
) -> MarketState:
    """One step of ``elapsed_seconds`` of wall-clock time (scaled and capped by ``config``)."""
    seconds = min(max(elapsed_seconds, 0.0), config.max_step_seconds) * config.time_scale
    return sim_step(state, spec, seconds / YEAR_SECONDS, step_rng(config.seed, spec.code, step))


def with_spot(state: MarketState, spot: float) -> MarketState:
    return replace(state, spot=spot)
