"""API-key settings with their defaults, validated once at start-up (ApiKeysConfig.ready)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Peppers:
    current_id: str
    by_id: dict[str, bytes]


def _derived_dev_pepper() -> bytes:
    # Development and tests only: a pepper derived from SECRET_KEY, so no setup is needed.
    return hmac.new(
        settings.SECRET_KEY.encode(), b"breakwater-api-key-pepper", hashlib.sha256
    ).digest()


@lru_cache(maxsize=1)
def peppers() -> Peppers:
    """Parse API_KEY_PEPPERS = ["<id>:<secret>", ...]; the first entry is used for new digests."""
    raw: list[str] = list(getattr(settings, "API_KEY_PEPPERS", []))
    if not raw:
        if not (settings.DEBUG or getattr(settings, "API_KEY_DEV_PEPPER", False)):
            raise ImproperlyConfigured(
                "API_KEY_PEPPERS is not set: give at least one '<id>:<random secret>' "
                "(see docs/apikeys.md, 'Peppers')."
            )
        return Peppers(current_id="dev", by_id={"dev": _derived_dev_pepper()})
    by_id: dict[str, bytes] = {}
    for entry in raw:
        pepper_id, sep, secret = entry.partition(":")
        if not sep or not pepper_id or len(secret) < 32:
            raise ImproperlyConfigured(
                "each API_KEY_PEPPERS entry must be '<id>:<secret of 32+ characters>'"
            )
        by_id[pepper_id] = secret.encode()
    return Peppers(current_id=raw[0].partition(":")[0], by_id=by_id)


def default_expiry_days() -> int:
    return int(getattr(settings, "API_KEY_DEFAULT_DAYS", 90))


def max_expiry_days() -> int:
    return int(getattr(settings, "API_KEY_MAX_DAYS", 365))


def max_rotation_grace_seconds() -> int:
    return 24 * 3600


def last_used_write_interval_seconds() -> int:
    return 60
