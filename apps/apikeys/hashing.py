"""Secret digests: HMAC-SHA256 with a server-side pepper, rotatable by pepper id.

A database dump holds only digests; without the pepper (which lives in the environment, not
the database) a digest cannot be tested against guesses offline.
"""

from __future__ import annotations

import hashlib
import hmac

from apps.apikeys.conf import peppers


def digest(*, key_id: str, secret: str, pepper_id: str | None = None) -> tuple[str, str]:
    """Return (pepper_id, hex digest) for a secret; the current pepper unless one is named."""
    config = peppers()
    pepper_id = pepper_id or config.current_id
    pepper = config.by_id.get(pepper_id)
    if pepper is None:
        # A digest made with a pepper that has since been removed can never match.
        return pepper_id, ""
    mac = hmac.new(pepper, f"{key_id}:{secret}".encode(), hashlib.sha256).hexdigest()
    return pepper_id, mac


def matches(*, key_id: str, secret: str, pepper_id: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    _, candidate = digest(key_id=key_id, secret=secret, pepper_id=pepper_id)
    return bool(stored_digest) and hmac.compare_digest(candidate, stored_digest)


def burn_equal_time(secret: str) -> None:
    """Do a real check's HMAC work, so an unknown key id costs what a wrong secret does."""
    digest(key_id="0" * 10, secret=secret)
