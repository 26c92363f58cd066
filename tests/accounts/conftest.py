import pytest

from apps.accounts.roles import roles_ensure


@pytest.fixture(autouse=True)
def _roles(request):
    """Transactional tests flush the tables the data migration filled; put the roles back."""
    if "django_db_setup" in request.fixturenames or request.node.get_closest_marker("django_db"):
        request.getfixturevalue("_django_db_helper")
        roles_ensure()


@pytest.fixture(autouse=True)
def _fresh_throttles(settings):
    # Fast, deterministic defaults; tests that exercise a limit set their own.
    settings.MFA_THROTTLE_FACTOR = 1.0
    settings.LOGIN_FAILURE_LIMIT = 5
    settings.LOGIN_LOCKOUT_SECONDS = 900
