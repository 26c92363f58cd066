"""Settings for the test suite: the real stack, with safe defaults and isolated data.

Tests use real PostgreSQL and Redis: the ones named by DATABASE_URL / REDIS_URL, or
embedded servers under .local/test/ (never the demo's .local/run/).
"""

import os
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("BREAKWATER_EMBEDDED", "1")
os.environ.setdefault("BREAKWATER_PROFILE", "test")
os.environ.setdefault("DEMO", "0")
# Test servers speak plain HTTP on loopback; Secure cookies would never be sent back.
os.environ.setdefault("SECURE_COOKIES", "0")
# Playwright's sync API runs an event loop in the test thread; DB access from the test
# body is still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# An external Redis given to the tests is used at database 15, so a test run that
# flushes its keys never touches what a running demo keeps in database 0.
if os.environ.get("REDIS_URL"):
    _parts = urlsplit(os.environ["REDIS_URL"])
    _db = os.environ.get("TEST_REDIS_DB", "15")
    os.environ["REDIS_URL"] = urlunsplit(_parts._replace(path=f"/{_db}"))

from .base import *  # noqa: F403

ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver", "[::1]"]

# No collectstatic in tests: serve from finders, as in development.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# No FIELD_ENCRYPTION_KEYS in tests: derive one from SECRET_KEY (config/field_encryption.py).
FIELD_ENCRYPTION_DERIVE_FROM_SECRET_KEY = True

# API-key digests use a pepper derived from SECRET_KEY unless API_KEY_PEPPERS is given.
API_KEY_DEV_PEPPER = True

# Transactional tests empty every table with TRUNCATE between tests; the audit table's
# append-only trigger allows that only for this flag + a superuser test session (apps/audit).
AUDIT_ALLOW_TEST_TRUNCATE = True
