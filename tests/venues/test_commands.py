"""Operator commands: poll a venue now, prune old snapshots; the hot-chain codec."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.venues.models import SurfaceSnapshot
from apps.venues.services.store import chain_decode, chain_encode
from tests.venues.factories import make_sim_venue

pytestmark = pytest.mark.django_db


def test_poll_venue_prints_what_the_poll_did(redis_client):
    make_sim_venue()
    out = io.StringIO()
    call_command("poll_venue", "sim", stdout=out)
    text = out.getvalue()
    assert "BTC: ok;" in text and "timings (ms)" in text and "Poll succeeded." in text
    call_command("poll_venue", "SIM", "--positions", stdout=out)
    with pytest.raises(CommandError, match="No venue"):
        call_command("poll_venue", "NOPE")


def test_prune_deletes_only_snapshots_older_than_the_retention(redis_client):
    venue = make_sim_venue()
    now = timezone.now()
    for days in (1, 29, 31, 90):
        SurfaceSnapshot.objects.create(
            venue=venue,
            underlying="BTC",
            bucket=now - timedelta(days=days),
            as_of=now - timedelta(days=days),
            index_price=1.0,
            quote_count=1,
            used_count=1,
        )
    out = io.StringIO()
    call_command("prune_surface_snapshots", stdout=out)
    assert "Deleted 2 snapshot(s)" in out.getvalue()
    assert SurfaceSnapshot.objects.count() == 2
    call_command("prune_surface_snapshots", "--older-than-days", "0.5", stdout=out)
    assert SurfaceSnapshot.objects.count() == 0
    with pytest.raises(CommandError):
        call_command("prune_surface_snapshots", "--older-than-days", "0")


def test_the_hot_chain_codec_round_trips_every_column():
    columns = {
        "symbol": np.array(["BTC-1JAN27-100000-C", "BTC-1JAN27-100000-P"], dtype=object),
        "expiry_ms": np.array([1, 2], dtype=np.int64),
        "is_call": np.array([True, False]),
        "iv": np.array([0.5, np.nan]),
    }
    decoded = chain_decode(chain_encode({"n": 2, "venue": "SIM"}, columns))
    assert decoded.meta["venue"] == "SIM" and len(decoded) == 2
    for name, values in columns.items():
        np.testing.assert_array_equal(decoded.columns[name], values)
        assert decoded.columns[name].dtype == values.dtype
    empty = chain_decode(chain_encode({"n": 0}, {k: v[:0] for k, v in columns.items()}))
    assert len(empty) == 0 and empty.columns["symbol"].shape == (0,)
