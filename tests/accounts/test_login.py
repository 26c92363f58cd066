"""The password step and the sign-in flow as a person sees it."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.test import Client

from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, make_user, normalise, sign_in, totp_now

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def test_password_then_code_signs_in_with_a_new_session_id():
    user = make_user("alice")
    client = Client()
    client.get("/accounts/login/")
    response = _login(client, "alice", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/code/"
    pending_session = client.cookies["sessionid"].value
    # Password alone is not a login: every page still sends the person to sign in.
    assert client.get("/").status_code == 302
    response = client.post("/accounts/login/code/", {"method": "totp", "code": totp_now(user)})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.cookies["sessionid"].value != pending_session
    page = client.get("/", follow=True)  # "/" leads to the role's home page
    assert page.status_code == 200
    assert 'title="Change your password">alice</a>' in page.content.decode()
    assert AuditEvent.objects.filter(
        action=AuditAction.LOGIN_SUCCEEDED, actor_label="alice"
    ).exists()


def test_unknown_username_and_wrong_password_give_the_same_response():
    make_user("alice")
    missing = _login(Client(), "nobody-here", "wrong password 1")
    wrong = _login(Client(), "alice", "wrong password 1")
    assert missing.status_code == wrong.status_code == 200
    assert normalise(missing.content.decode()) == normalise(wrong.content.decode())
    assert "not accepted" in wrong.content.decode()
    assert "nobody-here" not in missing.content.decode()


def test_unknown_username_and_wrong_password_both_pay_for_one_password_hash():
    make_user("alice")
    calls = {"n": 0}
    real_encode = PBKDF2PasswordHasher.encode

    def counting_encode(self, password, salt, iterations=None):
        calls["n"] += 1
        return real_encode(self, password, salt, iterations)

    timings = {}
    for label, username in (("missing", "nobody-here"), ("wrong", "alice")):
        with mock.patch.object(PBKDF2PasswordHasher, "encode", counting_encode):
            calls["n"] = 0
            started = time.perf_counter()
            _login(Client(), username, "wrong password 2")
            timings[label] = time.perf_counter() - started
            assert calls["n"] == 1, (label, calls["n"])
    # Both are dominated by the same hash; a missing user must not answer visibly faster.
    assert timings["missing"] > 0.3 * timings["wrong"], timings


def test_lockout_after_repeated_failures_says_when_to_retry(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    make_user("alice")
    client = Client()
    for _ in range(2):
        assert _login(client, "alice", "nope nope nope").status_code == 200
    third = _login(client, "alice", "nope nope nope")
    assert third.status_code == 429
    text = third.content.decode()
    assert "paused" in text and "UTC" in text and "try again at" in text.lower()
    # Locked: even the right password is refused, with the same message.
    right = _login(client, "alice", PASSWORD)
    assert right.status_code == 429 and "paused" in right.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.LOCKED_OUT).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 3


def test_lockout_also_applies_to_unknown_usernames_identically(settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    make_user("alice")
    responses = {}
    for username in ("alice", "nobody-here"):
        client = Client()
        _login(client, username, "nope nope nope")
        responses[username] = _login(client, username, "nope nope nope")
    assert responses["alice"].status_code == responses["nobody-here"].status_code == 429


def test_lockout_expires(settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    settings.LOGIN_LOCKOUT_SECONDS = 4  # also the window in which failures add up
    user = make_user("alice")
    client = Client()
    _login(client, "alice", "nope nope nope")
    assert _login(client, "alice", "nope nope nope").status_code == 429
    time.sleep(4.2)
    sign_in(client, user)


def test_lock_is_per_address_and_ignores_a_client_supplied_forwarded_for(settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    make_user("alice")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(2):
        _login(attacker, "alice", "nope nope nope")
    # Claiming another address in X-Forwarded-For changes nothing without a trusted proxy.
    spoofed = _login(attacker, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert spoofed.status_code == 429
    # The real person elsewhere is not locked out by the attacker.
    other = _login(Client(REMOTE_ADDR="192.0.2.44"), "alice", PASSWORD)
    assert other.status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_is_used(settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("alice")
    proxy = "10.0.0.2"
    for _ in range(2):
        _login(Client(REMOTE_ADDR=proxy), "alice", "nope", HTTP_X_FORWARDED_FOR="203.0.113.9")
    # The client can prepend anything; the proxy's own (rightmost) entry decides.
    locked = _login(
        Client(REMOTE_ADDR=proxy),
        "alice",
        PASSWORD,
        HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9",
    )
    assert locked.status_code == 429
    fine = _login(Client(REMOTE_ADDR=proxy), "alice", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert fine.status_code == 302


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_parallel_guesses_cannot_exceed_the_limit(settings):
    """jazzband/django-axes#592: parallel guesses all passed the check before any failure
    was counted. Here only LOGIN_FAILURE_LIMIT guesses ever reach the password check."""
    settings.LOGIN_FAILURE_LIMIT = 5
    make_user("alice")
    attempts = 20
    barrier = threading.Barrier(attempts)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(i: int) -> None:
        try:
            client = Client()
            barrier.wait(timeout=30)
            status = _login(client, "alice", f"guess number {i}").status_code
            with lock:
                statuses.append(status)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(statuses) == attempts
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).count() == 5
    assert statuses.count(429) >= attempts - 5


def test_inactive_user_is_refused_like_a_wrong_password():
    user = make_user("alice")
    user.is_active = False
    user.save()
    inactive = _login(Client(), "alice", PASSWORD)
    wrong = _login(Client(), "nobody-here", PASSWORD)
    assert inactive.status_code == 200
    assert normalise(inactive.content.decode()) == normalise(wrong.content.decode())


def test_password_alone_cannot_sign_in_through_any_other_door():
    from django.contrib.auth import authenticate

    make_user("alice", totp=False)
    assert authenticate(username="alice", password=PASSWORD) is None
    # The admin site's own login form does not answer: it needs a verified second factor.
    response = Client().post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
