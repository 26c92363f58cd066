"""Step-up pages: confirm a code, then go back to (or continue) the sensitive action."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.accounts.forms import CodeForm
from apps.accounts.services.mfa import Method, Purpose, mfa_verify
from apps.accounts.services.sessions import session_step_up_record
from apps.accounts.stepup import PARKED_ACTION
from apps.accounts.views.auth import _safe_next, mfa_outcome_message


@never_cache
@require_http_methods(["GET", "POST"])
def step_up_view(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.GET.get("next")) or "/"
    form = CodeForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        outcome = mfa_verify(
            user=request.user,
            method=Method(form.cleaned_data["method"]),
            token=form.cleaned_data["code"],
            purpose=Purpose.STEP_UP,
            request=request,
        )
        if outcome.ok:
            assert outcome.device is not None
            session_step_up_record(request=request, device=outcome.device)
            return HttpResponseRedirect(next_url)
        error = mfa_outcome_message(outcome)
        form = CodeForm(initial={"method": form.cleaned_data["method"]})
    return render(
        request,
        "accounts/step_up.html",
        {"form": form, "error": error},
        status=200 if error is None else 400,
    )


@never_cache
@require_http_methods(["GET"])
def step_up_continue_view(request: HttpRequest) -> HttpResponse:
    """Re-post the action that was parked when step-up was asked, after one click."""
    parked = request.session.pop(PARKED_ACTION, None)
    if not parked:
        return redirect("/")
    path = str(parked.get("path", "/"))
    try:
        match = resolve(path)
    except Resolver404:
        return redirect("/")
    view_class = getattr(match.func, "view_class", None)
    is_sensitive = getattr(match.func, "sensitive_action", False) or getattr(
        getattr(view_class, "dispatch", None), "sensitive_action", False
    )
    if not is_sensitive:
        return redirect("/")  # only ever re-post to a sensitive action's own URL
    return render(
        request,
        "accounts/step_up_continue.html",
        {"action_path": path, "fields": parked.get("fields", [])},
    )
