"""The audit log table: append-only, hash-chained (see docs/audit.md)."""

from __future__ import annotations

from typing import Any

from django.db import models

from apps.audit.chain import HASH_VERSION, format_timestamp


class AppendOnlyError(Exception):
    """Raised by the ORM guards; the database trigger refuses the same changes in SQL."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Read-only at the ORM level too, so a slip fails before it reaches the trigger."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit events are append-only; they cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only; they cannot be deleted")


class AuditEvent(models.Model):
    """One security-relevant action, chained to the one before it.

    Guarantees: ``sequence`` runs 1, 2, 3, ... without gaps in commit order; ``prev_hash`` is
    the previous event's ``hash`` (64 zeros for the first); ``hash`` is SHA-256 over the
    canonical payload of the stored fields (apps/audit/chain.py). PostgreSQL refuses UPDATE,
    DELETE and TRUNCATE on the table (migration 0002). Write only through
    ``apps.audit.services.audit_record``.
    """

    sequence = models.BigIntegerField(primary_key=True)
    # Version of the canonical form this row was hashed with (docs/audit.md), so the form can
    # evolve without invalidating old events.
    version = models.PositiveSmallIntegerField(default=HASH_VERSION)
    occurred_at = models.DateTimeField(help_text="Database clock (UTC) when the event was chained.")
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = "audit_auditevent"
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["occurred_at"], name="audit_event_time_idx"),
            models.Index(fields=["action", "occurred_at"], name="audit_event_action_idx"),
            models.Index(fields=["actor_kind", "actor_id"], name="audit_event_actor_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_event_target_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="audit_event_sequence_positive"
            ),
            # No fork: two events can never claim the same predecessor, whatever the writer.
            models.UniqueConstraint(fields=["prev_hash"], name="audit_event_prev_hash_unique"),
            models.UniqueConstraint(fields=["hash"], name="audit_event_hash_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} by {self.actor_kind}:{self.actor_label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only; they cannot be updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only; they cannot be deleted")

    def payload(self) -> dict[str, Any]:
        """The hashed fields exactly as stored (the export line, minus ``hash``)."""
        return {
            "version": self.version,
            "sequence": self.sequence,
            "occurred_at": format_timestamp(self.occurred_at),
            "actor_kind": self.actor_kind,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "details": self.details,
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            "prev_hash": self.prev_hash,
        }
