"""Deribit through ccxt, replaying recorded responses (tests/fixtures/deribit, see README.md).

No test here reaches the internet: the replay transport serves every request of the ccxt
session, and an unrecorded request fails like a network error.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from apps.venues.adapters.base import (
    AccountRef,
    Credentials,
    InstrumentSpec,
    OptionChain,
    OrderRequest,
    OrderStatus,
    PositionReport,
    Side,
    VenueAdapter,
    VenueAuthError,
    VenueUnavailable,
)
from apps.venues.adapters.deribit import DeribitAdapter
from apps.venues.adapters.simulated import SimulatedAdapter
from apps.venues.services.analytics import surface_compute
from apps.venues.services.validation import chain_validate
from tests.venues.factories import make_sim_venue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deribit"
ACCOUNT = AccountRef(
    external_id="sub-42",
    label="DERIBIT-A",
    credentials=Credentials(api_key="cl-id-7Hq2Zt", secret="sEcReT-9f8e7d6c5b4a"),
)


@pytest.fixture
def deribit() -> DeribitAdapter:
    return DeribitAdapter("DERIBIT", {"replay_dir": str(FIXTURES)}, underlyings=["BTC", "ETH"])


def test_it_implements_the_adapter_protocol(deribit):
    assert isinstance(deribit, VenueAdapter)


def test_instruments_are_the_coin_settled_options_and_futures(deribit):
    specs = deribit.list_instruments()
    assert all(isinstance(s, InstrumentSpec) for s in specs)
    symbols = {s.symbol for s in specs}
    assert "BTC-27JUN25-110000-C" in symbols and "ETH-PERPETUAL" in symbols
    assert "BTC_USDC-27JUN25-110000-C" not in symbols  # linear USDC option: not this adapter's
    call = next(s for s in specs if s.symbol == "BTC-27JUN25-110000-C")
    assert (call.kind, call.option_type, call.strike, call.quote_currency) == (
        "option",
        "call",
        Decimal("110000"),
        "BTC",
    )
    assert call.expiry.isoformat() == "2025-06-27T08:00:00+00:00"
    perp = next(s for s in specs if s.symbol == "BTC-PERPETUAL")
    assert perp.kind == "perpetual" and perp.expiry is None and perp.strike is None


def test_recorded_chain_normalises_to_the_same_structure_as_the_simulated_venue(deribit, db):
    recorded = deribit.fetch_chain("BTC")
    simulated = SimulatedAdapter(make_sim_venue()).fetch_chain("BTC")
    for chain in (recorded, simulated):
        assert isinstance(chain, OptionChain)
        assert chain.price_in_coin and chain.price_currency == "BTC"
    for field in dataclasses.fields(OptionChain):
        a, b = getattr(recorded, field.name), getattr(simulated, field.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.ndim == b.ndim == 1, field.name
        else:
            assert type(a) is type(b), field.name
    # Values the recording holds: 5 expiries x 11-13 strikes x call/put, forwards per expiry.
    assert len(recorded) == 122
    assert recorded.as_of.isoformat().startswith("2025-06-02T10:00:00")
    assert recorded.index_price == 105_250.0
    row = recorded.symbol.tolist().index("BTC-27JUN25-110000-C")
    assert recorded.strike[row] == 110_000 and recorded.is_call[row]
    assert recorded.expiry_ms[row] == 1751011200000
    assert 105_250 < recorded.forward[row] < 106_000
    assert np.isnan(recorded.bid_size).all()  # the book summary has no sizes


def test_the_recorded_chain_goes_through_the_same_pipeline(deribit):
    validated = chain_validate(deribit.fetch_chain("BTC"), max_quote_age_seconds=30)
    # The recording's oddities (README.md), each counted: a crossed quote, a 95-second-old
    # print and a bid-only row.
    assert validated.dropped == {
        "nan": 0,
        "one_sided": 1,
        "non_positive": 0,
        "crossed": 1,
        "stale": 1,
        "below_intrinsic": 0,
    }
    computed = surface_compute(validated.chain)
    assert len(computed.slices) == 5
    assert all(0.3 < s.atm_vol < 0.8 for s in computed.slices)
    assert np.all(np.isfinite(computed.grid_iv)) and np.all(computed.grid_iv > 0)


def test_positions_normalise_to_signed_contracts(deribit):
    reports = deribit.fetch_positions(ACCOUNT)
    assert reports == [
        PositionReport("BTC-27JUN25-110000-C", Decimal("5.0"), Decimal("0.0231")),
        PositionReport("BTC-27JUN25-95000-P", Decimal("-3.0"), Decimal("0.0152")),
        PositionReport("BTC-PERPETUAL", Decimal("10000.0"), Decimal("104980.5")),
    ]


def test_orders_place_cancel_and_cancel_all(deribit):
    filled = deribit.place_order(
        ACCOUNT,
        OrderRequest(
            "BTC-27JUN25-110000-C",
            Side.BUY,
            Decimal("1"),
            limit_price=Decimal("0.025"),
            client_order_id="bw-cl-1",
        ),
    )
    assert filled.status == OrderStatus.FILLED and filled.filled_quantity == Decimal("1.0")
    assert filled.average_price == Decimal("0.0245") and filled.client_order_id == "bw-cl-1"
    assert [(f.fill_id, f.price, f.fee) for f in filled.fills] == [
        ("BTC-31122911", Decimal("0.0245"), Decimal("0.0003"))
    ]
    resting = deribit.place_order(
        ACCOUNT,
        OrderRequest("BTC-27JUN25-95000-P", Side.SELL, Decimal("2"), limit_price=Decimal("0.02")),
    )
    assert resting.status == OrderStatus.OPEN and resting.remaining == Decimal("2.0")
    assert deribit.cancel_order(ACCOUNT, resting.venue_order_id).status == OrderStatus.CANCELLED
    assert [o.venue_order_id for o in deribit.fetch_open_orders(ACCOUNT)] == ["BTC-4811121"]
    cancelled = deribit.cancel_all(ACCOUNT, underlying="BTC")
    assert [(o.venue_order_id, o.status) for o in cancelled] == [
        ("BTC-4811121", OrderStatus.CANCELLED)
    ]
    seen = {r for t in deribit.replay_transports for r in t.requests_seen}
    assert "GET /api/v2/private/cancel_all_by_currency" in seen


def test_an_account_without_credentials_is_refused_before_any_request(deribit):
    with pytest.raises(VenueAuthError):
        deribit.fetch_positions(AccountRef(external_id="sub-1", label="NOKEY"))


def test_venue_errors_map_to_adapter_errors_without_credentials(tmp_path, caplog):
    replay = tmp_path / "deribit"
    shutil.copytree(FIXTURES, replay)
    index = json.loads((replay / "index.json").read_text())
    for entry in index["responses"]:
        if entry["path"].endswith("get_positions"):
            entry.update(status=401, file="private/error_invalid_credentials.json")
        if entry["path"].endswith("get_book_summary_by_currency"):
            entry.update(status=503, file="public/error_maintenance.json")
    (replay / "index.json").write_text(json.dumps(index))
    adapter = DeribitAdapter("DERIBIT", {"replay_dir": str(replay)}, underlyings=["BTC"])
    caplog.set_level("DEBUG")
    with pytest.raises(VenueAuthError) as auth:
        adapter.fetch_positions(ACCOUNT)
    with pytest.raises(VenueUnavailable):
        adapter.fetch_chain("BTC")
    text = caplog.text + str(auth.value)
    assert ACCOUNT.credentials.api_key not in text and ACCOUNT.credentials.secret not in text
    # ccxt did log the signed request at DEBUG: with its Authorization header redacted.
    assert "/api/v2/private/get_positions" in caplog.text
    assert "'Authorization': '<redacted>'" in caplog.text


def test_an_unrecorded_request_fails_like_the_network_never_reaching_it(tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"responses": []}))
    adapter = DeribitAdapter("DERIBIT", {"replay_dir": str(tmp_path)}, underlyings=["BTC"])
    with pytest.raises(VenueUnavailable, match="get_currencies"):
        adapter.fetch_chain("BTC")
    assert adapter.replay_transports[0].requests_seen == ["GET /api/v2/public/get_currencies"]
