"""Rotating FIELD_ENCRYPTION_KEYS: after `reencrypt_totp_seeds` the old key can be dropped and
every user still signs in with the authenticator app they already have."""

from __future__ import annotations

import io

import pyotp
import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import override_settings

from apps.accounts.models import TotpDevice
from tests.accounts.factories import device_of, make_user, sign_in

pytestmark = pytest.mark.django_db


def test_seeds_move_to_the_new_key_and_users_still_sign_in(client):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        users = [make_user(f"user{i}") for i in range(3)]
        # What each person's authenticator app holds, captured before the rotation.
        apps_seeds = {u.pk: device_of(u).secret_base32 for u in users}
        before = {u.pk: device_of(u).encrypted_key for u in users}
    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        out = io.StringIO()
        call_command("reencrypt_totp_seeds", stdout=out)
        assert "3 user(s)" in out.getvalue()
    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):  # the old key is gone
        for user in users:
            assert device_of(user).encrypted_key != before[user.pk]
            sign_in(client, user, code=pyotp.TOTP(apps_seeds[user.pk]).now())
            client.logout()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):  # and it no longer reads them
        with pytest.raises(ValueError, match="cannot be decrypted"):
            _ = device_of(users[0]).secret_hex


def test_an_unreadable_seed_changes_nothing_and_says_which_key_is_missing():
    old, other = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        make_user("good")
    with override_settings(FIELD_ENCRYPTION_KEYS=[other]):
        make_user("bad")
    before = dict(TotpDevice.objects.values_list("pk", "encrypted_key"))
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        with pytest.raises(CommandError, match="Add the key it was encrypted with"):
            call_command("reencrypt_totp_seeds", stdout=io.StringIO())
    assert dict(TotpDevice.objects.values_list("pk", "encrypted_key")) == before
