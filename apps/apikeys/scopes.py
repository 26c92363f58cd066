"""API key scopes (DESIGN.md). Keys are never managed with a key: there is no key-admin scope."""

from __future__ import annotations

from django.db import models


class Scope(models.TextChoices):
    MARKET_READ = "market:read", "Read market data (instruments, chains, surfaces)"
    POSITIONS_READ = "positions:read", "Read positions and risk of the key's accounts"
    ORDERS_READ = "orders:read", "Read the key's accounts' orders"
    ORDERS_WRITE = "orders:write", "Place and cancel orders"
    BREAKERS_READ = "breakers:read", "Read circuit-breaker states"
    BREAKERS_TRIP = "breakers:trip", "Halt its own key or accounts (never reset)"


ALL_SCOPES: tuple[str, ...] = tuple(Scope.values)

# Declared by views any valid key may call (e.g. /api/v1/me): the key itself is the subject.
ANY_KEY = "*"
