"""Break-glass `manage.py reset_mfa`: what an admin's reset does, from the shell, audited."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from apps.accounts.models import BackupCodeDevice, TotpDevice
from apps.audit.actions import AuditAction
from apps.audit.actors import shell_operator_name
from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, give_backup_codes, make_user, sign_in

pytestmark = pytest.mark.django_db


def test_reset_mfa_unlocks_removes_devices_ends_sessions_and_is_audited_with_the_reason():
    bob = make_user("bob")
    give_backup_codes(bob)
    phone = Client()
    sign_in(phone, bob)
    bob.mfa_failure_count, bob.mfa_locked_until = 10, timezone.now() + timedelta(hours=1)
    bob.save(update_fields=["mfa_failure_count", "mfa_locked_until"])

    out = StringIO()
    call_command("reset_mfa", "bob", "--reason", "phone lost, ticket 42", stdout=out)

    assert "MFA of bob reset" in out.getvalue()
    bob.refresh_from_db()
    assert (bob.mfa_failure_count, bob.mfa_locked_until) == (0, None)
    assert not TotpDevice.objects.filter(user=bob).exists()
    assert not BackupCodeDevice.objects.filter(user=bob).exists()
    # Signed out everywhere; the next sign-in asks for a new authenticator.
    assert phone.get("/")["Location"].startswith("/accounts/login/")
    response = Client().post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert response["Location"] == "/accounts/login/enrol/"
    event = AuditEvent.objects.get(action=AuditAction.MFA_RESET)
    assert event.actor_kind == "system"
    assert event.actor_label == f"shell:{shell_operator_name()}"
    assert (event.target_id, event.details) == (str(bob.pk), {"reason": "phone lost, ticket 42"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["nobody", "--reason", "x"], "no user 'nobody'"), (["bob", "--reason", "  "], "--reason")],
)
def test_reset_mfa_refuses_an_unknown_user_or_a_blank_reason_and_changes_nothing(argv, message):
    bob = make_user("bob")
    with pytest.raises(CommandError, match=message):
        call_command("reset_mfa", *argv)
    assert TotpDevice.objects.filter(user=bob).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.MFA_RESET).exists()
