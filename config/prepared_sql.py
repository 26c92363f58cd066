"""Server-side prepared statements through a Django cursor, for the few hot statements that are
written by hand (the order path, the API-key lookup, the simulated venue's placements).

Django opens psycopg connections with preparation off (``prepare_threshold``), for
transaction-mode poolers such as PgBouncer, which we do not use. :func:`prepared_cursor` allows
explicit preparation on the connection and prepares every statement run through it, so
PostgreSQL plans each once per pooled connection instead of on every call (planning the
gateway's account query took ~0.45 ms of server CPU, running it ~0.06 ms). Everything else is
bound client-side as before. It is a Django cursor: errors become ``django.db`` errors, and
queries are logged and captured as usual.
"""

from __future__ import annotations

import sys

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.postgresql.base import CursorDebugWrapper

__all__ = ["prepared_cursor"]

_EXPLICIT_ONLY = sys.maxsize


class _PreparedCursor(psycopg.Cursor):
    """psycopg's server-side binding cursor, preparing every statement it runs (psycopg keeps
    the ``prepared_max`` most recent per connection and deallocates the rest)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(
            query, params, prepare=True if prepare is None else prepare, binary=binary
        )


class _DebugCursor(CursorDebugWrapper):
    """Django's debug cursor (DEBUG, CaptureQueriesContext), logging the statement with its
    parameters inlined: for a prepared statement psycopg keeps only the ``$1`` form."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params), params):
            return self._execute_with_wrappers(sql, params, many=False, executor=self._execute)


def prepared_cursor():
    """A Django cursor on the current connection whose statements are prepared (see the
    module docstring); use as ``with cursor() as c:``."""
    # Resolved once: every attribute read through ``django.db.connection`` goes through the
    # connection handler's context-local lookup (~2-5 us each, seven per cursor).
    connection = connections[DEFAULT_DB_ALIAS]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    pg = connection.connection
    if pg.prepare_threshold is None:
        # Django opens connections with preparation off. Allow explicit preparation only (the
        # statements of this module); automatic preparation after N uses stays off, and
        # Django's own client-side binding cursors never prepare anything.
        pg.prepare_threshold = _EXPLICIT_ONLY
    with connection.wrap_database_errors:
        raw = _PreparedCursor(pg)
    connection.validate_thread_sharing()
    if connection.queries_logged:
        return _DebugCursor(raw, connection)
    return connection.make_cursor(raw)
