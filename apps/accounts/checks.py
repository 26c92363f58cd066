"""System checks: refuse to start without what the second factor needs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def field_encryption_keys_configured(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """TOTP seeds are encrypted at rest: outside DEBUG a real key is required (no fallback)."""
    if settings.DEBUG or getattr(settings, "FIELD_ENCRYPTION_DERIVE_FROM_SECRET_KEY", False):
        return []
    if getattr(settings, "FIELD_ENCRYPTION_KEYS", None):
        return []
    return [
        Error(
            "FIELD_ENCRYPTION_KEYS is not set.",
            hint='Generate one with python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())" and set FIELD_ENCRYPTION_KEYS.',
            id="accounts.E001",
        )
    ]
