"""config/field_encryption.py: MultiFernet with rotation; derived key only in debug/tests."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from config import field_encryption
from config.field_encryption import FieldDecryptionError, FieldEncryptionNotConfigured


def test_round_trip_and_ciphertext_differs_each_time():
    a = field_encryption.encrypt("seed-123")
    b = field_encryption.encrypt("seed-123")
    assert a != b and "seed-123" not in a
    assert field_encryption.decrypt(a) == field_encryption.decrypt(b) == "seed-123"


def test_rotation_first_key_encrypts_all_keys_decrypt(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = field_encryption.encrypt("venue secret")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert field_encryption.decrypt(token) == "venue secret"
    rotated = field_encryption.reencrypt(token)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert field_encryption.decrypt(rotated) == "venue secret"
    with pytest.raises(FieldDecryptionError):
        field_encryption.decrypt(token)  # the old key is gone


def test_tampered_ciphertext_is_refused():
    token = field_encryption.encrypt("x")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(FieldDecryptionError):
        field_encryption.decrypt(tampered)


def test_without_keys_tests_derive_one_from_secret_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    token = field_encryption.encrypt("x")
    settings.SECRET_KEY = "another-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    with pytest.raises(FieldDecryptionError):
        field_encryption.decrypt(token)


def test_production_without_keys_refuses_clearly(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    settings.DEBUG = False
    settings.FIELD_ENCRYPTION_DERIVE_FROM_SECRET_KEY = False
    with pytest.raises(FieldEncryptionNotConfigured, match="FIELD_ENCRYPTION_KEYS is not set"):
        field_encryption.encrypt("x")


def test_malformed_keys_are_reported(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(FieldEncryptionNotConfigured, match="Fernet keys"):
        field_encryption.encrypt("x")


def test_system_check_refuses_production_without_keys(settings):
    from apps.accounts.checks import field_encryption_keys_configured

    assert field_encryption_keys_configured() == []  # test settings derive a key
    settings.DEBUG = False
    settings.FIELD_ENCRYPTION_DERIVE_FROM_SECRET_KEY = False
    settings.FIELD_ENCRYPTION_KEYS = []
    errors = field_encryption_keys_configured()
    assert [e.id for e in errors] == ["accounts.E001"]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    assert field_encryption_keys_configured() == []
