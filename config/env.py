"""The one place that reads the process environment.

Every setting that comes from outside the code is read here, validated, and
turned into a typed value. A missing or malformed required value stops the
process with one line naming the variable (no traceback), as an operator
would want at 3 a.m.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

# A placeholder that is obviously not a secret; refused outside debug mode.
INSECURE_DEV_SECRET_KEY = "insecure-dev-only-secret-key-do-not-use-in-production"  # noqa: S105

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigurationError(SystemExit):
    """Raised for unusable configuration; exits with a clear message, not a traceback."""

    def __init__(self, message: str) -> None:
        print(f"Breakwater configuration error: {message}", file=sys.stderr)
        super().__init__(2)
        self.message = message


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be 1/0/true/false, got {raw!r}")


def _list(environ: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    raw = environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Env:
    """Typed view of the environment variables Breakwater understands (see README)."""

    debug: bool
    demo: bool
    secret_key: str
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    database_url: str | None
    redis_url: str | None
    field_encryption_keys: list[str]
    api_key_peppers: list[str]
    embedded_services_allowed: bool
    secure_cookies: bool
    # HTTPS-only deployment (config/settings/base.py "Security", docs/security.md).
    ssl_redirect: bool
    hsts_seconds: int
    hsts_preload: bool
    log_level: str
    mfa_step_up_seconds: int
    # Sign-in protection and session lifetimes (apps/accounts, docs/accounts.md).
    login_failure_limit: int
    login_lockout_seconds: int
    mfa_throttle_factor: float
    mfa_failure_lock_limit: int
    mfa_lock_seconds: int
    session_idle_seconds: int
    session_idle_seconds_privileged: int
    session_absolute_seconds: int
    trusted_proxy_count: int
    # PostgreSQL connections per process (psycopg's pool; see config/settings/base.py).
    db_pool_max_size: int
    celery_visibility_timeout_seconds: int
    celery_task_max_deliveries: int

    @property
    def uses_embedded_services(self) -> bool:
        return self.database_url is None or self.redis_url is None


def _with_recorded_run_mode(environ: Mapping[str, str]) -> Mapping[str, str]:
    """A management command beside a live `make run` (URLs unset) inherits its DEBUG/DEMO mode."""
    if environ.get("DATABASE_URL") and environ.get("REDIS_URL"):
        return environ
    if environ.get("BREAKWATER_PROFILE", "run") != "run":
        return environ
    from config.local_services import read_recorded_mode

    return {**read_recorded_mode("run"), **environ}


def read_env(environ: Mapping[str, str] | None = None) -> Env:
    """Read and validate the environment. Refuses a production start without a real SECRET_KEY."""
    if environ is None:
        environ = _with_recorded_run_mode(os.environ)
    debug = _bool(environ, "DEBUG", False)
    secret_key = environ.get("SECRET_KEY", "").strip()
    if not secret_key:
        if not debug:
            raise ConfigurationError(
                "SECRET_KEY is not set. Set it to a long random value "
                '(python -c "import secrets; print(secrets.token_urlsafe(50))"), '
                "or set DEBUG=1 for local development."
            )
        secret_key = INSECURE_DEV_SECRET_KEY
    elif secret_key == INSECURE_DEV_SECRET_KEY and not debug:
        raise ConfigurationError(
            "SECRET_KEY is the development placeholder; set a real secret outside DEBUG mode."
        )
    elif not debug and len(secret_key) < 32:
        raise ConfigurationError("SECRET_KEY is too short; use at least 32 random characters.")

    # SECURE_COOKIES says "this deployment is reached over HTTPS" (the default outside debug);
    # the redirect and HSTS follow it unless set on their own, so the plain-HTTP loopback
    # servers of tests and `make run` (SECURE_COOKIES=0) keep working.
    secure_cookies = _bool(environ, "SECURE_COOKIES", not debug)
    database_url = environ.get("DATABASE_URL", "").strip() or None
    redis_url = environ.get("REDIS_URL", "").strip() or None
    return Env(
        debug=debug,
        demo=_bool(environ, "DEMO", False),
        secret_key=secret_key,
        allowed_hosts=_list(
            environ, "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if debug else []
        ),
        csrf_trusted_origins=_list(environ, "CSRF_TRUSTED_ORIGINS", []),
        database_url=database_url,
        redis_url=redis_url,
        field_encryption_keys=_list(environ, "FIELD_ENCRYPTION_KEYS", []),
        # "<id>:<secret>,<id>:<secret>": the first pepper digests new keys, all verify.
        api_key_peppers=_list(environ, "API_KEY_PEPPERS", []),
        # Embedded servers are a development/test convenience: refused in production
        # unless explicitly allowed, so a misconfigured deployment fails loudly.
        embedded_services_allowed=_bool(environ, "BREAKWATER_EMBEDDED", debug),
        secure_cookies=secure_cookies,
        ssl_redirect=_bool(environ, "SECURE_SSL_REDIRECT", secure_cookies),
        hsts_seconds=_int(environ, "SECURE_HSTS_SECONDS", 365 * 24 * 3600 if secure_cookies else 0),
        hsts_preload=_bool(environ, "SECURE_HSTS_PRELOAD", False),
        log_level=environ.get("LOG_LEVEL", "INFO").upper(),
        mfa_step_up_seconds=_int(environ, "MFA_STEP_UP_SECONDS", 600),
        login_failure_limit=_int(environ, "LOGIN_FAILURE_LIMIT", 5),
        login_lockout_seconds=_int(environ, "LOGIN_LOCKOUT_SECONDS", 900),
        mfa_throttle_factor=_float(environ, "MFA_THROTTLE_FACTOR", 1.0),
        mfa_failure_lock_limit=_int(environ, "MFA_FAILURE_LOCK_LIMIT", 10),
        mfa_lock_seconds=_int(environ, "MFA_LOCK_SECONDS", 3600),
        session_idle_seconds=_int(environ, "SESSION_IDLE_SECONDS", 1800),
        session_idle_seconds_privileged=_int(environ, "SESSION_IDLE_SECONDS_PRIVILEGED", 900),
        session_absolute_seconds=_int(environ, "SESSION_ABSOLUTE_SECONDS", 12 * 3600),
        # How many reverse proxies of ours append to X-Forwarded-For; 0 = trust none of it.
        trusted_proxy_count=_int(environ, "TRUSTED_PROXY_COUNT", 0),
        db_pool_max_size=_int(environ, "DB_POOL_MAX_SIZE", 8),
        celery_visibility_timeout_seconds=_int(environ, "CELERY_VISIBILITY_TIMEOUT_SECONDS", 120),
        celery_task_max_deliveries=_int(environ, "CELERY_TASK_MAX_DELIVERIES", 3),
    )
