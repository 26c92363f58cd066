"""Order API shapes: input validation and the order as bots see it."""

from __future__ import annotations

import copy
import functools
import uuid
from decimal import Decimal
from typing import Any

from rest_framework import serializers

from apps.gateway.models import Fill, Order, OrderSide, OrderType, TimeInForce
from apps.gateway.services.orders import OrderInput


class OrderInputSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=64)
    instrument = serializers.CharField(max_length=64)
    side = serializers.ChoiceField(choices=OrderSide.choices)
    type = serializers.ChoiceField(choices=OrderType.choices, default=OrderType.LIMIT)
    quantity = serializers.DecimalField(
        max_digits=24, decimal_places=8, min_value=Decimal("0.00000001")
    )
    price = serializers.DecimalField(
        max_digits=24, decimal_places=8, min_value=Decimal("0.00000001"), required=False,
        allow_null=True,
    )  # fmt: skip
    time_in_force = serializers.ChoiceField(choices=TimeInForce.choices, default=TimeInForce.GTC)
    reduce_only = serializers.BooleanField(default=False)
    client_order_id = serializers.RegexField(
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
    account = serializers.CharField(max_length=64, required=False)
    underlying = serializers.CharField(max_length=16, required=False)


class HeartbeatSerializer(serializers.Serializer):
    interval_seconds = serializers.IntegerField(min_value=0, max_value=3600, required=False)
