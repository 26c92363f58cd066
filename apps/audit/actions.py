"""The one enumeration of audited actions.

Values are stable dotted names (``<area>.<verb>``): they are stored in every event, covered by
the event hash and read by auditors' tools, so a value must never be renamed or reused. Add new
members freely; retire old ones by leaving them in place.
"""

from __future__ import annotations

from django.db import models


class AuditAction(models.TextChoices):
    """Every security-relevant action Breakwater records."""

    # Authentication
    LOGIN_SUCCEEDED = "auth.login_succeeded", "Login succeeded"
    LOGIN_FAILED = "auth.login_failed", "Login failed"
    LOCKED_OUT = "auth.locked_out", "Locked out"
    LOGGED_OUT = "auth.logged_out", "Logged out"
    # Multi-factor authentication
    MFA_ENROLLED = "mfa.enrolled", "MFA enrolled"
    MFA_FAILED = "mfa.failed", "MFA failed"
    MFA_LOCKED = "mfa.locked", "MFA locked"
    MFA_BACKUP_CODE_USED = "mfa.backup_code_used", "MFA backup code used"
    MFA_RESET = "mfa.reset", "MFA reset"
    MFA_STEP_UP = "mfa.step_up", "MFA step-up"
    # Users and roles
    USER_CREATED = "user.created", "User created"
    USER_DEACTIVATED = "user.deactivated", "User deactivated"
    USER_REACTIVATED = "user.reactivated", "User reactivated"
    ROLE_CHANGED = "role.changed", "Role changed"
    PASSWORD_CHANGED = "user.password_changed", "Password changed"
    # API keys
    KEY_ISSUED = "key.issued", "API key issued"
    KEY_ROTATED = "key.rotated", "API key rotated"
    KEY_REVOKED = "key.revoked", "API key revoked"
    KEY_EXPIRED_USE = "key.expired_use", "Expired API key used"
    KEY_IP_DENIED = "key.ip_denied", "API key used from a denied IP"
    KEY_IN_QUERY_STRING = "key.query_string_refused", "API key sent in a URL query string"
    # Circuit breakers
    BREAKER_TRIPPED = "breaker.tripped", "Breaker tripped"
    BREAKER_RESET = "breaker.reset", "Breaker reset"
    BREAKER_RESET_REQUESTED = "breaker.reset_requested", "Breaker reset requested"
    BREAKER_RESET_APPROVED = "breaker.reset_approved", "Breaker reset approved"
    # Risk limits and venues
    LIMIT_CHANGED = "limit.changed", "Risk limit changed"
    CREDENTIALS_CHANGED = "venue.credentials_changed", "Venue credentials changed"
    CREDENTIALS_REENCRYPTED = "venue.credentials_reencrypted", "Venue credentials re-encrypted"
    # Orders
    ORDERS_CANCELLED_ON_HALT = "orders.cancelled_on_halt", "Orders cancelled on halt"
    # The audit log itself
    AUDIT_EXPORTED = "audit.exported", "Audit log exported"
    AUDIT_VERIFIED = "audit.verified", "Audit chain verified"
