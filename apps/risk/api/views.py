"""Positions and risk API for bots (scope ``positions:read``), limited to the key's accounts.

``GET /api/v1/positions`` lists the positions of the trading accounts the key is bound to, as
the latest risk evaluation valued them; ``GET /api/v1/risk`` gives those accounts' aggregates
(Greeks in USD and coin terms, PnL, per underlying with its scenario grid, per expiry bucket)
and the utilisation of their limits. A key bound to no account sees nothing. Errors:
``forbidden_account`` (403, ``?account=`` not bound to the key), ``dependency_unavailable``
(503, Redis down).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.risk.selectors import key_account_labels, risk_for_accounts
from apps.venues.services.store import StoreUnavailable
from config.api_errors import ServiceUnavailable
from config.api_fields import refuse_nul_in_query
from config.api_schema import error_responses

POSITIONS_READ = "positions:read"


class ForbiddenAccount(exceptions.PermissionDenied):
    error_code = "forbidden_account"


class RiskReadView(APIView):
    required_scope = POSITIONS_READ

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        refuse_nul_in_query(request)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, StoreUnavailable):
            exc = ServiceUnavailable("Risk data store unavailable; retry shortly.")
        return super().handle_exception(exc)

    def labels(self, request: Request) -> list[str]:
        labels = key_account_labels(request.auth)
        wanted = request.query_params.get("account")
        if wanted:
            if wanted not in labels:
                raise ForbiddenAccount(f"This key is not bound to the account {wanted!r}.")
            return [wanted]
        return labels


ACCOUNT_PARAM = OpenApiParameter("account", str, description="One of the key's accounts")


class PositionsView(RiskReadView):
    @extend_schema(
        summary="Positions of the key's trading accounts",
        parameters=[ACCOUNT_PARAM],
        responses={
            200: inline_serializer(
                "Positions",
                {
                    "evaluated_at": serializers.DateTimeField(),
                    "count": serializers.IntegerField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **error_responses(),
        },
    )
    def get(self, request: Request) -> Response:
        view = risk_for_accounts(self.labels(request), book_wide=False)
        return Response(
            {
                "evaluated_at": view["evaluated_at"],
                "count": len(view["positions"]),
                "results": view["positions"],
            }
        )


class RiskView(RiskReadView):
    @extend_schema(
        summary="Risk of the key's trading accounts: Greeks, PnL, scenario grids, limits",
        parameters=[ACCOUNT_PARAM],
        responses={
            200: inline_serializer(
                "Risk",
                {
                    "evaluated_at": serializers.DateTimeField(),
                    "shocks": serializers.DictField(),
                    "accounts": serializers.DictField(),
                    "limits": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **error_responses(),
        },
    )
    def get(self, request: Request) -> Response:
        view = risk_for_accounts(self.labels(request), book_wide=False)
        body: dict[str, Any] = {
            "evaluated_at": view["evaluated_at"],
            "shocks": view["shocks"],
            "accounts": view["accounts"],
            "limits": view["limits"],
        }
        return Response(body)
