import pytest

from apps.accounts.roles import roles_ensure
from apps.breakers.mirror import mirror_forget_backoff


@pytest.fixture(autouse=True)
def _roles(request):
    """Transactional tests flush the tables the data migration filled; put the roles back."""
    if "django_db_setup" in request.fixturenames or request.node.get_closest_marker("django_db"):
        request.getfixturevalue("_django_db_helper")
        roles_ensure()


@pytest.fixture(autouse=True)
def _fresh_redis(request):
    """Every breaker test starts with an empty test Redis db, no remembered Redis failure and
    no rebuild throttle left over from the previous test."""
    from apps.breakers import enforcement

    mirror_forget_backoff()
    enforcement._last_rebuild[0] = 0.0
    if request.node.get_closest_marker("django_db") or "db" in request.fixturenames:
        request.getfixturevalue("redis_client")
    yield
    mirror_forget_backoff()
