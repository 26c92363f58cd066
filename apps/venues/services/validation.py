"""Quote validation: drop what cannot be trusted before anything is priced, and count why.

Every quote is given the first reason that applies, in this order (so each dropped quote is
counted once):

``nan``             a price, the strike or the forward is NaN/infinite (and it is not one-sided)
``one_sided``       one side is missing or zero while the other is positive (no mid exists)
``non_positive``    a side is zero or negative
``crossed``         bid above ask
``stale``           the venue's quote timestamp is older than the venue's max quote age
``below_intrinsic`` the mid is below the option's intrinsic value (an arbitrage, or a bad print)

Vectorised over the chain; no Python loop per quote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.venues.adapters.base import OptionChain

__all__ = ["DROP_REASONS", "ValidatedChain", "chain_validate"]

DROP_REASONS = ("nan", "one_sided", "non_positive", "crossed", "stale", "below_intrinsic")
# Relative slack on the intrinsic test: a mid within 1e-9 of intrinsic is rounding, not a lie.
INTRINSIC_SLACK = 1e-9


@dataclass(frozen=True)
class ValidatedChain:
    """The usable quotes, and how many of each reason were dropped (all reasons present)."""

    chain: OptionChain
    dropped: dict[str, int]
    received: int

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


def chain_validate(chain: OptionChain, *, max_quote_age_seconds: float) -> ValidatedChain:
    """Keep quotes with two positive, uncrossed, fresh sides whose mid is not below intrinsic."""
    bid, ask = chain.bid, chain.ask
    bid_finite, ask_finite = np.isfinite(bid), np.isfinite(ask)
    with np.errstate(invalid="ignore"):
        bid_pos = bid_finite & (bid > 0)
        ask_pos = ask_finite & (ask > 0)
        bid_absent = ~bid_finite | (bid == 0)
        one_sided = (bid_absent & ask_pos) | (~ask_finite & bid_pos)
        inputs_bad = ~np.isfinite(chain.forward) | ~np.isfinite(chain.strike) | (chain.forward <= 0)
        nan = inputs_bad | ((~bid_finite | ~ask_finite) & ~one_sided)
        non_positive = ~bid_pos | ~ask_pos
        crossed = bid > ask
        stale = (chain.as_of_ms - chain.quote_ts) > max_quote_age_seconds * 1000.0
        mid = 0.5 * (bid + ask)
        intrinsic = np.maximum(
            np.where(chain.is_call, chain.forward - chain.strike, chain.strike - chain.forward), 0.0
        )
        if chain.price_in_coin:
            intrinsic = intrinsic / chain.forward
        below = mid < intrinsic * (1.0 - INTRINSIC_SLACK)

    remaining = np.ones(len(chain), dtype=bool)
    dropped: dict[str, int] = {}
    for reason, flagged in zip(
        DROP_REASONS, (nan, one_sided, non_positive, crossed, stale, below), strict=True
    ):
        hit = flagged & remaining
        dropped[reason] = int(hit.sum())
        remaining &= ~hit
    kept = chain if remaining.all() else chain.take(remaining)
    return ValidatedChain(chain=kept, dropped=dropped, received=len(chain))
