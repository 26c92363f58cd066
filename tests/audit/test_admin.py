"""The Django admin shows audit events and offers no way to change them.

The admin site as a whole sits behind sign-in with a second factor (apps.accounts); these tests
call the audit ModelAdmin's views directly with a superuser, so they check what this admin
allows once someone is in, independently of how they got in.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from apps.audit.models import AuditEvent
from tests.audit.helpers import record_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def audit_admin():
    return admin.site._registry[AuditEvent]


def superuser_request(method: str = "get", path: str = "/admin/audit/auditevent/", data=None):
    request = getattr(RequestFactory(), method)(path, data or {})
    request.user = get_user_model()(
        username="root", is_superuser=True, is_staff=True, is_active=True
    )
    request._dont_enforce_csrf_checks = True
    return request


def test_admin_lists_and_shows_events_read_only(audit_admin):
    record_events(3)

    listing = audit_admin.changelist_view(superuser_request())
    listing.render()
    assert listing.status_code == 200
    assert b"limit.changed" in listing.content
    assert b"/admin/audit/auditevent/add/" not in listing.content
    assert b'name="action"' not in listing.content  # no bulk actions, so no bulk delete

    detail = audit_admin.change_view(superuser_request(path="/admin/audit/auditevent/2/"), "2")
    detail.render()
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert b"Delete" not in detail.content
    assert AuditEvent.objects.get(sequence=2).hash.encode() in detail.content


def test_admin_refuses_add_change_and_delete(audit_admin):
    record_events(1)
    event = AuditEvent.objects.get()

    with pytest.raises(PermissionDenied):
        audit_admin.add_view(superuser_request())
    with pytest.raises(PermissionDenied):
        audit_admin.change_view(
            superuser_request("post", "/admin/audit/auditevent/1/", {"actor_label": "x"}), "1"
        )
    with pytest.raises(PermissionDenied):
        audit_admin.delete_view(
            superuser_request("post", "/admin/audit/auditevent/1/delete/", {"post": "yes"}), "1"
        )
    assert AuditEvent.objects.get().actor_label == event.actor_label
