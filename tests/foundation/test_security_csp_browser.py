"""The Content-Security-Policy in Chromium: a desk user (admin + risk manager, TOTP) signs in
and opens every page; a new user goes through MFA enrolment. Every HTML page carries the
policy, no page triggers a ``securitypolicyviolation`` event or a console error or warning,
the live websocket connects and the plotly charts (3D surface, smiles, heatmaps) draw, all
without 'unsafe-inline' or 'unsafe-eval'. A planted inline script is blocked and reported,
which proves the collector would see a violation."""

from __future__ import annotations

import re

import pytest

from apps.accounts.roles import Role
from apps.risk.demo import risk_seed_demo
from apps.risk.services.evaluation import risk_evaluate
from apps.venues.demo import venues_seed_demo
from apps.venues.models import Venue
from apps.venues.services.polling import venue_poll_chain
from tests.accounts.factories import PASSWORD, make_user
from tests.apikeys.factories import issue
from tests.breakers.factories import trip
from tests.dashboard.conftest import roles_and_redis  # noqa: F401 (a fixture)
from tests.support.auth import browser_sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Recorded in the page before any of its own scripts run; reported to Python through a
# binding, so violations on a page that navigates away are not lost.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__reportCsp([location.pathname, e.violatedDirective, e.blockedURI,
                      e.sourceFile || "", String(e.lineNumber || "")].join(" | "));
});
"""

# Performance hints from Chromium's software GL under headless, about plotly's own canvas
# reads: not errors, and not about the policy.
BROWSER_NOISE = re.compile(r"GL Driver Message .*GPU stall|willReadFrequently")


class PageWatch:
    """Everything the browser says about CSP while a context is open."""

    def __init__(self, context) -> None:
        self.violations: list[str] = []
        self.console: list[str] = []
        self.policies: dict[str, str | None] = {}
        context.expose_function("__reportCsp", lambda text: self.violations.append(text))
        context.add_init_script(REPORT_VIOLATIONS)

    def attach(self, page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        page.on("response", self._on_response)

    def _on_console(self, message) -> None:
        if message.type not in ("error", "warning") or BROWSER_NOISE.search(message.text):
            return
        if message.location.get("url", "").endswith("/favicon.ico"):
            return  # we serve no favicon; the browser asks anyway
        self.console.append(f"{message.type}: {message.text} @ {message.location}")

    def _on_response(self, response) -> None:
        if response.request.resource_type == "document":
            path = re.sub(r"^https?://[^/]+", "", response.url)
            self.policies[path] = response.headers.get("content-security-policy")


@pytest.fixture
def desk(roles_and_redis):  # noqa: F811 (the imported fixture)
    """Demo venue SIM with a polled BTC chain, risk evaluated, a tripped breaker and a key."""
    user = make_user("dora", roles=(Role.ADMIN, Role.RISK_MANAGER))
    venues_seed_demo(trader_username=user.username)
    venue = Venue.objects.get(name="SIM")
    assert venue_poll_chain(venue_id=venue.pk).ok
    risk_seed_demo()
    assert risk_evaluate() is not None
    breaker = trip("account", "SIM-A", reason="csp test").breaker
    key = issue(owner=user, name="csp-bot").api_key
    return user, breaker, key


def _visit(page, url: str, *, wait_for: str | None = None, live: bool = False) -> None:
    page.goto(url)
    if wait_for:
        page.wait_for_selector(wait_for, timeout=20_000)
    if live:  # the websocket connected (connect-src)
        page.locator("#live-status[data-state='live']").wait_for(timeout=15_000)


def test_every_page_runs_under_the_policy_without_a_violation(
    desk, live_server_process, browser, artifacts_dir
):
    user, breaker, key = desk
    base = live_server_process.base_url
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    watch = PageWatch(context)
    page = context.new_page()
    watch.attach(page)
    try:
        browser_sign_in(page, base, user)  # the login and code pages
        _visit(page, f"{base}/overview/", live=True)
        _visit(page, f"{base}/surface/?underlying=BTC", wait_for="#surface-3d svg.main-svg")
        page.wait_for_selector("#smiles svg.main-svg .scatterlayer .trace")
        # The 3D scene really drew into WebGL (the part of plotly.js that might want eval).
        assert page.evaluate(
            "Boolean(document.querySelector('#surface-3d .gl-container canvas'))"
        ), "the 3D surface has no WebGL canvas"
        _visit(page, f"{base}/positions/", wait_for="figure.scenario svg.main-svg .heatmaplayer")
        _visit(page, f"{base}/market/")
        _visit(page, f"{base}/risk/")
        _visit(page, f"{base}/risk/limits/new/")
        _visit(page, f"{base}/breakers/", live=True)
        _visit(page, f"{base}/breakers/{breaker.pk}/")
        _visit(page, f"{base}/audit/")
        _visit(page, f"{base}/accounts/users/")
        _visit(page, f"{base}/accounts/users/new/")
        _visit(page, f"{base}/accounts/users/{user.pk}/")
        _visit(page, f"{base}/accounts/password/")
        _visit(page, f"{base}/keys/")
        _visit(page, f"{base}/keys/{key.key_id}/")
        # The API docs: Swagger UI from drf-spectacular-sidecar, its start-up script a file.
        _visit(page, f"{base}/api/docs/", wait_for=".swagger-ui .opblock")
        # Issue a key through the form: the shown-once page runs static/js/copy.js.
        _visit(page, f"{base}/keys/new/")
        page.get_by_label("Name").fill("csp-bot-2")
        page.get_by_label("Owner").select_option(label=user.username)
        page.get_by_label("market:read").check()
        page.get_by_role("button", name="Issue key").click()
        page.wait_for_selector("#new-key")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page.locator("#copy-key").click()
        page.locator("#copy-status", has_text=re.compile(r"\w")).wait_for()
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/accounts/login/")

        # A new user's forced MFA enrolment (QR code drawn as inline SVG).
        make_user("nina", roles=(Role.TRADER,), totp=False)
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Username").fill("nina")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/accounts/login/enrol/")
        assert page.locator("svg.qr").is_visible()

        page.screenshot(path=str(artifacts_dir / "security-csp-last-page.png"))
        assert watch.violations == [], "\n".join(watch.violations)
        assert watch.console == [], "\n".join(watch.console)
        missing = sorted(path for path, policy in watch.policies.items() if not policy)
        assert missing == [], f"HTML pages without a Content-Security-Policy: {missing}"
        visited = set(watch.policies)
        assert len(visited) >= 18, sorted(visited)
        for policy in set(watch.policies.values()):
            assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy

        # The collector works: a script planted in the DOM is refused and reported.
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.__planted = true'; document.body.appendChild(s); }"
        )
        for _ in range(50):  # the report reaches Python through the binding, shortly
            if watch.violations:
                break
            page.wait_for_timeout(100)
        assert page.evaluate("window.__planted === undefined")
        assert any("script-src" in v for v in watch.violations), watch.violations
    finally:
        context.close()
