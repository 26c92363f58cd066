"""A leaked dump or log never yields a usable key."""

import logging

import pytest
from django.core.management import call_command
from django.db import connection

from apps.apikeys import keyformat
from tests.apikeys.factories import UserFactory, issue

pytestmark = pytest.mark.django_db


def _dump(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t::text FROM {table} AS t")  # noqa: S608 - fixed table names
        return "\n".join(row[0] for row in cursor.fetchall())


def test_tables_and_logs_never_hold_the_secret(caplog, capsys, redis_client):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    connection.force_debug_cursor = True  # log every SQL statement with its parameters
    try:
        issued = issue(scopes=["orders:write"])
        UserFactory(username="ops")
        call_command("issue_key", owner="ops", name="cli bot", scopes=["market:read"])
        cli_key = capsys.readouterr().out.strip().splitlines()[-1]
    finally:
        connection.force_debug_cursor = False

    assert keyformat.parse(cli_key) is not None  # the command printed a real key, last
    for plaintext in (issued.plaintext, cli_key):
        secret = keyformat.parse(plaintext).secret
        for table in ("apikeys_apikey", "audit_auditevent"):
            assert secret not in _dump(table), f"secret found in {table}"
        assert secret not in caplog.text
        assert secret not in repr(issued)
    assert "apikeys_apikey" in caplog.text  # the SQL log was really captured
