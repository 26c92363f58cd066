"""The order path's hand-written statements and answers (config/model_sql.py): the models and
their limits read in one statement, prepared statements logged with their values, and
rejects answered without a Django warning line each."""

from __future__ import annotations

import logging

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers
from rest_framework.test import APIClient

from apps.gateway.api.serializers import OrderInputSerializer, OrderSerializer
from apps.gateway.api.views import order_body
from apps.gateway.models import GatewayLimits, Order
from tests.apikeys.factories import issue
from tests.gateway.conftest import make_market, passive_buy_price

pytestmark = pytest.mark.django_db(transaction=True)


def _client(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def _body(market, symbol: str, **fields) -> dict:
    return {
        "account": "SIM-A",
        "instrument": symbol,
        "side": "buy",
        "quantity": "1",
        "price": passive_buy_price(market, symbol),
        **fields,
    }


def test_an_order_is_stored_with_the_account_limits_and_instrument_it_was_decided_on(
    redis_client,
):
    market = make_market()
    GatewayLimits.objects.create(account=market.account, max_order_quantity=5)
    client = _client(issue(accounts=["SIM-A"]).plaintext)
    symbol = market.symbols[0]
    r = client.post("/api/v1/orders", _body(market, symbol, quantity="6"), format="json")
    assert r.status_code == 422 and r.json()["code"] == "quantity_too_large", r.content
    with CaptureQueriesContext(connection) as ctx:
        r = client.post(
            "/api/v1/orders", _body(market, symbol, client_order_id="p-1"), format="json"
        )
    assert r.status_code == 201, r.content
    order = Order.objects.select_related("account", "instrument").get(client_order_id="p-1")
    assert order.account == market.account and order.instrument.symbol == symbol
    # The answer is exactly what OrderSerializer gives (one serializer, reused).
    assert r.json() == {k: v for k, v in OrderSerializer(order).data.items()}
    assert r.json() == order_body(order)
    # Prepared statements are logged (and captured) with their values, like the ORM's.
    sqls = [q["sql"] for q in ctx.captured_queries]
    assert all(sqls)
    assert any("'SIM-A'" in sql and symbol in sql for sql in sqls)


def test_a_retry_of_a_client_order_id_is_a_replay(redis_client):
    market = make_market()
    client = _client(issue(accounts=["SIM-A"]).plaintext)
    body = _body(market, market.symbols[0], client_order_id="r-1")
    first = client.post("/api/v1/orders", body, format="json")
    again = client.post("/api/v1/orders", body, format="json")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    assert Order.objects.filter(client_order_id="r-1").count() == 1


def test_rejects_are_not_logged_as_django_warnings_other_4xx_still_are(redis_client, caplog):
    market = make_market()
    client = _client(issue(accounts=["SIM-A"]).plaintext)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        body = {**_body(market, market.symbols[0]), "instrument": "BTC-1JAN20-1-C"}
        r = client.post("/api/v1/orders", body, format="json")
        assert r.status_code == 422 and r.json()["code"] == "unknown_instrument"
        assert not [rec for rec in caplog.records if rec.name == "django.request"]
        r = client.post("/api/v1/orders", {"account": "SIM-A"}, format="json")
        assert r.status_code == 400
    assert [rec for rec in caplog.records if rec.name == "django.request"]
    assert Order.objects.get(reject_code="unknown_instrument")


def test_the_http_handler_serves_streamed_files_and_returns_connections(live_server_process):
    """config.asgi.HttpHandler: a streamed response (a static file) arrives whole, and the
    reused worker threads give their database connections back to the pool."""
    issued = issue(accounts=[])

    def connections_to_the_test_database() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            return int(cursor.fetchone()[0])

    # Other processes of the test session (servers, workers) may hold connections too: count
    # what these 30 requests add, which with a connection per request would be about 30.
    before = connections_to_the_test_database()
    with httpx.Client(base_url=live_server_process.base_url, timeout=10) as http:
        css = http.get("/static/css/app.css")
        assert css.status_code == 200 and len(css.content) > 100
        for _ in range(30):
            r = http.get("/api/v1/me", headers={"Authorization": f"Bearer {issued.plaintext}"})
            assert r.status_code == 200
    others = connections_to_the_test_database() - before
    assert others <= 8  # the server's pool at most (DB_POOL_MAX_SIZE), not one per request


class _DeepCopyingInput(OrderInputSerializer):
    def get_fields(self):
        return serializers.Serializer.get_fields(self)  # DRF's own: deep copies


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"side": "hold"},
        {"quantity": "-1"},
        {"quantity": "1.123456789"},
        {"price": None},
        {"type": "market"},
        {"type": "market", "price": None},
        {"client_order_id": "bad id!"},
        {"reduce_only": "maybe"},
        {"time_in_force": "fok"},
        {"account": "x" * 65},
        {"price": "abc"},
    ],
)
def test_the_input_serializer_validates_as_drf_does(changes):
    body = {
        "account": "SIM-A",
        "instrument": "BTC-X",
        "side": "buy",
        "quantity": "1",
        "price": "0.05",
        "time_in_force": "ioc",
        "client_order_id": "abc",
        **changes,
    }
    for _ in range(2):  # the shared pristine fields are never changed by a validation
        ours, drf = OrderInputSerializer(data=body), _DeepCopyingInput(data=body)
        assert ours.is_valid() == drf.is_valid()
        assert ours.errors == drf.errors
        if not ours.errors:
            assert ours.validated_data == drf.validated_data
