"""User administration pages (admin role, step-up): list, create, roles, MFA reset, deactivate."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.forms import RolesForm, UserCreateForm
from apps.accounts.models import TotpDevice, User
from apps.accounts.roles import ROLE_LABELS, Role
from apps.accounts.services.mfa import mfa_reset
from apps.accounts.services.users import (
    user_create,
    user_deactivate,
    user_reactivate,
    user_roles,
    user_roles_set,
)
from apps.accounts.stepup import sensitive_action

NS = "dashboard:accounts"


def capability_required(codename: str) -> Callable[[Callable[..., HttpResponse]], Any]:
    """403 unless the user holds the capability (checked before any step-up prompt)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(f"accounts.{codename}"):
                raise PermissionDenied(f"Needs the {codename} capability.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _users_queryset() -> Any:
    enrolled = TotpDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    return (
        User.objects.annotate(mfa_enrolled=Exists(enrolled))
        .prefetch_related(Prefetch("groups"))
        .order_by("username")
    )


@capability_required("manage_users")
@sensitive_action
@never_cache
@require_http_methods(["GET"])
def user_list_view(request: HttpRequest) -> HttpResponse:
    users = list(_users_queryset())
    role_names = {role.value for role in Role}
    rows = [
        {"user": u, "roles": sorted(g.name for g in u.groups.all() if g.name in role_names)}
        for u in users
    ]
    return render(request, "accounts/users/list.html", {"rows": rows})


@capability_required("manage_users")
@sensitive_action
@never_cache
@sensitive_post_parameters("initial_password")
@require_http_methods(["GET", "POST"])
def user_create_view(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data["roles"] and not request.user.has_perm("accounts.manage_roles"):
            raise PermissionDenied("Needs the manage_roles capability to assign roles.")
        created = user_create(
            username=data["username"],
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            roles=[Role(r) for r in data["roles"]],
            initial_password=data["initial_password"]
            if data["onboarding"] == UserCreateForm.ONBOARD_PASSWORD
            else None,
            actor=request.user,
            request=request,
        )
        link = (
            request.build_absolute_uri(created.set_password_path)
            if created.set_password_path
            else None
        )
        return render(
            request, "accounts/users/created.html", {"created": created.user, "link": link}
        )
    return render(request, "accounts/users/create.html", {"form": form})


@capability_required("manage_users")
@sensitive_action
@never_cache
@require_http_methods(["GET"])
def user_detail_view(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(_users_queryset(), pk=user_id)
    roles = user_roles(user=subject)
    form = RolesForm(initial={"roles": [r.value for r in roles]})
    return render(
        request,
        "accounts/users/detail.html",
        {
            "subject": subject,
            "roles": [ROLE_LABELS[r] for r in sorted(roles)],
            "form": form,
            "is_self": subject.pk == request.user.pk,
        },
    )


@capability_required("manage_roles")
@sensitive_action
@require_POST
def user_roles_view(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    form = RolesForm(request.POST)
    if form.is_valid():
        user_roles_set(
            user=subject,
            roles=[Role(r) for r in form.cleaned_data["roles"]],
            actor=request.user,
            request=request,
        )
        messages.success(request, f"Roles of {subject.username} saved.")
    else:
        messages.error(request, "Those roles are not valid.")
    return redirect(f"{NS}:user_detail", user_id=subject.pk)


@capability_required("manage_users")
@sensitive_action
@require_POST
def user_mfa_reset_view(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    mfa_reset(user=subject, actor=request.user, request=request)
    messages.success(
        request,
        f"MFA of {subject.username} was reset: their sessions ended and they will set up an "
        "authenticator at their next sign-in.",
    )
    if subject.pk == request.user.pk:
        return redirect(f"{NS}:login")
    return redirect(f"{NS}:user_detail", user_id=subject.pk)


@capability_required("manage_users")
@sensitive_action
@require_POST
def user_deactivate_view(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    try:
        user_deactivate(user=subject, actor=request.user, request=request)
    except ValueError as exc:
        messages.error(request, str(exc).capitalize() + ".")
    else:
        messages.success(request, f"{subject.username} was deactivated; their sessions ended.")
    return redirect(f"{NS}:user_detail", user_id=subject.pk)


@capability_required("manage_users")
@sensitive_action
@require_POST
def user_reactivate_view(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    user_reactivate(user=subject, actor=request.user, request=request)
    messages.success(request, f"{subject.username} was reactivated.")
    return redirect(f"{NS}:user_detail", user_id=subject.pk)
