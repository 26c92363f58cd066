"""Fixtures shared by the dashboard tests."""

from __future__ import annotations

import pytest

from apps.accounts.roles import roles_ensure
from apps.breakers.mirror import mirror_forget_backoff


@pytest.fixture
def roles_and_redis(redis_client):
    """The role groups exist, Redis is empty and the breaker mirror has no backoff left over."""
    roles_ensure()
    mirror_forget_backoff()
    yield
    mirror_forget_backoff()
