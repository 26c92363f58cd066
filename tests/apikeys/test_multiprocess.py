"""Key checks hold across real server processes: no per-process cache, one shared bucket."""

import threading
import time
from contextlib import ExitStack

import httpx
import pytest

from apps.apikeys.services import key_revoke
from tests.apikeys.factories import issue
from tests.support.servers import uvicorn_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture(scope="module")
def two_servers(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), ExitStack() as stack:
        yield [stack.enter_context(uvicorn_server()) for _ in range(2)]


def test_revocation_is_seen_by_another_process_on_its_next_request(two_servers, redis_client):
    issued = issue(scopes=["market:read"])
    headers = {"Authorization": f"Bearer {issued.plaintext}"}
    for server in two_servers:  # both processes have served (and could have cached) the key
        assert httpx.get(f"{server.base_url}/api/v1/me", headers=headers).status_code == 200
    key_revoke(api_key=issued.api_key, actor=issued.api_key.owner, reason="rotating the bot")
    for server in two_servers:
        response = httpx.get(f"{server.base_url}/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "key_revoked"


def test_two_processes_share_one_bucket(two_servers, redis_client):
    rate, burst = 5.0, 10
    issued = issue(scopes=["market:read"], rate=rate, burst=burst)
    headers = {"Authorization": f"Bearer {issued.plaintext}"}
    statuses: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 3.0

    def hammer(base_url: str) -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=5) as client:
            while time.monotonic() < stop_at:
                code = client.get("/api/v1/me").status_code
                with lock:
                    statuses.append(code)

    threads = [
        threading.Thread(target=hammer, args=(s.base_url,)) for s in two_servers for _ in range(2)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    accepted = statuses.count(200)
    allowance = burst + rate * elapsed
    assert set(statuses) <= {200, 429}
    assert accepted <= allowance + 1, f"{accepted} accepted, bucket allows {allowance:.1f}"
    assert accepted >= burst  # the burst itself was honoured
    assert statuses.count(429) > 0
