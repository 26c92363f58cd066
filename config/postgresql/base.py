"""Django's PostgreSQL backend, with a pool check that recovers from a database restart at once.

``ENGINE = "config.postgresql"``. The only difference is the ``check`` given to psycopg_pool
when ``CONN_HEALTH_CHECKS`` is on. Django's (``ConnectionPool.check_connection``) tests the one
connection it is about to hand out; when that one is dead, the pool waits (1 s, then doubling,
psycopg_pool >= 3.2.1) before trying the next, so after a restart or a network cut that
killed every idle connection, the first request of each process spent its whole 2 s checkout
timeout discarding dead connections and failed with 503 although the database was back
(tests/faults/test_database_outage.py). Here the first dead connection found makes the pool
check all its idle connections at once (``ConnectionPool.check()``: dead ones are replaced,
good ones kept), so the retry after the pool's pause finds a working one.

Django 5.2 always passes ``check`` itself, so it cannot be set in ``OPTIONS["pool"]``; newer
Django accepts it there (ticket #37075), which will make this module unnecessary.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base as postgresql
from psycopg_pool import ConnectionPool

__all__ = ["DatabaseWrapper"]


def _check_or_purge(pool: ConnectionPool, conn: Any) -> None:
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pool.check()  # the others went down with it, most likely: replace them all now
        raise


class DatabaseWrapper(postgresql.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not options:
            return None
        if self.alias not in self._connection_pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            kwargs = self.get_connection_params()
            kwargs["autocommit"] = True  # as Django does; it sets the mode itself later
            pool: ConnectionPool = ConnectionPool(
                kwargs=kwargs,
                open=False,
                configure=self._configure_connection,
                check=(lambda conn: _check_or_purge(pool, conn))
                if self.settings_dict["CONN_HEALTH_CHECKS"]
                else None,
                **({} if options is True else options),
            )
            self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]
