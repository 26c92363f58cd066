"""The audit page's filter form: bad input becomes a message on the form, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from apps.audit.selectors import audit_action_choices

WHEN_HELP = "UTC: 2026-12-01 or 2026-12-01 14:30"


def parse_when(text: str) -> datetime | None:
    """``2026-12-01``, ``2026-12-01 14:30[:05]`` or ISO 8601 (``T``, offset) -> aware datetime
    (UTC when no offset is given); None when it is not a date."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = parse_datetime(text.replace(" ", "T", 1))
        if moment is None:
            day = parse_date(text)
            if day is None:
                return None
            moment = datetime.combine(day, time.min)
    except ValueError:  # well-formed but impossible (2026-02-30)
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Actor",
                            help_text="Username, key name or component (part of it)")  # fmt: skip
    action = forms.ChoiceField(required=False, label="Action")
    since = forms.CharField(required=False, max_length=40, label="From", help_text=WHEN_HELP)
    until = forms.CharField(required=False, max_length=40, label="Until (exclusive)",
                            help_text=WHEN_HELP)  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *audit_action_choices()]

    def _when(self, name: str) -> datetime | None:
        text = self.cleaned_data.get(name) or ""
        moment = parse_when(text)
        if text.strip() and moment is None:
            raise forms.ValidationError(
                f"“{text}” is not a date or time; use {WHEN_HELP.split(': ', 1)[1]}."
            )
        return moment

    def clean_since(self) -> datetime | None:
        return self._when("since")

    def clean_until(self) -> datetime | None:
        return self._when("until")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", "“Until” must be after “From”.")
        return data
