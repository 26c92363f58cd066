"""Every reject code of the pre-trade pipeline, through a real server: 422 with the code, the
order stored as rejected with that code, and the code counted for the dashboard."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.gateway.checks import REJECT_CODES
from apps.gateway.models import GatewayLimits, Order
from apps.gateway.services.counters import reject_counts, reject_counts_live
from apps.venues.models import Instrument, SimOrder
from tests.apikeys.factories import trading_account
from tests.breakers.factories import trip
from tests.gateway.conftest import (
    marketable_buy_price,
    marketable_sell_price,
    passive_buy_price,
)

pytestmark = pytest.mark.django_db(transaction=True)


def assert_rejected(response, code: str) -> Order:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == code, body
    assert body["detail"]
    assert code in REJECT_CODES
    order = Order.objects.get(pk=body["order"]["id"])
    assert order.status == "rejected" and order.reject_code == code
    assert reject_counts()[code] >= 1
    assert reject_counts_live()[code] >= 1
    return order


def limits(market, **values) -> None:
    GatewayLimits.objects.update_or_create(account=market.account, defaults=values)


def buy_filled(bot, market, symbol: str, quantity: str = "1") -> None:
    r = bot.order(symbol, price=marketable_buy_price(market, symbol), quantity=quantity)
    assert r.status_code == 201 and r.json()["status"] == "filled", r.text


def test_account_not_allowed_for_the_key_or_unknown(bot, market):
    trading_account("SIM-B")
    symbol = market.symbols[0]
    assert_rejected(bot.order(symbol, account="SIM-B", price="0.01"), "account_not_allowed")
    assert_rejected(bot.order(symbol, account="NOPE", price="0.01"), "account_not_allowed")


def test_unknown_inactive_and_expired_instruments(bot, market):
    assert_rejected(bot.order("BTC-1JAN20-1-C", price="0.01"), "unknown_instrument")
    inactive, expired = market.symbols[1], market.symbols[2]
    Instrument.objects.filter(symbol=inactive).update(active=False)
    Instrument.objects.filter(symbol=expired).update(expiry=timezone.now() - timedelta(hours=1))
    assert_rejected(bot.order(inactive, price="0.01"), "instrument_inactive")
    assert_rejected(bot.order(expired, price="0.01"), "instrument_expired")


def test_a_halted_breaker_rejects_and_nothing_reaches_the_venue(bot, market):
    trip("account", "SIM-A")
    symbol = market.symbols[0]
    assert_rejected(bot.order(symbol, price=marketable_buy_price(market, symbol)), "breaker_halted")
    assert not SimOrder.objects.exists()


def test_reduce_only_codes(bot, market):
    symbol = market.symbols[0]
    buy_filled(bot, market, symbol, quantity="1")
    trip("account", "SIM-A", state="reduce_only")
    assert_rejected(
        bot.order(symbol, price=marketable_buy_price(market, symbol)), "reduce_only_increases"
    )
    assert_rejected(
        bot.order(symbol, side="sell", quantity="2", price=marketable_sell_price(market, symbol)),
        "reduce_only_would_flip",
    )
    # A resting sell of the whole position leaves no room for another sell.
    q = market.quote(symbol)
    resting = bot.order(symbol, side="sell", quantity="1", price=f"{q['ask'] * 1.2:.4f}")
    assert resting.status_code == 201 and resting.json()["status"] == "open", resting.text
    assert_rejected(
        bot.order(symbol, side="sell", quantity="1", price=marketable_sell_price(market, symbol)),
        "reduce_only_working_orders",
    )


def test_stale_and_missing_market_data(bot, market):
    perpetual = Instrument.objects.create(
        venue=market.venue,
        symbol="BTC-PERPETUAL",
        underlying="BTC",
        kind="perpetual",
        quote_currency="USD",
    )
    assert_rejected(bot.order(perpetual.symbol, price="100"), "no_market_data")
    market.venue.__class__.objects.filter(pk=market.venue.pk).update(stale_after_seconds=1)
    time.sleep(1.2)
    symbol = market.symbols[0]
    assert_rejected(bot.order(symbol, price=passive_buy_price(market, symbol)), "market_data_stale")


def test_price_collar_around_the_mark(bot, market):
    symbol = market.symbols[0]
    mark = market.quote(symbol)["mark"]
    limits(market, price_collar=0.1)
    assert_rejected(bot.order(symbol, price=f"{mark * 1.5:.4f}"), "price_outside_collar")
    assert_rejected(
        bot.order(symbol, side="sell", price=f"{mark * 0.5:.4f}"), "price_outside_collar"
    )


def test_quantity_and_notional_limits(bot, market):
    symbol = market.symbols[0]
    limits(market, max_order_quantity=Decimal(1))
    assert_rejected(
        bot.order(symbol, quantity="2", price=passive_buy_price(market, symbol)),
        "quantity_too_large",
    )
    limits(market, max_order_quantity=None, max_order_notional=Decimal(1))
    assert_rejected(
        bot.order(symbol, quantity="1", price=passive_buy_price(market, symbol)),
        "notional_too_large",
    )


def test_position_limit_after_fill_never_blocks_an_exit(bot, market):
    symbol = market.symbols[0]
    buy_filled(bot, market, symbol, quantity="1")
    limits(market, max_position=Decimal("1.5"))
    assert_rejected(
        bot.order(symbol, quantity="1", price=marketable_buy_price(market, symbol)),
        "position_limit",
    )
    exit_ = bot.order(
        symbol, side="sell", quantity="1", price=marketable_sell_price(market, symbol)
    )
    assert exit_.status_code == 201, exit_.text


def test_maximum_open_orders(bot, market):
    symbol = market.symbols[0]
    limits(market, max_open_orders=1)
    assert bot.order(symbol, price=passive_buy_price(market, symbol)).status_code == 201
    assert_rejected(
        bot.order(symbol, price=passive_buy_price(market, symbol)), "too_many_open_orders"
    )


def test_order_rate_per_account(bot, market):
    symbol = market.symbols[0]
    limits(market, max_orders_per_second=0.01, order_burst=1)
    assert bot.order(symbol, price=passive_buy_price(market, symbol)).status_code == 201
    assert_rejected(
        bot.order(symbol, price=passive_buy_price(market, symbol)), "account_rate_limited"
    )


def test_venue_refusal_is_a_reject_too(bot, market):
    symbol = market.symbols[0]
    order = assert_rejected(
        bot.order(symbol, quantity="0.05", price=passive_buy_price(market, symbol)),
        "venue_rejected",
    )
    assert "invalid_quantity" in order.venue_message


def test_invalid_requests_are_400_and_not_stored(bot, market):
    r = bot.http.post("/orders", json={"account": "SIM-A", "instrument": market.symbols[0]})
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    r = bot.order(market.symbols[0])  # a limit order without a price
    assert r.status_code == 400 and "price" in r.json()["errors"]
    assert not Order.objects.exists()


def test_vol_collar_around_our_svi_fit_for_options(bot, market):
    import numpy as np

    from apps.pricing.black76 import black76_price
    from apps.pricing.svi import SVIParams, svi_implied_vol
    from apps.venues.services.store import surface_read

    slices = {s["expiry_ms"]: s for s in surface_read("SIM", "BTC")["slices"]}
    instrument, fitted = next(
        (i, slices[int(i.expiry.timestamp() * 1000)])
        for i in (Instrument.objects.get(venue=market.venue, symbol=s) for s in market.symbols)
        if int(i.expiry.timestamp() * 1000) in slices
    )
    symbol = instrument.symbol
    f, t, k = fitted["forward"], fitted["t"], float(instrument.strike)
    params = SVIParams(*(fitted["svi"][n] for n in ("a", "b", "rho", "m", "sigma")))
    fit_vol = float(svi_implied_vol(params, np.array([np.log(k / f)]), t)[0])
    on_fit = float(black76_price(f, k, t, fit_vol, instrument.option_type == "call")) / f
    far = float(black76_price(f, k, t, fit_vol + 0.10, instrument.option_type == "call")) / f
    limits(market, svi_collar_vol_points=3.0, price_collar=5.0)
    assert_rejected(bot.order(symbol, price=f"{far:.4f}"), "price_outside_vol_collar")
    accepted = bot.order(symbol, price=f"{on_fit:.4f}", time_in_force="ioc")
    assert accepted.status_code == 201, accepted.text
