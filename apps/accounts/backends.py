"""Authentication backend that never accepts a password on its own.

Breakwater signs people in only through apps.accounts (password, then a second factor). With
this as the only backend, ``django.contrib.auth.authenticate()`` always fails, so no other
path (the admin site's login form, DRF's basic authentication, a forgotten view) can sign
someone in with a password alone. Sessions and permissions work as with ``ModelBackend``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest


class SessionOnlyBackend(ModelBackend):
    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        return None
