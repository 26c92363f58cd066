"""Reads for the key pages."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.apikeys.models import ApiKey


def keys_for_listing(
    *, user, owner: str = "", status: str = "", scope: str = ""
) -> QuerySet[ApiKey]:
    keys = (
        ApiKey.objects.restrict(user)
        .select_related("owner", "created_by")
        .prefetch_related("trading_accounts")
    )
    now = timezone.now()
    if owner:
        keys = keys.filter(owner__username__icontains=owner)
    if status == "revoked":
        keys = keys.filter(revoked_at__isnull=False)
    elif status == "expired":
        keys = keys.filter(revoked_at__isnull=True, expires_at__lte=now)
    elif status == "active":
        keys = keys.filter(Q(revoked_at__isnull=True) & Q(expires_at__gt=now))
    if scope:
        keys = keys.filter(scopes__contains=[scope])
    return keys.order_by("-created_at")
