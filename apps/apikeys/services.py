"""Issuing, rotating, revoking and authenticating API keys.

Every mutating service runs in one transaction and writes its audit event in it. The
plaintext key exists only in the ``IssuedKey`` returned by ``key_issue``/``key_rotate``.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, cast

import redis
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Model, Q
from django.http import HttpRequest
from django.utils import timezone

from apps.apikeys import hashing, keyformat
from apps.apikeys.conf import (
    default_expiry_days,
    last_used_write_interval_seconds,
    max_expiry_days,
    max_rotation_grace_seconds,
    peppers,
)
from apps.apikeys.models import ApiKey, validate_network
from apps.apikeys.ratelimit import shared_client
from apps.apikeys.scopes import ALL_SCOPES
from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from config.model_sql import columns
from config.prepared_sql import prepared_cursor

if TYPE_CHECKING:
    from apps.accounts.models import User


@dataclass(frozen=True)
class IssuedKey:
    """The one and only time the plaintext exists outside the bot that will hold it."""

    api_key: ApiKey
    plaintext: str

    def __repr__(self) -> str:  # never let the secret reach a log through repr()
        return f"IssuedKey(key_id={self.api_key.key_id!r}, plaintext=<hidden>)"


def _clean_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValidationError({"scopes": f"unknown scopes: {', '.join(unknown)}"})
    if not scopes:
        raise ValidationError({"scopes": "choose at least one scope"})
    return sorted(set(scopes))


def _clean_networks(networks: list[str]) -> list[str]:
    cleaned = []
    for raw in networks:
        raw = raw.strip()
        if not raw:
            continue
        try:
            validate_network(raw)
        except ValidationError as exc:
            raise ValidationError({"allowed_networks": exc.messages}) from None
        cleaned.append(str(ipaddress.ip_network(raw, strict=False)))
    return cleaned


def _resolve_accounts(accounts: list) -> list:
    """Trading accounts by label (or instance); unknown labels are an error, never ignored."""
    from apps.venues.models import TradingAccount

    labels = sorted(
        {a.label if isinstance(a, TradingAccount) else str(a).strip() for a in accounts}
    )
    found = list(TradingAccount.objects.filter(label__in=labels, active=True))
    missing = sorted(set(labels) - {a.label for a in found})
    if missing:
        raise ValidationError(
            {"accounts": f"unknown or inactive trading accounts: {', '.join(missing)}"}
        )
    return found


def _clean_expiry(expires_at: datetime | None, now: datetime) -> datetime:
    if expires_at is None:
        return now + timedelta(days=default_expiry_days())
    if expires_at <= now:
        raise ValidationError({"expires_at": "expiry must be in the future"})
    if expires_at > now + timedelta(days=max_expiry_days()):
        raise ValidationError(
            {"expires_at": f"expiry may be at most {max_expiry_days()} days away"}
        )
    return expires_at


@transaction.atomic
def key_issue(
    *,
    owner: User,
    name: str,
    scopes: list[str],
    actor: User | None,
    expires_at: datetime | None = None,
    allowed_networks: list[str] | None = None,
    rate_per_second: float = 10.0,
    burst: int = 20,
    accounts: list[str] | None = None,
    request: HttpRequest | None = None,
) -> IssuedKey:
    """Create a key and return its plaintext once. ``actor`` is the user issuing it."""
    now = timezone.now()
    trading_accounts = _resolve_accounts(accounts or [])
    if not name.strip():
        raise ValidationError({"name": "give the key a name"})
    if rate_per_second <= 0 or burst < 1:
        raise ValidationError({"rate_per_second": "rate and burst must be positive"})
    key_id, secret = keyformat.new_key_id(), keyformat.new_secret()
    pepper_id, secret_digest = hashing.digest(key_id=key_id, secret=secret)
    api_key = ApiKey.objects.create(
        key_id=key_id,
        name=name.strip(),
        owner=owner,
        created_by=actor,
        created_at=now,
        secret_digest=secret_digest,
        pepper_id=pepper_id,
        scopes=_clean_scopes(scopes),
        allowed_networks=_clean_networks(allowed_networks or []),
        expires_at=_clean_expiry(expires_at, now),
        rate_per_second=rate_per_second,
        burst=burst,
    )
    api_key.trading_accounts.set(trading_accounts)
    audit_record(
        action=AuditAction.KEY_ISSUED,
        actor=Actor.user(actor) if actor else Actor.system("issue_key"),
        target=api_key,
        details={
            "key_id": key_id,
            "name": api_key.name,
            "owner": owner.get_username(),
            "scopes": api_key.scopes,
            "accounts": sorted(a.label for a in trading_accounts),
            "allowed_networks": api_key.allowed_networks,
            "expires_at": api_key.expires_at.isoformat(),
            "rate_per_second": rate_per_second,
            "burst": burst,
        },
        request=request,
    )
    return IssuedKey(api_key=api_key, plaintext=keyformat.assemble(key_id, secret))


@transaction.atomic
def key_rotate(
    *,
    api_key: ApiKey,
    actor: User | None,
    grace_seconds: int = 0,
    request: HttpRequest | None = None,
) -> IssuedKey:
    """Give the key a new secret; the old one keeps working for ``grace_seconds`` (0 to 24 h)."""
    if not 0 <= grace_seconds <= max_rotation_grace_seconds():
        raise ValidationError({"grace_seconds": "grace period must be between 0 and 24 hours"})
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.is_revoked:
        raise ValidationError("a revoked key cannot be rotated")
    now = timezone.now()
    secret = keyformat.new_secret()
    pepper_id, secret_digest = hashing.digest(key_id=locked.key_id, secret=secret)
    if grace_seconds:
        locked.previous_secret_digest = locked.secret_digest
        locked.previous_pepper_id = locked.pepper_id
        locked.previous_valid_until = now + timedelta(seconds=grace_seconds)
    else:
        locked.previous_secret_digest, locked.previous_pepper_id = "", ""
        locked.previous_valid_until = None
    locked.secret_digest, locked.pepper_id, locked.rotated_at = secret_digest, pepper_id, now
    locked.save()
    audit_record(
        action=AuditAction.KEY_ROTATED,
        actor=Actor.user(actor) if actor else Actor.system("rotate_key"),
        target=locked,
        details={"key_id": locked.key_id, "grace_seconds": grace_seconds},
        request=request,
    )
    return IssuedKey(api_key=locked, plaintext=keyformat.assemble(locked.key_id, secret))


@transaction.atomic
def key_revoke(
    *,
    api_key: ApiKey,
    actor: User | None,
    reason: str,
    request: HttpRequest | None = None,
    system: str = "",
) -> ApiKey:
    """Revoke at once, everywhere (every request re-reads the key). Idempotent."""
    if not reason.strip():
        raise ValidationError({"reason": "say why the key is revoked"})
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.is_revoked:
        return locked
    locked.revoked_at = timezone.now()
    locked.revoked_by = actor
    locked.revoke_reason = reason.strip()
    locked.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    audit_record(
        action=AuditAction.KEY_REVOKED,
        actor=Actor.user(actor) if actor else Actor.system(system or "revoke_key"),
        target=locked,
        details={"key_id": locked.key_id, "reason": locked.revoke_reason},
        request=request,
    )
    return locked


def keys_revoke_for_owner(
    *, owner: User, actor: User | None, reason: str, request: HttpRequest | None = None
) -> int:
    """Revoke every live key a user owns (called when the user is deactivated)."""
    count = 0
    for api_key in ApiKey.objects.filter(owner=owner, revoked_at__isnull=True):
        key_revoke(
            api_key=api_key, actor=actor, reason=reason, request=request, system="user_deactivated"
        )
        count += 1
    return count


# --- Authentication ---------------------------------------------------------------------------


class KeyRejection(Enum):
    """Why a presented key was refused, in the fixed order the checks run."""

    MALFORMED = ("invalid_key", 401)
    UNKNOWN = ("invalid_key", 401)  # same code as a wrong secret: no key enumeration
    WRONG_SECRET = ("invalid_key", 401)
    REVOKED = ("key_revoked", 401)
    EXPIRED = ("key_expired", 401)
    IP_NOT_ALLOWED = ("ip_not_allowed", 403)

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]


class KeyRejected(Exception):
    def __init__(self, reason: KeyRejection, api_key: ApiKey | None = None) -> None:
        super().__init__(reason.code)
        self.reason = reason
        self.api_key = api_key


def _ip_allowed(api_key: ApiKey, client_ip: str | None) -> bool:
    if not api_key.allowed_networks:
        return True
    if not client_ip:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(
        address in ipaddress.ip_network(net, strict=False) for net in api_key.allowed_networks
    )


def _which_secret_matches(api_key: ApiKey, secret: str, now: datetime) -> str | None:
    """'current', 'previous' (inside a rotation grace period) or None."""
    if hashing.matches(
        key_id=api_key.key_id,
        secret=secret,
        pepper_id=api_key.pepper_id,
        stored_digest=api_key.secret_digest,
    ):
        return "current"
    in_grace = api_key.previous_valid_until is not None and now < api_key.previous_valid_until
    if in_grace and hashing.matches(
        key_id=api_key.key_id,
        secret=secret,
        pepper_id=api_key.previous_pepper_id,
        stored_digest=api_key.previous_secret_digest,
    ):
        return "previous"
    return None


@functools.cache
def _lookup_sql() -> str:
    """SELECT of a key with its owner (what ``select_related("owner")`` reads), written once
    per process: compiling that queryset cost ~10 times running the statement itself."""
    qn = connection.ops.quote_name
    owner_field = ApiKey._meta.get_field("owner")
    owner_model = _owner_model()
    return (
        f"SELECT {columns(ApiKey, 'k').sql}, {columns(owner_model, 'u').sql} "  # noqa: S608  # nosec B608  # names from model metadata, values bound as parameters
        f"FROM {qn(ApiKey._meta.db_table)} k "
        f"JOIN {qn(owner_model._meta.db_table)} u "
        f"ON u.{qn(owner_model._meta.pk.column)} = k.{qn(owner_field.column)} "
        f"WHERE k.{qn(ApiKey._meta.get_field('key_id').column)} = %s"
    )


def _owner_model() -> type[Model]:
    # A resolved model class: the owner foreign key names AUTH_USER_MODEL, never "self".
    return cast("type[Model]", ApiKey._meta.get_field("owner").related_model)


def _key_with_owner(key_id: str) -> ApiKey | None:
    """The key (with its owner loaded) by its public id, or None. One indexed query."""
    with prepared_cursor() as cursor:
        cursor.execute(_lookup_sql(), [key_id])
        row = cursor.fetchone()
    if row is None:
        return None
    key_columns = columns(ApiKey, "k")
    api_key = key_columns.build(row)
    owner = columns(_owner_model(), "u").build(row, key_columns.width)
    ApiKey._meta.get_field("owner").set_cached_value(api_key, owner)
    return api_key


def key_authenticate(*, presented: str, client_ip: str | None) -> ApiKey:
    """Check a presented key: format/checksum → lookup → digest → revoked → expired → IP.

    One indexed query per call and no per-process cache, so a revocation committed anywhere
    is seen by the very next request in every process. Raises ``KeyRejected``.
    """
    parsed = keyformat.parse(presented)
    if parsed is None:
        raise KeyRejected(KeyRejection.MALFORMED)  # before any database query
    api_key = _key_with_owner(parsed.key_id)
    if api_key is None:
        hashing.burn_equal_time(parsed.secret)
        raise KeyRejected(KeyRejection.UNKNOWN)
    now = timezone.now()
    matched = _which_secret_matches(api_key, parsed.secret, now)
    if matched is None:
        raise KeyRejected(KeyRejection.WRONG_SECRET)
    if api_key.is_revoked or not api_key.owner.is_active:
        # An inactive owner's keys are revoked by user_deactivate; this is the belt to those braces.
        raise KeyRejected(KeyRejection.REVOKED, api_key)
    if api_key.is_expired(now):
        _audit_rejected_use(api_key, AuditAction.KEY_EXPIRED_USE, client_ip)
        raise KeyRejected(KeyRejection.EXPIRED, api_key)
    if not _ip_allowed(api_key, client_ip):
        _audit_rejected_use(api_key, AuditAction.KEY_IP_DENIED, client_ip)
        raise KeyRejected(KeyRejection.IP_NOT_ALLOWED, api_key)
    _touch_last_used(api_key, client_ip, now)
    if matched == "current":
        _upgrade_pepper(api_key, parsed.secret)
    return api_key


def _audit_rejected_use(api_key: ApiKey, action: AuditAction, client_ip: str | None) -> None:
    """Audit a refused use once a minute per key and reason, so a bot retrying in a loop
    cannot flood the log or queue every request on the audit chain lock."""
    if not _first_in_window(f"audit:{action.value}:{api_key.key_id}", seconds=60):
        return
    with transaction.atomic():
        audit_record(
            action=action,
            actor=Actor.api_key(api_key.key_id, api_key.name),
            target=api_key,
            details={"key_id": api_key.key_id, "client_ip": client_ip or ""},
        )


def _first_in_window(marker: str, *, seconds: int) -> bool:
    try:
        return bool(shared_client().set(marker, 1, nx=True, ex=seconds))
    except redis.RedisError:
        return True  # without Redis, over-auditing beats losing the event


def _touch_last_used(api_key: ApiKey, client_ip: str | None, now: datetime) -> None:
    """Write last_used at most once a minute per key (the guard is in the UPDATE itself)."""
    interval = timedelta(seconds=last_used_write_interval_seconds())
    if api_key.last_used_at is not None and now - api_key.last_used_at < interval:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - interval)
    ApiKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now, last_used_ip=client_ip)
    api_key.last_used_at, api_key.last_used_ip = now, client_ip


def _upgrade_pepper(api_key: ApiKey, secret: str) -> None:
    """After a pepper rotation, re-digest a key under the current pepper on its next use."""
    current = peppers().current_id
    if api_key.pepper_id == current:
        return
    pepper_id, new_digest = hashing.digest(key_id=api_key.key_id, secret=secret)
    ApiKey.objects.filter(pk=api_key.pk, pepper_id=api_key.pepper_id).update(
        pepper_id=pepper_id, secret_digest=new_digest
    )
