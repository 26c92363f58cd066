"""Issue test 4 in Chromium on a real server: a viewer sees no controls and a forged trip POST
from the viewer's own session (valid CSRF token and all) is refused with 403. Also the admin's
and risk manager's desk pages by keyboard (audit log with filters and the verify-chain button,
keys, users, limits), with their screenshots."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.accounts.roles import Role, roles_ensure
from apps.audit.models import AuditEvent
from apps.breakers.mirror import mirror_forget_backoff
from tests.accounts.factories import make_user
from tests.breakers.factories import state_of, trip
from tests.support.auth import browser_sign_in
from tests.support.browser import docs_screenshot
from tests.venues.factories import make_account, make_sim_venue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def in_thread(action) -> None:
    """Run ``action`` in a thread of its own (with its own database connection, closed)."""

    def run() -> None:
        try:
            action()
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)


@pytest.fixture(autouse=True)
def _clean(redis_client):
    roles_ensure()
    mirror_forget_backoff()


def test_a_viewer_sees_no_controls_and_a_forged_trip_is_refused(
    live_server_process, page, artifacts_dir
):
    base = live_server_process.base_url
    make_account(make_sim_venue("SIM"), "SIM-A")
    trip("account", "SIM-A", reason="fat finger")
    browser_sign_in(page, base, make_user("vera", roles=(Role.VIEWER,)))
    page.goto(base + "/")
    page.wait_for_url(f"{base}/overview/")  # a viewer's home
    page.locator("#live-status[data-state='live']").wait_for(timeout=10_000)
    main = page.locator("main")
    assert main.get_by_role("button").count() == 0
    assert main.locator("form, input, select").count() == 0
    assert main.get_by_role("link", name="Reset…").count() == 0
    assert page.locator('tr[data-target="SIM-A"] .breaker-state').inner_text() == "HALTED"
    assert (
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").count() == 0
    )
    page.screenshot(path=str(artifacts_dir / "overview-viewer.png"), full_page=True)

    # The viewer's own session forges the trip form's POST with a valid CSRF token.
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    forged = page.request.post(
        f"{base}/breakers/trip/",
        form={
            "csrfmiddlewaretoken": token,
            "scope": "global",
            "target": "",
            "state": "halted",
            "reason": "forged",
            "next": "/overview/",
        },
        headers={"Referer": f"{base}/overview/"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert state_of("global") == "active"
    assert page.request.post(
        f"{base}/audit/verify/", form={"csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/audit/"}, max_redirects=0,
    ).status == 403  # fmt: skip
    # A live push still reaches the viewer (watching is what the role is for). Tripped from
    # another thread: Playwright's event loop owns this one, and publishing needs its own.
    in_thread(lambda: trip("global", reason="seen by the viewer"))
    page.locator('tr[data-scope="global"] .breaker-state', has_text="HALTED").wait_for(
        timeout=10_000  # that it arrives, not how fast (test 1 times it), on a loaded CI machine
    )


def test_an_admin_reads_and_verifies_the_audit_log_by_keyboard(
    live_server_process, page, artifacts_dir
):
    base = live_server_process.base_url
    make_sim_venue("SIM")
    trip("global", reason="drill")
    admin = make_user("ada", roles=(Role.ADMIN,))
    browser_sign_in(page, base, admin)
    page.goto(base + "/audit/")
    events = page.locator("#audit-events tbody tr")
    assert events.count() >= 2  # the trip and ada's sign-in
    # Keyboard: type the actor, Tab to the action select, choose, Tab on, Enter submits.
    page.get_by_label("Actor").focus()
    page.keyboard.type("tests")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_action"
    page.get_by_label("Action").select_option("breaker.*")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/audit/?*")
    assert {r.get_attribute("data-action") for r in events.all()} == {"breaker.tripped"}

    page.get_by_label("From").fill("not a date")
    page.get_by_role("button", name="Filter").click()
    assert page.get_by_role("alert").filter(has_text="is not a date or time").is_visible()

    page.goto(base + "/audit/")
    page.get_by_role("button", name="Verify chain").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/audit/")
    result = page.locator(".verify-result")
    assert "Hash chain verified" in result.inner_text()
    assert AuditEvent.objects.order_by("-sequence").first().action == "audit.verified"
    assert result.locator("code.hash").inner_text() in result.inner_text()
    docs_screenshot(page, "audit")

    # The admin's other pages: API keys and users (screenshots for the docs).
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="API keys").click()
    page.wait_for_url(f"{base}/keys/")
    docs_screenshot(page, "keys")
    nav.get_by_role("link", name="Users").click()
    page.wait_for_url(f"{base}/accounts/users/")
    assert nav.get_by_role("link", name="Users").get_attribute("aria-current") == "page"
    docs_screenshot(page, "users")


def test_a_risk_manager_reaches_the_limits_editor_from_the_overview(
    live_server_process, page, artifacts_dir
):
    base = live_server_process.base_url
    make_account(make_sim_venue("SIM"), "SIM-A")
    browser_sign_in(page, base, make_user("rita", roles=(Role.RISK_MANAGER,)))
    page.goto(base + "/overview/")
    page.get_by_role("link", name="Risk page and limits editor").click()
    page.get_by_role("link", name="New limit").click()
    page.wait_for_url(f"{base}/risk/limits/new/")
    docs_screenshot(page, "limits")
