import pytest

from apps.accounts.roles import Role
from tests.accounts.factories import make_user
from tests.support.auth import browser_sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_visitor_is_sent_to_sign_in_and_then_sees_the_desk(
    live_server_process, page, artifacts_dir
):
    base = live_server_process.base_url
    page.goto(base + "/")
    page.wait_for_url("**/accounts/login/**")
    assert page.get_by_role("heading", name="Sign in").is_visible()
    assert page.get_by_label("Username").is_visible()
    # The stylesheet is served locally (no CDN) and applied.
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 23, 32)"
    page.screenshot(path=str(artifacts_dir / "login.png"))

    browser_sign_in(page, base, make_user("home-viewer", roles=(Role.VIEWER,)))
    page.goto(base + "/")
    assert page.locator(".brand").inner_text() == "Breakwater"
    assert "home-viewer" in page.locator(".who").inner_text()
