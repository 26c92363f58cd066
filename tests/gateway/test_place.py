"""Placing orders through a real server: accepted, filled, listed, cancelled."""

from __future__ import annotations

import pytest

from apps.gateway.models import Order, Position
from apps.venues.models import SimOrder
from tests.gateway.conftest import marketable_buy_price, passive_buy_price

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_passive_limit_rests_and_a_marketable_one_fills_and_moves_the_position(bot, market):
    symbol = market.symbols[0]
    resting = bot.order(symbol, price=passive_buy_price(market, symbol), client_order_id="r1")
    assert resting.status_code == 201, resting.text
    assert resting.json()["status"] == "open"
    assert resting.json()["venue_order_id"].startswith("SIM-")

    taker = bot.order(symbol, price=marketable_buy_price(market, symbol), client_order_id="t1")
    assert taker.status_code == 201, taker.text
    body = taker.json()
    assert body["status"] in ("filled", "partially_filled")
    order = Order.objects.get(pk=body["id"])
    assert order.fills.count() >= 1
    assert Position.objects.get(account=market.account).size == order.filled_quantity

    listed = bot.http.get("/orders", params={"status": "open"}).json()
    assert [o["id"] for o in listed] == [resting.json()["id"]]
    detail = bot.http.get(f"/orders/{body['id']}").json()
    assert detail["fills"] and detail["arrived_at"] <= detail["decided_at"]

    cancelled = bot.http.delete(f"/orders/{resting.json()['id']}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert SimOrder.objects.get(venue_order_id=resting.json()["venue_order_id"]).status == (
        "cancelled"
    )


def test_a_key_sees_only_its_accounts_orders(bot, market, live_server_process):
    from tests.gateway.conftest import make_bot

    symbol = market.symbols[0]
    placed = bot.order(symbol, price=passive_buy_price(market, symbol)).json()
    other = make_bot(live_server_process, accounts=[])
    try:
        assert other.http.get("/orders").json() == []
        assert other.http.get(f"/orders/{placed['id']}").status_code == 404
        assert other.http.delete(f"/orders/{placed['id']}").status_code == 404
    finally:
        other.close()


def test_risk_sees_open_orders_and_order_rate_per_scope(bot, market):
    from apps.risk.order_metrics import order_metrics_for

    symbol = market.symbols[0]
    for _ in range(2):
        assert bot.order(symbol, price=passive_buy_price(market, symbol)).status_code == 201
    bot.order("BTC-NOPE", price="0.01")  # a reject still counts towards the rate
    metrics = order_metrics_for([("account", "SIM-A"), ("underlying", "BTC"), ("venue", "X")])
    assert metrics[("account", "SIM-A")] == {"open_orders": 2.0, "order_rate": 3.0}
    assert metrics[("underlying", "BTC")]["open_orders"] == 2.0
    assert metrics[("venue", "X")] == {"open_orders": 0.0, "order_rate": 0.0}
