"""What the fuzz runs (and the probes they prompted) found, pinned down one request each so a
regression fails here by name, not somewhere in a generated run (docs/testing.md)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.apikeys.scopes import ALL_SCOPES
from config.api_fields import NOT_BLANK
from tests.apikeys.factories import issue
from tests.gateway.conftest import make_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(redis_client) -> APIClient:
    make_market("FUZZ-A")
    client = APIClient()
    key = issue(scopes=ALL_SCOPES, accounts=["FUZZ-A"]).plaintext
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_time_offset_postgresql_refuses_is_read_as_utc_not_a_503(api):
    # Was 503 dependency_unavailable: PostgreSQL refuses offsets beyond ±15:59.
    response = api.get("/api/v1/orders", {"since": "1631-10-25T03:29:02.0-16:50"})
    assert response.status_code == 200, response.content
    history = api.get("/api/v1/surfaces/BTC/history", {"from": "2000-01-01T00:00:00-16:50"})
    assert history.status_code == 200 and history.json()["from"] == "2000-01-01T16:50:00+00:00"
    # Valid RFC 3339 past year 9999 in UTC: clamped, not a 500.
    assert api.get("/api/v1/orders", {"since": "9999-12-31T23:59:59-10:00"}).json() == []


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/orders?account=%00",  # was a 503
        "/api/v1/instruments?venue=%00",  # was a 500
        "/api/v1/positions?account=%00",
        "/api/v1/surfaces/BTC/history?venue=%00",
    ],
)
def test_a_nul_in_the_query_string_is_a_400(api, url):
    response = api.get(url)
    assert response.status_code == 400 and response.json()["code"] == "invalid_request"


def test_a_malformed_order_id_is_the_api_json_404(api):
    for method in ("get", "delete"):
        response = getattr(api, method)("/api/v1/orders/not-a-uuid")
        assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/api/v1/breakers/trip", {"scope": "api_key", "reason": 0}, "reason"),
        (
            "/api/v1/orders",
            {"account": "FUZZ-A", "instrument": "X", "side": "buy", "quantity": 1, "price": "1"},
            "quantity",
        ),
        ("/api/v1/heartbeat", {"interval_seconds": "5"}, "interval_seconds"),
        ("/api/v1/orders/cancel-all", {"underlying": 5}, "underlying"),
    ],
)
def test_request_bodies_take_the_documented_json_types_only(api, path, body, field):
    # DRF coerced 0 to "0", 1 to a Decimal and "5" to 5; the schema says otherwise.
    response = api.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    "url,field",
    [
        ("/api/v1/orders?until=", "until"),
        ("/api/v1/orders?status=", "status"),
        ("/api/v1/instruments?include_inactive=maybe", "include_inactive"),
        ("/api/v1/instruments?kind=", "kind"),
        ("/api/v1/chains/BTC?expiry=2026-02-30", "expiry"),  # was a 500
    ],
)
def test_a_query_parameter_given_empty_or_malformed_is_refused_not_ignored(api, url, field):
    response = api.get(url)
    assert response.status_code == 400 and field in response.json()["errors"]


def test_not_blank_means_what_trimming_means_in_every_regex_dialect():
    # "\x1f" is whitespace to str.strip() (DRF trims it away) but not to ECMA's \s: the
    # pattern names the characters instead of trusting \s.
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert all(NOT_BLANK.regex.search(f"a{c}") for c in spaces)
    assert not any(NOT_BLANK.regex.search(c * 2) for c in spaces)
    assert "\\s" not in NOT_BLANK.regex.pattern
