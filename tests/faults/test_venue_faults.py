"""A venue that errors, answers garbage or times out: health says so (secret-free), stale data
and repeated errors trip the venue's breaker, nothing else stops, and a venue that answers
well again is fresh again while its breaker waits for a person (docs/venues.md, breakers.md).

Real processes: the session's uvicorn server, a Celery worker and beat. The Deribit adapter
(ccxt) talks to the replay transport serving recorded responses (tests/fixtures/deribit): the
only fake, at the venue's edge. The worker re-reads the recording's index on every request, so
the test turns the venue bad and good again by rewriting it. A healthy simulated venue is
polled by the same worker throughout.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.audit.actors import Actor
from apps.breakers.mirror import mirror_forget_backoff
from apps.breakers.models import Breaker
from apps.venues.adapters.base import Credentials
from apps.venues.models import AdapterKind, Venue, VenueHealth
from apps.venues.services.credentials import trading_account_credentials_set
from tests.accounts.factories import make_user
from tests.apikeys.factories import issue
from tests.support.auth import http_sign_in
from tests.support.celery_processes import CeleryProcesses, celery_processes_in
from tests.support.servers import ARTIFACTS
from tests.support.waiting import wait_for
from tests.venues.factories import make_account, make_sim_venue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deribit"
BOOK = "/api/v2/public/get_book_summary_by_currency"
POSITIONS = "/api/v2/private/get_positions"
SECRETS = Credentials(api_key="cl-id-faults-7Hq2Zt", secret="sEcReT-faults-9f8e7d6c5b4a")
STALE_AFTER = 4.0  # seconds without a good chain before DERIBIT's data counts as stale


class Recording:
    """The venue's recorded answers, rewritten by the test between polls."""

    def __init__(self, directory: Path) -> None:
        shutil.copytree(FIXTURES, directory)
        self.directory = directory
        self.index = directory / "index.json"
        self.good = json.loads(self.index.read_text())

    def answer(self, path: str, *, body: str | None = None, **entry: Any) -> None:
        """Every recorded request of ``path`` answers with ``entry`` (status, file, latency),
        or ``body`` (a file written for it); other paths answer as recorded."""
        if body is not None:
            (self.directory / "fault.body").write_text(body)
            entry["file"] = "fault.body"
        index = json.loads(self.index.read_text())
        for response in index["responses"]:
            if response["path"] == path:
                response.update(entry)
        self._write(index)

    def heal(self) -> None:
        self._write(self.good)

    def _write(self, index: dict[str, Any]) -> None:
        # Written aside then renamed: the worker never reads a half-written index.
        scratch = self.directory / "index.json.new"
        scratch.write_text(json.dumps(index))
        scratch.replace(self.index)


@pytest.fixture
def celery(tmp_path) -> Iterator[CeleryProcesses]:
    with celery_processes_in(tmp_path) as processes:
        yield processes


def health(venue: Venue) -> VenueHealth:
    return VenueHealth.objects.get(venue=venue)


def failing_with(venue: Venue, text: str, since_errors: int) -> Callable[[], VenueHealth | None]:
    """A new chain failure whose recorded error says ``text``."""

    def check() -> VenueHealth | None:
        h = health(venue)
        ok = h.consecutive_errors > since_errors and text in h.last_error
        return h if ok else None

    return check


def venue_breaker(name: str) -> Breaker | None:
    return Breaker.objects.filter(scope="venue", target=name).first()


def test_venue_errors_garbage_and_timeouts_show_in_health_trip_its_breaker_and_recover(
    live_server_process, celery, tmp_path, redis_client
):
    mirror_forget_backoff()
    base = live_server_process.base_url
    recording = Recording(tmp_path / "deribit")
    sim = make_sim_venue("SIM", quote_interval_seconds=1.0, stale_after_seconds=600)
    deribit = Venue.objects.create(
        name="DERIBIT",
        adapter=AdapterKind.DERIBIT,
        underlyings=["BTC"],
        config={"replay_dir": str(recording.directory), "timeout_ms": 800},
        # Short intervals so backoff (interval * 2^errors) stays within seconds.
        quote_interval_seconds=0.2,
        position_interval_seconds=0.5,
        stale_after_seconds=STALE_AFTER,
    )
    account = make_account(deribit, "DERIBIT-A", external_id="sub-42")
    trading_account_credentials_set(
        account=account, credentials=SECRETS, actor=Actor.system("tests")
    )
    trader = make_user("tina", roles=(Role.TRADER,))
    desk = http_sign_in(base, trader)
    bot = httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {issue(scopes=['market:read']).plaintext}"},
        timeout=15,
    )

    def surface_stale() -> bool:
        response = bot.get("/api/v1/surfaces/BTC", params={"venue": "DERIBIT"})
        assert response.status_code == 200, response.text
        return bool(response.json()["stale"])

    def health_row() -> list[str]:
        """DERIBIT's row of the market page's venue health table (its live JSON feed)."""
        response = desk.get("/market/live.json")
        assert response.status_code == 200, response.text
        (row,) = [r for r in response.json()["venues"] if r[0] == "DERIBIT"]
        return row

    worker = celery.worker("faults-venue-worker")
    beat = celery.beat("faults-venue-beat")
    wait_for(
        lambda: VenueHealth.objects.filter(
            venue=deribit, last_chain_ok_at__isnull=False, market_data_stale=False
        ).exists(),
        timeout=90,
        what="DERIBIT's first good chain",
    )
    wait_for(lambda: health(sim).last_chain_ok_at, timeout=30, what="SIM's first good chain")
    assert not surface_stale() and venue_breaker("DERIBIT") is None
    faults_began = timezone.now()
    timeline: list[str] = []

    def note(event: str) -> None:
        timeline.append(f"{(timezone.now() - faults_began).total_seconds():5.1f} s  {event}")

    # 1. Errors: the venue refuses the account's key, then is in maintenance (HTTP 503).
    recording.answer(POSITIONS, status=401, file="private/error_invalid_credentials.json")
    h = wait_for(
        lambda: (x := health(deribit)).positions_consecutive_errors > 0 and x,
        timeout=20,
        what="the refused key recorded",
    )
    assert h.last_error_job == "positions" and "invalid_credentials" in h.last_error
    assert SECRETS.api_key not in h.last_error and SECRETS.secret not in h.last_error
    note(f"refused key recorded: {h.last_error[:90]}")
    recording.answer(POSITIONS, status=200, file="private/get_positions.json")
    recording.answer(BOOK, status=503, file="public/error_maintenance.json")
    h = wait_for(failing_with(deribit, "temporarily_unavailable", 0), timeout=20, what="503")
    note(f"maintenance answer recorded: {h.last_error[:90]}")

    # 2. Garbage: a 200 whose body is an HTML error page, then rows with nonsense prices.
    errors = health(deribit).consecutive_errors
    recording.answer(BOOK, status=200, body="<html><body>502 Bad Gateway</body></html>")
    h = wait_for(failing_with(deribit, "malformed body", errors), timeout=20, what="garbage")
    note(f"garbage recorded: {h.last_error[:90]}")
    errors = h.consecutive_errors
    rows = [
        {"instrument_name": "BTC-27JUN25-110000-C", "bid_price": "n/a", "ask_price": None},
        {"instrument_name": "BTC-27JUN25-95000-P", "bid_price": -1, "ask_price": -2},
    ]
    recording.answer(BOOK, status=200, body=json.dumps({"jsonrpc": "2.0", "result": rows}))
    h = wait_for(failing_with(deribit, "no usable quote", errors), timeout=20, what="bad rows")
    note(f"unusable quotes recorded: {h.last_error[:90]}")

    # Stale after STALE_AFTER s without a good chain: the API says so, the breaker trips.
    breaker = wait_for(lambda: venue_breaker("DERIBIT"), timeout=20, what="venue breaker trip")
    assert breaker.state == "reduce_only" and "venue:market_data_stale" in breaker.conditions
    note(f"venue breaker {breaker.state}: {breaker.reason}")
    assert health(deribit).market_data_stale and surface_stale()

    # 3. A timeout: the venue answers after 3 s, the adapter waits 0.8 s.
    errors = health(deribit).consecutive_errors
    recording.answer(
        BOOK, status=200, file="public/book_summary_BTC_option.json", latency_seconds=3.0
    )
    h = wait_for(failing_with(deribit, "RequestTimeout", errors), timeout=30, what="timeout")
    note(f"timeout recorded: {h.last_error[:90]}")
    # Five failures in a row halt the venue (BREAKER_VENUE_ERROR_THRESHOLD).
    breaker = wait_for(
        lambda: (b := venue_breaker("DERIBIT")) and b.state == "halted" and b,
        timeout=30,
        what="venue breaker halted after 5 errors",
    )
    note(f"venue breaker {breaker.state}: {breaker.reason[:90]}")
    assert "venue:adapter_errors" in breaker.conditions

    # Health as a person sees it, secret-free everywhere.
    row = health_row()
    h = health(deribit)
    assert int(row[5]) == h.consecutive_errors >= 5 and row[7] == h.last_error
    logs = celery.log("faults-venue-worker") + live_server_process.log()
    for secret in (SECRETS.api_key, SECRETS.secret):
        assert secret not in h.last_error and secret not in json.dumps(row)
        assert secret not in logs
    # Nothing else stopped: SIM kept being polled, its breaker untouched; all processes up.
    sim_last = health(sim).last_chain_ok_at
    assert sim_last > faults_began and (timezone.now() - sim_last).total_seconds() < 10
    assert health(sim).consecutive_errors == 0 and venue_breaker("SIM") is None
    assert worker.poll() is None and beat.poll() is None
    assert live_server_process.process.poll() is None
    assert bot.get("/readyz").status_code == 200

    # 4. The venue answers well again: fresh again by itself; the breaker stays tripped (an
    # automatic trip never resets itself) with its conditions cleared for a person to reset.
    recording.heal()
    healed_at = timezone.now()
    wait_for(
        lambda: VenueHealth.objects.filter(
            venue=deribit,
            consecutive_errors=0,
            market_data_stale=False,
            last_chain_ok_at__gt=healed_at,
        ).exists(),
        timeout=30,
        what="DERIBIT fresh again",
    )
    note("fresh again")
    assert not surface_stale()
    breaker = wait_for(
        lambda: (b := venue_breaker("DERIBIT")) and not b.conditions and b,
        timeout=15,
        what="breaker conditions cleared",
    )
    assert breaker.state == "halted" and breaker.condition_cleared_at is not None
    note(f"breaker still {breaker.state}, conditions cleared (a reset looks safe)")
    assert health_row()[5] == "0"
    (ARTIFACTS / "faults-venue.txt").write_text("\n".join(timeline) + "\n")
