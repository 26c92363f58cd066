"""Order API shapes: input validation and the order as bots see it."""

from __future__ import annotations

import copy
import functools
import uuid
from decimal import Decimal
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from apps.gateway.models import Fill, Order, OrderSide, OrderType, TimeInForce
from apps.gateway.services.orders import OrderInput
from config.api_fields import (
    NOT_BLANK,
    StrictBooleanField,
    StrictCharField,
    StrictDecimalField,
    StrictIntegerField,
    StrictRegexField,
)


class OrderInputSerializer(serializers.Serializer):
    account = StrictCharField(max_length=64, validators=[NOT_BLANK])
    instrument = StrictCharField(max_length=64, validators=[NOT_BLANK])
    side = serializers.ChoiceField(choices=OrderSide.choices)
    type = serializers.ChoiceField(choices=OrderType.choices, default=OrderType.LIMIT)
    quantity = StrictDecimalField(max_digits=24, decimal_places=8, min_value=Decimal("0.00000001"))
    price = StrictDecimalField(
        max_digits=24, decimal_places=8, min_value=Decimal("0.00000001"), required=False,
        allow_null=True,
    )  # fmt: skip
    time_in_force = serializers.ChoiceField(choices=TimeInForce.choices, default=TimeInForce.GTC)
    reduce_only = StrictBooleanField(default=False)
    client_order_id = StrictRegexField(
        r"^[A-Za-z0-9._:\-]{1,64}$", required=False, allow_blank=False
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # DRF deep-copies the declared fields for every serializer, which re-runs each field's
        # __init__ (~0.1 ms an order). The fields keep no state between validations and every
        # copy is bound to its own serializer, so a shallow copy of pristine (never bound)
        # fields is the same thing, cheaper.
        return {name: copy.copy(field) for name, field in _pristine_input_fields().items()}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == OrderType.LIMIT and attrs.get("price") is None:
            raise serializers.ValidationError({"price": "A limit order needs a price."})
        if attrs["type"] == OrderType.MARKET:
            if attrs.get("price") is not None:
                raise serializers.ValidationError({"price": "A market order takes no price."})
        return attrs

    def to_input(self) -> OrderInput:
        d = self.validated_data
        return OrderInput(
            account=d["account"],
            instrument=d["instrument"],
            side=d["side"],
            order_type=d["type"],
            quantity=d["quantity"],
            limit_price=d.get("price"),
            time_in_force=d["time_in_force"],
            reduce_only=d["reduce_only"],
            # No id given: the request cannot be retried safely, but it still gets a unique one.
            client_order_id=d.get("client_order_id") or f"auto-{uuid.uuid4().hex}",
        )


@functools.cache
def _pristine_input_fields() -> dict[str, serializers.Field]:
    return copy.deepcopy(OrderInputSerializer._declared_fields)


class FillSerializer(serializers.ModelSerializer):
    class Meta:
        model = Fill
        fields = ["price", "quantity", "fee", "filled_at"]


class OrderSerializer(serializers.ModelSerializer):
    account = serializers.CharField(source="account_label")
    instrument = serializers.CharField(source="symbol")
    type = serializers.CharField(source="order_type")
    price = serializers.DecimalField(
        source="limit_price", max_digits=24, decimal_places=8, allow_null=True
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "client_order_id",
            "account",
            "instrument",
            "side",
            "type",
            "quantity",
            "price",
            "time_in_force",
            "reduce_only",
            "status",
            "reject_code",
            "reject_detail",
            "venue_order_id",
            "venue_message",
            "filled_quantity",
            "average_price",
            "arrived_at",
            "decided_at",
            "updated_at",
        ]


class OrderDetailSerializer(OrderSerializer):
    fills = FillSerializer(many=True, read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "fills"]


class CancelAllSerializer(serializers.Serializer):
    account = StrictCharField(max_length=64, required=False, validators=[NOT_BLANK])
    underlying = StrictCharField(max_length=16, required=False, validators=[NOT_BLANK])


class HeartbeatSerializer(serializers.Serializer):
    interval_seconds = StrictIntegerField(min_value=0, max_value=3600, required=False)


class CancelAllReportSerializer(serializers.Serializer):
    code = serializers.CharField(required=False, help_text="502 only: venue_unavailable.")
    detail = serializers.CharField(required=False)
    cancelled = serializers.IntegerField(help_text="Orders this call cancelled.")
    finished = serializers.IntegerField(help_text="Working orders found already filled.")
    remaining = serializers.IntegerField(help_text="Working orders left in the scope.")
    errors = serializers.ListField(child=serializers.CharField())


class HeartbeatStateSerializer(serializers.Serializer):
    armed = serializers.BooleanField()
    interval_seconds = serializers.IntegerField(allow_null=True)
    deadline = serializers.DateTimeField(allow_null=True)


class OrderRejectedSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The reject code (docs/gateway.md).")
    detail = serializers.CharField()
    order = OrderSerializer(help_text="The order as stored, status rejected.")


# A positive amount with at most 16 integer digits and 8 decimals (the fields' max_digits and
# decimal_places, and min_value 1e-8), as a string: the shape the serializer accepts.
POSITIVE_DECIMAL = r"^(?:[1-9][0-9]{0,15}(?:\.[0-9]{1,8})?|0?\.[0-9]{0,7}[1-9])$"


class OrderInputSchema(OpenApiSerializerExtension):
    """What the generated schema cannot say of OrderInputSerializer: amounts are positive, a
    limit order (the default type) needs a price and a market order takes none."""

    target_class = OrderInputSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        for name in ("quantity", "price"):
            schema["properties"][name]["pattern"] = POSITIVE_DECIMAL
        # Single values as patterns, not enums: drf-spectacular hoists every enum into a shared
        # component named after the field, which would merge the two branches' types.
        schema["anyOf"] = [
            {
                "properties": {
                    "type": {"type": "string", "pattern": f"^{OrderType.LIMIT}$"},
                    "price": {"type": "string", "pattern": POSITIVE_DECIMAL},
                },
                "required": ["price"],
            },
            {
                "properties": {
                    "type": {"type": "string", "pattern": f"^{OrderType.MARKET}$"},
                    "price": {"not": {"type": "string"}},  # absent or null
                },
                "required": ["type"],
            },
        ]
        return schema
