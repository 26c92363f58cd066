"""Gateway test fixtures: a polled simulated market, a trading account, a key and a client
that talks to a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from apps.accounts.roles import roles_ensure
from apps.breakers.mirror import mirror_forget_backoff
from apps.venues.services.polling import venue_poll_chain
from apps.venues.services.store import chain_read
from tests.apikeys.factories import issue
from tests.venues.factories import make_account, make_sim_venue


@pytest.fixture(autouse=True)
def _roles_and_redis(request):
    """Transactional tests flush tables the data migrations filled; every test starts with an
    empty test Redis db and no remembered Redis failure."""
    mirror_forget_backoff()
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("_django_db_helper")
        roles_ensure()
        request.getfixturevalue("redis_client")
    yield
    mirror_forget_backoff()


@dataclass
class Market:
    venue: Any
    account: Any
    symbols: list[str]  # liquid options with a two-sided quote, most liquid first

    def quote(self, symbol: str) -> dict[str, float]:
        chain = chain_read(self.venue.name, "BTC")
        i = list(chain.columns["symbol"]).index(symbol)
        return {k: float(chain.columns[k][i]) for k in ("bid", "ask", "mark")}


def make_market(label: str = "SIM-A") -> Market:
    # Stale only after 10 minutes, so a slow shared machine never turns a test's market stale.
    venue = make_sim_venue(stale_after_seconds=600)
    account = make_account(venue, label)
    outcome = venue_poll_chain(venue_id=venue.pk)
    assert outcome.ok, outcome.error
    chain = chain_read(venue.name, "BTC")
    c = chain.columns
    symbols = [
        str(s)
        for s, b, a in zip(c["symbol"], c["bid"], c["ask"], strict=True)
        if b == b and a == a and b > 0.001 and a > b  # NaN-free, two-sided, not a minimum tick
    ]
    assert symbols
    return Market(venue, account, symbols)


@pytest.fixture
def market(db) -> Market:
    return make_market()


class Bot:
    """A bot holding a key, speaking HTTP to a real server."""

    def __init__(self, base_url: str, plaintext: str, key: Any) -> None:
        self.key = key
        self.http = httpx.Client(
            base_url=base_url + "/api/v1",
            headers={"Authorization": f"Bearer {plaintext}"},
            timeout=30,
        )

    def order(self, symbol: str, **fields: Any) -> httpx.Response:
        body = {
            "account": "SIM-A",
            "instrument": symbol,
            "side": "buy",
            "type": "limit",
            "quantity": "1",
            "time_in_force": "gtc",
            **fields,
        }
        for name in ("quantity", "price"):
            if isinstance(body.get(name), Decimal | float | int):
                body[name] = str(body[name])
        return self.http.post("/orders", json=body)

    def close(self) -> None:
        self.http.close()


def make_bot(server: Any, *, accounts: list[str] | None = None, **kw: Any) -> Bot:
    issued = issue(accounts=accounts if accounts is not None else ["SIM-A"], **kw)
    return Bot(server.base_url, issued.plaintext, issued.api_key)


@pytest.fixture
def bot(live_server_process, market) -> Iterator[Bot]:
    b = make_bot(live_server_process)
    yield b
    b.close()


def passive_buy_price(market: Market, symbol: str) -> str:
    """A buy limit inside the collar that will rest (below the bid)."""
    q = market.quote(symbol)
    return f"{max(q['bid'] * 0.9, q['mark'] * 0.8):.4f}"


def marketable_buy_price(market: Market, symbol: str) -> str:
    q = market.quote(symbol)
    return f"{q['ask'] * 1.05:.4f}"


def marketable_sell_price(market: Market, symbol: str) -> str:
    q = market.quote(symbol)
    return f"{q['bid'] * 0.95:.4f}"
