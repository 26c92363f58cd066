"""The risk overview and the limit pages, as people use them."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from apps.accounts.roles import Role
from apps.accounts.services.sessions import MFA_AT
from apps.audit.actions import AuditAction
from apps.audit.models import AuditEvent
from apps.risk.models import RiskLimit
from apps.risk.services.evaluation import risk_evaluate
from tests.accounts.factories import make_user, sign_in
from tests.risk.factories import make_limit, sim_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    w = sim_world()
    w.hold("SIM-A", w.instrument("BTC", "call", 1.05), 5, 0.02)
    w.hold("SIM-B", w.instrument("ETH", "put", 0.95, rank=3), -15, 0.03)
    return w


def signed_in(user) -> Client:
    client = Client()
    sign_in(client, user)
    return client


def test_a_risk_manager_sees_every_account_limits_and_the_scenario_grids(world):
    make_limit(name="sim-a-vega", metric="vega_usd", threshold=1e9)
    risk_evaluate()
    page = signed_in(make_user("rita", roles=(Role.RISK_MANAGER,))).get("/risk/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-account="SIM-A"' in html and 'data-account="SIM-B"' in html
    assert "BTC-" in html and "ETH-" in html and "(venue)" in html  # marked by the venue
    assert 'data-limit="sim-a-vega"' in html and "<meter" in html
    assert 'class="table scenario-grid" data-underlying="BTC"' in html
    assert html.count('<th scope="row">') == 2 * 13  # two underlyings, 13 spot shocks
    assert "New limit" in html and "Edit</a>" in html


def test_a_trader_sees_only_their_own_account(world):
    trader = make_user("tom", roles=(Role.TRADER,))
    world.accounts["SIM-A"].traders.add(trader)
    risk_evaluate()
    html = signed_in(trader).get("/risk/").content.decode()
    assert 'data-account="SIM-A"' in html and 'data-account="SIM-B"' not in html
    assert "ETH-" not in html
    assert 'data-underlying="BTC"' in html  # the grid of their own account
    assert "New limit" not in html and "Edit</a>" not in html


def test_a_viewer_sees_no_positions_no_buttons_and_forged_posts_are_refused(world):
    limit = make_limit(name="sim-a-vega", metric="vega_usd", threshold=1e9)
    risk_evaluate()
    viewer = signed_in(make_user("vera", roles=(Role.VIEWER,)))
    html = viewer.get("/risk/").content.decode()
    assert "Your role shows no trading accounts' positions." in html
    assert "New limit" not in html and "<form" not in html.split("</header>", 1)[1]
    data = {**LIMIT, "name": "x"}
    assert viewer.post("/risk/limits/new/", data).status_code == 403
    assert viewer.post(f"/risk/limits/{limit.pk}/", data).status_code == 403
    assert viewer.post(f"/risk/limits/{limit.pk}/delete/", {"confirm": "on"}).status_code == 403
    assert RiskLimit.objects.get().threshold == 1e9


LIMIT = {
    "name": "sim-b-delta",
    "scope": "account",
    "target": "SIM-B",
    "metric": "net_delta_usd",
    "threshold": "250000",
    "warning_fraction": "0.8",
    "action": "reduce_only",
    "confirmations_required": "3",
    "enabled": "on",
}


def test_limits_are_created_edited_and_deleted_with_step_up_and_audited(world, settings):
    rm = signed_in(make_user("rita", roles=(Role.RISK_MANAGER,)))
    session = rm.session
    session[MFA_AT] = time.time() - settings.MFA_STEP_UP_SECONDS - 5
    session.save()
    stale = rm.post("/risk/limits/new/", LIMIT)
    assert stale.status_code == 302 and stale["Location"].startswith("/accounts/step-up/")
    assert not RiskLimit.objects.exists()

    session = rm.session
    session[MFA_AT] = time.time()
    session.save()
    created = rm.post("/risk/limits/new/", LIMIT)
    assert created.status_code == 302, created.content.decode()[:2000]
    limit = RiskLimit.objects.get(name="sim-b-delta")
    assert (limit.threshold, limit.confirmations_required) == (250_000, 3)

    edited = rm.post(f"/risk/limits/{limit.pk}/", {**LIMIT, "threshold": "300000"})
    assert edited.status_code == 302
    changes = list(AuditEvent.objects.filter(action=AuditAction.LIMIT_CHANGED).order_by("sequence"))
    assert [c.details["change"] for c in changes] == ["created", "updated"]
    assert changes[1].details["before"]["threshold"] == 250_000
    assert changes[1].details["after"]["threshold"] == 300_000
    assert changes[1].actor_label == "rita"

    deleted = rm.post(f"/risk/limits/{limit.pk}/delete/", {"confirm": "on"})
    assert deleted.status_code == 302 and not RiskLimit.objects.exists()
    last = AuditEvent.objects.filter(action=AuditAction.LIMIT_CHANGED).order_by("-sequence")[0]
    assert last.details["change"] == "deleted" and last.details["after"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target": "SIM-Z"}, "no account named"),
        ({"scope": "global"}, "global"),
        ({"threshold": "0"}, "greater than 0"),
        ({"warning_fraction": "1.5"}, "less than or equal to 1"),
    ],
)
def test_bad_limits_are_refused_with_a_message(world, change, message):
    rm = signed_in(make_user("rita", roles=(Role.RISK_MANAGER,)))
    response = rm.post("/risk/limits/new/", {**LIMIT, **change})
    assert response.status_code == 200 and message in response.content.decode()
    assert not RiskLimit.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.LIMIT_CHANGED).exists()


def test_disabling_a_tripped_limit_withdraws_its_condition_but_keeps_the_breaker(world):
    from apps.breakers.models import Breaker
    from apps.risk.services.limits import limit_update

    rm = make_user("rita", roles=(Role.RISK_MANAGER,))
    limit = make_limit(name="tiny", metric="gross_notional_usd", threshold=1.0)
    risk_evaluate()
    limit_update(limit=limit, user=rm, enabled=False)
    breaker = Breaker.objects.get(scope="account", target="SIM-A")
    assert breaker.state == "reduce_only" and breaker.conditions == {}
    assert breaker.condition_cleared_at is not None
    assert risk_evaluate().trips == []
