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
