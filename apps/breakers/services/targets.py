"""What a breaker may name: scopes and targets, checked against the objects they stand for.

A typo in a break-glass command must not create a breaker that guards nothing ("SIM-b" while
the account is "SIM-A"): manual trips name existing venues, accounts, underlyings and keys.
"""

from __future__ import annotations

from apps.breakers.models import BreakerScope
from apps.breakers.services.errors import BreakerTargetUnknown

__all__ = ["breaker_target_normalise", "breaker_target_validate", "known_underlyings"]


def breaker_target_normalise(*, scope: str, target: str | None) -> tuple[str, str]:
    """(scope, target) in canonical form; raises BreakerTargetUnknown for a malformed pair."""
    try:
        scope = BreakerScope(scope).value
    except ValueError:
        raise BreakerTargetUnknown(
            f"unknown scope {scope!r}; one of {', '.join(BreakerScope.values)}",
            code="unknown_scope",
        ) from None
    target = (target or "").strip()
    if scope == BreakerScope.GLOBAL:
        if target:
            raise BreakerTargetUnknown("the global breaker takes no target")
        return scope, ""
    if not target:
        raise BreakerTargetUnknown(f"a {scope} breaker needs a target")
    if scope == BreakerScope.UNDERLYING:
        target = target.upper()
    return scope, target


def known_underlyings() -> set[str]:
    from apps.venues.models import Instrument, Venue

    codes: set[str] = set()
    for underlyings in Venue.objects.values_list("underlyings", flat=True):
        codes.update(underlyings or [])
    codes.update(Instrument.objects.values_list("underlying", flat=True).distinct())
    return codes


def breaker_target_validate(*, scope: str, target: str | None) -> tuple[str, str]:
    """Normalise and check that the target exists; returns (scope, target)."""
    from apps.apikeys.models import ApiKey
    from apps.venues.models import TradingAccount, Venue

    scope, target = breaker_target_normalise(scope=scope, target=target)
    exists = {
        BreakerScope.GLOBAL: lambda: True,
        BreakerScope.VENUE: lambda: Venue.objects.filter(name=target).exists(),
        BreakerScope.ACCOUNT: lambda: TradingAccount.objects.filter(label=target).exists(),
        BreakerScope.UNDERLYING: lambda: target in known_underlyings(),
        BreakerScope.API_KEY: lambda: ApiKey.objects.filter(key_id=target).exists(),
    }[BreakerScope(scope)]()
    if not exists:
        raise BreakerTargetUnknown(f"no {scope} named {target!r}")
    return scope, target
