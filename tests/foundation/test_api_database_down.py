"""With PostgreSQL unreachable the API answers the documented 503 JSON, never a 500."""

from __future__ import annotations

import httpx
import pytest

from apps.apikeys import keyformat
from tests.support.servers import free_port, uvicorn_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_the_api_fails_closed_with_503_when_postgres_is_unreachable():
    closed = free_port()  # nothing listens there: a real refused connection
    with uvicorn_server(
        ready_path="/healthz", DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed}/none"
    ) as server:
        well_formed = keyformat.assemble(keyformat.new_key_id(), keyformat.new_secret())
        headers = {"Authorization": f"Bearer {well_formed}"}
        me = httpx.get(f"{server.base_url}/api/v1/me", headers=headers, timeout=10)
        order = httpx.post(
            f"{server.base_url}/api/v1/orders",
            headers=headers,
            json={"account": "SIM-A", "instrument": "X", "side": "buy", "quantity": "1"},
            timeout=10,
        )
        ready = httpx.get(f"{server.base_url}/readyz", timeout=10)
    for response in (me, order):
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "dependency_unavailable"
    assert ready.status_code == 503 and ready.json()["failed"] == ["postgres"]
