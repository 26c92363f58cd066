"""Fixtures for the fault tests (real processes; faults injected at the network or venue edge)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from tests.support.servers import test_database_url
from tests.support.tcp_proxy import TcpProxy


@dataclass(frozen=True)
class ProxiedPostgres:
    proxy: TcpProxy
    database_url: str  # the test database, through the proxy: give it to the server processes


def _postgres_upstream() -> tuple[str, int] | str:
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    port = int(db.get("PORT") or 5432)
    if host.startswith("/"):  # the embedded server listens on a Unix socket only
        return f"{host}/.s.PGSQL.{port}"
    return (host, port)


@pytest.fixture(scope="module")
def postgres_via_proxy(django_db_setup, django_db_blocker) -> Iterator[ProxiedPostgres]:
    """A fault-injecting proxy in front of the test database's PostgreSQL. The shared server is
    never touched: only processes given ``database_url`` lose it on ``proxy.cut()``; the test
    process itself keeps its direct connection."""
    with TcpProxy(_postgres_upstream()) as proxy:
        parts = urlsplit(test_database_url())
        userinfo = parts.netloc.rpartition("@")[0]
        host = f"127.0.0.1:{proxy.port}"
        url = urlunsplit(parts._replace(netloc=f"{userinfo}@{host}" if userinfo else host))
        yield ProxiedPostgres(proxy, url)
