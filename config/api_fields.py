"""Serializer fields that take only the JSON type the schema states.

DRF coerces: a CharField takes ``0`` as "0", a DecimalField takes the float ``0.1``, a
BooleanField takes "yes" and 1, an IntegerField "5". The API documents strings, string
decimals, booleans and integers, and a bot that sends another type has a bug it should hear
about (a float price is the classic one), so request bodies are strict. Found by the fuzz
tests (tests/fuzz, docs/testing.md). Also the one parser of query-string times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers

# As RegexValidators these also become the fields' ``pattern`` in the schema, which then says
# what DRF enforces anyway: strings are trimmed and blank ones refused, and NUL is refused
# (PostgreSQL cannot store it).
# What str.strip() (so DRF's trimming) removes, spelt out: ``\s`` differs between Python's re
# (which counts \x1c-\x1f) and the ECMA regexes of schema validators, which made "\x1f" a
# valid label in the schema and a blank one on the server.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = RegexValidator(
    rf"^[^\x00]*[^{SPACE}\x00][^\x00]*$", "Needs a non-space character, and no NUL."
)
# "+": on a field that may be blank, drf-spectacular documents "" on its own (oneOf), and a
# pattern matching "" too would make "" match both branches.
NO_NUL = RegexValidator(r"^[^\x00]+$", "Null characters are not allowed.")


class _Strict:
    json_types: tuple[type, ...] = (str,)

    def to_internal_value(self, data: Any) -> Any:
        # bool is an int in Python; JSON true is never an integer here.
        if isinstance(data, bool) and bool not in self.json_types:
            self.fail("invalid")  # type: ignore[attr-defined]
        if not isinstance(data, self.json_types):
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictCharField(_Strict, serializers.CharField):
    pass


class StrictRegexField(_Strict, serializers.RegexField):
    pass


class StrictDecimalField(_Strict, serializers.DecimalField):
    """A decimal amount as a JSON string ("0.0125"), never a float."""


class StrictBooleanField(_Strict, serializers.BooleanField):
    json_types = (bool,)


class StrictIntegerField(_Strict, serializers.IntegerField):
    json_types = (int,)


def query_datetime(raw: str, *, dates: bool = False) -> datetime | None:
    """An ISO 8601 date-time from a query string as an aware UTC datetime (naive means UTC;
    ``dates=True`` also takes a bare date, as midnight UTC), or None when it is not one.

    Normalised to UTC because PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 and
    Python allow (``...-16:50`` was a DataError: a 503 for a client's typo). Impossible values
    (2026-02-30) are None, not a 500; an offset that moves the time past year 9999 or before
    year 1 in UTC is clamped there (still a valid RFC 3339 time, and as a bound just as good)."""
    try:
        value = parse_datetime(raw)
        if value is None and dates:
            day = parse_date(raw)
            value = datetime(day.year, day.month, day.day) if day else None
        if value is None:
            return None
        if timezone.is_naive(value):
            return value.replace(tzinfo=UTC)
    except ValueError:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-10:00 is after datetime.max in UTC: clamp
        return (datetime.max if value.year == datetime.max.year else datetime.min).replace(
            tzinfo=UTC
        )


def refuse_nul_in_query(request: Any) -> None:
    """400 for a NUL anywhere in the query string. PostgreSQL cannot compare text with NUL, so
    ``?account=%00`` reached the database as a DataError: a 500 on the market-data views and a
    misleading 503 on the order list. Views that read query parameters call this first."""
    for name, values in request.query_params.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            raise serializers.ValidationError({name.replace("\x00", ""): [NO_NUL.message]})
