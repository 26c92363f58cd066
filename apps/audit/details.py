"""Make event details safe to store and stable to hash.

Two jobs. (1) No secret is ever stored: values under keys that name a secret (password, token,
code, ...) are replaced by ``"[redacted]"`` and a warning is logged, so a careless caller loses
a field, never leaks a credential, and never breaks the login that was being audited.
(2) What is hashed is what PostgreSQL gives back: jsonb rewrites some values (``1e+20`` comes
back as the integer ``100000000000000000000``, ``-0.0`` as ``0.0``, NUL is refused), so details
are normalised to a form that survives the round trip unchanged.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from apps.audit.chain import canonical_json

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
MAX_DETAILS_BYTES = 16_384
MAX_DEPTH = 8

# A key is sensitive when one of its words (split on _ - . space and camelCase) is one of these,
# or the whole key is one of SENSITIVE_KEYS. "code" catches MFA/backup codes; the common
# harmless *_code names are allowed explicitly.
SENSITIVE_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "token",
        "code",
        "otp",
        "totp",
        "pin",
        "cookie",
        "authorization",
        "credential",
        "credentials",
        "private",
        "signature",
    }
)
SENSITIVE_KEYS = frozenset({"api_key", "apikey", "key_secret", "sessionid", "session_key"})
ALLOWED_KEYS = frozenset(
    {
        "code_count",  # e.g. how many backup codes remain
        "reject_code",
        "error_code",
        "reason_code",
        "status_code",
        "country_code",
        "currency_code",
        "venue_code",
        "codes_remaining",
        "token_count",
    }
)

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class UnsafeDetailsError(ValueError):
    """Details that cannot be stored faithfully (unsupported type, NaN, too large, too deep)."""


def is_sensitive_key(key: str) -> bool:
    """True when a details key names a secret (see SENSITIVE_WORDS)."""
    lowered = _CAMEL.sub("_", key).lower()
    if lowered in ALLOWED_KEYS:
        return False
    if lowered in SENSITIVE_KEYS or lowered.replace("-", "_") in SENSITIVE_KEYS:
        return True
    words = {w for w in _WORD_SPLIT.split(lowered) if w}
    return bool(words & SENSITIVE_WORDS) or any(
        w.endswith(("password", "secret", "token")) for w in words
    )


def clean_text(value: str) -> str:
    """Text PostgreSQL will store unchanged: NUL becomes U+FFFD, lone surrogates become ?."""
    # PostgreSQL text and jsonb refuse NUL; lone surrogates are not valid UTF-8.
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _normalise(value: Any, path: str, depth: int, redacted: list[str]) -> Any:
    if depth > MAX_DEPTH:
        raise UnsafeDetailsError(f"details nested deeper than {MAX_DEPTH} at {path}")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum and friends become plain ints
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeDetailsError(f"details value at {path} is not finite: {value!r}")
        if value == 0:
            return 0.0  # jsonb has no negative zero
        if "e+" in repr(value):
            return int(value)  # jsonb prints 1e+20 as an integer; such floats are integral
        return value
    if isinstance(value, Enum):
        return _normalise(value.value, path, depth, redacted)
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UnsafeDetailsError(f"details value at {path} is not finite: {value!r}")
        return str(value)  # exact, unlike float
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise UnsafeDetailsError(f"naive datetime in details at {path}")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | dt.time | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for raw_key, item in value.items():
            key = clean_text(str(raw_key))
            child = f"{path}.{key}"
            if is_sensitive_key(key):
                redacted.append(child)
                out[key] = REDACTED
            else:
                out[key] = _normalise(item, child, depth + 1, redacted)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [
            _normalise(item, f"{path}[{i}]", depth + 1, redacted) for i, item in enumerate(items)
        ]
    raise UnsafeDetailsError(
        f"details value at {path} has unsupported type {type(value).__name__}; "
        "pass ids and plain values, not objects"
    )


def details_sanitise(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a JSON-safe, secret-free copy of ``details`` that round-trips through jsonb.

    Raises UnsafeDetailsError for values that cannot be stored faithfully.
    """
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise UnsafeDetailsError("details must be a mapping")
    redacted: list[str] = []
    clean = _normalise(details, "details", 0, redacted)
    if redacted:
        logger.warning("audit details redacted (secrets must never be audited): %s", redacted)
    if len(canonical_json(clean)) > MAX_DETAILS_BYTES:
        raise UnsafeDetailsError(f"details larger than {MAX_DETAILS_BYTES} bytes")
    return clean
