"""The audit log page, mounted at /audit/: filter by actor, action and time; verify the chain.

Who: admins (``manage_users``) and risk managers (``reset_breakers``): the people who act on
users, keys and breakers and must be able to check what was done. Others get 403.

* ``audit_view`` (GET): events newest first, 50 a page, filtered by the query string; a bad
  date is a message on the form (status 400), never a 500;
* ``audit_verify_view`` (POST, CSRF): recomputes the whole hash chain and shows the result;
  the check itself is recorded as an ``audit.verified`` event (who checked, when, outcome).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.audit.actors import Actor
from apps.audit.selectors import audit_events_filtered
from apps.audit.services import audit_verify_chain_recorded
from apps.dashboard.audit_forms import AuditFilterForm

AUDIT_PERMS = ("accounts.manage_users", "accounts.reset_breakers")
PAGE_SIZE = 50
VERIFY_RESULT = "bw_audit_verify_result"


def audit_allowed(user: object) -> bool:
    """True for the roles that may read the audit log (see the module docstring)."""
    return any(user.has_perm(p) for p in AUDIT_PERMS)  # type: ignore[attr-defined]


def _require(request: HttpRequest) -> None:
    if not audit_allowed(request.user):
        raise PermissionDenied("Your role does not allow this.")


@never_cache
@require_GET
def audit_view(request: HttpRequest) -> HttpResponse:
    _require(request)
    form = AuditFilterForm(request.GET or None)
    status = 200
    if not request.GET:
        events = audit_events_filtered()
    elif form.is_valid():
        events = audit_events_filtered(**form.cleaned_data)
    else:
        events = audit_events_filtered().none()
        status = 400
    paginator = Paginator(events, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    response = render(
        request,
        "dashboard/audit.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "verify": request.session.pop(VERIFY_RESULT, None),
        },
    )
    response.status_code = status
    return response


@never_cache
@require_POST
def audit_verify_view(request: HttpRequest) -> HttpResponse:
    _require(request)
    result = audit_verify_chain_recorded(actor=Actor.user(request.user), request=request)
    request.session[VERIFY_RESULT] = {
        "ok": result.ok,
        "count": result.count,
        "head": result.head,
        "first_bad_sequence": result.first_bad_sequence,
        "reason": result.reason,
    }
    if result.ok:
        messages.success(request, f"Chain intact: {result.count} events verified.")
    else:
        messages.error(
            request,
            f"Chain BROKEN at event {result.first_bad_sequence}: {result.reason} "
            f"({result.count} events verified before it).",
        )
    return redirect("dashboard:audit")
