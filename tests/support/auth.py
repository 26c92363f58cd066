"""Sign a person in through the real pages (password, then a TOTP code computed by pyotp)."""

from __future__ import annotations

from tests.accounts.factories import PASSWORD, totp_now


def browser_sign_in(page, base_url: str, user, *, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/accounts/login/code/")
    page.get_by_role("textbox", name="Code").fill(totp_now(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def http_sign_in(base_url: str, user, *, password: str = PASSWORD):
    """A real two-step sign-in over HTTP with httpx; returns the signed-in client."""
    import httpx

    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=10)
    client.get("/accounts/login/")
    headers = {"Referer": f"{base_url}/accounts/login/"}
    response = client.post(
        "/accounts/login/",
        data={
            "username": user.username,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers=headers,
    )
    assert response.status_code == 302, response.text[:500]
    response = client.post(
        "/accounts/login/code/",
        data={
            "method": "totp",
            "code": totp_now(user),
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{base_url}/accounts/login/code/"},
    )
    assert response.status_code == 302, response.text[:500]
    return client
