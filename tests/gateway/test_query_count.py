"""The hot path stays cheap: a fixed, small number of queries per order, whatever the book."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.apikeys.factories import issue
from tests.gateway.conftest import make_market, passive_buy_price

pytestmark = pytest.mark.django_db(transaction=True)

# Key lookup, one statement for account (+venue, limits, key binding, instrument, book), INSERT,
# UPDATE, plus transaction statements (docs/gateway.md, "Performance"); the simulated
# venue's own statements are not counted. A ceiling, so an added per-order query fails here.
MAX_GATEWAY_QUERIES = 14


def _own(queries) -> list[str]:
    return [q["sql"] for q in queries if "venues_sim" not in q["sql"]]


def test_an_accepted_order_costs_a_fixed_number_of_queries(redis_client):
    market = make_market()
    issued = issue(accounts=["SIM-A"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    symbol = market.symbols[0]
    body = {
        "account": "SIM-A",
        "instrument": symbol,
        "side": "buy",
        "quantity": "1",
        "price": passive_buy_price(market, symbol),
    }
    counts = []
    for i in range(12):  # the book grows: no query may depend on its size
        with CaptureQueriesContext(connection) as ctx:
            r = client.post("/api/v1/orders", {**body, "client_order_id": f"q{i}"}, format="json")
        assert r.status_code == 201, r.content
        counts.append(len(_own(ctx.captured_queries)))
    assert max(counts[2:]) <= MAX_GATEWAY_QUERIES, "\n".join(_own(ctx.captured_queries))
    assert len(set(counts[2:])) == 1, counts
