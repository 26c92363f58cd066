"""``/``: signed-in people land on their role's home page.

Risk managers, admins and viewers go to the overview; traders (who see vol surfaces and their
own positions, but none of the desk controls) go to the vol surface. Anyone else (a user with
no role yet) sees the welcome page. Visitors are sent to sign in by the accounts middleware.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

# Capabilities that make the overview a person's home (any one of them).
DESK = (
    "accounts.trip_breakers",
    "accounts.reset_breakers",
    "accounts.change_limits",
    "accounts.view_all_positions",
    "accounts.manage_users",
    "accounts.manage_api_keys",
)


def home_url_name(user: object) -> str | None:
    """The URL name of ``user``'s home page, or None for the welcome page."""
    perms = user.get_all_permissions() if user.is_authenticated else set()  # type: ignore[attr-defined]
    if any(p in perms for p in DESK):
        return "dashboard:overview"
    if "accounts.view_vol_surfaces" in perms:
        return "dashboard:surface"
    if "accounts.view_dashboards" in perms:
        return "dashboard:overview"
    return None


def home(request: HttpRequest) -> HttpResponse:
    name = home_url_name(request.user)
    if name is not None:
        return redirect(name)
    return render(request, "dashboard/home.html")
