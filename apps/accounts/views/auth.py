"""Sign-in pages: password, second factor, enrolment, sign-out, password set/change."""

from __future__ import annotations

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.tokens import default_token_generator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.encoding import force_str
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from apps.accounts.forms import CodeForm, EnrolForm, LoginForm
from apps.accounts.middleware import allowed_before_password_change, mfa_exempt
from apps.accounts.models import User
from apps.accounts.qr import qr_svg
from apps.accounts.services.login import login_password_check
from apps.accounts.services.mfa import (
    Method,
    MfaOutcome,
    Purpose,
    Status,
    mfa_user_has_device,
    mfa_verify,
    totp_enrolment_start,
)
from apps.accounts.services.sessions import (
    session_pending_begin,
    session_pending_user,
    session_sign_in,
)
from apps.accounts.services.users import user_password_change
from apps.accounts.views import copy
from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record

NEXT_KEY = "bw_login_next"
NS = "dashboard:accounts"


def _safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


def mfa_outcome_message(outcome: MfaOutcome) -> str:
    if outcome.status is Status.THROTTLED and outcome.retry_at:
        return copy.code_throttled(outcome.retry_at)
    if outcome.status is Status.LOCKED and outcome.retry_at:
        return copy.code_locked(outcome.retry_at)
    if outcome.status is Status.NO_DEVICE:
        return "You have no device of that kind. Choose the other option."
    return copy.code_invalid(outcome.retry_at)


@mfa_exempt
@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("/")
    form = LoginForm(request.POST or None)
    error = None
    status = 200
    if request.method == "POST" and form.is_valid():
        outcome = login_password_check(
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
            request=request,
        )
        if outcome.user is not None:
            next_url = _safe_next(request, request.GET.get("next"))
            session_pending_begin(request=request, user=outcome.user)
            if next_url:
                request.session[NEXT_KEY] = next_url
            if mfa_user_has_device(user=outcome.user):
                return redirect(f"{NS}:mfa_verify")
            return redirect(f"{NS}:mfa_enrol")
        if outcome.locked_until is not None:
            error, status = copy.password_locked(outcome.locked_until), 429
        else:
            error = copy.password_failed()
        form = LoginForm()  # never echo what was typed: the page is the same for every username
    elif request.method == "POST":
        error = "Enter a username and a password."
    return render(request, "accounts/login.html", {"form": form, "error": error}, status=status)


def _finish_sign_in(request: HttpRequest, user: User, outcome: MfaOutcome) -> str:
    next_url = request.session.get(NEXT_KEY)
    assert outcome.device is not None
    session_sign_in(request=request, user=user, device=outcome.device)
    return _safe_next(request, next_url) or "/"


@mfa_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_verify_view(request: HttpRequest) -> HttpResponse:
    user = session_pending_user(request)
    if user is None:
        messages.info(request, "Please sign in again.")
        return redirect(f"{NS}:login")
    if not mfa_user_has_device(user=user):
        return redirect(f"{NS}:mfa_enrol")
    form = CodeForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        outcome = mfa_verify(
            user=user,
            method=Method(form.cleaned_data["method"]),
            token=form.cleaned_data["code"],
            purpose=Purpose.LOGIN,
            request=request,
        )
        if outcome.ok:
            return HttpResponseRedirect(_finish_sign_in(request, user, outcome))
        error = mfa_outcome_message(outcome)
        form = CodeForm(initial={"method": form.cleaned_data["method"]})
    return render(
        request,
        "accounts/mfa_verify.html",
        {"form": form, "error": error, "username": user.get_username()},
        status=200 if error is None else 400,
    )


@mfa_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_enrol_view(request: HttpRequest) -> HttpResponse:
    user = session_pending_user(request)
    if user is None:
        messages.info(request, "Please sign in again.")
        return redirect(f"{NS}:login")
    if mfa_user_has_device(user=user):
        return redirect(f"{NS}:mfa_verify")
    device = totp_enrolment_start(user=user)
    form = EnrolForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        outcome = mfa_verify(
            user=user,
            method=Method.TOTP,
            token=form.cleaned_data["code"],
            purpose=Purpose.ENROL,
            request=request,
        )
        if outcome.ok:
            next_url = _finish_sign_in(request, user, outcome)
            # The codes exist in clear only in this response: not stored, not cached.
            return render(
                request,
                "accounts/backup_codes.html",
                {"codes": outcome.backup_codes, "next_url": next_url},
            )
        error = mfa_outcome_message(outcome)
        form = EnrolForm()
    context = {
        "form": form,
        "error": error,
        "qr_svg": qr_svg(device.config_url(issuer=settings.MFA_ISSUER)),
        "secret": device.secret_base32,
        "username": user.get_username(),
    }
    return render(request, "accounts/mfa_enrol.html", context, status=200 if not error else 400)


@mfa_exempt
@allowed_before_password_change
@never_cache
@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if not request.user.is_authenticated:
            return redirect(f"{NS}:login")
        return render(request, "accounts/logout.html")
    if request.user.is_authenticated:
        audit_record(
            action=AuditAction.LOGGED_OUT,
            actor=Actor.user(request.user),
            target=request.user,
            details={},
            request=request,
        )
    auth.logout(request)
    messages.info(request, "You are signed out.")
    return redirect(f"{NS}:login")


def _user_from_link(uidb64: str, token: str) -> User | None:
    try:
        user_id = force_str(urlsafe_base64_decode(uidb64))
        user = User.objects.filter(pk=int(user_id), is_active=True).first()
    except (TypeError, ValueError, OverflowError):
        return None
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


@mfa_exempt
@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
def set_password_view(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The one-time link an admin hands a new user: works until the password is set."""
    user = _user_from_link(uidb64, token)
    if user is None:
        return render(request, "accounts/set_password_invalid.html", status=404)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user_password_change(
            user=user, new_password=form.cleaned_data["new_password1"], request=request, via="link"
        )
        messages.success(
            request, "Your password is set. Sign in, then set up your authenticator app."
        )
        return redirect(f"{NS}:login")
    return render(request, "accounts/set_password.html", {"form": form, "username": user})


@allowed_before_password_change
@never_cache
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user_password_change(
            user=request.user,
            new_password=form.cleaned_data["new_password1"],
            request=request,
            via="self",
        )
        messages.success(request, "Your password was changed. Your other sessions have ended.")
        return redirect("/")
    return render(
        request,
        "accounts/password_change.html",
        {"form": form, "forced": request.user.must_change_password},
    )
