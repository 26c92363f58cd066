from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.apikeys.scopes import ALL_SCOPES
from apps.apikeys.services import IssuedKey, key_issue


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"bot-owner-{n}")
    password = factory.django.Password("a-long-test-password")


def issue(
    *,
    scopes: list[str] | tuple[str, ...] = ALL_SCOPES,
    owner=None,
    networks: list[str] | None = None,
    expires_in: timedelta | None = None,
    rate: float = 1000.0,
    burst: int = 1000,
    name: str = "test bot",
    accounts: list | None = None,
) -> IssuedKey:
    owner = owner or UserFactory()
    return key_issue(
        owner=owner,
        name=name,
        scopes=list(scopes),
        actor=owner,
        allowed_networks=networks,
        expires_at=timezone.now() + expires_in if expires_in else None,
        rate_per_second=rate,
        burst=burst,
        accounts=accounts,
    )


def trading_account(label: str = "SIM-A", venue_name: str = "SIM"):
    from apps.venues.models import TradingAccount, Venue

    venue, _ = Venue.objects.get_or_create(
        name=venue_name, defaults={"adapter": "simulated", "underlyings": ["BTC"]}
    )
    account, _ = TradingAccount.objects.get_or_create(
        label=label, defaults={"venue": venue, "external_id": label.lower()}
    )
    return account
