"""Surface history in PostgreSQL (the live surface is in Redis, see services.store)."""

from __future__ import annotations

from django.db import models

from apps.venues.models.venue import Venue


class SurfaceSnapshot(models.Model):
    """The fitted surface of one underlying at one venue, at most one per snapshot bucket.

    Guarantees: ``(venue, underlying, bucket)`` is unique, so several workers computing the same
    minute write one row (the insert ignores the conflict). ``slices`` holds per-expiry SVI
    parameters, arbitrage flags and smile metrics; ``dropped`` the quotes dropped by validation,
    counted by reason, for the chain the surface was fitted to.
    """

    venue = models.ForeignKey(Venue, on_delete=models.CASCADE, related_name="snapshots")
    underlying = models.CharField(max_length=16)
    bucket = models.DateTimeField(help_text="Start of the snapshot interval.")
    as_of = models.DateTimeField()
    index_price = models.FloatField(null=True, blank=True)  # None when the venue gave none
    quote_count = models.PositiveIntegerField()
    used_count = models.PositiveIntegerField()
    dropped = models.JSONField(default=dict)
    slices = models.JSONField(default=list)
    calendar_ok = models.BooleanField(default=True)

    class Meta:
        ordering = ["-as_of"]
        constraints = [
            models.UniqueConstraint(
                fields=["venue", "underlying", "bucket"], name="snapshot_one_per_bucket"
            )
        ]
        indexes = [models.Index(fields=["underlying", "as_of"], name="snapshot_und_asof")]

    def __str__(self) -> str:
        return f"{self.venue_id}:{self.underlying}@{self.as_of:%Y-%m-%d %H:%M}"
