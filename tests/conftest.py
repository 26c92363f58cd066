"""Shared fixtures. App-specific factories live beside their tests (tests/<app>/factories.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib
from django.conf import settings

from tests.support.browser import CHROMIUM_ARGS, SKIP_REASON, chromium_path
from tests.support.servers import ARTIFACTS, RunningServer, uvicorn_server


@pytest.fixture
def redis_client() -> Iterator[redis_lib.Redis]:
    """The test Redis database, emptied before the test (never the demo's database)."""
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def live_server_process(django_db_setup, django_db_blocker) -> Iterator[RunningServer]:
    """One real uvicorn process for the session, on the test database.

    Tests that use it must commit their data (``transactional_db``) for the server to see it.
    """
    with django_db_blocker.unblock(), uvicorn_server() as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    # bypass_csp: Playwright's wait_for_function evaluates its predicate with eval(), which
    # our Content-Security-Policy forbids, as it should. The policy itself is proved in a
    # context that does not bypass it (tests/foundation/test_security_csp_browser.py).
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
