"""Every refusal a bot can meet, with its documented status and code."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.apikeys import keyformat
from apps.apikeys.models import ApiKey
from apps.apikeys.services import key_revoke, key_rotate
from apps.audit.models import AuditEvent
from tests.apikeys.factories import issue

pytestmark = pytest.mark.django_db


def call_me(key: str, ip: str = "127.0.0.1"):
    client = APIClient(REMOTE_ADDR=ip)
    return client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}")


def test_me_describes_the_key(redis_client):
    issued = issue(
        scopes=["market:read", "orders:write"], networks=["10.0.0.0/8"], rate=5, burst=10
    )
    response = call_me(issued.plaintext, ip="10.1.2.3")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == issued.api_key.key_id
    assert body["scopes"] == ["market:read", "orders:write"]
    assert body["networks"] == ["10.0.0.0/8"]
    assert body["rate_limit"] == {"per_second": 5.0, "burst": 10}
    assert body["owner"] == issued.api_key.owner.username
    assert "secret" not in str(body).lower()


def test_no_header_is_401_not_authenticated():
    response = APIClient().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_bad_checksum_is_refused_without_touching_the_database(redis_client):
    issued = issue()
    broken = issued.plaintext[:-1] + ("A" if issued.plaintext[-1] != "A" else "B")
    with CaptureQueriesContext(connection) as queries:
        response = call_me(broken)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_key"
    assert len(queries) == 0


def test_unknown_id_and_wrong_secret_look_identical(redis_client):
    issued = issue()
    unknown = keyformat.assemble(keyformat.new_key_id(), keyformat.new_secret())
    wrong_secret = keyformat.assemble(issued.api_key.key_id, keyformat.new_secret())
    a, b = call_me(unknown), call_me(wrong_secret)
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json() == {"code": "invalid_key", "detail": "The API key is not valid."}


def test_revoked_key_is_refused_on_the_next_request(redis_client):
    issued = issue()
    assert call_me(issued.plaintext).status_code == 200
    key_revoke(api_key=issued.api_key, actor=issued.api_key.owner, reason="leaked in a log")
    response = call_me(issued.plaintext)
    assert response.status_code == 401
    assert response.json()["code"] == "key_revoked"


def test_expired_key_is_refused_and_the_attempt_audited(redis_client):
    issued = issue()
    now = timezone.now()
    ApiKey.objects.filter(pk=issued.api_key.pk).update(
        created_at=now - timedelta(days=2), expires_at=now - timedelta(seconds=1)
    )
    for _ in range(3):  # a bot retrying in a loop
        response = call_me(issued.plaintext)
        assert response.status_code == 401
        assert response.json()["code"] == "key_expired"
    # Audited once a minute per key, not once per request.
    assert AuditEvent.objects.filter(action="key.expired_use").count() == 1


@pytest.mark.parametrize(
    ("networks", "ip", "allowed"),
    [
        (["192.0.2.0/24"], "192.0.2.77", True),
        (["192.0.2.0/24"], "198.51.100.1", False),
        (["2001:db8::/32"], "2001:db8::1", True),
        (["2001:db8::/32"], "2001:db9::1", False),
        (["192.0.2.0/24"], "::ffff:192.0.2.5", True),  # IPv4-mapped IPv6 is the same host
    ],
)
def test_client_address_must_be_in_an_allowed_network(redis_client, networks, ip, allowed):
    issued = issue(networks=networks)
    response = call_me(issued.plaintext, ip=ip)
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "ip_not_allowed"
        assert AuditEvent.objects.filter(action="key.ip_denied").exists()


def test_rotation_with_grace_keeps_the_old_secret_until_the_grace_ends(redis_client):
    issued = issue()
    rotated = key_rotate(api_key=issued.api_key, actor=issued.api_key.owner, grace_seconds=3600)
    assert call_me(rotated.plaintext).status_code == 200
    assert call_me(issued.plaintext).status_code == 200
    ApiKey.objects.filter(pk=issued.api_key.pk).update(previous_valid_until=timezone.now())
    assert call_me(issued.plaintext).status_code == 401
    assert call_me(rotated.plaintext).status_code == 200


def test_rotation_without_grace_invalidates_the_old_secret_at_once(redis_client):
    issued = issue()
    rotated = key_rotate(api_key=issued.api_key, actor=issued.api_key.owner, grace_seconds=0)
    assert call_me(issued.plaintext).status_code == 401
    assert call_me(rotated.plaintext).status_code == 200
    actions = list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))
    assert actions[-2:] == ["key.issued", "key.rotated"]


def test_last_used_is_written_at_most_once_a_minute(redis_client):
    issued = issue()
    with CaptureQueriesContext(connection) as first:
        call_me(issued.plaintext)
    with CaptureQueriesContext(connection) as second:
        call_me(issued.plaintext)
    assert any("UPDATE" in q["sql"] for q in first.captured_queries)
    assert not any("UPDATE" in q["sql"] for q in second.captured_queries)
    issued.api_key.refresh_from_db()
    assert issued.api_key.last_used_ip == "127.0.0.1"


def test_rate_limit_answers_429_with_retry_after(redis_client):
    issued = issue(rate=0.5, burst=2)
    codes = [call_me(issued.plaintext).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = call_me(issued.plaintext)
    assert response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1


def test_redis_down_fails_closed_with_503(settings):
    issued = issue()
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    response = call_me(issued.plaintext)
    assert response.status_code == 503
    assert response.json()["code"] == "dependency_unavailable"


def test_deactivating_the_owner_revokes_all_their_keys(redis_client):
    from apps.accounts.roles import Role
    from apps.accounts.services.users import user_deactivate
    from tests.accounts.factories import make_user

    admin = make_user("deactivating-admin", roles=(Role.ADMIN,))
    owner = make_user("leaving-trader", roles=(Role.TRADER,))
    keys = [issue(owner=owner, name=f"bot-{i}") for i in range(2)]
    user_deactivate(user=owner, actor=admin, request=None)
    for issued in keys:
        response = call_me(issued.plaintext)
        assert response.status_code == 401 and response.json()["code"] == "key_revoked"
        issued.api_key.refresh_from_db()
        assert issued.api_key.revoke_reason == "owner deactivated"
    assert AuditEvent.objects.filter(action="key.revoked").count() == 2


def test_a_key_is_bound_to_its_trading_accounts(redis_client):
    from tests.apikeys.factories import trading_account

    trading_account("SIM-A"), trading_account("SIM-B")
    issued = issue(scopes=["orders:write"], accounts=["SIM-B", "SIM-A"])
    assert call_me(issued.plaintext).json()["accounts"] == ["SIM-A", "SIM-B"]
    event = AuditEvent.objects.filter(action="key.issued").latest("sequence")
    assert event.details["accounts"] == ["SIM-A", "SIM-B"]


def test_unknown_trading_accounts_are_refused_not_ignored():
    from django.core.exceptions import ValidationError

    from tests.apikeys.factories import trading_account

    trading_account("SIM-A")
    with pytest.raises(ValidationError, match="NOPE"):
        issue(accounts=["SIM-A", "NOPE"])
    assert not ApiKey.objects.exists()
