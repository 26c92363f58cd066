"""Venues, trading accounts, instruments, market-data history and the simulated venue's book.

Split by concept: ``venue`` (venues and their polling health), ``account`` (trading accounts,
encrypted credentials, the positions Breakwater last saw), ``instrument``, ``market`` (surface
history) and ``simulation`` (state of the built-in simulated venue).
"""

from apps.venues.models.account import TradingAccount, TradingAccountQuerySet, VenuePosition
from apps.venues.models.instrument import Instrument, InstrumentKind, OptionType
from apps.venues.models.market import SurfaceSnapshot
from apps.venues.models.simulation import SimFill, SimMarket, SimOrder, SimPosition
from apps.venues.models.venue import AdapterKind, Venue, VenueHealth

__all__ = [
    "AdapterKind",
    "Instrument",
    "InstrumentKind",
    "OptionType",
    "SimFill",
    "SimMarket",
    "SimOrder",
    "SimPosition",
    "SurfaceSnapshot",
    "TradingAccount",
    "TradingAccountQuerySet",
    "Venue",
    "VenueHealth",
    "VenuePosition",
]
