"""The overview page and its live fragments, as people use them (real sign-in, real services).
Also the home page's redirect by role and the navigation each role sees."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts.roles import Role
from apps.risk.services.evaluation import risk_evaluate
from tests.accounts.factories import make_user, sign_in
from tests.apikeys.factories import issue
from tests.breakers.factories import state_of, trip
from tests.risk.factories import make_limit, sim_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("roles_and_redis")]


def signed_in(username: str, *roles: Role) -> Client:
    client = Client()
    sign_in(client, make_user(username, roles=roles))
    return client


def body(html: str) -> str:
    """The page below the header (the header always has the sign-out form)."""
    return html.split("</header>", 1)[1]


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def world():
    w = sim_world(underlyings=("BTC",), accounts=("SIM-A", "SIM-B"))
    w.hold("SIM-A", w.instrument("BTC", "call", 1.05), 5, 0.02)
    return w


def test_a_risk_manager_sees_every_panel_with_states_in_words(world):
    notional = risk_evaluate().snapshot["accounts"]["SIM-A"]["totals"]["notional_usd"]
    make_limit(name="near", metric="gross_notional_usd", threshold=notional / 0.9)
    make_limit(name="over", target="SIM-B", metric="gross_notional_usd", threshold=1.0)
    make_limit(name="roomy", metric="gross_notional_usd", threshold=notional * 4)
    trip("account", "SIM-B", state="reduce_only", reason="fat finger")
    risk_evaluate()
    page = signed_in("rita", Role.RISK_MANAGER).get("/overview/").content.decode()
    words = text(body(page))

    # Breakers: state as a word and a colour class, reason, who; tripped first.
    assert 'state-reduce_only status-expired">REDUCE ONLY<' in page
    assert 'state-active status-active">ACTIVE<' in page  # the global one, never tripped
    assert "fat finger" in words and "tests" in words
    assert page.index("state-reduce_only") < page.index("state-active")
    assert 'action="/breakers/trip/"' in page and "Trip breaker" in page
    assert "Reset…" in page  # the SIM-B breaker is tripped

    # Limits: bar, percentage, distance to the limit and the status word.
    near = re.search(r'data-limit="near".*?</tr>', page, re.S).group(0)
    assert "<meter" in near and "90%" in near and "to limit" in text(near)
    assert ">warning<" in near and "status-expired" in near
    roomy = re.search(r'data-limit="roomy".*?</tr>', page, re.S).group(0)
    assert ">ok<" in roomy and "25%" in roomy
    # SIM-B holds nothing, so "over" is at 0 of 1: the breach case is the alert test's.
    assert 'data-limit="over"' in page

    # Risk per underlying, venue freshness, rejects, alerts, live status.
    assert 'data-underlying="BTC"' in page
    assert re.search(r'data-venue="SIM".*?status-active">ok<', page, re.S)
    assert "No rejected orders in the last 24 hours." in page
    assert "account SIM-B REDUCE ONLY" in words  # the trip's alert
    assert 'id="live-status"' in page and "js/overview.js" in page
    assert 'id="live-panels-config"' in page and "<script>" not in page  # no inline scripts


def test_a_trip_from_the_overview_comes_back_to_it(world):
    client = signed_in("rita", Role.RISK_MANAGER)
    response = client.post(
        "/breakers/trip/",
        {
            "scope": "global",
            "target": "",
            "state": "halted",
            "reason": "desk stop",
            "next": "/overview/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/overview/"
    assert state_of("global") == "halted"
    page = client.get("/overview/").content.decode()
    assert "global is now HALTED" in page and 'state-halted status-revoked">HALTED<' in page
    # An off-site "next" is ignored.
    response = client.post(
        "/breakers/trip/",
        {
            "scope": "account",
            "target": "SIM-A",
            "state": "halted",
            "reason": "x",
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == "/breakers/"


def test_a_viewer_sees_no_controls_and_no_book_wide_figures_and_a_forged_trip_is_refused(world):
    trip("account", "SIM-A", reason="stop")
    make_limit(name="book", scope="global", target="", metric="gross_notional_usd",
               threshold=1e12)  # fmt: skip
    risk_evaluate()
    viewer = signed_in("vera", Role.VIEWER)
    page = viewer.get("/overview/").content.decode()
    assert "<form" not in body(page) and "<button" not in body(page)
    assert "Reset…" not in page and "Trip breaker" not in page
    assert 'state-halted status-revoked">HALTED<' in page  # but the board is there
    assert 'data-limit="book"' not in page and "Book-wide risk figures are shown" in page
    for name in ("board", "limits", "risk", "venues", "rejects", "alerts"):
        fragment = viewer.get(f"/overview/panels/{name}/")
        assert fragment.status_code == 200
        assert "<form" not in fragment.content.decode()
    forged = viewer.post("/breakers/trip/", {"scope": "global", "state": "halted", "reason": "x"})
    assert forged.status_code == 403 and state_of("global") == "active"


def test_fragments_follow_the_state_and_unknown_panels_or_roles_are_refused(world):
    client = signed_in("rita", Role.RISK_MANAGER)
    before = client.get("/overview/panels/board/").content.decode()
    assert "HALTED" not in before
    trip("global", reason="all stop")
    after = client.get("/overview/panels/board/").content.decode()
    assert 'state-halted status-revoked">HALTED<' in after and "all stop" in after
    assert "<html" not in after  # a fragment, not a page
    assert client.get("/overview/panels/nope/").status_code == 404
    nobody = signed_in("newbie")  # no role at all
    assert nobody.get("/overview/").status_code == 403
    assert nobody.get("/overview/panels/board/").status_code == 403


def test_rejects_by_code_count_real_gateway_rejects(world):
    issued = issue(accounts=["SIM-A"])
    api = Client(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    order = {"account": "SIM-A", "instrument": "NO-SUCH-THING", "side": "buy", "type": "limit",
             "quantity": "1", "price": "0.01"}  # fmt: skip
    for n in range(2):
        r = api.post("/api/v1/orders", {**order, "client_order_id": f"o{n}"},
                     content_type="application/json")  # fmt: skip
        assert r.status_code == 422 and r.json()["code"] == "unknown_instrument", r.content
    fragment = signed_in("rita", Role.RISK_MANAGER).get("/overview/panels/rejects/")
    row = re.search(r'<tr data-code="unknown_instrument".*?</tr>', fragment.content.decode(), re.S)
    assert row and text(row.group(0)) == "unknown_instrument 2 2"


@pytest.mark.parametrize(
    ("roles", "home"),
    [
        ((Role.RISK_MANAGER,), "/overview/"),
        ((Role.ADMIN,), "/overview/"),
        ((Role.VIEWER,), "/overview/"),
        ((Role.TRADER,), "/surface/"),
        ((Role.TRADER, Role.RISK_MANAGER), "/overview/"),
    ],
)
def test_home_sends_each_role_to_its_page(roles, home):
    response = signed_in("someone", *roles).get("/")
    assert response.status_code == 302 and response["Location"] == home


def test_a_person_without_a_role_sees_the_welcome_page_and_no_desk_links():
    response = signed_in("newbie").get("/")
    html = response.content.decode()
    assert response.status_code == 200 and "Signed in as <strong>newbie</strong>" in html
    assert ">Overview<" not in html and ">Audit<" not in html


def test_each_role_sees_only_the_links_it_may_use():
    def nav(*roles: Role) -> list[str]:
        page = signed_in("-".join(roles) or "none", *roles).get("/breakers/").content.decode()
        nav_html = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
        return re.findall(r'<a href="[^"]+"(?: aria-current="page")?>([^<]+)</a>', nav_html)

    assert nav(Role.VIEWER) == ["Overview", "Risk", "Breakers", "API keys"]
    assert nav(Role.TRADER) == [
        "Overview", "Surface", "Positions", "Market", "Risk", "Breakers", "API keys"
    ]  # fmt: skip
    assert nav(Role.RISK_MANAGER) == [
        "Overview", "Surface", "Positions", "Market", "Risk", "Breakers", "API keys", "Audit"
    ]  # fmt: skip
    assert nav(Role.ADMIN) == ["Overview", "Risk", "Breakers", "API keys", "Users", "Audit"]
