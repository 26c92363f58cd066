"""Every URL pattern of the project needs a verified second factor, apart from the listed
exceptions. The patterns are enumerated from the URLconf, so a URL added later is covered
without anyone remembering to add it here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern, _route_to_regex

from tests.accounts.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

# The exceptions the issue allows (login, enrolment, logout, health checks; static files and
# the API are path prefixes, see below) plus the one-time set-password link a new user opens
# before they have any factor. Adding to this set is a security decision: review it.
EXEMPT_NAMES = {
    "dashboard:accounts:login",
    "dashboard:accounts:mfa_verify",
    "dashboard:accounts:mfa_enrol",
    "dashboard:accounts:logout",
    "dashboard:accounts:set_password",
    "healthz",
    "readyz",
}
API_PREFIX = "/api/"
SAMPLES = (
    "1",
    "auth",
    "accounts",
    "x",
    "MQ",
    "abc-def",
    "a1b2c3",
    "0b7d7c1e-5f2a-4c3e-9d8b-1a2b3c4d5e6f",
)


@dataclass(frozen=True)
class Endpoint:
    path: str
    name: str
    callback: Any


def _regex_of(pattern: Any, is_endpoint: bool) -> str:
    if isinstance(pattern, RoutePattern):
        regex = _route_to_regex(str(pattern._route), is_endpoint)[0]
    elif isinstance(pattern, RegexPattern):
        regex = pattern._regex
    else:  # LocalePrefixPattern and friends: not used by this project
        raise AssertionError(f"unsupported pattern type {type(pattern)}")
    regex = regex.removeprefix("^").removesuffix("\\Z").removesuffix("$")
    return regex


def _group_end(regex: str, start: int) -> int:
    depth, i = 0, start
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise AssertionError(f"unbalanced regex {regex!r}")


def _example(regex: str) -> str:
    """A concrete path matching ``regex`` (named groups filled with a matching sample)."""
    out, i = [], 0
    while i < len(regex):
        if regex.startswith("(?P<", i):
            end = _group_end(regex, i)
            body = regex[regex.index(">", i) + 1 : end]
            sample = next((s for s in SAMPLES if re.fullmatch(body, s)), None)
            assert sample is not None, f"no sample value matches {body!r} in {regex!r}"
            out.append(sample)
            i = end + 1
        elif regex[i] == "\\" and i + 1 < len(regex):
            out.append(regex[i + 1])
            i += 2
        else:
            out.append(regex[i])
            i += 1
    path = "/" + "".join(out)
    assert not re.search(r"[()\[\]*+?|^$]", path), f"cannot build an example for {regex!r}"
    return path


def _endpoints(patterns: list[Any], prefix: str = "", namespace: str = "") -> list[Endpoint]:
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            found += _endpoints(entry.url_patterns, prefix + _regex_of(entry.pattern, False), ns)
        elif isinstance(entry, URLPattern):
            path = _example(prefix + _regex_of(entry.pattern, True))
            name = f"{namespace}{entry.name}" if entry.name else f"{namespace}<unnamed>"
            found.append(Endpoint(path, name, entry.callback))
    return found


def all_endpoints() -> list[Endpoint]:
    endpoints = _endpoints(get_resolver().url_patterns)
    for endpoint in endpoints:
        match = resolve(endpoint.path)
        # The example reaches the pattern it was built from (not an earlier catch-all).
        assert match.func == endpoint.callback or match.url_name == endpoint.name.split(":")[-1], (
            endpoint,
            match,
        )
    return endpoints


def _is_exempt(endpoint: Endpoint) -> bool:
    return endpoint.name in EXEMPT_NAMES or endpoint.path.startswith(API_PREFIX)


def _sent_to_login(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_enumeration_covers_the_project():
    endpoints = all_endpoints()
    names = {e.name for e in endpoints}
    assert len(endpoints) > 40  # the admin site alone has dozens
    assert EXEMPT_NAMES <= names, EXEMPT_NAMES - names
    assert {"dashboard:home", "admin:index", "dashboard:accounts:user_list"} <= names


def _visitors() -> dict[str, Callable[[], Client]]:
    """Every kind of visitor that must not get past the second factor (fresh state each call)."""
    user = make_user("eve")
    pending = Client()
    response = pending.post("/accounts/login/", {"username": "eve", "password": PASSWORD})
    assert response["Location"] == "/accounts/login/code/"

    def no_second_factor() -> Client:
        # A session signed in by some other path, with no second factor recorded in it. The
        # middleware ends such a session at its first request, so each use gets a new one.
        client = Client()
        client.force_login(user, backend="apps.accounts.backends.SessionOnlyBackend")
        return client

    return {
        "anonymous": Client,
        "pending": lambda: pending,
        "no-second-factor": no_second_factor,
    }


def test_no_url_answers_without_a_verified_second_factor():
    failures = []
    visitors = _visitors()
    checked = 0
    for endpoint in all_endpoints():
        if _is_exempt(endpoint):
            continue
        for label, visitor in visitors.items():
            response = visitor().get(endpoint.path)
            checked += 1
            if not _sent_to_login(response):
                failures.append((label, endpoint.name, endpoint.path, response.status_code))
    assert not failures, failures
    assert checked > 100


def test_the_exceptions_answer_without_a_second_factor():
    client = Client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/static/css/app.css").status_code == 200
    assert _sent_to_login(client.get("/no/such/page/"))  # unknown paths reveal nothing


def test_a_session_without_second_factor_gets_nothing_more_from_the_api_than_none():
    visitors = _visitors()
    anonymous = Client()
    for endpoint in all_endpoints():
        if not endpoint.path.startswith(API_PREFIX):
            continue
        expected = anonymous.get(endpoint.path).status_code
        for label in ("pending", "no-second-factor"):
            got = visitors[label]().get(endpoint.path).status_code
            assert got == expected, (label, endpoint.path, got, expected)
            assert not 200 <= got < 300 or 200 <= expected < 300, (label, endpoint.path)


def test_a_verified_session_gets_through(client):
    from tests.accounts.factories import sign_in

    user = make_user("alice")
    sign_in(client, user)
    # "/" sends a signed-in person to their role's home page (a viewer's: the overview).
    assert client.get("/", follow=True).status_code == 200
