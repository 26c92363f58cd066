"""MFA enforcement for every URL, in one place rather than per-view decorators.

Install after ``django_otp.middleware.OTPMiddleware`` and ``MessageMiddleware``. For each
request:

1. A signed-in session is checked first, for every path (the API included): it must carry a
   verified second factor (its device still exists: an MFA reset ends it), be within its idle
   timeout and absolute lifetime, else it is signed out and treated as anonymous.
2. Anonymous requests reach only the exceptions: views marked ``@mfa_exempt`` (login, second
   factor, enrolment, logout, one-time set-password link), the health checks, static files,
   and the API (``/api/``, which authenticates with keys; its session-accepting views use
   ``MfaSessionAuthentication``). Everything else, unknown paths included, redirects to the
   login page. tests/accounts/test_url_enforcement.py walks every URL pattern to prove it.
3. A user who must change their password reaches only the password page and logout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse

from apps.accounts.services.sessions import session_expiry, session_touch

EXEMPT_URL_NAMES = frozenset({"healthz", "readyz"})
EXEMPT_PATH_PREFIXES = ("/api/",)

F = TypeVar("F", bound=Callable[..., Any])


def mfa_exempt(view: F) -> F:
    """Mark a view as reachable without a verified second factor (keep this list short)."""
    view.mfa_exempt = True  # type: ignore[attr-defined]
    return view


def allowed_before_password_change(view: F) -> F:
    """Mark a view as reachable by a user who still has to replace their initial password."""
    view.allowed_before_password_change = True  # type: ignore[attr-defined]
    return view


def _view_flag(request: HttpRequest, flag: str) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    func = match.func
    # Class-based views: as_view() copies attributes set on the class onto the function.
    return bool(
        getattr(func, flag, False) or getattr(getattr(func, "view_class", None), flag, False)
    )


def request_is_exempt(request: HttpRequest) -> bool:
    path = request.path_info
    if path.startswith(settings.STATIC_URL) or path.startswith(EXEMPT_PATH_PREFIXES):
        return True
    try:
        match = resolve(path)
    except Resolver404:
        return False
    if match.url_name in EXEMPT_URL_NAMES and not match.namespaces:
        return True
    return _view_flag(request, "mfa_exempt")


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class MfaEnforcementMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            # is_verified is bound to the user by django_otp's OTPMiddleware (installed first).
            if not user.is_verified():  # type: ignore[attr-defined]
                auth.logout(request)
                messages.info(request, "Your session ended. Please sign in again.")
            else:
                expiry = session_expiry(request)
                if expiry is not None:
                    auth.logout(request)
                    if expiry.reason == "idle":
                        idle = _minutes(expiry.seconds)
                        text = f"You were signed out after {idle} without activity."
                    else:
                        text = "Your session reached its maximum length. Please sign in again."
                    messages.info(request, text)
                else:
                    session_touch(request=request, user=user)
                    if user.must_change_password and not _view_flag(
                        request, "allowed_before_password_change"
                    ):
                        return HttpResponseRedirect(reverse("dashboard:accounts:password_change"))
                    return self.get_response(request)

        if request_is_exempt(request):
            return self.get_response(request)
        login_url = reverse("dashboard:accounts:login")
        if request.method == "GET":
            login_url += "?" + urlencode({"next": request.get_full_path()}, safe="/")
        return HttpResponseRedirect(login_url)
