"""Venue credentials: encrypted at rest, rotatable, write-only, never in logs or pages."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from apps.accounts.roles import Role
from apps.accounts.services.sessions import MFA_AT
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.venues.adapters.base import Credentials
from apps.venues.models import AdapterKind, TradingAccount, Venue, VenueHealth
from apps.venues.services.credentials import (
    account_ref_for,
    credentials_reencrypt_all,
    trading_account_credentials,
    trading_account_credentials_set,
)
from apps.venues.services.polling import venue_poll_positions
from config.field_encryption import FieldDecryptionError
from tests.accounts.factories import make_user, sign_in
from tests.venues.factories import make_account, make_sim_venue

pytestmark = pytest.mark.django_db

API_KEY = "dbt-client-Zq81xLp"
SECRET = "s3cr3t-Vm7Pq2Rt9Wx4Yz6Ab1Cd"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deribit"
SYSTEM = Actor.system("tests")


def raw_rows(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT t::text FROM {table} t")  # noqa: S608 - fixed table names
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_database_holds_only_ciphertext_and_the_audit_log_no_secret():
    account = make_account(make_sim_venue())
    trading_account_credentials_set(
        account=account, credentials=Credentials(API_KEY, SECRET), actor=SYSTEM
    )
    stored = raw_rows("venues_tradingaccount")
    assert API_KEY not in stored and SECRET not in stored
    account.refresh_from_db()
    assert account.credentials_ciphertext.startswith("gAAAA")  # a Fernet token
    assert trading_account_credentials(account=account) == Credentials(API_KEY, SECRET)
    event = AuditEvent.objects.get(action="venue.credentials_changed")
    assert event.details["fields"] == ["api_key", "secret"] and event.target_id == str(account.pk)
    audit = raw_rows("audit_auditevent")
    assert API_KEY not in audit and SECRET not in audit
    ref = account_ref_for(account)
    assert ref.credentials.secret == SECRET
    assert SECRET not in repr(ref) and SECRET not in repr(ref.credentials)
    assert SECRET not in str(ref.credentials)


def test_rotation_reencrypts_under_the_newest_key_and_old_keys_still_read():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    venue = make_sim_venue()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        accounts = [make_account(venue, f"ACC-{i}") for i in range(3)]
        for i, account in enumerate(accounts):
            trading_account_credentials_set(
                account=account,
                credentials=Credentials(f"{API_KEY}{i}", f"{SECRET}{i}"),
                actor=SYSTEM,
            )
        before = {
            a.pk: TradingAccount.objects.get(pk=a.pk).credentials_ciphertext for a in accounts
        }
    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        # Readable before re-encryption: every configured key decrypts.
        accounts[0].refresh_from_db()
        assert trading_account_credentials(account=accounts[0]).api_key == f"{API_KEY}0"
        out = io.StringIO()
        call_command("reencrypt_venue_credentials", stdout=out)
        assert "3 account(s)" in out.getvalue()
    for account in accounts:
        account.refresh_from_db()
        assert account.credentials_ciphertext != before[account.pk]
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):  # the old key is gone now
        for i, account in enumerate(accounts):
            assert trading_account_credentials(account=account) == Credentials(
                f"{API_KEY}{i}", f"{SECRET}{i}"
            )
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]), pytest.raises(FieldDecryptionError):
        trading_account_credentials(account=accounts[0])  # refreshed: the new ciphertext
    event = AuditEvent.objects.get(action="venue.credentials_reencrypted")
    assert event.details == {"accounts": 3}


def test_reencryption_changes_nothing_if_a_row_is_unreadable():
    old, other = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    venue = make_sim_venue()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        good, bad = make_account(venue, "GOOD"), make_account(venue, "BAD")
        trading_account_credentials_set(
            account=good, credentials=Credentials("k", "s"), actor=SYSTEM
        )
    with override_settings(FIELD_ENCRYPTION_KEYS=[other]):
        trading_account_credentials_set(
            account=bad, credentials=Credentials("k", "s"), actor=SYSTEM
        )
    good.refresh_from_db()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]), pytest.raises(FieldDecryptionError):
        credentials_reencrypt_all(actor=SYSTEM)
    assert (
        TradingAccount.objects.get(pk=good.pk).credentials_ciphertext == good.credentials_ciphertext
    )
    assert not AuditEvent.objects.filter(action="venue.credentials_reencrypted").exists()


def test_admin_credentials_are_write_only_audited_and_never_logged(client, caplog, tmp_path):
    caplog.set_level("DEBUG")
    admin = make_user("root-admin", roles=(Role.ADMIN,))
    admin.is_staff = admin.is_superuser = True
    admin.save()
    sign_in(client, admin)
    replay = tmp_path / "deribit"
    shutil.copytree(FIXTURES, replay)
    venue = Venue.objects.create(
        name="DERIBIT",
        adapter=AdapterKind.DERIBIT,
        underlyings=["BTC"],
        config={"replay_dir": str(replay)},
    )
    VenueHealth.objects.create(venue=venue)
    response = client.post(
        "/admin/venues/tradingaccount/add/",
        {
            "venue": venue.pk,
            "label": "DERIBIT-A",
            "external_id": "sub-42",
            "active": "on",
            "api_key": API_KEY,
            "api_secret": SECRET,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = TradingAccount.objects.get(label="DERIBIT-A")
    assert trading_account_credentials(account=account) == Credentials(API_KEY, SECRET)
    event = AuditEvent.objects.get(action="venue.credentials_changed")
    assert event.actor_label == "root-admin"

    # The change page never shows them again: empty password inputs and a status line.
    page = client.get(f"/admin/venues/tradingaccount/{account.pk}/change/").content.decode()
    assert API_KEY not in page and SECRET not in page
    assert "stored (encrypted)" in page
    # Saving other fields keeps them (blank inputs mean "unchanged").
    client.post(
        f"/admin/venues/tradingaccount/{account.pk}/change/",
        {
            "venue": venue.pk,
            "label": "DERIBIT-A",
            "external_id": "sub-42",
            "active": "on",
            "api_key": "",
            "api_secret": "",
        },
    )
    assert trading_account_credentials(account=account) == Credentials(API_KEY, SECRET)
    assert AuditEvent.objects.filter(action="venue.credentials_changed").count() == 1

    # The adapter signs real requests with them (ccxt logs them at DEBUG) ...
    assert venue_poll_positions(venue_id=venue.pk).ok
    assert sorted(account.positions.values_list("instrument__symbol", "size")) == [
        ("BTC-27JUN25-110000-C", 5),
        ("BTC-27JUN25-95000-P", -3),
        ("BTC-PERPETUAL", 10000),
    ]
    # ... and when the venue refuses them, the error is stored and logged, without them.
    index = json.loads((replay / "index.json").read_text())
    for entry in index["responses"]:
        if entry["path"].endswith("get_positions"):
            entry.update(status=401, file="private/error_invalid_credentials.json")
    (replay / "index.json").write_text(json.dumps(index))
    from apps.venues.adapters.registry import adapters_forget

    adapters_forget()
    outcome = venue_poll_positions(venue_id=venue.pk)
    assert not outcome.ok and "invalid_credentials" in outcome.error
    health = VenueHealth.objects.get(venue=venue)
    assert "invalid_credentials" in health.last_error
    for text in (caplog.text, health.last_error, outcome.error, raw_rows("audit_auditevent")):
        assert API_KEY not in text and SECRET not in text
    assert "/api/v2/private/get_positions" in caplog.text  # the requests were logged


def test_changing_credentials_in_the_admin_needs_a_recent_second_factor(client, settings):
    admin = make_user("root-admin", roles=(Role.ADMIN,))
    admin.is_staff = admin.is_superuser = True
    admin.save()
    sign_in(client, admin)
    session = client.session
    session[MFA_AT] = time.time() - settings.MFA_STEP_UP_SECONDS - 1
    session.save()
    venue = make_sim_venue()
    account = make_account(venue, "SIM-A")
    form = {"venue": venue.pk, "label": "SIM-A", "external_id": "sim-a", "active": "on"}
    response = client.post(
        f"/admin/venues/tradingaccount/{account.pk}/change/",
        {**form, "api_key": API_KEY, "api_secret": SECRET},
    )
    assert response.status_code == 200  # the form again, with the reason
    html = response.content.decode()
    assert "needs a recent second-factor check" in html and "/accounts/step-up/?next=" in html
    assert SECRET not in html and API_KEY not in html
    account.refresh_from_db()
    assert not account.has_credentials
    # Other fields still save without a step-up.
    response = client.post(
        f"/admin/venues/tradingaccount/{account.pk}/change/", {**form, "external_id": "sim-a2"}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.external_id == "sim-a2"


def test_the_operator_command_reads_secrets_from_stdin_not_argv(caplog, monkeypatch):
    caplog.set_level("DEBUG")
    account = make_account(make_sim_venue(), "DESK-1")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{API_KEY}\n{SECRET}\n"))
    out = io.StringIO()
    call_command("set_venue_credentials", "DESK-1", "--operator", "ops-alice", stdout=out)
    account.refresh_from_db()
    assert trading_account_credentials(account=account) == Credentials(API_KEY, SECRET)
    assert SECRET not in out.getvalue() and API_KEY not in out.getvalue()
    assert SECRET not in caplog.text and API_KEY not in caplog.text
    call_command(
        "set_venue_credentials", "DESK-1", "--clear", "--operator", "ops-alice", stdout=out
    )
    account.refresh_from_db()
    assert not account.has_credentials
    labels = list(AuditEvent.objects.values_list("actor_label", flat=True))
    assert labels == ["manage.py set_venue_credentials by ops-alice"] * 2
