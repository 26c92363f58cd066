"""Order API (bots): place, list, read, cancel, cancel-all, heartbeat. Thin: parse, call one
service, shape the answer. Every read goes through ``Order.objects.restrict(key)``."""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

from django.db import DatabaseError
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.gateway.api.serializers import (
    CancelAllReportSerializer,
    CancelAllSerializer,
    HeartbeatSerializer,
    HeartbeatStateSerializer,
    OrderDetailSerializer,
    OrderInputSerializer,
    OrderRejectedSerializer,
    OrderSerializer,
)
from apps.gateway.checks import GatewayUnavailable
from apps.gateway.models import Order, OrderStatus
from apps.gateway.services.cancel import orders_cancel_in_scope
from apps.gateway.services.heartbeat import heartbeat_record
from apps.gateway.services.orders import OrderNotCancellable, order_cancel, order_submit
from apps.venues.adapters.base import VenueError
from config.api_errors import ServiceUnavailable
from config.api_fields import query_datetime, refuse_nul_in_query
from config.api_schema import error_responses

logger = logging.getLogger(__name__)

REPLAY_HEADER = "Idempotent-Replayed"
MAX_LIST = 1000


@functools.cache
def _order_serializer() -> OrderSerializer:
    """One OrderSerializer, its fields built once per process: a ModelSerializer rebuilds its
    fields from the model for every instance (~0.3 ms, the largest part of the answer's cost),
    and to_representation keeps no per-call state."""
    return OrderSerializer()


def order_body(order: Order) -> dict[str, Any]:
    """``OrderSerializer(order).data``, without rebuilding the serializer."""
    return _order_serializer().to_representation(order)


class OrderRejected(exceptions.APIException):
    """422: a pre-trade check (or the venue) refused the order; the order is kept."""

    status_code = 422
    default_code = "order_rejected"

    def __init__(self, code: str, detail: str, order: dict[str, Any]) -> None:
        super().__init__(detail=detail)
        self.error_code = code
        self.extra = {"order": order}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail=detail)
        self.error_code = code


class VenueUnreachable(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "venue_unavailable"
    error_code = "venue_unavailable"


class GatewayView(APIView):
    """Base of the order endpoints: a database that cannot be consulted anywhere in the request
    (key lookup included) is a 503, never a 500: the order path fails closed, visibly."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DatabaseError | GatewayUnavailable):
            logger.warning("order path failing closed: %s: %s", type(exc).__name__, exc)
            exc = ServiceUnavailable()
        elif isinstance(exc, ServiceUnavailable):
            logger.warning("order path failing closed: %s", exc.__cause__ or exc.detail)
        response = super().handle_exception(exc)
        if response.status_code == OrderRejected.status_code:
            # A pre-trade reject is an answer, not a failure: the order is stored with its
            # code and counted (counters.reject_counts). Django's "Unprocessable Content"
            # WARNING for every one of them (thousands a second while a breaker is halted)
            # only costs time; other 4xx/5xx are logged as before.
            response._has_been_logged = True
        return response


_ORDER = "#/paths/~1api~1v1~1orders~1{order_id}"


class OrdersSchema(AutoSchema):
    """OpenAPI links from a placed order to reading and cancelling it, so clients (and the
    stateful fuzz tests) know that ``id`` is the ``order_id`` of those operations."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None or self.method != "POST":
            return operation
        for status_code, id_at in (("201", "/id"), ("200", "/id"), ("422", "/order/id")):
            parameters = {"order_id": f"$response.body#{id_at}"}
            operation["responses"][status_code]["links"] = {
                "GetOrder": {"operationRef": f"{_ORDER}/get", "parameters": parameters},
                "CancelOrder": {"operationRef": f"{_ORDER}/delete", "parameters": parameters},
            }
        return operation


class OrdersView(GatewayView):
    """``POST /api/v1/orders`` places an order; ``GET`` lists the key's accounts' orders."""

    required_scopes = {"GET": "orders:read", "POST": "orders:write"}
    schema = OrdersSchema()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Arrival is stamped before authentication, throttling and every check.
        self.arrived_at = timezone.now()
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request=OrderInputSerializer,
        responses={
            201: OrderSerializer,
            200: OpenApiResponse(OrderSerializer, description="A replay of the same order."),
            422: OpenApiResponse(
                OrderRejectedSerializer,
                description="A pre-trade check or the venue refused the order (`code`, "
                "docs/gateway.md); the order is kept with status `rejected`.",
            ),
            **error_responses(body=True),
        },
        summary="Place an order (idempotent per client_order_id)",
    )
    def post(self, request: Request) -> Response:
        serializer = OrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            outcome = order_submit(
                api_key=request.auth, data=serializer.to_input(), arrived_at=self.arrived_at
            )
        except (GatewayUnavailable, DatabaseError):
            raise ServiceUnavailable() from None
        body = order_body(outcome.order)
        if outcome.replayed:
            body["replayed"] = True
            return Response(body, status=status.HTTP_200_OK, headers={REPLAY_HEADER: "true"})
        if outcome.reject is not None:
            raise OrderRejected(outcome.reject.code, outcome.reject.detail or "rejected", body)
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                {
                    "type": "array",
                    "items": {"type": "string", "enum": OrderStatus.values},
                    "minItems": 1,
                },
                explode=False,
                description="Comma-separated statuses",
            ),
            OpenApiParameter("account", str),
            OpenApiParameter("instrument", str),
            OpenApiParameter(
                "since", OpenApiTypes.DATETIME, description="ISO time: arrived at or after"
            ),
            OpenApiParameter(
                "until", OpenApiTypes.DATETIME, description="ISO time: arrived before"
            ),
            OpenApiParameter("limit", int, description=f"1 to {MAX_LIST} (default 100; clamped)"),
        ],
        responses={200: OrderSerializer(many=True), **error_responses(400)},
        summary="List orders of the key's accounts, newest first",
    )
    def get(self, request: Request) -> Response:
        refuse_nul_in_query(request)
        qs = Order.objects.restrict(request.auth)
        params = request.query_params
        # A parameter given empty filters by "" (matching nothing, or refused for status and
        # the times): only an absent parameter means "any".
        if "status" in params:
            wanted = params["status"].split(",")
            if not set(wanted) <= set(OrderStatus.values):
                raise exceptions.ValidationError({"status": "unknown status"})
            qs = qs.filter(status__in=wanted)
        if "account" in params:
            qs = qs.filter(account_label=params["account"])
        if "instrument" in params:
            qs = qs.filter(symbol=params["instrument"])
        for name, lookup in (("since", "arrived_at__gte"), ("until", "arrived_at__lt")):
            if name in params:
                when = query_datetime(params[name])
                if when is None:
                    raise exceptions.ValidationError({name: "not an ISO 8601 time"})
                qs = qs.filter(**{lookup: when})
        try:
            limit = min(max(int(params.get("limit", 100)), 1), MAX_LIST)
        except ValueError:
            raise exceptions.ValidationError({"limit": "not an integer"}) from None
        return Response(OrderSerializer(qs.order_by("-arrived_at")[:limit], many=True).data)


ORDER_ID = OpenApiParameter("order_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class OrderDetailView(GatewayView):
    """``GET /api/v1/orders/{id}`` (with fills); ``DELETE`` cancels it at the venue."""

    required_scopes = {"GET": "orders:read", "DELETE": "orders:write"}

    def _order(self, request: Request, order_id: str) -> Order:
        try:
            pk = uuid.UUID(order_id)
        except ValueError:
            raise exceptions.NotFound("No such order.") from None
        order = (
            Order.objects.restrict(request.auth)
            .select_related("account__venue")
            .filter(pk=pk)
            .first()
        )
        if order is None:
            raise exceptions.NotFound("No such order.")
        return order

    @extend_schema(
        parameters=[ORDER_ID],
        responses={200: OrderDetailSerializer, **error_responses(404)},
        summary="One order with its fills",
    )
    def get(self, request: Request, order_id: str) -> Response:
        order = self._order(request, order_id)
        return Response(OrderDetailSerializer(order).data)

    @extend_schema(
        parameters=[ORDER_ID],
        responses={200: OrderSerializer, **error_responses(404, 409, 502)},
        summary="Cancel one order",
    )
    def delete(self, request: Request, order_id: str) -> Response:
        order = self._order(request, order_id)
        try:
            order = order_cancel(order=order)
        except OrderNotCancellable:
            raise Conflict(
                "order_state_unknown",
                "The venue has not confirmed this order yet; retry after reconciliation.",
            ) from None
        except VenueError as exc:
            raise VenueUnreachable(f"The venue did not cancel the order: {exc}") from None
        return Response(OrderSerializer(order).data)


class CancelAllView(GatewayView):
    """``POST /api/v1/orders/cancel-all``: cancel every working order of the key's accounts
    (optionally one account and/or one underlying)."""

    required_scope = "orders:write"

    @extend_schema(
        request=CancelAllSerializer,
        responses={
            200: CancelAllReportSerializer,
            502: OpenApiResponse(
                CancelAllReportSerializer,
                description="`venue_unavailable`: some orders could not be cancelled "
                "(`remaining`, `errors`); retry.",
            ),
            **error_responses(body=True),
        },
        summary="Cancel all working orders",
    )
    def post(self, request: Request) -> Response:
        serializer = CancelAllSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        accounts = request.auth.trading_accounts.select_related("venue")
        if serializer.validated_data.get("account"):
            accounts = accounts.filter(label=serializer.validated_data["account"])
        report = orders_cancel_in_scope(
            accounts=list(accounts), underlying=serializer.validated_data.get("underlying")
        )
        body: dict[str, Any] = {
            "cancelled": report.cancelled,
            "finished": report.finished,
            "remaining": report.remaining,
            "errors": report.errors,
        }
        if not report.done:
            # Partly done: the report plus the API's error code, so clients branch as on any error.
            body = {
                "code": VenueUnreachable.error_code,
                "detail": "Some orders could not be cancelled; retry.",
                **body,
            }
        return Response(body, status=status.HTTP_200_OK if report.done else 502)


class HeartbeatView(GatewayView):
    """``POST /api/v1/heartbeat``: keep the key's dead man's switch alive.

    ``{"interval_seconds": N}`` arms (or changes) it, ``0`` disarms it, no field just beats."""

    required_scope = "orders:write"

    @extend_schema(
        request=HeartbeatSerializer,
        responses={200: HeartbeatStateSerializer, **error_responses(body=True)},
        summary="Dead man's switch heartbeat",
    )
    def post(self, request: Request) -> Response:
        serializer = HeartbeatSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            state = heartbeat_record(
                api_key=request.auth,
                interval_seconds=serializer.validated_data.get("interval_seconds"),
            )
        except DatabaseError:
            raise ServiceUnavailable() from None
        return Response(
            {
                "armed": state.armed,
                "interval_seconds": state.interval_seconds,
                "deadline": state.deadline.isoformat() if state.deadline else None,
            }
        )
