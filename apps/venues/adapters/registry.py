"""Which adapter class serves a venue (``Venue.adapter``), with per-process caching.

ccxt adapters are cached per venue and configuration (loading a venue's markets takes seconds
on a real exchange); the simulated adapter is cheap and keeps its state in PostgreSQL, so a new
instance per call always sees the latest configuration.
"""

from __future__ import annotations

import json
import threading

from apps.venues.adapters.base import VenueAdapter
from apps.venues.models import AdapterKind, Venue

__all__ = ["adapter_for", "adapters_forget"]

_cache: dict[tuple[int, str], VenueAdapter] = {}
_lock = threading.Lock()


def adapter_for(venue: Venue) -> VenueAdapter:
    """The adapter for ``venue`` (raises ValueError for an unknown adapter kind)."""
    if venue.adapter == AdapterKind.SIMULATED:
        from apps.venues.adapters.simulated import SimulatedAdapter

        return SimulatedAdapter(venue)
    if venue.adapter == AdapterKind.DERIBIT:
        key = (venue.pk, json.dumps([venue.config, venue.underlyings], sort_keys=True))
        with _lock:
            adapter = _cache.get(key)
            if adapter is None:
                from apps.venues.adapters.deribit import DeribitAdapter

                for stale in [k for k in _cache if k[0] == venue.pk]:
                    del _cache[stale]
                adapter = _cache[key] = DeribitAdapter(
                    venue.name, venue.config, underlyings=list(venue.underlyings)
                )
        return adapter
    raise ValueError(f"venue {venue.name} has an unknown adapter kind {venue.adapter!r}")


def adapters_forget() -> None:
    """Drop cached adapters (tests, or after changing fixtures under a replay venue)."""
    with _lock:
        _cache.clear()
