"""Venue credentials of trading accounts: set (write-only), decrypt for adapters, re-encrypt.

Storage: one Fernet token (MultiFernet over ``settings.FIELD_ENCRYPTION_KEYS``, see
config/field_encryption.py) of a small JSON object ``{"api_key", "secret", "extra"}`` in
``TradingAccount.credentials_ciphertext``. The first key encrypts, every key decrypts;
:func:`credentials_reencrypt_all` moves every row to the first key (run it after adding a new
key in front, before removing the old one).

Secrets never leave this module except inside a :class:`Credentials` value handed to an
adapter (whose ``repr`` is redacted); audit events name the account and the fields changed,
never the values.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.venues.adapters.base import AccountRef, Credentials
from apps.venues.models import TradingAccount
from config import field_encryption

__all__ = [
    "account_ref_for",
    "credentials_reencrypt_all",
    "trading_account_credentials",
    "trading_account_credentials_set",
]


def _actor(actor: Actor | Any) -> Actor:
    return actor if isinstance(actor, Actor) else Actor.user(actor)


def trading_account_credentials_set(
    *,
    account: TradingAccount,
    credentials: Credentials | None,
    actor: Actor | Any,
    request: HttpRequest | None = None,
) -> TradingAccount:
    """Replace (or with ``None`` remove) the account's credentials, encrypted, and audit it.

    One transaction: the new ciphertext and its audit event commit together."""
    with transaction.atomic():
        account = TradingAccount.objects.select_for_update().get(pk=account.pk)
        if credentials is None:
            account.credentials_ciphertext = ""
            fields: list[str] = []
        else:
            if not credentials.api_key or not credentials.secret:
                raise ValueError("both an API key and a secret are required")
            document = {
                "api_key": credentials.api_key,
                "secret": credentials.secret,
                "extra": dict(credentials.extra),
            }
            account.credentials_ciphertext = field_encryption.encrypt(json.dumps(document))
            fields = ["api_key", "secret", *sorted(credentials.extra)]
        account.credentials_updated_at = timezone.now()
        account.save(update_fields=["credentials_ciphertext", "credentials_updated_at"])
        audit_record(
            action=AuditAction.CREDENTIALS_CHANGED,
            actor=_actor(actor),
            target=account,
            details={
                "account": account.label,
                "venue": account.venue.name,
                "change": "removed" if credentials is None else "replaced",
                "fields": fields,
            },
            request=request,
        )
    return account


def trading_account_credentials(*, account: TradingAccount) -> Credentials | None:
    """The decrypted credentials, for an adapter call only (never log or return them)."""
    if not account.credentials_ciphertext:
        return None
    document = json.loads(field_encryption.decrypt(account.credentials_ciphertext))
    return Credentials(
        api_key=document["api_key"],
        secret=document["secret"],
        extra={str(k): str(v) for k, v in (document.get("extra") or {}).items()},
    )


def account_ref_for(account: TradingAccount) -> AccountRef:
    """What an adapter needs to act for ``account``."""
    return AccountRef(
        external_id=account.external_id,
        label=account.label,
        credentials=trading_account_credentials(account=account),
    )


def credentials_reencrypt_all(*, actor: Actor | Any) -> int:
    """Re-encrypt every stored credential under the current first key; returns the count.

    All rows or none (one transaction, rows locked); one audit event with the count. Raises
    ``FieldDecryptionError`` (and changes nothing) if a row cannot be decrypted with any key."""
    with transaction.atomic():
        accounts = list(
            TradingAccount.objects.select_for_update()
            .exclude(credentials_ciphertext="")
            .order_by("pk")
        )
        for account in accounts:
            account.credentials_ciphertext = field_encryption.reencrypt(
                account.credentials_ciphertext
            )
        TradingAccount.objects.bulk_update(accounts, ["credentials_ciphertext"])
        audit_record(
            action=AuditAction.CREDENTIALS_REENCRYPTED,
            actor=_actor(actor),
            target=None,
            details={"accounts": len(accounts)},
        )
    return len(accounts)
