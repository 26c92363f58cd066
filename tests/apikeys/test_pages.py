"""Key management pages: who may do what, the secret shown once, step-up before changes."""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.roles import Role, roles_ensure
from apps.apikeys.models import ApiKey
from apps.audit.models import AuditEvent
from tests.accounts.factories import make_user, sign_in
from tests.apikeys.factories import issue

pytestmark = pytest.mark.django_db

KEY_RE = re.compile(r"bwk_[0-9A-Za-z]{10}_[0-9A-Za-z]{38}")


@pytest.fixture(autouse=True)
def _roles():
    roles_ensure()


@pytest.fixture
def admin_client():
    client = Client()
    sign_in(client, make_user("keyadmin", roles=(Role.ADMIN,)))
    return client


def _issue_via_page(client, owner, **overrides):
    data = {
        "name": "mm-bot",
        "owner": owner.pk,
        "scopes": ["market:read", "orders:write"],
        "allowed_networks": "10.0.0.0/8\n2001:db8::/32",
        "expires_in_days": 30,
        "rate_per_second": 5,
        "burst": 10,
        **overrides,
    }
    return client.post("/keys/new/", data)


def test_admin_issues_a_key_and_sees_the_secret_exactly_once(admin_client, redis_client):
    owner = make_user("bot-owner", roles=(Role.TRADER,))
    response = _issue_via_page(admin_client, owner)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    plaintext = KEY_RE.search(html).group(0)
    assert "will not be shown again" in html

    key = ApiKey.objects.get(name="mm-bot")
    assert key.allowed_networks == ["10.0.0.0/8", "2001:db8::/32"]
    for page in ("/keys/", f"/keys/{key.key_id}/"):
        assert plaintext not in admin_client.get(page).content.decode()

    me = APIClient(REMOTE_ADDR="10.9.8.7").get(
        "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}"
    )
    assert me.status_code == 200 and me.json()["id"] == key.key_id


def test_bad_input_is_explained_and_nothing_is_issued(admin_client):
    owner = make_user("bot-owner2", roles=(Role.TRADER,))
    response = _issue_via_page(admin_client, owner, allowed_networks="10.0.0.300/8", scopes=[])
    html = response.content.decode()
    assert response.status_code == 200
    assert "is not an IPv4/IPv6 address or CIDR network" in html or "not a valid" in html.lower()
    assert "This field is required" in html  # scopes
    assert not ApiKey.objects.exists()


def test_key_that_trades_from_anywhere_is_flagged_in_the_list(admin_client):
    issue(scopes=["orders:write"], name="open-bot")
    html = admin_client.get("/keys/").content.decode()
    assert "orders from anywhere" in html


def test_a_trader_sees_and_revokes_only_their_own_keys(redis_client):
    trader = make_user("trader-t", roles=(Role.TRADER,))
    other = make_user("trader-u", roles=(Role.TRADER,))
    mine, theirs = issue(owner=trader, name="mine"), issue(owner=other, name="theirs")
    client = Client()
    sign_in(client, trader)
    listing = client.get("/keys/").content.decode()
    assert mine.api_key.key_id in listing and theirs.api_key.key_id not in listing
    assert client.get("/keys/new/").status_code == 403
    assert client.post(f"/keys/{theirs.api_key.key_id}/revoke/", {"reason": "x"}).status_code == 404
    response = client.post(f"/keys/{mine.api_key.key_id}/revoke/", {"reason": "laptop lost"})
    assert response.status_code == 302
    mine.api_key.refresh_from_db()
    assert mine.api_key.revoke_reason == "laptop lost"
    event = AuditEvent.objects.filter(action="key.revoked").latest("sequence")
    assert event.details["reason"] == "laptop lost"


def test_rotation_from_the_page_shows_the_new_secret_once(admin_client, redis_client):
    issued = issue(name="rotating")
    response = admin_client.post(f"/keys/{issued.api_key.key_id}/rotate/", {"grace_seconds": 3600})
    new_key = KEY_RE.search(response.content.decode()).group(0)
    assert new_key != issued.plaintext
    for key in (issued.plaintext, new_key):  # both work during the grace period
        assert APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200


def test_changes_need_a_recent_second_factor(admin_client, settings):
    issued = issue(name="stale-session")
    settings.MFA_STEP_UP_SECONDS = 0
    response = admin_client.post(f"/keys/{issued.api_key.key_id}/revoke/", {"reason": "test"})
    assert response.status_code == 302
    assert "/accounts/step-up/" in response["Location"]
    issued.api_key.refresh_from_db()
    assert not issued.api_key.is_revoked
