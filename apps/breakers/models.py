"""Circuit breakers: one row per (scope, target), its transitions, and four-eyes reset requests.

A breaker is identified by a scope and a stable text target (``""`` for global, a venue name,
a trading-account label, an underlying code or an API key id), not by foreign keys: the hot
enforcement check builds its five lookup keys from plain strings, and a breaker outlives the
object it names (history must stay readable after a key is revoked or an account closed).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class BreakerScope(models.TextChoices):
    GLOBAL = "global", "Global"
    VENUE = "venue", "Venue"
    ACCOUNT = "account", "Trading account"
    UNDERLYING = "underlying", "Underlying"
    API_KEY = "api_key", "API key"


class BreakerState(models.TextChoices):
    ACTIVE = "active", "Active"
    REDUCE_ONLY = "reduce_only", "Reduce only"
    HALTED = "halted", "Halted"


class BreakerSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    AUTOMATIC = "automatic", "Automatic"


# How restrictive each state is; the effective state is the maximum over matching breakers.
SEVERITY: dict[str, int] = {
    BreakerState.ACTIVE: 0,
    BreakerState.REDUCE_ONLY: 1,
    BreakerState.HALTED: 2,
}
# Broadest first: when two breakers are equally restrictive, the broader one is reported.
SCOPE_ORDER: tuple[str, ...] = tuple(BreakerScope.values)


def more_restrictive(a: str, b: str) -> bool:
    """True when state ``a`` restricts more than state ``b``."""
    return SEVERITY[a] > SEVERITY[b]


class Breaker(models.Model):
    """The current state of one circuit breaker.

    Guarantees: one row per (scope, target) (unique constraint); the global breaker's target is
    ``""`` and every other breaker's target is non-empty (check constraint); ``version`` grows by
    one with every committed state change and orders the Redis mirror's writes (a mirror value
    never replaces one with a higher version); rows are never deleted by any service, so the
    transition history stays attached. ``conditions`` holds the automatic conditions (limit
    breaches, stale market data, adapter errors) that currently hold for this breaker, keyed by
    condition id; ``condition_cleared_at`` is when the last of them cleared while the breaker
    was still tripped (the board says a reset looks safe). Automatic trips never reset a breaker.
    """

    scope = models.CharField(max_length=16, choices=BreakerScope.choices)
    target = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(
        max_length=16, choices=BreakerState.choices, default=BreakerState.ACTIVE
    )
    reason = models.CharField(max_length=500, blank=True, default="")
    source = models.CharField(
        max_length=16, choices=BreakerSource.choices, default=BreakerSource.MANUAL
    )
    # For automatic trips: the condition id that tripped it (``limit:12``, ``venue:stale``).
    trip_condition = models.CharField(max_length=100, blank=True, default="")
    changed_by_kind = models.CharField(max_length=16, blank=True, default="")
    changed_by_id = models.CharField(max_length=64, blank=True, default="")
    changed_by_label = models.CharField(max_length=150, blank=True, default="")
    changed_at = models.DateTimeField(default=timezone.now)
    tripped_at = models.DateTimeField(null=True, blank=True)
    conditions = models.JSONField(default=dict, blank=True)
    condition_cleared_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["scope", "target"]
        constraints = [
            models.UniqueConstraint(fields=["scope", "target"], name="breaker_unique_scope_target"),
            models.CheckConstraint(
                condition=(Q(scope="global") & Q(target="")) | (~Q(scope="global") & ~Q(target="")),
                name="breaker_target_matches_scope",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["active", "reduce_only", "halted"]),
                name="breaker_state_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.state}"

    @property
    def label(self) -> str:
        return "global" if self.scope == BreakerScope.GLOBAL else f"{self.scope} {self.target}"

    @property
    def is_tripped(self) -> bool:
        return self.state != BreakerState.ACTIVE

    @property
    def mirror_field(self) -> str:
        return mirror_field(self.scope, self.target)


def mirror_field(scope: str, target: str) -> str:
    """The Redis hash field of a breaker (``global:``, ``venue:SIM``, ``account:SIM-A``)."""
    return f"{scope}:{target}"


class BreakerTransition(models.Model):
    """One committed change of a breaker's state (append-only history).

    Guarantees: written in the same transaction as the change it records (so history and state
    never disagree); ``version`` equals the breaker's version after the change.
    """

    breaker = models.ForeignKey(Breaker, on_delete=models.PROTECT, related_name="transitions")
    from_state = models.CharField(max_length=16, choices=BreakerState.choices)
    to_state = models.CharField(max_length=16, choices=BreakerState.choices)
    reason = models.CharField(max_length=500)
    source = models.CharField(max_length=16, choices=BreakerSource.choices)
    condition = models.CharField(max_length=100, blank=True, default="")
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True, default="")
    actor_label = models.CharField(max_length=150, blank=True, default="")
    # Four-eyes resets: the person who requested it (the actor is the approver who applied it).
    requested_by_label = models.CharField(max_length=150, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)
    version = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["breaker", "-at"], name="breaker_transition_recent")]

    def __str__(self) -> str:
        return f"{self.breaker.label}: {self.from_state} -> {self.to_state}"


class BreakerResetRequest(models.Model):
    """A four-eyes reset: one risk manager asks, a different one approves (global breakers).

    Guarantees: at most one pending request per breaker (partial unique constraint); the
    approver is never the requester (check constraint); a request applies to the breaker
    ``version`` it was made for: if the breaker changed since, approval is refused (the second
    person must see what they approve).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        SUPERSEDED = "superseded", "Superseded"
        EXPIRED = "expired", "Expired"

    breaker = models.ForeignKey(Breaker, on_delete=models.PROTECT, related_name="reset_requests")
    breaker_version = models.PositiveBigIntegerField()
    to_state = models.CharField(
        max_length=16, choices=BreakerState.choices, default=BreakerState.ACTIVE
    )
    reason = models.CharField(max_length=500)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["breaker"],
                condition=Q(status="pending"),
                name="breaker_one_pending_reset",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="breaker_reset_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"reset of {self.breaker.label} ({self.status})"
