"""Key management pages: admins issue, rotate and revoke; owners see and revoke their own.

Every mutating view is a ``sensitive_action`` (a recent second-factor check). A new secret
is rendered once, in the response to the POST that created it, with ``no-store``.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.stepup import sensitive_action
from apps.apikeys.forms import KeyFilterForm, KeyIssueForm, KeyRevokeForm, KeyRotateForm
from apps.apikeys.models import ApiKey
from apps.apikeys.selectors import keys_for_listing
from apps.apikeys.services import IssuedKey, key_issue, key_revoke, key_rotate

MANAGE = "accounts.manage_api_keys"


def _require_manager(request: HttpRequest) -> None:
    if not request.user.has_perm(MANAGE):
        raise PermissionDenied("Only admins manage API keys.")


def _visible_key(request: HttpRequest, key_id: str) -> ApiKey:
    return get_object_or_404(ApiKey.objects.restrict(request.user), key_id=key_id)


def _show_secret_once(request: HttpRequest, issued: IssuedKey, *, verb: str) -> HttpResponse:
    response = render(
        request, "apikeys/key_secret.html", {"issued": issued, "key": issued.api_key, "verb": verb}
    )
    response["Cache-Control"] = "no-store"
    return response


@never_cache
def key_list_view(request: HttpRequest) -> HttpResponse:
    filters = KeyFilterForm(request.GET or None)
    criteria = filters.cleaned_data if filters.is_valid() else {}
    keys = keys_for_listing(user=request.user, **{k: v for k, v in criteria.items() if v})
    return render(
        request,
        "apikeys/key_list.html",
        {
            "keys": keys,
            "filters": filters,
            "can_manage": request.user.has_perm(MANAGE),
            "now": timezone.now(),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@sensitive_action
def key_issue_view(request: HttpRequest) -> HttpResponse:
    _require_manager(request)
    form = KeyIssueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = key_issue(
                owner=data["owner"],
                name=data["name"],
                scopes=data["scopes"],
                actor=request.user,
                expires_at=timezone.now() + timezone.timedelta(days=data["expires_in_days"]),
                allowed_networks=form.networks(),
                rate_per_second=data["rate_per_second"],
                burst=data["burst"],
                accounts=list(data["trading_accounts"]),
                request=request,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return _show_secret_once(request, issued, verb="issued")
    return render(request, "apikeys/key_issue.html", {"form": form})


@never_cache
def key_detail_view(request: HttpRequest, key_id: str) -> HttpResponse:
    api_key = _visible_key(request, key_id)
    return render(
        request,
        "apikeys/key_detail.html",
        {
            "key": api_key,
            "revoke_form": KeyRevokeForm(),
            "rotate_form": KeyRotateForm(),
            "can_manage": request.user.has_perm(MANAGE),
        },
    )


@never_cache
@require_POST
@sensitive_action
def key_rotate_view(request: HttpRequest, key_id: str) -> HttpResponse:
    _require_manager(request)
    api_key = _visible_key(request, key_id)
    form = KeyRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a grace period.")
        return redirect("apikeys:detail", key_id=key_id)
    try:
        issued = key_rotate(
            api_key=api_key,
            actor=request.user,
            grace_seconds=form.cleaned_data["grace_seconds"],
            request=request,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("apikeys:detail", key_id=key_id)
    return _show_secret_once(request, issued, verb="rotated")


@never_cache
@require_POST
@sensitive_action
def key_revoke_view(request: HttpRequest, key_id: str) -> HttpResponse:
    api_key = _visible_key(request, key_id)  # admins: any key; everyone else: their own
    form = KeyRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the key is revoked.")
        return redirect("apikeys:detail", key_id=key_id)
    key_revoke(
        api_key=api_key, actor=request.user, reason=form.cleaned_data["reason"], request=request
    )
    messages.success(request, f"Key {api_key.key_id} is revoked. It stopped working everywhere.")
    return redirect("apikeys:list")
