"""Polling: the pipeline's results, locks, backoff, health and staleness (real Redis and PG)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from apps.venues.adapters.registry import adapters_forget
from apps.venues.models import AdapterKind, Instrument, SurfaceSnapshot, Venue, VenueHealth
from apps.venues.services import store
from apps.venues.services.health import (
    market_data_stale_changed,
    venue_adapter_error_count,
    venue_last_good_chain_at,
    venue_market_data_stale,
    venues_staleness_sweep,
)
from apps.venues.services.polling import poll_lock, venue_poll_chain
from apps.venues.tasks import poll_due_venues_dispatch
from tests.venues.factories import make_sim_venue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deribit"


def all_numbers(payload) -> list[float]:
    out: list[float] = []
    if isinstance(payload, dict):
        for v in payload.values():
            out += all_numbers(v)
    elif isinstance(payload, list):
        for v in payload:
            out += all_numbers(v)
    elif isinstance(payload, float | int) and not isinstance(payload, bool):
        out.append(float(payload))
    return out


@pytest.mark.django_db
def test_a_poll_stores_a_surface_chain_instruments_and_a_snapshot(redis_client):
    venue = make_sim_venue(underlyings=("BTC", "ETH"))
    outcome = venue_poll_chain(venue_id=venue.pk)
    assert outcome.ran and outcome.ok, outcome.error
    for underlying in ("BTC", "ETH"):
        surface = store.surface_read("SIM", underlying)
        assert surface["underlying"] == underlying and surface["venue"] == "SIM"
        assert len(surface["slices"]) >= 4
        for s in surface["slices"]:
            # The model's smiles are arbitrage-free; a fit to tick-rounded quotes hours before
            # an expiry (options worth a few ticks) need not be, and the report says so. A day
            # or more out, the fit is arbitrage-free too (CI failed at 20:45 UTC on a BTC slice
            # 11 h from expiry, g_min -0.057).
            bfly = s["arbitrage"]
            assert bfly["butterfly_ok"] == (bfly["g_min"] >= -1e-9)
            if s["t"] * 365 >= 1:
                assert bfly["butterfly_ok"]
            assert 0.2 < s["atm_vol"] < 1.5
            assert set(s["svi"]) == {"a", "b", "rho", "m", "sigma"}
        chain = store.chain_read("SIM", underlying)
        assert len(chain) == surface["quotes"]["valid"]
        assert np.all(chain.columns["iv"] > 0)
        assert (
            Instrument.objects.filter(venue=venue, underlying=underlying, active=True).count()
            == (surface["quotes"]["received"])
        )
    assert SurfaceSnapshot.objects.filter(venue=venue).count() == 2
    health = VenueHealth.objects.get(venue=venue)
    assert health.consecutive_errors == 0 and health.last_chain_ok_at is not None
    assert not venue_market_data_stale(venue)


@pytest.mark.django_db
def test_injected_bad_quotes_are_excluded_and_counted_and_never_reach_the_surface(redis_client):
    venue = make_sim_venue(config={"bad_quote_rate": 0.08, "strikes_per_expiry": 16})
    totals = dict.fromkeys(("nan", "non_positive", "crossed", "stale"), 0)
    for _ in range(3):
        assert venue_poll_chain(venue_id=venue.pk).ok
        surface = store.surface_read("SIM", "BTC")
        chain = store.chain_read("SIM", "BTC")
        dropped = surface["quotes"]["dropped"]
        for reason in totals:
            totals[reason] += dropped[reason]
        assert surface["quotes"]["valid"] == surface["quotes"]["received"] - sum(dropped.values())
        c = chain.columns
        # Nothing bad survived into the stored chain...
        assert np.all(np.isfinite(c["bid"]) & np.isfinite(c["ask"]))
        assert np.all(c["bid"] > 0) and np.all(c["ask"] >= c["bid"])
        assert np.all(c["quote_ts"] >= chain.meta["as_of_ms"] - 30_000)
        # ...and the surface has no NaN and no negative (or zero) vol anywhere.
        text = json.dumps(surface)
        assert "NaN" not in text and "Infinity" not in text
        vols = [x for row in surface["grid"]["iv"] for x in row]
        vols += [
            s[k] for s in surface["slices"] for k in ("atm_vol", "vol_25d_call", "vol_25d_put")
        ]
        assert vols and min(vols) > 0
        assert all(np.isfinite(all_numbers(surface)))
        assert np.all(np.isfinite(c["iv"])) and np.all(c["iv"] > 0)
    # Every injected kind shows up in the counts (8% of ~200 quotes, over three polls).
    assert all(count > 0 for count in totals.values()), totals


@pytest.mark.django_db
def test_snapshots_are_one_per_interval(redis_client):
    venue = make_sim_venue(snapshot_interval_seconds=3600)
    for _ in range(3):
        venue_poll_chain(venue_id=venue.pk)
    assert SurfaceSnapshot.objects.filter(venue=venue).count() == 1


@pytest.mark.django_db
def test_a_poll_is_skipped_while_another_holds_the_venue(redis_client):
    venue = make_sim_venue()
    with poll_lock(venue.pk, "chain") as held:
        assert held
        outcome = venue_poll_chain(venue_id=venue.pk)
    assert not outcome.ran and outcome.skipped == "already_running"
    assert store.surface_read("SIM", "BTC") is None
    assert venue_poll_chain(venue_id=venue.pk).ran  # released: the next one runs


@pytest.mark.django_db
def test_without_redis_polls_skip_instead_of_overlapping(redis_client):
    from django.test import override_settings

    venue = make_sim_venue()
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):  # nothing listens there
        outcome = venue_poll_chain(venue_id=venue.pk)
    assert not outcome.ran and outcome.skipped == "lock_unavailable"


def replay_copy(tmp_path: Path, **overrides: dict) -> Path:
    """A copy of the recorded Deribit responses, with some index entries changed."""
    target = tmp_path / "deribit"
    shutil.copytree(FIXTURES, target)
    index = json.loads((target / "index.json").read_text())
    for entry in index["responses"]:
        key = entry["path"].rsplit("/", 1)[-1]
        entry.update(overrides.get(key, {}))
    (target / "index.json").write_text(json.dumps(index))
    return target


def deribit_venue(replay_dir: Path, **fields) -> Venue:
    adapters_forget()
    venue = Venue.objects.create(
        name="DERIBIT",
        adapter=AdapterKind.DERIBIT,
        underlyings=["BTC"],
        config={"replay_dir": str(replay_dir)},
        **fields,
    )
    VenueHealth.objects.create(venue=venue)
    return venue


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_polls_of_one_venue_one_runs_one_skips(redis_client, tmp_path):
    # A slow exchange: the chain request takes a second, so the polls surely overlap.
    replay = replay_copy(tmp_path, get_book_summary_by_currency={"latency_seconds": 1.0})
    venue = deribit_venue(replay)
    outcomes = []
    barrier = threading.Barrier(2)

    def poll():
        from django.db import connection

        barrier.wait()
        try:
            outcomes.append(venue_poll_chain(venue_id=venue.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ran = [o for o in outcomes if o.ran]
    skipped = [o for o in outcomes if not o.ran]
    assert len(ran) == 1 and len(skipped) == 1, outcomes
    assert ran[0].ok, ran[0].error
    assert skipped[0].skipped == "already_running"


@pytest.mark.django_db(transaction=True)  # the signal is sent on commit
def test_adapter_failures_back_off_show_in_health_and_make_the_surface_stale(
    redis_client, tmp_path
):
    replay = replay_copy(tmp_path)
    venue = deribit_venue(replay, quote_interval_seconds=2.0, stale_after_seconds=1.0)
    changes = []

    def receiver(sender, venue, stale, last_good_at, **kwargs):
        changes.append((venue.name, stale))

    market_data_stale_changed.connect(receiver)
    try:
        assert venue_poll_chain(venue_id=venue.pk).ok
        good_at = venue_last_good_chain_at(venue)
        assert not venue_market_data_stale(venue)
        assert changes == [("DERIBIT", False)]  # stale -> fresh on the first good chain

        # The exchange goes into maintenance: HTTP 503 with Deribit's error body.
        replay_index = json.loads((replay / "index.json").read_text())
        for entry in replay_index["responses"]:
            if entry["path"].endswith("get_book_summary_by_currency"):
                entry.update(status=503, file="public/error_maintenance.json")
        (replay / "index.json").write_text(json.dumps(replay_index))

        delays = []
        for attempt in (1, 2, 3):
            before = timezone.now()
            outcome = venue_poll_chain(venue_id=venue.pk)
            assert outcome.ran and not outcome.ok
            health = VenueHealth.objects.get(venue=venue)
            assert health.consecutive_errors == attempt
            assert health.error_count == attempt
            assert "temporarily_unavailable" in health.last_error
            assert health.last_error_job == "chain"
            delays.append((health.next_chain_at - before).total_seconds())
        # Exponential: 2 s * 2^n (4, 8, 16 s), never beyond the cap.
        assert delays[0] == pytest.approx(4, abs=0.5)
        assert delays[1] == pytest.approx(8, abs=0.5)
        assert delays[2] == pytest.approx(16, abs=0.5)
        assert venue_adapter_error_count(venue) == 3
        assert venue_last_good_chain_at(venue) == good_at  # failures never count as good

        # The last good surface is still served, but past stale_after it is marked stale.
        time.sleep(1.2)
        assert venue_market_data_stale(venue)
        assert venues_staleness_sweep() == [(venue, True)]
        assert venues_staleness_sweep() == []  # announced once
        assert changes[-1] == ("DERIBIT", True)
        assert VenueHealth.objects.get(venue=venue).market_data_stale

        # Maintenance over: one good poll and everything is fresh again.
        shutil.copy(FIXTURES / "index.json", replay / "index.json")
        assert venue_poll_chain(venue_id=venue.pk).ok
        health = VenueHealth.objects.get(venue=venue)
        assert health.consecutive_errors == 0 and not health.market_data_stale
        assert changes[-1] == ("DERIBIT", False)
    finally:
        market_data_stale_changed.disconnect(receiver)


@pytest.mark.django_db
def test_the_dispatcher_enqueues_each_due_venue_once_per_interval(redis_client):
    venue = make_sim_venue(quote_interval_seconds=2.0, position_interval_seconds=5.0)
    disabled = make_sim_venue("SIMOFF", enabled=False)
    first = poll_due_venues_dispatch()
    assert first == {"chain": [venue.pk], "positions": [venue.pk]}
    assert poll_due_venues_dispatch() == {"chain": [], "positions": []}
    health = VenueHealth.objects.get(venue=venue)
    assert timedelta(seconds=1.5) < health.next_chain_at - timezone.now() <= timedelta(seconds=2)
    assert not VenueHealth.objects.filter(venue=disabled).exists()
    # The queued polls are in the broker (the worker test runs them for real).
    assert redis_client.llen("celery") == 2
