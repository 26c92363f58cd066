"""Serve plotly.js from the ``plotly`` Python package as the static file ``vendor/plotly.min.js``.

The pages draw Python-built figures with plotly.js from our own origin (no CDN). Rather than
commit a 4.8 MB copy, this finder exposes the file the installed ``plotly`` package ships, so
the browser always gets the plotly.js matching the package that built the figures, and
``collectstatic`` (docker/Dockerfile) and WhiteNoise's finder mode (tests, ``make run``) both
pick it up like any other static file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

PLOTLY_STATIC_PATH = "vendor/plotly.min.js"


def plotly_js_source() -> Path:
    """The plotly.min.js shipped inside the installed ``plotly`` package."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class PlotlyJsFinder(BaseFinder):
    """Finds exactly one file, ``vendor/plotly.min.js``; nothing else."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source = plotly_js_source()
        self.storage = FileSystemStorage(location=str(self.source.parent))
        # collectstatic and WhiteNoise put a storage's files under its ``prefix``.
        self.storage.prefix = PLOTLY_STATIC_PATH.rsplit("/", 1)[0]

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        if not self.source.is_file():
            return [
                Error(
                    f"plotly.min.js not found at {self.source}",
                    hint="Install the 'plotly' package (a project dependency).",
                    id="dashboard.E001",
                )
            ]
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str] | None:
        # ``all`` is the pre-5.2 spelling of ``find_all`` (still passed by some callers).
        find_all = bool(kwargs.get("all", find_all))
        match = [str(self.source)] if path == PLOTLY_STATIC_PATH and self.source.is_file() else []
        if find_all:
            return match
        return match[0] if match else None

    def list(self, ignore_patterns: list[str] | None) -> Iterator[tuple[str, FileSystemStorage]]:
        if self.source.is_file():
            yield self.source.name, self.storage
