"""API views for key holders (bots)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.apikeys.models import ApiKey
from apps.apikeys.scopes import ANY_KEY
from config.api_schema import error_responses


class MeSerializer(serializers.Serializer):
    id = serializers.CharField(source="key_id")
    name = serializers.CharField()
    owner = serializers.CharField(source="owner.username")
    scopes = serializers.ListField(child=serializers.CharField())
    accounts = serializers.SerializerMethodField()
    networks = serializers.ListField(source="allowed_networks", child=serializers.CharField())
    expires_at = serializers.DateTimeField()
    rate_limit = serializers.SerializerMethodField()

    def get_accounts(self, api_key: ApiKey) -> list[str]:
        accounts = getattr(api_key, "trading_accounts", None)
        return sorted(a.label for a in accounts.all()) if accounts is not None else []

    def get_rate_limit(self, api_key: ApiKey) -> dict[str, float]:
        return {"per_second": api_key.rate_per_second, "burst": api_key.burst}


class MeView(APIView):
    """The calling key: what it is, what it may do, where, and until when."""

    required_scope = ANY_KEY

    @extend_schema(
        responses={200: MeSerializer, **error_responses()},
        summary="Describe the calling API key",
    )
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.auth).data)


class PingView(APIView):
    """Unauthenticated liveness for API clients, and the benchmarks' bare-DRF reference."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    @extend_schema(
        summary="API liveness (no key needed)",
        auth=[],
        responses=inline_serializer("Pong", {"pong": serializers.BooleanField()}),
    )
    def get(self, request: Request) -> Response:
        return Response({"pong": True})
