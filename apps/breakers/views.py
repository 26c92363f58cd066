"""Breaker pages (session + MFA, like every page), mounted at /breakers/.

* the board: every breaker with its state in word and colour, reason, since, by whom, and
  whether the tripping condition has cleared; risk managers also see the trip form and reset
  links; viewers see no buttons (and a forged POST from them gets 403);
* tripping needs ``trip_breakers``; a signed-in session is enough (making things safer should
  never wait for a code);
* resetting and approving a four-eyes reset need ``reset_breakers`` and a recent second
  factor (``sensitive_action``); the global breaker's reset is a request that a different risk
  manager approves.

The permission check runs *before* the step-up, so a person without the role gets 403 at once
instead of being asked for a code first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.stepup import sensitive_action
from apps.audit.actors import Actor
from apps.breakers.forms import ApproveForm, ResetForm, TripForm
from apps.breakers.models import Breaker, BreakerResetRequest
from apps.breakers.selectors import breaker_board, breaker_condition_text
from apps.breakers.services import (
    BreakerError,
    breaker_reset,
    breaker_reset_approve,
    breaker_reset_request,
    breaker_trip,
    four_eyes_applies,
)

VIEW = "accounts.view_dashboards"
TRIP = "accounts.trip_breakers"
RESET = "accounts.reset_breakers"


def require_perm(perm: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _board_seq() -> int:
    """The ``breakers`` topic's sequence number (0 when Redis is unreachable)."""
    from apps.realtime.publish import topic_seq_current

    try:
        return topic_seq_current(topic="breakers")
    except Exception:
        return 0


def _board_context(request: HttpRequest, trip_form: TripForm | None = None) -> dict[str, Any]:
    from apps.breakers.services.targets import known_underlyings
    from apps.venues.models import TradingAccount, Venue

    can_trip = request.user.has_perm(TRIP)
    return {
        # read before the board: the page's script skips a snapshot no newer than this
        "live_config": {"topics": {"board": ["breakers"]}, "seq": {"breakers": _board_seq()}},
        "rows": breaker_board(),
        "can_trip": can_trip,
        "can_reset": request.user.has_perm(RESET),
        "trip_form": (trip_form or TripForm()) if can_trip else None,
        "targets": sorted(
            {
                *Venue.objects.values_list("name", flat=True),
                *TradingAccount.objects.values_list("label", flat=True),
                *known_underlyings(),
            }
        )
        if can_trip
        else [],
    }


def _safe_next(request: HttpRequest) -> str | None:
    """The page the trip form came from (``next``: the overview posts here too), if it is a
    path on this site; None otherwise."""
    candidate = request.POST.get("next", "")
    if candidate.startswith("/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


@never_cache
@require_GET
@require_perm(VIEW)
def board_view(request: HttpRequest) -> HttpResponse:
    """The board; with ``?fragment=table`` only its table, which ``static/js/overview.js``
    fetches again whenever the ``breakers`` topic says something changed."""
    if request.GET.get("fragment") == "table":
        return render(
            request,
            "breakers/_board_table.html",
            {"rows": breaker_board(), "can_reset": request.user.has_perm(RESET)},
        )
    return render(request, "breakers/board.html", _board_context(request))


@never_cache
@require_POST
@require_perm(TRIP)
def trip_view(request: HttpRequest) -> HttpResponse:
    form = TripForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            change = breaker_trip(
                scope=data["scope"],
                target=data["target"],
                state=data["state"],
                reason=data["reason"],
                actor=Actor.user(request.user),
                request=request,
            )
        except BreakerError as exc:
            form.add_error(None, str(exc))
        else:
            breaker = change.breaker
            if change.changed:
                messages.success(request, f"{breaker.label} is now {breaker.state.upper()}.")
            else:
                messages.info(request, f"{breaker.label} was already {breaker.state.upper()}.")
            return redirect(_safe_next(request) or "breakers:board")
    response = render(request, "breakers/board.html", _board_context(request, form))
    response.status_code = 400
    return response


@never_cache
@require_GET
@require_perm(VIEW)
def detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    breaker = get_object_or_404(Breaker, pk=pk)
    condition, safe = breaker_condition_text(breaker)
    pending = (
        breaker.reset_requests.filter(status=BreakerResetRequest.Status.PENDING)
        .select_related("requested_by")
        .first()
    )
    can_reset = request.user.has_perm(RESET)
    return render(
        request,
        "breakers/detail.html",
        {
            "breaker": breaker,
            "condition": condition,
            "reset_looks_safe": safe,
            "transitions": breaker.transitions.all()[:100],
            "four_eyes": four_eyes_applies(breaker),
            "pending": pending,
            "can_reset": can_reset,
            "reset_form": ResetForm() if can_reset and breaker.is_tripped else None,
            "approve_form": ApproveForm() if can_reset and pending else None,
            "is_requester": bool(pending and pending.requested_by_id == request.user.pk),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@require_perm(RESET)
@sensitive_action
def reset_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Reset (or, for the global breaker under four-eyes, request a reset)."""
    breaker = get_object_or_404(Breaker, pk=pk)
    if request.method == "GET":
        return redirect("breakers:detail", pk=pk)
    form = ResetForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A reason is required to reset a breaker.")
        return redirect("breakers:detail", pk=pk)
    data = form.cleaned_data
    try:
        if four_eyes_applies(breaker):
            breaker_reset_request(
                breaker=breaker,
                user=request.user,
                reason=data["reason"],
                to_state=data["to_state"],
                request=request,
            )
            messages.success(
                request, "Reset requested: a second risk manager must approve it before it applies."
            )
        else:
            change = breaker_reset(
                breaker=breaker,
                user=request.user,
                reason=data["reason"],
                to_state=data["to_state"],
                request=request,
            )
            messages.success(request, f"{breaker.label} is now {change.breaker.state.upper()}.")
    except BreakerError as exc:
        messages.error(request, str(exc))
    return redirect("breakers:detail", pk=pk)


@never_cache
@require_POST
@require_perm(RESET)
@sensitive_action
def approve_view(request: HttpRequest, pk: int) -> HttpResponse:
    reset_request = get_object_or_404(BreakerResetRequest, pk=pk)
    form = ApproveForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        change = breaker_reset_approve(
            reset_request=reset_request, user=request.user, reason=note, request=request
        )
    except BreakerError as exc:
        if exc.code == "four_eyes_same_person":
            raise PermissionDenied(str(exc)) from None
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Approved: {change.breaker.label} is now {change.breaker.state.upper()}."
        )
    return redirect("breakers:detail", pk=reset_request.breaker_id)
