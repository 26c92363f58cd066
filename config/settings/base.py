"""Breakwater settings. Every external value comes from config.env.read_env()."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from config.csp import EMPTY_HASH as EMPTY_STYLE_HASH
from config.csp import plotly_style_hashes
from config.env import ConfigurationError, read_env
from config.local_services import ensure_service_urls

BASE_DIR = Path(__file__).resolve().parent.parent.parent
ENV = read_env()

DEBUG = ENV.debug
DEMO = ENV.demo
SECRET_KEY = ENV.secret_key
ALLOWED_HOSTS = ENV.allowed_hosts
CSRF_TRUSTED_ORIGINS = ENV.csrf_trusted_origins
FIELD_ENCRYPTION_KEYS = ENV.field_encryption_keys
API_KEY_PEPPERS = ENV.api_key_peppers
MFA_STEP_UP_SECONDS = ENV.mfa_step_up_seconds

# --- Sign-in protection and sessions (apps/accounts; docs/accounts.md) ----------------------
LOGIN_FAILURE_LIMIT = ENV.login_failure_limit
LOGIN_LOCKOUT_SECONDS = ENV.login_lockout_seconds
MFA_THROTTLE_FACTOR = ENV.mfa_throttle_factor
MFA_FAILURE_LOCK_LIMIT = ENV.mfa_failure_lock_limit
MFA_LOCK_SECONDS = ENV.mfa_lock_seconds
MFA_ISSUER = "Breakwater"
SESSION_IDLE_SECONDS = ENV.session_idle_seconds
SESSION_IDLE_SECONDS_PRIVILEGED = ENV.session_idle_seconds_privileged
SESSION_ABSOLUTE_SECONDS = ENV.session_absolute_seconds
TRUSTED_PROXY_COUNT = ENV.trusted_proxy_count
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600  # the one-time set-password link for new users

# --- Real PostgreSQL and Redis, external or embedded (config/local_services.py) -------------
if ENV.uses_embedded_services and not ENV.embedded_services_allowed:
    missing = [
        n for n, v in (("DATABASE_URL", ENV.database_url), ("REDIS_URL", ENV.redis_url)) if not v
    ]
    raise ConfigurationError(
        f"{' and '.join(missing)} not set. Point them at your servers, or set DEBUG=1 "
        "(or BREAKWATER_EMBEDDED=1) to start embedded PostgreSQL/Redis."
    )
SERVICE_PROFILE = os.environ.get("BREAKWATER_PROFILE", "run")
_services = ensure_service_urls(
    database_url=ENV.database_url, redis_url=ENV.redis_url, profile=SERVICE_PROFILE
)
DATABASE_URL = _services.database_url
REDIS_URL = _services.redis_url

# A connection pool per process (psycopg_pool) instead of persistent connections: under ASGI
# every request runs in its own context, so CONN_MAX_AGE > 0 opens a new connection per
# request and leaves it to the garbage collector (Django ticket #33497), which cost a backend
# fork per order and ran PostgreSQL out of connections under load. A checkout waits at most
# `timeout` seconds, then the request fails closed (503). Celery's prefork children close the
# pool they inherit (celery >= 5.6, celery/celery#9953).
# After a database restart or network cut (docs/operations.md, "Failure modes"): health checks
# make the pool test each connection it hands out (an empty query, ~0.1 ms) and replace dead
# ones (config/postgresql: all of them at the first one found), so no request fails on a
# connection the outage killed; a reconnection attempt gives up after `reconnect_timeout` s,
# so the next request tries at once instead of waiting out psycopg_pool's backoff, which
# doubles for as long as the outage lasts.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=0, conn_health_checks=True, engine="config.postgresql"
    )
}
DATABASES["default"].setdefault("OPTIONS", {}).update(
    {
        "connect_timeout": 5,
        "pool": {
            "min_size": 1,
            "max_size": ENV.db_pool_max_size,
            "timeout": 2,
            "reconnect_timeout": 5,
        },
    }
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 30},
    }
}

# --- Celery: JSON only, late acks, one message at a time, bounded tasks ---------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 50
CELERY_RESULT_EXPIRES = 600  # results are for callers that wait on them (tests, ops), not history
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
# Delivery after a crash (docs/operations.md "Task delivery and worker crashes"). A message
# whose worker died unacked (SIGKILL, OOM, lost machine) goes back to the queue once it has
# been unacked for visibility_timeout: it must exceed the longest time a healthy worker holds
# one (countdown + hard time limit; tests/faults/test_worker_crash.py checks every task), or a
# live worker's task is delivered twice. A killed prefork child needs no wait: its parent
# requeues the message at once (task_reject_on_worker_lost). Tests shorten it via the env.
CELERY_VISIBILITY_TIMEOUT_SECONDS = ENV.celery_visibility_timeout_seconds
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
    # Look for overdue unacked messages every ~10 s (kombu's default sweep is every 100 s).
    "unacked_restore_interval": min(5, CELERY_VISIBILITY_TIMEOUT_SECONDS),
    "unacked_restore_throttle": 2,
}
# A message delivered this many times (first run + redeliveries of one attempt) is dropped
# unrun at the next delivery, with an error log and an alert (config/celery.py): a task that
# kills its worker every time must not crash-loop the fleet.
CELERY_TASK_MAX_DELIVERIES = ENV.celery_task_max_deliveries

# --- Django -------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by us (CSP: no CDN)
    "channels",
    "django_otp",
    "apps.audit",
    "apps.accounts",
    "apps.apikeys",
    "apps.venues",
    "apps.risk",
    "apps.breakers",
    "apps.gateway",
    "apps.realtime",
    "apps.dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Near the outside, so answers that inner middleware makes itself (the outage page) get
    # the headers too.
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Right after OTP: loads the session user first, so PostgreSQL down is a 503 page, not a 500.
    "config.database_outage.DatabaseOutageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After auth, OTP and messages: no URL answers without a verified second factor.
    "apps.accounts.middleware.MfaEnforcementMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
# Passwords are accepted only by apps.accounts' two-step sign-in; authenticate() refuses all.
AUTHENTICATION_BACKENDS = ["apps.accounts.backends.SessionOnlyBackend"]
LOGIN_URL = "/accounts/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "apps.dashboard.staticfinders.PlotlyJsFinder",  # vendor/plotly.min.js from the package
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Bots authenticate with API keys only; views that serve the browser opt in to sessions.
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.apikeys.authentication.ApiKeyAuthentication"],
    # Deny by default: every API view states who may call it.
    "DEFAULT_PERMISSION_CLASSES": ["apps.apikeys.permissions.HasDeclaredScope"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.apikeys.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Breakwater API",
    "DESCRIPTION": "Order gateway, market data, positions and breakers for trading bots.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page are public documentation; they reveal no data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Breaker states appear under several serializers; one named enum (check --deploy is clean).
    "ENUM_NAME_OVERRIDES": {"BreakerStateEnum": "apps.breakers.models.BreakerState"},
}

# --- Security (docs/security.md) -------------------------------------------------------------
# SECURE_COOKIES=1 (the default outside debug) means the site is reached over HTTPS only.
# Cookies: Secure, and then named with the __Host- prefix, which makes the browser refuse
# them unless they are Secure, Path=/ and carry no Domain, so a sibling subdomain cannot plant
# or overwrite them. Plain-HTTP loopback servers (tests, `make run`) keep the plain names.
SESSION_COOKIE_SECURE = ENV.secure_cookies
CSRF_COOKIE_SECURE = ENV.secure_cookies
SESSION_COOKIE_NAME = "__Host-sessionid" if ENV.secure_cookies else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if ENV.secure_cookies else "csrftoken"
SESSION_COOKIE_PATH = CSRF_COOKIE_PATH = "/"
SESSION_COOKIE_DOMAIN = CSRF_COOKIE_DOMAIN = None
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # no script reads it: forms carry the token
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# HTTPS. TLS ends at our proxy: with TRUSTED_PROXY_COUNT > 0 Django believes the proxy's
# X-Forwarded-Proto (the proxy must overwrite whatever the client sent). Load balancers probe
# /healthz and /readyz over plain HTTP, so those never redirect.
SECURE_SSL_REDIRECT = ENV.ssl_redirect
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if ENV.trusted_proxy_count > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = ENV.hsts_seconds
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preload is a promise to browsers' built-in lists that is slow to take back (months), and it
# binds every subdomain of the registered domain, not just the desk's: an operator opts in
# with SECURE_HSTS_PRELOAD=1 after submitting the domain. Until then its check is silenced.
SECURE_HSTS_PRELOAD = ENV.hsts_preload
SILENCED_SYSTEM_CHECKS = [] if ENV.hsts_preload else ["security.W021"]

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): everything from our own origin, no inline script, no
# eval, no plugins, no framing, forms post only to us. The pages' data travels in
# <script type="application/json"> blocks (json_script), which are never executed. Inline
# styles only as plotly.js writes them, by hash (config/csp.py): no 'unsafe-inline' anywhere.
_STYLE_HASHES = [EMPTY_STYLE_HASH, *plotly_style_hashes()]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", *_STYLE_HASHES],
        "style-src-elem": ["'self'", *_STYLE_HASHES],
        # 'unsafe-hashes' with the empty string's hash: only style="" (plotly's colour bars).
        "style-src-attr": ["'unsafe-hashes'", EMPTY_STYLE_HASH],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": ENV.log_level},
    "loggers": {"django.db.backends": {"level": "INFO"}, "pgserver": {"level": "WARNING"}},
}
