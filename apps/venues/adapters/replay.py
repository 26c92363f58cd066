"""Recorded HTTP responses for ccxt venues: offline replay, used by the tests and demos.

A replay directory holds ``index.json`` and the response bodies it names::

    {"responses": [
      {"method": "GET", "path": "/api/v2/public/get_book_summary_by_currency",
       "params": {"currency": "BTC", "kind": "option"}, "file": "public/book_summary_BTC.json",
       "status": 200, "latency_seconds": 0.0}
    ]}

A request matches an entry when method and path are equal and every ``params`` entry equals
the request's query parameter of that name (the entry naming most parameters wins), so
volatile parameters (nonces) need not be recorded. An entry's ``latency_seconds`` longer than
the client's read timeout ends in ``requests.ReadTimeout`` after that timeout, as a slow venue
would (tests/faults/test_venue_faults.py). :class:`ReplayTransport` is a ``requests``
transport adapter mounted on the ccxt session for both ``http://`` and ``https://``: an
unrecorded request fails like a network error and nothing ever reaches the internet.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

__all__ = ["ReplayTransport", "mount_replay"]


@dataclass(frozen=True)
class _Entry:
    method: str
    path: str
    params: dict[str, str]
    file: Path
    status: int
    latency_seconds: float


def _read_timeout(timeout: Any) -> float | None:
    """The read timeout requests was given: a number, a (connect, read) pair, or None."""
    if isinstance(timeout, tuple):
        timeout = timeout[1]
    return float(timeout) if isinstance(timeout, int | float) else None


class ReplayTransport(BaseAdapter):
    """Serve recorded responses from ``directory`` (re-read on every request, so a test may
    change the recording between polls)."""

    def __init__(self, directory: Path | str) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.requests_seen: list[str] = []  # "METHOD /path" of each request, for tests

    def _entries(self) -> list[_Entry]:
        index = json.loads((self.directory / "index.json").read_text())
        return [
            _Entry(
                method=str(raw.get("method", "GET")).upper(),
                path=raw["path"],
                params={str(k): str(v) for k, v in (raw.get("params") or {}).items()},
                file=self.directory / raw["file"],
                status=int(raw.get("status", 200)),
                latency_seconds=float(raw.get("latency_seconds", 0.0)),
            )
            for raw in index["responses"]
        ]

    def match(self, method: str, url: str) -> _Entry | None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        best: _Entry | None = None
        for entry in self._entries():
            if entry.method != method.upper() or entry.path != parts.path:
                continue
            if any(query.get(k) != v for k, v in entry.params.items()):
                continue
            if best is None or len(entry.params) > len(best.params):
                best = entry
        return best

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        method = request.method or "GET"
        url = request.url or ""
        path = urlsplit(url).path
        self.requests_seen.append(f"{method} {path}")
        entry = self.match(method, url)
        if entry is None:
            # Only the path: query strings of private calls are not for error messages.
            raise requests.ConnectionError(f"replay: no recorded response for {method} {path}")
        if entry.latency_seconds:
            limit = _read_timeout(timeout)
            if limit is not None and entry.latency_seconds > limit:
                # Slower than the client waits: it times out, as over the network.
                time.sleep(limit)
                raise requests.ReadTimeout(f"replay: {method} {path} timed out after {limit:g} s")
            time.sleep(entry.latency_seconds)
        response = requests.Response()
        response.status_code = entry.status
        try:
            response.reason = HTTPStatus(entry.status).phrase
        except ValueError:
            response.reason = "Recorded"
        response._content = entry.file.read_bytes()
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response.encoding = "utf-8"
        response.url = url
        response.request = request
        return response

    def close(self) -> None:
        return None


def mount_replay(session: requests.Session, directory: Path | str) -> ReplayTransport:
    """Route every request of ``session`` to the recording in ``directory``."""
    transport = ReplayTransport(directory)
    session.mount("https://", transport)
    session.mount("http://", transport)
    return transport
