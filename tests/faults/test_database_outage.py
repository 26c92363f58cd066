"""PostgreSQL lost while everything runs: 503 on the API, a clear page and banner in the
browser, and recovery without restarting anything.

A real uvicorn server, Celery worker and beat reach PostgreSQL only through a fault-injecting
TCP proxy (tests/support/tcp_proxy.py); ``cut()`` resets their connections and refuses new
ones, as a crashed or unreachable database would. The test process keeps its own direct
connection, so it can check what was (not) written and change data behind the server's back.
A server started with a dead DATABASE_URL is covered by tests/foundation/test_api_database_down.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.roles import Role
from apps.audit.actors import Actor
from apps.breakers.mirror import mirror_forget_backoff
from apps.breakers.services import breaker_trip
from apps.gateway.models import Order
from apps.venues.models import Instrument, VenueHealth
from tests.accounts.factories import make_user
from tests.apikeys.factories import issue
from tests.faults.conftest import ProxiedPostgres
from tests.support.auth import browser_sign_in, http_sign_in
from tests.support.servers import ARTIFACTS, RunningServer, celery_worker_and_beat, uvicorn_server
from tests.support.waiting import seconds_until, wait_for
from tests.venues.factories import make_account, make_sim_venue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

BANNER = "Database unavailable — data may be stale; actions are disabled."
GLOBAL_STATE = 'tr[data-scope="global"] .breaker-state'


@dataclass
class Stack:
    server: RunningServer
    db: ProxiedPostgres


@pytest.fixture(scope="module")
def stack(postgres_via_proxy, django_db_blocker, tmp_path_factory) -> Iterator[Stack]:
    """Server, worker and beat, all on PostgreSQL through the proxy (one set for the module)."""
    url = postgres_via_proxy.database_url
    with (
        django_db_blocker.unblock(),
        uvicorn_server(DATABASE_URL=url) as server,
        celery_worker_and_beat(tmp_path_factory.mktemp("beat"), DATABASE_URL=url),
    ):
        yield Stack(server, postgres_via_proxy)


@pytest.fixture
def outage(stack, redis_client) -> Iterator[Stack]:
    """The stack with PostgreSQL reachable at the start and again at the end of each test."""
    mirror_forget_backoff()
    stack.db.proxy.restore()
    yield stack
    stack.db.proxy.restore()


def record(name: str, lines: list[str]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_text("\n".join(lines) + "\n")


def trip_elsewhere(user) -> None:
    """Trip the global breaker from another thread: Playwright's event loop runs in this one,
    where the after-commit publish (async_to_sync) would fail and nothing would be pushed."""

    def trip() -> None:
        try:
            breaker_trip(
                scope="global", state="halted", reason="venue incident", actor=Actor.user(user)
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(trip).result()


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def status_of(client: httpx.Client, path: str, **kwargs) -> int:
    try:
        return client.get(path, **kwargs).status_code
    except httpx.HTTPError:
        return 0


def test_api_and_pages_answer_503_while_postgres_is_cut_and_everything_recovers(outage):
    base, proxy = outage.server.base_url, outage.db.proxy
    venue = make_sim_venue("SIM", quote_interval_seconds=1.0, stale_after_seconds=600)
    make_account(venue, "SIM-A")
    key = issue(accounts=["SIM-A"])
    rita = make_user("rita", roles=(Role.RISK_MANAGER,))
    desk = http_sign_in(base, rita)
    bot = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {key.plaintext}"}, timeout=15
    )
    probe = httpx.Client(base_url=base, timeout=15)  # no cookies, like a load balancer
    assert desk.get("/overview/").status_code == 200
    assert bot.get("/api/v1/me").status_code == 200
    # The worker polls the venue through the proxy too.
    seconds_until(
        lambda: VenueHealth.objects.filter(venue=venue, last_chain_ok_at__isnull=False).exists(),
        timeout=60,
        what="first chain poll by the worker",
    )
    symbol = Instrument.objects.filter(venue=venue).values_list("symbol", flat=True).first()

    # A blip while nothing used the database (a restart, a failover): the pool holds only
    # connections the blip killed. It must check and replace them, not fail the next requests.
    with ThreadPoolExecutor(max_workers=4) as pool:  # grow the server's pool to a few
        assert set(pool.map(lambda _: status_of(bot, "/api/v1/me"), range(8))) == {200}
    assert proxy.cut() >= 2
    proxy.restore()
    after_blip = [status_of(bot, "/api/v1/me") for _ in range(6)]
    assert after_blip == [200] * 6, f"requests after a database blip answered {after_blip}"
    order = {
        "account": "SIM-A",
        "instrument": symbol,
        "side": "buy",
        "type": "limit",
        "quantity": "1",
        "price": "0.01",
        "client_order_id": "during-outage",
    }

    reset = proxy.cut()
    assert reset > 0  # the server and worker held pooled connections: all reset
    cut_at = time.monotonic()

    # Each request waits out the pool's 2 s checkout before its 503: send them side by side.
    calls: dict[str, Callable[[], httpx.Response]] = {
        "me": lambda: bot.get("/api/v1/me"),
        "order": lambda: bot.post("/api/v1/orders", json=order),
        "page": lambda: desk.get("/overview/"),
        "feed": lambda: desk.get("/market/live.json"),
        "healthz": lambda: probe.get("/healthz"),
        "ready": lambda: probe.get("/readyz"),
        "ready_signed_in": lambda: desk.get("/readyz"),
    }
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {name: pool.submit(timed, call) for name, call in calls.items()}
        got = {name: future.result() for name, future in futures.items()}
    (me, api_latency), (placed, _) = got["me"], got["order"]
    for response in (me, placed):
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "dependency_unavailable"
    assert not Order.objects.exists()  # fail closed: nothing recorded, nothing sent
    # A signed-in person loading a page: the session cannot even be read. A page in words.
    page, page_latency = got["page"]
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == "5"
    assert "<h1>Database unavailable</h1>" in page.text and BANNER in page.text
    assert "Traceback" not in page.text and "OperationalError" not in page.text
    # The page's own JSON feeds answer the API's error shape.
    feed = got["feed"][0]
    assert feed.status_code == 503 and feed.json()["code"] == "dependency_unavailable"
    # Probes: alive, not ready, and why -- with or without a session cookie.
    assert got["healthz"][0].status_code == 200
    for ready, _ in (got["ready"], got["ready_signed_in"]):
        assert ready.status_code == 503 and ready.json()["failed"] == ["postgres"], ready.text

    proxy.restore()
    restored_at = time.monotonic()
    page_back = seconds_until(
        lambda: status_of(desk, "/overview/") == 200, timeout=10, what="the overview back"
    )
    api_back = seconds_until(
        lambda: status_of(bot, "/api/v1/me") == 200, timeout=20, what="the API back"
    )
    assert probe.get("/readyz").status_code == 200
    # The same session, never signed in again; the same server process, never restarted.
    assert "Overview" in desk.get("/overview/").text
    assert outage.server.process.poll() is None
    # The worker and beat went on by themselves: a chain polled after the database came back.
    since = timezone.now()
    worker_back = seconds_until(
        lambda: VenueHealth.objects.filter(venue=venue, last_chain_ok_at__gt=since).exists(),
        timeout=30,
        what="a chain poll by the worker after recovery",
    )
    # Orders go through again (the same client order id: the refused one left nothing behind).
    # (Accepted or refused by a pre-trade check: decided and stored either way.)
    placed = bot.post("/api/v1/orders", json=order)
    assert placed.status_code in (200, 201, 422), placed.text
    assert Order.objects.filter(client_order_id="during-outage").count() == 1
    record(
        "faults-database-outage.txt",
        [
            f"connections reset by the cut: {reset}",
            f"API 503 during the outage answered in {1000 * api_latency:.0f} ms",
            f"page 503 during the outage answered in {1000 * page_latency:.0f} ms",
            f"outage length: {restored_at - cut_at:.1f} s",
            f"after restore: page 200 in {page_back:.1f} s, API 200 in {api_back:.1f} s, "
            f"worker polled {worker_back:.1f} s after both",
        ],
    )


def test_an_open_overview_shows_a_banner_disables_actions_and_recovers_by_itself(outage, browser):
    base, proxy = outage.server.base_url, outage.db.proxy
    rita = make_user("rita", roles=(Role.RISK_MANAGER,))
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        browser_sign_in(page, base, rita)
        page.goto(f"{base}/overview/")
        page.locator("#live-status[data-state='live']").wait_for(timeout=10_000)
        # Every topic subscribed and synced (the subscriptions themselves need the database).
        page.wait_for_function(
            "() => [...BreakwaterLive.get().topics.values()].every(t => t.subscribed && t.synced)",
            timeout=10_000,
        )
        trip = page.get_by_role("button", name="Trip breaker")
        assert trip.is_enabled() and page.locator(GLOBAL_STATE).inner_text() == "ACTIVE"

        proxy.cut()
        started = time.monotonic()
        banner = page.get_by_role("alert").filter(has_text="Database unavailable")
        banner.wait_for(timeout=15_000)
        shown_after = time.monotonic() - started
        assert banner.inner_text().strip() == BANNER
        assert trip.is_disabled()
        # Something changes that this server cannot read (another process still can): the
        # push arrives over the websocket (Redis is up), so the alert feed, drawn from the
        # pushed item, shows it; the board, which is fetched from the server, cannot.
        # The feed also resyncs meanwhile (as after any sequence gap): its snapshot needs the
        # database, and must answer "unavailable" rather than hold the pushed items back.
        page.evaluate("BreakwaterLive.get().resync('alerts')")
        trip_elsewhere(rita)
        page.locator("#live-panels").get_by_text("global HALTED").first.wait_for(timeout=10_000)
        assert page.locator(GLOBAL_STATE).inner_text() == "ACTIVE"

        # A full page load meanwhile: the friendly 503 page, not a 500.
        other = context.new_page()
        response = other.goto(f"{base}/overview/")
        assert response is not None and response.status == 503
        assert other.get_by_role("heading", name="Database unavailable").is_visible()

        proxy.restore()
        started = time.monotonic()
        banner.wait_for(state="hidden", timeout=15_000)
        hidden_after = time.monotonic() - started
        assert trip.is_enabled()
        # The panels were fetched again on recovery: the trip made during the outage shows.
        page.locator(GLOBAL_STATE).filter(has_text="HALTED").wait_for(timeout=5_000)
        assert page.locator("#live-status").inner_text() == "Live"
        # The 503 tab reloaded itself into the real page, still signed in.
        other.get_by_role("heading", name="Overview").wait_for(timeout=15_000)
        assert other.url == f"{base}/overview/"
        # The open socket's periodic re-validation failed every 2 s during the cut: the log
        # says so once (not a traceback per round) and says when it works again.
        wait_for(
            lambda: "websocket re-validation works again" in outage.server.log(),
            20,
            "the re-validation to recover",
        )
        log = outage.server.log()
        assert 1 <= log.count("websocket re-validation failing for") <= 2, log[-3000:]
        assert "re-validation failed" not in log
    finally:
        context.close()
    record(
        "faults-database-banner.txt",
        [
            f"banner shown {shown_after:.1f} s after the cut (probe every 5 s)",
            f"banner gone {hidden_after:.1f} s after the restore (probe every 2 s in an outage)",
        ],
    )
