"""The gateway's hot read of a chain: decoded once per poll, never older than Redis."""

from __future__ import annotations

import numpy as np

from apps.venues.services import store


def _columns(mark: float) -> dict[str, np.ndarray]:
    return {
        "symbol": np.array(["BTC-1", "BTC-2"], dtype=object),
        "mark": np.array([mark, 2 * mark]),
    }


def test_a_rewritten_chain_is_read_even_with_the_same_metadata(redis_client):
    meta = {"n": 2, "as_of_ms": 1, "received_at_ms": 1}
    store.chain_write("SIM", "BTC", meta, _columns(0.1))
    first = store.chain_read_latest("SIM", "BTC")
    assert first.columns["mark"][first.row_of["BTC-2"]] == 0.2
    assert store.chain_read_latest("SIM", "BTC") is first  # not decoded again

    store.chain_write("SIM", "BTC", meta, _columns(0.3))  # same header fields, new quotes
    again = store.chain_read_latest("SIM", "BTC")
    assert again is not first
    assert again.columns["mark"][again.row_of["BTC-1"]] == 0.3
    assert again.meta == {**meta, "v": store.FORMAT_VERSION}


def test_a_missing_chain_reads_as_none(redis_client):
    assert store.chain_read_latest("SIM", "ETH") is None
