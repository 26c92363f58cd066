from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _in_django_test_environment() -> bool:
    # django.test.utils.setup_test_environment() (run by the test runner and pytest-django,
    # never by a server or a management command) is what creates mail.outbox.
    from django.core import mail

    return hasattr(mail, "outbox")


def allow_test_flush(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Let Django's test runner TRUNCATE the audit table between transactional tests.

    The append-only trigger honours this session setting for superusers only (the test
    database user); outside the test environment it is never set, so TRUNCATE is refused.
    """
    from django.conf import settings

    if (
        connection.vendor == "postgresql"
        and getattr(settings, "AUDIT_ALLOW_TEST_TRUNCATE", False)  # only config/settings/test.py
        and _in_django_test_environment()
    ):
        with connection.cursor() as cursor:
            cursor.execute("SET breakwater.audit_allow_truncate = 'on'")


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        connection_created.connect(allow_test_flush, dispatch_uid="audit.allow_test_flush")
