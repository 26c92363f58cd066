"""Issue test: a trader opens the vol-surface page and sees the surface update at least twice
without a reload, on a real uvicorn server fed by a real Celery worker and beat (the same
processes ``make run`` starts); the camera the trader chose survives the updates. Screenshots go
to test-artifacts/ and docs/screenshots/surface.png."""

from __future__ import annotations

import pytest

from apps.accounts.roles import Role
from apps.venues.services.polling import venue_poll_chain
from tests.accounts.factories import make_user
from tests.support.auth import browser_sign_in
from tests.support.browser import docs_screenshot
from tests.support.servers import celery_worker_and_beat
from tests.venues.factories import make_sim_venue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def camera_eye(page) -> dict[str, float]:
    return page.evaluate("document.getElementById('surface-3d')._fullLayout.scene.camera.eye")


def test_a_trader_sees_the_surface_update_twice_without_reload(
    live_server_process, page, artifacts_dir, redis_client, tmp_path
):
    base = live_server_process.base_url
    venue = make_sim_venue(
        underlyings=("BTC", "ETH"), stale_after_seconds=30, config={"time_scale": 20}
    )
    assert venue_poll_chain(venue_id=venue.pk).ok  # a surface for the first render
    trader = make_user("tia", roles=(Role.TRADER,))
    browser_sign_in(page, base, trader)
    page.goto(f"{base}/surface/?underlying=BTC")
    page.wait_for_selector("#surface-3d .main-svg")
    page.wait_for_selector("#smiles .scatterlayer .trace")
    page.wait_for_function("document.getElementById('live-status').dataset.state === 'live'")
    assert page.locator("#surface-stale").is_hidden()
    assert page.locator("#surface-expiries tbody tr").count() >= 4
    first_as_of = page.locator("#surface-as-of").inner_text()
    # The trader turns the 3D view with the mouse; a marker on window tells whether the page
    # was reloaded.
    page.evaluate("window.__sameDocument = true")
    eye_before = camera_eye(page)
    box = page.locator("#surface-3d").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 150, y + 40, steps=12)
    page.mouse.up()
    page.wait_for_function(
        "(before) => JSON.stringify(document.getElementById('surface-3d')"
        "._fullLayout.scene.camera.eye) !== JSON.stringify(before)",
        arg=eye_before,
    )
    turned = camera_eye(page)

    with celery_worker_and_beat(tmp_path):
        page.wait_for_function(
            "Number(document.getElementById('surface-page').dataset.updates) >= 2",
            timeout=90_000,
        )
        assert page.evaluate("window.__sameDocument") is True
        assert page.locator("#surface-as-of").inner_text() != first_as_of
        assert camera_eye(page) == pytest.approx(turned, abs=1e-6)  # kept through react
        z_now = page.evaluate("document.getElementById('surface-3d').data[0].z[0][0]")
        assert isinstance(z_now, float) and 1 < z_now < 500
        assert page.locator("#live-status").inner_text() == "Live"
        assert page.locator("#surface-stale").is_hidden()
        docs_screenshot(page, "surface")


def test_the_underlying_selector_works_by_keyboard_and_bad_input_is_explained(
    live_server_process, page, redis_client
):
    base = live_server_process.base_url
    venue = make_sim_venue(underlyings=("BTC", "ETH"))
    assert venue_poll_chain(venue_id=venue.pk).ok
    browser_sign_in(page, base, make_user("tia", roles=(Role.TRADER,)))
    page.goto(f"{base}/surface/")
    select = page.get_by_label("Underlying")
    select.focus()
    select.select_option("ETH")
    page.keyboard.press("Tab")  # to the Show button
    page.keyboard.press("Enter")
    page.wait_for_url("**/surface/?underlying=ETH")
    page.wait_for_selector("#surface-3d .main-svg")
    assert page.locator("h1 .und").inner_text() == "ETH"
    page.goto(f"{base}/surface/?underlying=NOPE")
    assert (
        "Unknown underlying “NOPE”. Choose one of: BTC, ETH."
        in page.locator("#surface-error").inner_text()
    )
