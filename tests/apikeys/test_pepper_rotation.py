"""Rotating API-key peppers as docs/operations.md describes it: add the new pepper first, keys
move to it on their next use, unused keys keep working on the old one, and dropping the old
pepper refuses exactly the keys still digested with it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import override_settings

from apps.apikeys.conf import peppers
from apps.apikeys.models import ApiKey
from apps.apikeys.services import KeyRejected, key_authenticate
from tests.apikeys.factories import issue

pytestmark = pytest.mark.django_db

P1 = f"p1:{secrets.token_urlsafe(32)}"
P2 = f"p2:{secrets.token_urlsafe(32)}"


@contextmanager
def peppers_set(*entries: str) -> Iterator[None]:
    """API_KEY_PEPPERS as after a restart with ``entries`` (the parsed list is cached)."""
    with override_settings(API_KEY_PEPPERS=list(entries)):
        peppers.cache_clear()
        try:
            yield
        finally:
            peppers.cache_clear()


def stored(key_id: str) -> tuple[str, str]:
    row = ApiKey.objects.get(key_id=key_id)
    return row.pepper_id, row.secret_digest


def test_a_rotation_moves_used_keys_to_the_new_pepper_and_dropping_the_old_refuses_the_rest():
    with peppers_set(P1):
        used, unused = issue(name="active bot"), issue(name="idle bot")
    assert stored(used.api_key.key_id)[0] == stored(unused.api_key.key_id)[0] == "p1"
    old_digest = stored(used.api_key.key_id)[1]

    # Step 1: the new pepper first, the old one still listed. Both keys work; the one used is
    # re-digested under p2 (its plaintext is at hand only now), the idle one stays on p1.
    with peppers_set(P2, P1):
        assert key_authenticate(presented=used.plaintext, client_ip="127.0.0.1").pk
        pepper_id, new_digest = stored(used.api_key.key_id)
        assert pepper_id == "p2" and new_digest != old_digest
        assert stored(unused.api_key.key_id)[0] == "p1"
        assert key_authenticate(presented=used.plaintext, client_ip="127.0.0.1").pk
        assert key_authenticate(presented=unused.plaintext, client_ip="127.0.0.1").pk
        assert stored(unused.api_key.key_id)[0] == "p2"  # used now, so moved as well
        late = issue(name="late bot")  # issued during the rotation: the new pepper
        assert stored(late.api_key.key_id)[0] == "p2"

    # Step 3: the old pepper dropped. Every key moved over keeps working.
    with peppers_set(P2):
        for issued in (used, unused, late):
            assert key_authenticate(presented=issued.plaintext, client_ip="127.0.0.1").pk


def test_a_key_still_on_a_dropped_pepper_answers_invalid_key():
    with peppers_set(P1):
        idle = issue(name="never used during the rotation")
    with peppers_set(P2):
        with pytest.raises(KeyRejected) as refused:
            key_authenticate(presented=idle.plaintext, client_ip="127.0.0.1")
    assert refused.value.reason.code == "invalid_key"
    assert stored(idle.api_key.key_id)[0] == "p1"  # nothing rewritten by a failed check
