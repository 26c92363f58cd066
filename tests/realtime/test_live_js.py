"""static/js/live.js in headless Chromium against the real server: snapshot first, pushed
messages in order, a lost message repaired by a snapshot resync, refused topics reported, and
the status indicator ending at "signed_out" when the session is ended elsewhere.

The pages that will use the library arrive later; until then the script is injected into a
signed-in page (the context bypasses CSP only for that injection)."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest

from apps.accounts.roles import Role
from apps.accounts.services.sessions import sessions_end_for_user
from apps.audit.actors import Actor
from apps.breakers.services.changes import breaker_trip
from apps.realtime.publish import SEQ_KEY_PREFIX
from tests.accounts.factories import make_user
from tests.support.auth import browser_sign_in
from tests.venues.factories import make_account, make_sim_venue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

LIVE_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "live.js"


def _off_the_playwright_thread(fn) -> None:
    """Playwright's sync API keeps an event loop on this thread; publishing (async_to_sync)
    must happen elsewhere, as it does in a real request or task."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn).result(timeout=30)


def test_live_js_resyncs_after_a_lost_message_and_shows_its_status(
    live_server_process, browser, redis_client, artifacts_dir
):
    server = live_server_process
    user = make_user("risk-js", roles=(Role.RISK_MANAGER,))
    venue = make_sim_venue()
    make_account(venue, "JS-A")
    make_account(venue, "JS-B")
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        browser_sign_in(page, server.base_url, user)
        # A page without a live client of its own ("/" now leads to the live overview).
        page.goto(f"{server.base_url}/keys/")
        page.add_script_tag(path=str(LIVE_JS))
        page.evaluate(
            """() => {
              const status = document.createElement("div");
              status.id = "live-status";
              document.body.prepend(status);
              BreakwaterLive.bindIndicator(status);
              window.got = [];
              window.refused = [];
              const live = BreakwaterLive.get();
              live.subscribe("breakers", (p, m) => window.got.push({
                kind: m.kind, seq: m.seq, type: p.type,
                targets: (p.breakers || [p.breaker]).filter((b) => b && b.state === "halted")
                  .map((b) => b.target),
              }));
              live.subscribe("surface:nope!", () => {}, {
                onRefused: (reason) => window.refused.push(reason),
              });
            }"""
        )
        status = page.locator("#live-status")
        page.wait_for_function("document.getElementById('live-status').dataset.state === 'live'")
        assert status.get_attribute("role") == "status"
        assert status.text_content() == "Live"  # a word, not only a colour
        page.wait_for_function("window.got.length === 1")
        assert page.evaluate("window.got[0].kind") == "snapshot"
        assert page.evaluate("window.refused") == ["unknown_topic"]

        _off_the_playwright_thread(
            lambda: breaker_trip(
                scope="account", target="JS-A", reason="first", actor=Actor.user(user)
            )
        )
        page.wait_for_function("window.got.length === 2")
        first = page.evaluate("window.got[1]")
        assert first["kind"] == "message" and first["targets"] == ["JS-A"]

        # A message lost on the way (the channel layer drops to full channels): its sequence
        # number was taken but nothing arrived. The next push reveals the gap.
        redis_client.incr(SEQ_KEY_PREFIX + "breakers")
        _off_the_playwright_thread(
            lambda: breaker_trip(
                scope="account", target="JS-B", reason="second", actor=Actor.user(user)
            )
        )
        page.wait_for_function("window.got.length === 4")
        gap_message, resync = page.evaluate("window.got.slice(2)")
        assert gap_message["kind"] == "message" and gap_message["seq"] == first["seq"] + 2
        assert resync["kind"] == "snapshot" and resync["seq"] >= gap_message["seq"]
        assert sorted(resync["targets"]) == ["JS-A", "JS-B"]
        page.screenshot(path=str(artifacts_dir / "realtime-live-js.png"))

        # The session is ended elsewhere (MFA reset, "end all sessions"): the tab says so.
        _off_the_playwright_thread(lambda: sessions_end_for_user(user=user))
        page.wait_for_function(
            "document.getElementById('live-status').dataset.state === 'signed_out'",
            timeout=5000,
        )
        assert "Signed out" in status.text_content()
    finally:
        context.close()
