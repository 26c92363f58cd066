import pytest

from apps.accounts.roles import roles_ensure


@pytest.fixture(autouse=True)
def _roles_and_redis(request):
    """Transactional tests flush the roles the data migration made; Redis starts empty."""
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("_django_db_helper")
        roles_ensure()
        request.getfixturevalue("redis_client")
