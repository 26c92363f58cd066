"""Second factor: throttling, hard lock, replay, backup codes, device choice, concurrency,
secrets at rest."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import Client

from apps.accounts.models import BackupCode, TotpDevice
from apps.accounts.services.mfa import Method, Purpose, Status, mfa_verify
from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD, give_backup_codes, make_user, totp_now

pytestmark = pytest.mark.django_db


def _pending(client: Client, username: str) -> None:
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response["Location"] == "/accounts/login/code/"


def _code(client: Client, code: str, method: str = "totp"):
    return client.post("/accounts/login/code/", {"method": method, "code": code})


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_correct_code_is_refused_while_throttled():
    user = make_user("alice")
    client = Client()
    _pending(client, "alice")
    first = _code(client, _wrong(totp_now(user)))
    assert first.status_code == 400
    assert "not accepted" in first.content.decode()
    refused = _code(client, totp_now(user))
    text = refused.content.decode()
    assert refused.status_code == 400
    assert "Too many wrong codes" in text and "Try again at" in text and "UTC" in text
    time.sleep(1.1)  # MFA_THROTTLE_FACTOR = 1 s after one failure
    assert _code(client, totp_now(user)).status_code == 302


def test_ten_consecutive_failures_lock_the_second_factor_and_are_audited(settings):
    settings.MFA_THROTTLE_FACTOR = 0.0001  # keep the exponential waits out of the test's way
    user = make_user("alice")
    good = totp_now(user)
    for _ in range(10):
        outcome = mfa_verify(
            user=user, method=Method.TOTP, token=_wrong(good), purpose=Purpose.LOGIN, request=None
        )
        time.sleep(0.06)
    assert outcome.status is Status.LOCKED
    # Locked: the right code does not help.
    outcome = mfa_verify(
        user=user, method=Method.TOTP, token=good, purpose=Purpose.LOGIN, request=None
    )
    assert outcome.status is Status.LOCKED and outcome.retry_at is not None
    assert AuditEvent.objects.filter(action=AuditAction.MFA_FAILED).count() == 10
    locked = AuditEvent.objects.get(action=AuditAction.MFA_LOCKED)
    assert locked.target_id == str(user.pk)
    client = Client()
    _pending(client, "alice")
    page = _code(client, good).content.decode()
    assert "locked after 10 wrong codes" in page and "ask an admin to reset" in page


def test_a_totp_code_cannot_be_replayed():
    user = make_user("alice")
    code = totp_now(user)
    first = mfa_verify(
        user=user, method=Method.TOTP, token=code, purpose=Purpose.LOGIN, request=None
    )
    again = mfa_verify(
        user=user, method=Method.TOTP, token=code, purpose=Purpose.LOGIN, request=None
    )
    assert first.ok and again.status is Status.INVALID


def test_a_backup_code_works_once_and_is_audited():
    user = make_user("alice")
    codes = give_backup_codes(user)
    client = Client()
    _pending(client, "alice")
    assert _code(client, codes[3], method="backup").status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.MFA_BACKUP_CODE_USED)
    assert event.details["code_count"] == 9
    client = Client()
    _pending(client, "alice")
    assert _code(client, codes[3], method="backup").status_code == 400


def test_a_code_is_checked_only_against_the_device_the_person_chose():
    user = make_user("alice")
    codes = give_backup_codes(user)
    totp = totp_now(user)
    as_backup = mfa_verify(
        user=user, method=Method.BACKUP, token=totp, purpose=Purpose.LOGIN, request=None
    )
    assert as_backup.status is Status.INVALID
    time.sleep(1.1)
    as_totp = mfa_verify(
        user=user, method=Method.TOTP, token=codes[0], purpose=Purpose.LOGIN, request=None
    )
    assert as_totp.status is Status.INVALID
    # Neither attempt consumed anything on the other device.
    time.sleep(2.1)
    assert mfa_verify(
        user=user, method=Method.BACKUP, token=codes[0], purpose=Purpose.LOGIN, request=None
    ).ok


def _race(submit, n: int = 50) -> list[Status]:
    barrier = threading.Barrier(n)
    results: list[Status] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=60)
            status = submit()
            with lock:
                results.append(status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert len(results) == n, "some submissions did not finish"
    return results


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_submissions_of_one_totp_code_give_one_success():
    user = make_user("alice")
    code = totp_now(user)
    results = _race(
        lambda: (
            mfa_verify(
                user=user, method=Method.TOTP, token=code, purpose=Purpose.LOGIN, request=None
            ).status
        )
    )
    assert results.count(Status.OK) == 1, results


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_submissions_of_one_backup_code_give_one_success():
    user = make_user("alice")
    code = give_backup_codes(user)[0]
    results = _race(
        lambda: (
            mfa_verify(
                user=user, method=Method.BACKUP, token=code, purpose=Purpose.LOGIN, request=None
            ).status
        )
    )
    assert results.count(Status.OK) == 1, results
    assert BackupCode.objects.filter(used_at__isnull=False).count() == 1


def test_device_tables_hold_no_seed_and_no_backup_code_in_clear():
    user = make_user("alice")
    codes = give_backup_codes(user)
    device = TotpDevice.objects.get(user=user)
    seed_hex = device.secret_hex
    seed_b32 = device.secret_base32
    dump = []
    with connection.cursor() as cursor:
        for table in ("accounts_totpdevice", "accounts_backupcodedevice", "accounts_backupcode"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            dump.extend(str(row) for row in cursor.fetchall())
    text = "\n".join(dump).lower()
    assert seed_hex.lower() not in text
    assert seed_b32.lower() not in text
    for code in codes:
        assert code.lower() not in text
        assert code.replace("-", "").lower() not in text
    # What is there: Fernet ciphertext and PBKDF2 hashes.
    assert device.encrypted_key.startswith("gAAAAA")
    assert all(c.code_hash.startswith("pbkdf2_sha256$") for c in BackupCode.objects.all())


def test_enrolment_keeps_one_seed_across_reloads_and_needs_a_valid_code():
    make_user("bob", totp=False)
    client = Client()
    response = client.post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert response["Location"] == "/accounts/login/enrol/"
    first = client.get("/accounts/login/enrol/").content.decode()
    second = client.get("/accounts/login/enrol/").content.decode()
    assert "<svg" in first and 'id="totp-secret"' in first
    secret = first.split('id="totp-secret" aria-label="Secret key">')[1].split("<")[0]
    assert secret in second
    assert client.post("/accounts/login/enrol/", {"code": "000000"}).status_code == 400
    time.sleep(1.1)
    import pyotp

    done = client.post("/accounts/login/enrol/", {"code": pyotp.TOTP(secret).now()})
    page = done.content.decode()
    assert done.status_code == 200 and "shown only now" in page
    assert page.count("<li><code>") == 10
    assert done["Cache-Control"].startswith("max-age=0") or "no-store" in done["Cache-Control"]
    assert AuditEvent.objects.filter(action=AuditAction.MFA_ENROLLED).count() == 1
    assert client.get("/", follow=True).status_code == 200  # "/" leads to the role's home


def test_a_user_with_a_device_cannot_enrol_another():
    make_user("alice")
    client = Client()
    _pending(client, "alice")
    response = client.get("/accounts/login/enrol/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/code/"


def test_the_code_page_without_a_password_step_sends_to_login():
    make_user("alice")
    assert Client().get("/accounts/login/code/")["Location"] == "/accounts/login/"
    assert Client().get("/accounts/login/enrol/")["Location"] == "/accounts/login/"
