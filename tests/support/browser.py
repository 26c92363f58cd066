"""Headless Chromium through Playwright, using Debian's chromium (no browser download)."""

from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",  # the machine has no internet; avoid refused lookups
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SKIP_REASON = (
    "Chromium not found: install Debian's chromium (apt-get install chromium) or set "
    "CHROMIUM_PATH to run the browser tests"
)


def chromium_path() -> str | None:
    candidates = [os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def docs_screenshot(page, name: str) -> None:
    """Save a full-page screenshot as docs/screenshots/<name>.png (referenced from the README,
    so the browser tests keep it current) and as test-artifacts/dashboard-<name>.png."""
    from tests.support.servers import ARTIFACTS, ROOT

    screenshots = ROOT / "docs" / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)
