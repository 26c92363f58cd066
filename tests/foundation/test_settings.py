import subprocess
import sys

from config.env import INSECURE_DEV_SECRET_KEY, ConfigurationError, read_env
from tests.support.servers import ROOT


def _manage_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Not the "run" profile: a developer's live `make run` would lend the command its DEBUG mode.
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"BREAKWATER_PROFILE": "test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key():
    result = _manage_check(
        {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_the_development_placeholder_key():
    try:
        read_env({"SECRET_KEY": INSECURE_DEV_SECRET_KEY})
    except ConfigurationError as exc:
        assert "placeholder" in exc.message
    else:
        raise AssertionError("the placeholder key was accepted outside DEBUG")


def test_production_requires_external_servers():
    env = {
        "SECRET_KEY": "x" * 50,
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
    }
    result = _manage_check(env)
    assert result.returncode != 0
    assert "DATABASE_URL and REDIS_URL not set" in result.stderr


def test_environment_values_are_parsed():
    env = read_env(
        {
            "DEBUG": "1",
            "ALLOWED_HOSTS": "desk.example.com, api.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://desk.example.com",
            "FIELD_ENCRYPTION_KEYS": "k1,k2",
            "DATABASE_URL": "postgres://u@db/bw",
            "REDIS_URL": "redis://cache:6379/0",
        }
    )
    assert env.debug and env.secret_key == INSECURE_DEV_SECRET_KEY
    assert env.allowed_hosts == ["desk.example.com", "api.example.com"]
    assert env.field_encryption_keys == ["k1", "k2"]
    assert not env.uses_embedded_services
