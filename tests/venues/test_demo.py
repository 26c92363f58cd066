"""The demo seed: simulated venue SIM, accounts SIM-A/SIM-B with positions, trader link."""

from __future__ import annotations

import pytest

from apps.accounts.roles import Role
from apps.venues.demo import venues_seed_demo
from apps.venues.models import SimOrder, TradingAccount, Venue, VenuePosition
from tests.accounts.factories import make_user

pytestmark = pytest.mark.django_db


def test_seed_creates_the_simulated_venue_accounts_positions_and_links_the_trader(redis_client):
    trader = make_user("demo-trader", roles=(Role.TRADER,))
    risk = make_user("demo-risk", roles=(Role.RISK_MANAGER,))
    summary = venues_seed_demo()
    assert "SIM-A" in summary and "demo-trader" in summary
    venue = Venue.objects.get(name="SIM")
    assert venue.adapter == "simulated" and venue.enabled and venue.underlyings == ["BTC", "ETH"]
    a, b = TradingAccount.objects.get(label="SIM-A"), TradingAccount.objects.get(label="SIM-B")
    assert list(a.traders.all()) == [trader] and not b.traders.exists()
    assert VenuePosition.objects.filter(account=a).count() >= 2
    assert VenuePosition.objects.filter(account=b).count() >= 1
    assert list(TradingAccount.objects.visible_to(trader)) == [a]
    assert list(TradingAccount.objects.visible_to(risk)) == [a, b]
    assert not TradingAccount.objects.visible_to(make_user("v", roles=(Role.VIEWER,))).exists()

    orders, positions = SimOrder.objects.count(), VenuePosition.objects.count()
    venues_seed_demo()  # idempotent: nothing traded twice
    assert SimOrder.objects.count() == orders and VenuePosition.objects.count() == positions
    assert Venue.objects.count() == 1 and TradingAccount.objects.count() == 2


def test_seed_without_the_demo_trader_still_works(redis_client):
    assert "demo-trader" not in venues_seed_demo()
    assert TradingAccount.objects.count() == 2
