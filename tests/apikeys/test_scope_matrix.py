"""For every API endpoint and every scope, exactly the declared scope passes."""

import pytest
from rest_framework.test import APIClient

from apps.apikeys.scopes import ALL_SCOPES, ANY_KEY
from tests.apikeys.api_catalog import api_operations
from tests.apikeys.factories import issue

pytestmark = pytest.mark.django_db

OPERATIONS = api_operations()


def test_the_catalog_finds_the_api():
    assert any(op.path == "/api/v1/me" for op in OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_every_api_operation_declares_a_known_scope(operation):
    assert operation.scope is not None, f"{operation} declares no scope and refuses every key"
    assert operation.scope == ANY_KEY or operation.scope in ALL_SCOPES


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_exactly_the_declared_scope_passes(operation, redis_client):
    for scope in ALL_SCOPES:
        key = issue(scopes=[scope]).plaintext
        client = APIClient()
        response = client.generic(
            operation.method,
            operation.path,
            data="{}",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        body = (
            response.json()
            if response.get("Content-Type", "").startswith("application/json")
            else {}
        )
        refused_for_scope = response.status_code == 403 and body.get("code") == "insufficient_scope"
        if operation.scope in (ANY_KEY, scope):
            assert response.status_code != 401 and not refused_for_scope, (
                f"{operation} refused its declared scope {scope}: {response.status_code} {body}"
            )
            assert response.status_code < 500
        else:
            assert refused_for_scope, f"{operation} let {scope} through: {response.status_code}"


def test_a_view_without_a_declared_scope_refuses_every_key(redis_client):
    from django.test import override_settings
    from django.urls import path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class Undeclared(APIView):
        def get(self, request):
            return Response({"leak": True})

    urlpatterns = [path("api/v1/undeclared", Undeclared.as_view())]
    key = issue().plaintext  # every scope
    with override_settings(ROOT_URLCONF=type("urls", (), {"urlpatterns": urlpatterns})):
        response = APIClient().get("/api/v1/undeclared", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 403
    assert response.json()["code"] == "scope_not_declared"
