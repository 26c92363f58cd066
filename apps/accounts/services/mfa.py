"""Second factor: TOTP enrolment, verification (login, step-up), throttling, reset.

Every check of a code runs in one transaction that first locks the user's row, then the one
device the person chose (``select_for_update``), checks the throttle, checks the code and
consumes it (TOTP: ``last_t``; backup code: ``used_at``). So concurrent submissions of one
valid code give exactly one success (django-otp/django-otp#85), and a code is only ever
compared with the device the user picked (django-otp/django-otp#110).

Throttle, per user across devices: after n consecutive failures the next check is refused
(without looking at the code, so a correct one is refused too) until
``MFA_THROTTLE_FACTOR * 2**(n-1)`` seconds after the last failure. After
``MFA_FAILURE_LOCK_LIMIT`` consecutive failures the second factor is locked for
``MFA_LOCK_SECONDS`` (or until an admin resets the user's MFA), with an audit event.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.models import Device

from apps.accounts.models import BackupCodeDevice, TotpDevice, User
from apps.accounts.services.backup_codes import backup_codes_regenerate
from apps.accounts.services.login import client_ip
from apps.accounts.services.sessions import sessions_end_for_user
from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record


class Method(enum.StrEnum):
    TOTP = "totp"
    BACKUP = "backup"


class Purpose(enum.StrEnum):
    LOGIN = "login"
    STEP_UP = "step_up"
    ENROL = "enrol"


class Status(enum.StrEnum):
    OK = "ok"
    INVALID = "invalid"
    THROTTLED = "throttled"
    LOCKED = "locked"
    NO_DEVICE = "no_device"


@dataclass(frozen=True)
class MfaOutcome:
    status: Status
    device: Device | None = None
    retry_at: datetime | None = None
    backup_codes: list[str] | None = None  # only after a successful enrolment, shown once

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


def _throttled_until(user: User, now: datetime) -> tuple[Status, datetime | None]:
    if user.mfa_locked_until is not None and user.mfa_locked_until > now:
        return Status.LOCKED, user.mfa_locked_until
    if user.mfa_failure_count > 0 and user.mfa_last_failure_at is not None:
        delay = settings.MFA_THROTTLE_FACTOR * 2 ** min(user.mfa_failure_count - 1, 30)
        until = user.mfa_last_failure_at + timedelta(seconds=delay)
        if now < until:
            return Status.THROTTLED, until
    return Status.OK, None


def _record_failure(
    *, user: User, method: Method, purpose: Purpose, now: datetime, request: HttpRequest | None
) -> MfaOutcome:
    if user.mfa_locked_until is not None and user.mfa_locked_until <= now:
        user.mfa_failure_count = 0  # a lock that has run out starts a fresh count
        user.mfa_locked_until = None
    user.mfa_failure_count += 1
    user.mfa_last_failure_at = now
    locked_until: datetime | None = None
    if user.mfa_failure_count >= settings.MFA_FAILURE_LOCK_LIMIT:
        locked_until = user.mfa_locked_until = now + timedelta(seconds=settings.MFA_LOCK_SECONDS)
    user.save(update_fields=["mfa_failure_count", "mfa_last_failure_at", "mfa_locked_until"])
    details = {
        "method": method.value,
        "purpose": purpose.value,
        "consecutive_failures": user.mfa_failure_count,
        "ip": client_ip(request) if request is not None else None,
    }
    audit_record(
        action=AuditAction.MFA_FAILED,
        actor=Actor.user(user),
        target=user,
        details=details,
        request=request,
    )
    if locked_until is not None:
        audit_record(
            action=AuditAction.MFA_LOCKED,
            actor=Actor.user(user),
            target=user,
            details={**details, "locked_until": locked_until.isoformat()},
            request=request,
        )
        return MfaOutcome(Status.LOCKED, retry_at=locked_until)
    _, until = _throttled_until(user, now)
    return MfaOutcome(Status.INVALID, retry_at=until)


def _record_success(*, user: User) -> None:
    if user.mfa_failure_count or user.mfa_locked_until or user.mfa_last_failure_at:
        user.mfa_failure_count = 0
        user.mfa_last_failure_at = None
        user.mfa_locked_until = None
        user.save(update_fields=["mfa_failure_count", "mfa_last_failure_at", "mfa_locked_until"])


def mfa_user_has_device(*, user: User) -> bool:
    return TotpDevice.objects.filter(user=user, confirmed=True).exists()


def totp_enrolment_start(*, user: User) -> TotpDevice:
    """The unconfirmed TOTP device being enrolled (created once, same seed on reload).

    Raises ValueError if the user already has a confirmed device: a second factor is
    replaced only through an admin's MFA reset.
    """
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        device = TotpDevice.objects.filter(user=user).first()
        if device is not None and device.confirmed:
            raise ValueError("user already has a confirmed authenticator")
        if device is None:
            device = TotpDevice(user=user, name="Authenticator app", confirmed=False)
            device.secret_hex = secrets.token_hex(20)
            device.save()
        return device


def mfa_verify(
    *, user: User, method: Method, token: str, purpose: Purpose, request: HttpRequest | None
) -> MfaOutcome:
    """Check one code against the chosen device of ``user``, atomically, and consume it.

    Guarantees: at most one success per code; throttled or locked checks never look at the
    code; failures, lockouts, backup-code use, logins and step-ups are audited in the same
    transaction. For ``Purpose.ENROL`` the device is the unconfirmed TOTP device, which is
    confirmed on success and ten backup codes are returned (``backup_codes``), once.
    """
    now = timezone.now()
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if method is Method.TOTP:
            device: Device | None = (
                TotpDevice.objects.select_for_update()
                .filter(user=user, confirmed=purpose is not Purpose.ENROL)
                .first()
            )
        else:
            device = (
                BackupCodeDevice.objects.select_for_update()
                .filter(user=user, confirmed=True)
                .first()
                if purpose is not Purpose.ENROL
                else None
            )
        if device is None:
            return MfaOutcome(Status.NO_DEVICE)
        status, until = _throttled_until(user, now)
        if status is not Status.OK:
            return MfaOutcome(status, retry_at=until)
        if not device.verify_token(token):
            return _record_failure(
                user=user, method=method, purpose=purpose, now=now, request=request
            )

        _record_success(user=user)
        backup_codes = None
        if purpose is Purpose.ENROL:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            backup_codes = backup_codes_regenerate(user=user)
            audit_record(
                action=AuditAction.MFA_ENROLLED,
                actor=Actor.user(user),
                target=user,
                details={"device": "totp", "code_count": len(backup_codes)},
                request=request,
            )
        if method is Method.BACKUP:
            remaining = device.codes.filter(used_at__isnull=True).count()
            audit_record(
                action=AuditAction.MFA_BACKUP_CODE_USED,
                actor=Actor.user(user),
                target=user,
                details={"purpose": purpose.value, "code_count": remaining},
                request=request,
            )
        if purpose in (Purpose.LOGIN, Purpose.ENROL):
            audit_record(
                action=AuditAction.LOGIN_SUCCEEDED,
                actor=Actor.user(user),
                target=user,
                details={"method": method.value, "ip": client_ip(request) if request else None},
                request=request,
            )
        elif purpose is Purpose.STEP_UP:
            audit_record(
                action=AuditAction.MFA_STEP_UP,
                actor=Actor.user(user),
                target=user,
                details={"method": method.value},
                request=request,
            )
        return MfaOutcome(Status.OK, device=device, backup_codes=backup_codes)


def mfa_reset(
    *, user: User, actor: User | Actor, request: HttpRequest | None, reason: str = ""
) -> User:
    """Remove the user's authenticator and backup codes and end all their sessions.

    Guarantees: the user must enrol again at their next login; an MFA lock is lifted; the
    reset is audited in the same transaction (``actor`` an admin, or the shell's
    ``Actor.system("shell:<user>")`` with a ``reason``).
    """
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        TotpDevice.objects.filter(user=user).delete()
        BackupCodeDevice.objects.filter(user=user).delete()
        user.mfa_failure_count = 0
        user.mfa_last_failure_at = None
        user.mfa_locked_until = None
        user.save(update_fields=["mfa_failure_count", "mfa_last_failure_at", "mfa_locked_until"])
        sessions_end_for_user(user=user)
        audit_record(
            action=AuditAction.MFA_RESET,
            actor=actor if isinstance(actor, Actor) else Actor.user(actor),
            target=user,
            details={"reason": reason} if reason else {},
            request=request,
        )
    return user


def totp_device_provision(*, user: User) -> TotpDevice:
    """Give the user a confirmed TOTP device if they have none (demo seeding, operators).

    Idempotent: an existing confirmed device (and so the seed in someone's authenticator app)
    is kept; an unconfirmed one is confirmed.
    """
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        device = TotpDevice.objects.filter(user=user).first()
        if device is None:
            device = TotpDevice(user=user, name="Authenticator app", confirmed=True)
            device.secret_hex = secrets.token_hex(20)
            device.save()
        elif not device.confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
        return device
