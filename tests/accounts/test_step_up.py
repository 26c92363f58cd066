"""Step-up: a sensitive action after the window asks for a code, then completes."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import Client
from django_otp.middleware import OTPMiddleware
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.accounts.roles import Role
from apps.accounts.services.sessions import MFA_AT
from apps.accounts.services.users import user_roles
from apps.accounts.stepup import MfaSessionAuthentication, RequiresRecentMfa
from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from tests.accounts.factories import make_user, sign_in, totp_now

pytestmark = pytest.mark.django_db


def _age_mfa(client: Client, seconds: float) -> None:
    session = client.session
    session[MFA_AT] = time.time() - seconds
    session.save()


def test_an_action_after_the_window_asks_for_a_code_and_then_completes(settings):
    admin = make_user("root", roles=(Role.ADMIN,))
    bob = make_user("bob", roles=(Role.VIEWER,))
    client = Client()
    sign_in(client, admin)
    _age_mfa(client, settings.MFA_STEP_UP_SECONDS + 1)

    action = f"/accounts/users/{bob.pk}/roles/"
    response = client.post(action, {"roles": ["trader", "viewer"]})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/step-up/?next=")
    assert user_roles(user=bob) == {Role.VIEWER}  # nothing happened yet

    prompt = client.get(response["Location"])
    assert (
        prompt.status_code == 200
        and "needs a recent second-factor check" in prompt.content.decode()
    )
    session_before = client.cookies["sessionid"].value
    confirmed = client.post(
        response["Location"], {"method": "totp", "code": totp_now(admin, steps_ahead=1)}
    )
    assert confirmed.status_code == 302
    assert confirmed["Location"] == "/accounts/step-up/continue/"
    assert client.cookies["sessionid"].value != session_before  # new session id at step-up

    resume = client.get(confirmed["Location"])
    page = resume.content.decode()
    assert resume.status_code == 200
    assert f'action="{action}"' in page and 'value="trader"' in page

    done = client.post(action, {"roles": ["trader", "viewer"]})
    assert done.status_code == 302 and done["Location"] == f"/accounts/users/{bob.pk}/"
    assert user_roles(user=bob) == {Role.TRADER, Role.VIEWER}
    assert AuditEvent.objects.filter(action=AuditAction.MFA_STEP_UP).count() == 1
    change = AuditEvent.objects.get(action=AuditAction.ROLE_CHANGED)
    assert change.details == {"before": ["viewer"], "after": ["trader", "viewer"]}


def test_within_the_window_no_code_is_asked():
    admin = make_user("root", roles=(Role.ADMIN,))
    client = Client()
    sign_in(client, admin)
    assert client.get("/accounts/users/").status_code == 200


def test_a_stale_page_visit_returns_to_the_page_after_the_code(settings):
    admin = make_user("root", roles=(Role.ADMIN,))
    client = Client()
    sign_in(client, admin)
    _age_mfa(client, settings.MFA_STEP_UP_SECONDS + 1)
    response = client.get("/accounts/users/")
    assert response["Location"] == "/accounts/step-up/?next=%2Faccounts%2Fusers%2F"
    back = client.post(
        response["Location"], {"method": "totp", "code": totp_now(admin, steps_ahead=1)}
    )
    assert back["Location"] == "/accounts/users/"
    assert client.get("/accounts/users/").status_code == 200


def test_step_up_refuses_a_wrong_code_and_does_not_run_the_action(settings):
    admin = make_user("root", roles=(Role.ADMIN,))
    bob = make_user("bob")
    client = Client()
    sign_in(client, admin)
    _age_mfa(client, settings.MFA_STEP_UP_SECONDS + 1)
    client.post(f"/accounts/users/{bob.pk}/deactivate/")
    wrong = client.post("/accounts/step-up/?next=/", {"method": "totp", "code": "000000"})
    assert wrong.status_code == 400
    bob.refresh_from_db()
    assert bob.is_active


def test_step_up_never_redirects_off_site():
    admin = make_user("root", roles=(Role.ADMIN,))
    client = Client()
    sign_in(client, admin)
    response = client.post(
        "/accounts/step-up/?next=https://evil.example/",
        {"method": "totp", "code": totp_now(admin, steps_ahead=1)},
    )
    assert response["Location"] == "/"


class _BreakerControl(APIView):
    """Stands in for a session-accepting API view such as a breaker trip."""

    authentication_classes = [MfaSessionAuthentication]
    permission_classes = [RequiresRecentMfa]

    def post(self, request):
        return Response({"ok": True})


def _api_call(client: Client):
    request = APIRequestFactory().post("/api/v1/breakers/x/trip", {}, format="json")
    request.COOKIES["sessionid"] = client.cookies["sessionid"].value
    # The same request-phase middleware a real request passes through.
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    AuthenticationMiddleware(lambda r: HttpResponse()).process_request(request)
    OTPMiddleware(lambda r: HttpResponse())(request)
    request._dont_enforce_csrf_checks = True
    return _BreakerControl.as_view()(request)


def test_drf_views_use_the_same_step_up_rule(settings):
    user = make_user("risk", roles=(Role.RISK_MANAGER,))
    client = Client()
    sign_in(client, user)
    assert _api_call(client).status_code == 200
    _age_mfa(client, settings.MFA_STEP_UP_SECONDS + 1)
    stale = _api_call(client)
    assert stale.status_code == 403
    assert stale.data["code"] == "step_up_required"
    assert "/accounts/step-up/" in stale.data["detail"]


def test_drf_session_authentication_refuses_a_session_without_second_factor():
    user = make_user("risk", roles=(Role.RISK_MANAGER,))
    client = Client()
    client.force_login(user, backend="apps.accounts.backends.SessionOnlyBackend")
    assert _api_call(client).status_code in (401, 403)
    assert _api_call(client).data["code"] == "not_authenticated"


@pytest.mark.urls("tests.accounts.urls_with_class_view")
def test_class_based_views_get_the_same_step_up_and_resume(settings):
    user = make_user("risk", roles=(Role.RISK_MANAGER,))
    client = Client()
    sign_in(client, user)
    _age_mfa(client, settings.MFA_STEP_UP_SECONDS + 1)
    asked = client.post("/test-only/trip/", {"reason": "fat finger", "api_secret": "s3cr3t"})
    assert asked["Location"].startswith("/accounts/step-up/")
    client.post(asked["Location"], {"method": "totp", "code": totp_now(user, steps_ahead=1)})
    resume = client.get("/accounts/step-up/continue/").content.decode()
    assert 'action="/test-only/trip/"' in resume and 'value="fat finger"' in resume
    assert "s3cr3t" not in resume  # secret-looking fields are never parked in the session
    done = client.post("/test-only/trip/", {"reason": "fat finger"})
    assert done.content.decode() == "tripped: fat finger"
