"""Instrument reference data: keep the Instrument table equal to what the venue lists."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.venues.adapters.base import InstrumentSpec, VenueAdapter
from apps.venues.models import Instrument, Venue

__all__ = ["InstrumentSync", "instruments_ensure_listed", "venue_instruments_sync"]

logger = logging.getLogger(__name__)

_SYNCED_FIELDS = (
    "underlying",
    "kind",
    "strike",
    "expiry",
    "option_type",
    "contract_size",
    "quote_currency",
    "settlement_currency",
    "tick_size",
    "min_trade_amount",
    "active",
)
# Per process: symbols known to be in the table, so a poll checks a set, not the database.
_known: dict[tuple[int, str], frozenset[str]] = {}
_expiry_checked: dict[tuple[int, str], float] = {}
EXPIRY_CHECK_SECONDS = 60.0  # expired instruments become inactive within a minute


@dataclass(frozen=True)
class InstrumentSync:
    created: int
    updated: int
    deactivated: int


def _fields(spec: InstrumentSpec) -> dict[str, object]:
    return {
        "underlying": spec.underlying,
        "kind": spec.kind,
        "strike": spec.strike if spec.kind == "option" else None,
        "expiry": spec.expiry,
        "option_type": spec.option_type if spec.kind == "option" else "",
        "contract_size": spec.contract_size,
        "quote_currency": spec.quote_currency,
        "settlement_currency": spec.settlement_currency,
        "tick_size": spec.tick_size,
        "min_trade_amount": spec.min_trade_amount,
        "active": spec.active,
    }


def venue_instruments_sync(*, venue: Venue, adapter: VenueAdapter) -> InstrumentSync:
    """Create and update the venue's instruments from ``adapter.list_instruments()``.

    Guarantees: never deletes (orders and positions refer to instruments); instruments no
    longer listed, or past their expiry, become inactive. One transaction."""
    specs = {spec.symbol: spec for spec in adapter.list_instruments()}
    now = timezone.now()
    created = updated = 0
    with transaction.atomic():
        existing = {i.symbol: i for i in Instrument.objects.select_for_update().filter(venue=venue)}
        to_create, to_update = [], []
        for symbol, spec in specs.items():
            values = _fields(spec)
            if spec.expiry is not None and spec.expiry <= now:
                values["active"] = False
            instrument = existing.get(symbol)
            if instrument is None:
                to_create.append(Instrument(venue=venue, symbol=symbol, updated_at=now, **values))
                continue
            changed = False
            for name, value in values.items():
                if getattr(instrument, name) != value:
                    setattr(instrument, name, value)
                    changed = True
            if changed:
                instrument.updated_at = now
                to_update.append(instrument)
        gone = [i for s, i in existing.items() if s not in specs and i.active]
        for instrument in gone:
            instrument.active = False
            instrument.updated_at = now
        Instrument.objects.bulk_create(to_create, batch_size=1000)
        if to_update or gone:
            Instrument.objects.bulk_update(
                to_update + gone, [*_SYNCED_FIELDS, "updated_at"], batch_size=1000
            )
        created, updated = len(to_create), len(to_update)
    for key in [k for k in _known if k[0] == venue.pk]:
        del _known[key]
    if created or updated or gone:
        logger.info(
            "venue %s instruments: %d new, %d changed, %d delisted",
            venue,
            created,
            updated,
            len(gone),
        )
    return InstrumentSync(created=created, updated=updated, deactivated=len(gone))


def instruments_ensure_listed(
    *, venue: Venue, adapter: VenueAdapter, underlying: str, symbols: Iterable[str]
) -> bool:
    """Make sure every symbol of a fresh chain is an active Instrument; sync if not.

    Cheap on the hot path: a per-process set answers almost every call. Returns whether a
    sync ran."""
    key = (venue.pk, underlying)
    now = time.monotonic()
    if now - _expiry_checked.get(key, 0.0) > EXPIRY_CHECK_SECONDS:
        _expiry_checked[key] = now
        expired = Instrument.objects.filter(
            venue=venue, underlying=underlying, active=True, expiry__lte=timezone.now()
        ).update(active=False, updated_at=timezone.now())
        if expired:
            _known.pop(key, None)
    wanted = set(symbols)
    known = _known.get(key)
    if known is not None and wanted <= known:
        return False
    in_table = frozenset(
        Instrument.objects.filter(venue=venue, underlying=underlying, active=True).values_list(
            "symbol", flat=True
        )
    )
    synced = False
    if not wanted <= in_table:
        venue_instruments_sync(venue=venue, adapter=adapter)
        synced = True
        in_table = frozenset(
            Instrument.objects.filter(venue=venue, underlying=underlying, active=True).values_list(
                "symbol", flat=True
            )
        )
    _known[key] = in_table
    return synced
