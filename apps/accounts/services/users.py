"""User administration: create, roles, deactivate/reactivate, password changes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.accounts.hooks import run_user_deactivated
from apps.accounts.models import User
from apps.accounts.roles import Role, roles_ensure
from apps.accounts.services.sessions import sessions_end_for_user
from apps.audit.actions import AuditAction
from apps.audit.actors import Actor
from apps.audit.services import audit_record


@dataclass(frozen=True)
class CreatedUser:
    user: User
    # Path of the one-time set-password link, when no initial password was given.
    set_password_path: str | None


def user_roles(*, user: User) -> set[Role]:
    names = set(user.groups.values_list("name", flat=True))
    return {role for role in Role if role.value in names}


def set_password_path_for(*, user: User) -> str:
    """A one-time link: the token stops working once the password changes (or it expires)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("dashboard:accounts:set_password", kwargs={"uidb64": uid, "token": token})


def _groups_for(roles: Iterable[Role]) -> list[Group]:
    names = sorted({Role(role).value for role in roles})
    groups = list(Group.objects.filter(name__in=names))
    if len(groups) != len(names):
        roles_ensure()  # e.g. after a test flush; the migration normally created them
        groups = list(Group.objects.filter(name__in=names))
    return groups


def user_create(
    *,
    username: str,
    email: str,
    first_name: str,
    last_name: str,
    roles: Iterable[Role],
    initial_password: str | None,
    actor: User,
    request: HttpRequest | None,
) -> CreatedUser:
    """Create a user with roles. With ``initial_password`` the user must change it at first
    login; without, the password is unusable until set through the returned one-time link.
    Either way the user enrols a second factor at first login. Audited (USER_CREATED)."""
    roles = sorted({Role(role) for role in roles})
    with transaction.atomic():
        user = User(username=username, email=email, first_name=first_name, last_name=last_name)
        if initial_password:
            user.set_password(initial_password)
            user.must_change_password = True
        else:
            user.set_unusable_password()
        user.save()
        user.groups.set(_groups_for(roles))
        audit_record(
            action=AuditAction.USER_CREATED,
            actor=Actor.user(actor),
            target=user,
            details={
                "username": username,
                "roles": [r.value for r in roles],
                "onboarding": "initial_password" if initial_password else "set_password_link",
            },
            request=request,
        )
    link = None if initial_password else set_password_path_for(user=user)
    return CreatedUser(user=user, set_password_path=link)


def user_roles_set(
    *, user: User, roles: Iterable[Role], actor: User, request: HttpRequest | None
) -> User:
    """Replace the user's roles; audited (ROLE_CHANGED) with the before and after sets."""
    new = sorted({Role(role) for role in roles})
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        old = sorted(user_roles(user=user))
        if old == new:
            return user
        user.groups.set(_groups_for(new))
        audit_record(
            action=AuditAction.ROLE_CHANGED,
            actor=Actor.user(actor),
            target=user,
            details={"before": [r.value for r in old], "after": [r.value for r in new]},
            request=request,
        )
    return user


def user_deactivate(*, user: User, actor: User, request: HttpRequest | None) -> User:
    """Deactivate the user and end all their sessions; audited (USER_DEACTIVATED)."""
    if user.pk == actor.pk:
        raise ValueError("you cannot deactivate yourself")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if not user.is_active:
            return user
        user.is_active = False
        user.save(update_fields=["is_active"])
        sessions_end_for_user(user=user)
        run_user_deactivated(user=user, actor=actor, request=request)  # e.g. revoke API keys
        audit_record(
            action=AuditAction.USER_DEACTIVATED,
            actor=Actor.user(actor),
            target=user,
            details={},
            request=request,
        )
    return user


def user_reactivate(*, user: User, actor: User, request: HttpRequest | None) -> User:
    """Reactivate a deactivated user; audited (USER_REACTIVATED)."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_active:
            return user
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(
            action=AuditAction.USER_REACTIVATED,
            actor=Actor.user(actor),
            target=user,
            details={},
            request=request,
        )
    return user


def user_password_change(
    *, user: User, new_password: str, request: HttpRequest | None, via: str
) -> User:
    """Set a new password and end every other session of the user; audited.

    ``via`` is "self" (signed-in change, the current session stays signed in) or
    "link" (one-time set-password link, no session involved).
    """
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        sessions_end_for_user(user=user)
        audit_record(
            action=AuditAction.PASSWORD_CHANGED,
            actor=Actor.user(user),
            target=user,
            details={"via": via},
            request=request,
        )
    if request is not None and via == "self" and request.user.is_authenticated:
        update_session_auth_hash(request, user)  # keep this session, end all others
    return user
