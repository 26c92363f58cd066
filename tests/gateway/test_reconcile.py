"""Reconciliation settles orders whose placement timed out (``unknown``) against the venue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.gateway.models import Order
from apps.gateway.services.reconcile import orders_reconcile
from apps.venues.adapters.base import OrderRequest, Side
from apps.venues.adapters.registry import adapter_for
from apps.venues.models import Instrument
from apps.venues.services.credentials import account_ref_for
from tests.apikeys.factories import issue
from tests.gateway.conftest import make_market, passive_buy_price

pytestmark = pytest.mark.django_db(transaction=True)


def _unknown(market, key, symbol: str, price: Decimal, age: timedelta) -> Order:
    then = timezone.now() - age
    return Order.objects.create(
        client_order_id=f"u-{then.timestamp()}",
        api_key=key,
        account=market.account,
        account_label="SIM-A",
        instrument=Instrument.objects.get(venue=market.venue, symbol=symbol),
        symbol=symbol,
        side="buy",
        order_type="limit",
        quantity=Decimal(1),
        limit_price=price,
        time_in_force="gtc",
        status="unknown",
        venue_message="timed out",
        arrived_at=then,
        decided_at=then,
        created_at=then,
        updated_at=then,
    )


def test_unknown_orders_are_settled_from_the_venue(redis_client):
    market = make_market()
    key = issue(accounts=["SIM-A"]).api_key
    symbol = market.symbols[0]
    price = Decimal(passive_buy_price(market, symbol))
    # The venue got this one (our id is its client order id), but the answer was lost.
    reached = _unknown(market, key, symbol, price, timedelta(seconds=5))
    placed = adapter_for(market.venue).place_order(
        account_ref_for(market.account),
        OrderRequest(symbol, Side.BUY, Decimal(1), "limit", price, "gtc", reached.id.hex),
    )
    # This one never reached the venue, long ago.
    lost = _unknown(market, key, symbol, price, timedelta(minutes=2))
    # And a recent one is left alone for now (its answer may still be on the way).
    recent = _unknown(market, key, symbol, price, timedelta(seconds=0))

    report = orders_reconcile()

    reached.refresh_from_db()
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert (reached.status, reached.venue_order_id) == ("open", placed.venue_order_id)
    assert lost.status == "cancelled" and "never reached" in lost.venue_message
    assert recent.status == "unknown"
    assert report.settled == 2 and not report.errors
