"""Production settings hold: ``check --deploy`` is clean, and a real uvicorn process started with
them (behind a pretend TLS proxy) sends HSTS and the other security headers, redirects plain
HTTP except the health probes, and signs a person in with ``__Host-`` cookies that are Secure,
HttpOnly, Path=/ and carry no Domain. Tests and ``make run`` keep plain names (SECURE_COOKIES=0)."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from http.cookies import SimpleCookie

import httpx
import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from config.field_encryption import _derived_key
from tests.accounts.factories import PASSWORD, make_user, totp_now
from tests.support.servers import ROOT, uvicorn_server

TOKEN_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HSTS = "max-age=31536000; includeSubDomains"


def production_env(**overrides: str) -> dict[str, str]:
    """What an operator sets (docker/env.example), with fresh secrets."""
    env = {
        "PATH": "/usr/bin:/bin",
        "BREAKWATER_PROFILE": "test",  # never inherit a live `make run`'s DEBUG mode
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": "postgres://breakwater@db.internal:5432/breakwater",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "ALLOWED_HOSTS": "desk.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://desk.example.com",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "API_KEY_PEPPERS": f"p1:{secrets.token_urlsafe(32)}",
    }
    env.update(overrides)
    return env


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


SHOW = (
    "from django.conf import settings as s; import json; print(json.dumps({n: getattr(s, n, None) "
    "for n in ['SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_PRELOAD', "
    "'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_NAME', 'CSRF_COOKIE_NAME', "
    "'SESSION_COOKIE_SECURE', 'SILENCED_SYSTEM_CHECKS']}))"
)


def shown_settings(**overrides: str) -> dict:
    result = run_manage(production_env(**overrides), "shell", "-c", SHOW)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage(production_env(), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    # Only the preload check is silenced, on purpose (docs/security.md, "HSTS preload").
    assert "System check identified no issues (1 silenced)." in result.stdout


def test_https_settings_follow_the_environment():
    default = shown_settings()
    assert default["SECURE_SSL_REDIRECT"] is True
    assert default["SECURE_HSTS_SECONDS"] == 31536000 and default["SECURE_HSTS_PRELOAD"] is False
    assert default["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert default["CSRF_COOKIE_NAME"] == "__Host-csrftoken"
    # With no proxy of ours in front, a client's X-Forwarded-Proto proves nothing.
    assert default["SECURE_PROXY_SSL_HEADER"] is None

    proxied = shown_settings(TRUSTED_PROXY_COUNT="1", SECURE_HSTS_PRELOAD="1")
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert proxied["SECURE_HSTS_PRELOAD"] is True and proxied["SILENCED_SYSTEM_CHECKS"] == []

    # A plain-HTTP deployment (loopback demo): no redirect, no HSTS, cookie names without the
    # prefix (browsers refuse __Host- cookies that are not Secure).
    plain = shown_settings(SECURE_COOKIES="0")
    assert plain["SECURE_SSL_REDIRECT"] is False and plain["SECURE_HSTS_SECONDS"] == 0
    assert (plain["SESSION_COOKIE_NAME"], plain["CSRF_COOKIE_NAME"]) == ("sessionid", "csrftoken")
    assert plain["SESSION_COOKIE_SECURE"] is False


def test_the_test_settings_keep_plain_cookies_and_no_redirect():
    assert settings.SESSION_COOKIE_NAME == "sessionid" and settings.CSRF_COOKIE_NAME == "csrftoken"
    assert settings.SECURE_SSL_REDIRECT is False and settings.SECURE_HSTS_SECONDS == 0


class CookieBrowser:
    """An HTTP client behind our TLS proxy: every request says X-Forwarded-Proto: https, and
    cookies are kept by hand (httpx's jar rightly never sends Secure cookies over http://)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.https_origin = base_url.replace("http://", "https://")
        self.client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=15)
        self.jar: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        response = self.client.request(method, path, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            self.set_cookie_headers.append(header)
            for name, morsel in SimpleCookie(header).items():
                self.jar[name] = morsel.value
        return response

    def post_form(self, path: str, data: dict[str, str], token: str) -> httpx.Response:
        # Django checks the Referer of HTTPS POSTs: the proxy's origin, as a browser sends it.
        return self.request(
            "POST",
            path,
            data={**data, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.https_origin}{path}"},
        )

    def cookie_header(self, name: str) -> str:
        (header,) = [h for h in self.set_cookie_headers if h.startswith(f"{name}=")][-1:]
        return header


def cookie_attributes(header: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in header.split(";")[1:]}


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_production_server_sends_security_headers_and_host_prefixed_cookies(redis_client):
    user = make_user("petra")
    with uvicorn_server(
        DJANGO_SETTINGS_MODULE="tests.foundation.production_settings",
        DEBUG="0",
        SECURE_COOKIES="1",
        TRUSTED_PROXY_COUNT="1",
        ALLOWED_HOSTS="127.0.0.1",
        # The test process encrypted the user's TOTP secret with the key tests derive.
        FIELD_ENCRYPTION_KEYS=_derived_key(settings.SECRET_KEY).decode(),
        API_KEY_PEPPERS=f"p1:{secrets.token_urlsafe(32)}",
    ) as server:
        plain = httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=15)
        # Load balancers probe over plain HTTP: answered, not redirected.
        assert plain.get("/healthz").status_code == 200
        assert plain.get("/readyz").status_code == 200
        # Everything else is sent to HTTPS.
        redirected = plain.get("/accounts/login/")
        assert redirected.status_code == 301
        assert redirected.headers["location"].startswith("https://127.0.0.1:")

        desk = CookieBrowser(server.base_url)
        login = desk.request("GET", "/accounts/login/")
        assert login.status_code == 200
        assert login.headers["strict-transport-security"] == HSTS
        assert login.headers["x-frame-options"] == "DENY"
        assert login.headers["x-content-type-options"] == "nosniff"
        assert login.headers["referrer-policy"] == "same-origin"
        assert login.headers["cross-origin-opener-policy"] == "same-origin"
        csp = login.headers["content-security-policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
            assert directive in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp

        (token,) = TOKEN_RE.findall(login.text)[:1]
        step = desk.post_form(
            "/accounts/login/", {"username": user.username, "password": PASSWORD}, token
        )
        assert step.status_code == 302, step.text[:500]
        code_page = desk.request("GET", "/accounts/login/code/")
        (token,) = TOKEN_RE.findall(code_page.text)[:1]
        signed_in = desk.post_form(
            "/accounts/login/code/", {"method": "totp", "code": totp_now(user)}, token
        )
        assert signed_in.status_code == 302, signed_in.text[:500]

        for name in ("__Host-csrftoken", "__Host-sessionid"):
            header = desk.cookie_header(name)
            attributes = cookie_attributes(header)
            assert {"secure", "httponly", "path", "samesite"} <= attributes, header
            assert "domain" not in attributes, header
            assert "Path=/;" in header + ";" and "SameSite=Lax" in header, header
        assert not any(h.startswith(("sessionid=", "csrftoken=")) for h in desk.set_cookie_headers)
        # The prefixed session works: the desk's own page opens signed in.
        home = desk.request("GET", signed_in.headers["location"])
        assert home.status_code in (200, 302), home.text[:300]
        overview = desk.request("GET", "/overview/")
        assert overview.status_code == 200 and "petra" in overview.text
