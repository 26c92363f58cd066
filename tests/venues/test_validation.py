"""Quote validation: every bad quote is dropped and counted once, under the right reason."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.venues.adapters.base import OptionChain
from apps.venues.services.validation import DROP_REASONS, chain_validate

AS_OF = datetime(2026, 1, 5, 12, tzinfo=UTC)
AS_OF_MS = int(AS_OF.timestamp() * 1000)
EXPIRY_MS = AS_OF_MS + 30 * 86_400_000


def chain(rows: list[tuple], *, price_in_coin: bool = True) -> OptionChain:
    """rows: (strike, is_call, bid, ask, age_ms, forward)."""
    n = len(rows)
    strike, is_call, bid, ask, age, forward = (np.array(col) for col in zip(*rows, strict=True))
    return OptionChain(
        venue="T",
        underlying="BTC",
        as_of=AS_OF,
        index_price=100_000.0,
        price_currency="BTC",
        price_in_coin=price_in_coin,
        symbol=np.array([f"BTC-X-{i}" for i in range(n)], dtype=object),
        expiry_ms=np.full(n, EXPIRY_MS, dtype=np.int64),
        strike=strike.astype(float),
        is_call=is_call.astype(bool),
        bid=bid.astype(float),
        ask=ask.astype(float),
        mark=(bid.astype(float) + ask.astype(float)) / 2,
        bid_size=np.full(n, 1.0),
        ask_size=np.full(n, 1.0),
        forward=forward.astype(float),
        quote_ts=(AS_OF_MS - age).astype(np.int64),
    )


F = 100_000.0
GOOD = (100_000, True, 0.040, 0.042, 100, F)


def test_each_kind_of_bad_quote_is_dropped_and_counted_once():
    rows = [
        GOOD,
        GOOD,
        (100_000, True, np.nan, np.nan, 100, F),  # nan
        (100_000, True, 0.04, 0.042, 100, np.nan),  # nan: no forward
        (100_000, True, np.nan, 0.042, 100, F),  # one sided (no bid)
        (100_000, True, 0.0, 0.042, 100, F),  # one sided (zero bid)
        (100_000, True, 0.04, np.nan, 100, F),  # one sided (no ask)
        (100_000, True, 0.0, 0.0, 100, F),  # non positive
        (100_000, True, -0.01, 0.042, 100, F),  # non positive
        (100_000, True, 0.045, 0.042, 100, F),  # crossed
        (100_000, True, 0.045, 0.042, 90_000, F),  # crossed AND stale: counted as crossed
        (100_000, True, 0.040, 0.042, 31_000, F),  # stale (max age 30 s)
        (80_000, True, 0.10, 0.12, 100, F),  # below intrinsic: 0.2 coin
        (120_000, False, 0.15, 0.17, 100, F),  # below intrinsic (put): 0.2 coin
        (80_000, True, 0.20, 0.21, 100, F),  # fine: above intrinsic
    ]
    result = chain_validate(chain(rows), max_quote_age_seconds=30)
    assert result.dropped == {
        "nan": 2,
        "one_sided": 3,
        "non_positive": 2,
        "crossed": 2,
        "stale": 1,
        "below_intrinsic": 2,
    }
    assert list(result.dropped) == list(DROP_REASONS)
    assert result.received == len(rows)
    assert len(result.chain) == 3
    assert result.dropped_total + len(result.chain) == len(rows)


def test_intrinsic_is_in_the_quote_currency():
    # USD-quoted options: intrinsic of the 80k call is 20,000 USD.
    rows = [(80_000, True, 19_000.0, 19_500.0, 0, F), (80_000, True, 20_100.0, 20_300.0, 0, F)]
    result = chain_validate(chain(rows, price_in_coin=False), max_quote_age_seconds=30)
    assert result.dropped["below_intrinsic"] == 1 and len(result.chain) == 1


def test_a_clean_chain_is_returned_untouched():
    c = chain([GOOD, GOOD])
    result = chain_validate(c, max_quote_age_seconds=30)
    assert result.chain is c and result.dropped_total == 0


prices = st.one_of(
    st.floats(-0.05, 0.5, allow_nan=False),
    st.just(0.0),
    st.just(float("nan")),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([60_000, 90_000, 100_000, 110_000, 150_000]),
            st.booleans(),
            prices,
            prices,
            st.integers(0, 120_000),
            st.one_of(st.floats(50_000, 150_000), st.just(float("nan"))),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_every_kept_quote_is_two_sided_uncrossed_fresh_and_above_intrinsic(rows):
    result = chain_validate(chain(rows), max_quote_age_seconds=30)
    kept = result.chain
    assert result.dropped_total + len(kept) == len(rows)
    assert all(v >= 0 for v in result.dropped.values())
    if len(kept):
        assert np.all(np.isfinite(kept.bid) & np.isfinite(kept.ask) & np.isfinite(kept.forward))
        assert np.all(kept.bid > 0) and np.all(kept.ask >= kept.bid)
        assert np.all(AS_OF_MS - kept.quote_ts <= 30_000)
        intrinsic = (
            np.maximum(
                np.where(kept.is_call, kept.forward - kept.strike, kept.strike - kept.forward), 0
            )
            / kept.forward
        )
        assert np.all((kept.bid + kept.ask) / 2 >= intrinsic * (1 - 1e-9))
