"""Breaker API for bots: read states (``breakers:read``), halt oneself (``breakers:trip``).

A bot may trip its own key's breaker or the breakers of the trading accounts its key is bound
to, to ``halted`` or ``reduce_only``; it can never reset anything (there is no such endpoint,
and a trip never relaxes a breaker). Errors: ``invalid_request`` (400), ``forbidden_target``
(403: not the key's own key or accounts), ``unknown_target`` (404).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.actors import Actor
from apps.breakers.enforcement import breaker_effective_state
from apps.breakers.models import BreakerScope, BreakerState
from apps.breakers.selectors import breakers_for_api_key
from apps.breakers.services import BreakerError, BreakerTargetUnknown, breaker_payload, breaker_trip
from config.api_fields import NO_NUL, NOT_BLANK, StrictCharField
from config.api_schema import error_responses


class ForbiddenTarget(exceptions.PermissionDenied):
    error_code = "forbidden_target"


class UnknownTarget(exceptions.NotFound):
    error_code = "unknown_target"


class BreakerStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    scope = serializers.ChoiceField(choices=BreakerScope.choices)
    target = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(choices=BreakerState.choices)
    reason = serializers.CharField(allow_blank=True)
    source = serializers.CharField()
    condition = serializers.CharField(allow_blank=True)
    changed_by = serializers.CharField(allow_blank=True)
    changed_at = serializers.DateTimeField()
    tripped_at = serializers.DateTimeField(allow_null=True)
    conditions = serializers.ListField(child=serializers.CharField())
    condition_cleared_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()


class EffectiveSerializer(serializers.Serializer):
    account = serializers.CharField()
    state = serializers.ChoiceField(choices=BreakerState.choices)
    breaker = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)


class BreakerListSerializer(serializers.Serializer):
    breakers = BreakerStateSerializer(many=True)
    effective = EffectiveSerializer(many=True)


class TripRequestSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=[BreakerScope.API_KEY, BreakerScope.ACCOUNT])
    target = StrictCharField(
        required=False,
        allow_blank=True,
        validators=[NO_NUL],
        max_length=64,
        help_text="Account label for scope=account; omitted (or the key's own id) for api_key.",
    )
    state = serializers.ChoiceField(
        choices=[BreakerState.HALTED, BreakerState.REDUCE_ONLY], default=BreakerState.HALTED
    )
    reason = StrictCharField(max_length=500, validators=[NOT_BLANK])


class TripRequestSchema(OpenApiSerializerExtension):
    """What the generated schema cannot say of a trip request: scope=account needs the
    account's label (more than whitespace)."""

    target_class = TripRequestSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        # Single values as patterns: drf-spectacular would hoist enums into shared components.
        schema["anyOf"] = [
            {"properties": {"scope": {"type": "string", "pattern": f"^{BreakerScope.API_KEY}$"}}},
            {
                "properties": {
                    "scope": {"type": "string", "pattern": f"^{BreakerScope.ACCOUNT}$"},
                    "target": {"type": "string", "pattern": NOT_BLANK.regex.pattern},
                },
                "required": ["target"],
            },
        ]
        return schema


class TripResponseSerializer(serializers.Serializer):
    changed = serializers.BooleanField()
    breaker = BreakerStateSerializer()


class BreakerListView(APIView):
    required_scope = "breakers:read"

    @extend_schema(
        summary="Breaker states that concern the calling key",
        description="Global, venue and underlying breakers, and those of the key's own trading "
        "accounts and of the key itself; plus the effective state per account.",
        responses={200: BreakerListSerializer, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        api_key = request.auth
        breakers = [breaker_payload(b) for b in breakers_for_api_key(api_key)]
        effective = []
        for account in api_key.trading_accounts.select_related("venue").order_by("label"):
            result = breaker_effective_state(
                account=account.label, venue=account.venue.name, api_key=api_key.key_id
            )
            effective.append(
                {
                    "account": account.label,
                    "state": result.state,
                    "breaker": result.breaker.label if result.breaker else None,
                    "reason": result.breaker.reason if result.breaker else "",
                }
            )
        return Response({"breakers": breakers, "effective": effective})


class BreakerTripView(APIView):
    required_scope = "breakers:trip"

    @extend_schema(
        summary="Halt the calling key or one of its trading accounts",
        request=TripRequestSerializer,
        responses={200: TripResponseSerializer, **error_responses(404, body=True)},
    )
    def post(self, request: Request) -> Response:
        api_key = request.auth
        body = TripRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data: dict[str, Any] = body.validated_data
        target = (data.get("target") or "").strip()
        if data["scope"] == BreakerScope.API_KEY:
            if target and target != api_key.key_id:
                raise ForbiddenTarget("A key may only trip its own breaker.")
            target = api_key.key_id
        else:
            if not target:
                raise exceptions.ValidationError({"target": ["the account label is required"]})
            if not api_key.trading_accounts.filter(label=target).exists():
                raise ForbiddenTarget("A key may only trip the accounts it is bound to.")
        try:
            change = breaker_trip(
                scope=data["scope"],
                target=target,
                state=data["state"],
                reason=data["reason"],
                actor=Actor.api_key(api_key.key_id, api_key.name),
                request=request._request,
            )
        except BreakerTargetUnknown as exc:
            raise UnknownTarget(str(exc)) from None
        except BreakerError as exc:
            raise exceptions.ValidationError({"reason": [str(exc)]}) from None
        return Response(
            {"changed": change.changed, "breaker": breaker_payload(change.breaker)},
            status=status.HTTP_200_OK,
        )
