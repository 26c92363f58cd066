"""Step-up re-verification for sensitive actions, one rule for pages and the API.

The rule is ``session_mfa_is_recent``: a second-factor check in this session within
``MFA_STEP_UP_SECONDS``. Sensitive actions (issue/rotate/revoke keys, trip/reset breakers,
change limits, change roles, reset someone's MFA) use it through one of:

- ``@sensitive_action`` on a Django view (function, or ``method_decorator`` on a class's
  ``dispatch``). A GET is redirected to the step-up page and back. A POST is parked in the
  session (minus the CSRF token and any field named like a secret), the person confirms a
  code, and a "Continue" page re-posts it with a fresh CSRF token, so the action completes;
- ``RequiresRecentMfa`` as a DRF permission (with ``MfaSessionAuthentication``): a stale
  session gets 403 ``{"code": "step_up_required", "detail": ...}``; the page's script sends
  the person to the step-up page and retries.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from rest_framework import exceptions, permissions, status
from rest_framework.authentication import SessionAuthentication

from apps.accounts.services.sessions import session_mfa_is_recent

PARKED_ACTION = "bw_parked_action"
# Fields never written to the session, even briefly: the CSRF token (a fresh one is used) and
# anything whose name suggests a secret; the person retypes those on the form.
_NEVER_PARKED = ("csrfmiddlewaretoken",)
_SECRET_NAME = re.compile(
    r"pass(word|phrase)?|secret|token|otp|code|credential|private|api_?key", re.IGNORECASE
)


def _step_up_url(next_path: str) -> str:
    return f"{reverse('dashboard:accounts:step_up')}?{urlencode({'next': next_path})}"


def park_action(request: HttpRequest) -> None:
    """Keep the submitted form (without secrets) so it can be re-posted after step-up."""
    fields = [
        (name, value)
        for name in request.POST
        if name not in _NEVER_PARKED and not _SECRET_NAME.search(name)
        for value in request.POST.getlist(name)
    ]
    request.session[PARKED_ACTION] = {"path": request.path, "fields": fields}


def sensitive_action(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Require a recent second-factor check before the view runs (see module doc)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if session_mfa_is_recent(request):
            return view(request, *args, **kwargs)
        if request.method == "POST":
            park_action(request)
            return HttpResponseRedirect(
                _step_up_url(reverse("dashboard:accounts:step_up_continue"))
            )
        return HttpResponseRedirect(_step_up_url(request.get_full_path()))

    wrapper.sensitive_action = True  # type: ignore[attr-defined]
    return wrapper


class StepUpRequired(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "This action needs a fresh second-factor check."
    default_code = "step_up_required"
    error_code = "step_up_required"


class RequiresRecentMfa(permissions.BasePermission):
    """DRF permission: a browser session whose second factor was checked recently.

    Use it together with ``MfaSessionAuthentication`` on the views that accept a session
    (key management, breaker controls); API keys never satisfy it.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        django_request = getattr(request, "_request", request)
        if session_mfa_is_recent(django_request):
            return True
        if not getattr(django_request.user, "is_authenticated", False):
            return False  # DRF answers 401/403 "not authenticated"
        raise StepUpRequired(
            detail=(
                f"{StepUpRequired.default_detail} Confirm a code at "
                f"{reverse('dashboard:accounts:step_up')} and retry."
            )
        )


class MfaSessionAuthentication(SessionAuthentication):
    """DRF session authentication that accepts only MFA-verified sessions (CSRF enforced).

    The middleware already signs out unverified or expired sessions; this refuses them again
    here so an API view stays safe even if it is mounted outside the middleware's reach.
    """

    def authenticate(self, request: Any) -> tuple[Any, None] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        is_verified = getattr(user, "is_verified", None)
        if is_verified is None or not is_verified():
            return None
        return result
