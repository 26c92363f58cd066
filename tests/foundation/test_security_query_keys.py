"""A key in the URL's query string is refused (400 ``key_in_query_string``), never used, and
audited once a minute per client address with the key id it claims, never its secret."""

from __future__ import annotations

import httpx
import pytest
from rest_framework.test import APIClient

from apps.apikeys.models import ApiKey
from apps.audit.models import AuditEvent
from tests.apikeys.factories import issue

ACTION = "key.query_string_refused"


def refused(response) -> None:
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["code"] == "key_in_query_string"
    assert "Authorization: Bearer" in body["detail"] and "rotate" in body["detail"]


def last_used(issued) -> object:
    return ApiKey.objects.get(pk=issued.api_key.pk).last_used_at


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "api_key={key}",
        "key={key}",
        "token={key}",
        "Api-Key={key}",
        "access_token={key}",
        "authorization=Bearer%20{key}",
        "underlying=BTC&note={key}",  # any parameter holding something key-shaped
        "{key}=",  # the key as a parameter name
        "q={truncated}",  # cut short, still recognisably ours
        "key=",  # a credential parameter, even empty, is never a filter
    ],
)
def test_a_key_in_the_query_string_is_refused_and_never_used(query, redis_client):
    issued = issue(scopes=["market:read"])
    url = "/api/v1/me?" + query.format(key=issued.plaintext, truncated=issued.plaintext[:20])
    refused(APIClient().get(url))
    assert last_used(issued) is None  # never looked up, let alone authenticated


@pytest.mark.django_db
def test_a_good_header_does_not_excuse_a_key_in_the_url(redis_client):
    issued = issue(scopes=["market:read"])
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    refused(client.get(f"/api/v1/me?api_key={issued.plaintext}"))
    assert last_used(issued) is None
    # Ordinary parameters are untouched.
    assert client.get("/api/v1/me?verbose=1").status_code == 200


@pytest.mark.django_db
def test_the_refusal_is_audited_with_the_claimed_key_id_once_a_minute(redis_client):
    issued = issue(scopes=["market:read"], name="leaky-bot")
    client = APIClient(REMOTE_ADDR="10.9.8.7")
    for _ in range(3):
        refused(client.get(f"/api/v1/me?token={issued.plaintext}"))
    events = list(AuditEvent.objects.filter(action=ACTION))
    assert len(events) == 1  # a bot retrying in a loop does not flood the chain
    (event,) = events
    assert event.details["claimed_key_id"] == issued.api_key.key_id
    assert event.details["known_key"] is True and event.details["parameter"] == "token"
    assert event.details["client_ip"] == "10.9.8.7"
    assert (event.actor_kind, event.actor_id) == ("api_key", issued.api_key.key_id)
    secret_part = issued.plaintext.split("_")[2]
    assert secret_part not in str(event.details) and secret_part not in str(event.__dict__)

    # A key used as the parameter's name is not stored either.
    refused(APIClient(REMOTE_ADDR="10.9.8.8").get(f"/api/v1/me?{issued.plaintext}="))
    named = AuditEvent.objects.filter(action=ACTION).order_by("-sequence").first()
    assert named.details["parameter"] == "<key-shaped name>"
    assert secret_part not in str(named.details)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_real_server_refuses_a_key_in_the_url(live_server_process, redis_client):
    issued = issue(scopes=["market:read"])
    response = httpx.get(
        f"{live_server_process.base_url}/api/v1/me", params={"api_key": issued.plaintext}
    )
    refused(response)
    assert response.headers["content-type"].startswith("application/json")
