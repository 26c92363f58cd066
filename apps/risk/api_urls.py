"""Positions and risk API under /api/v1/ (scope positions:read)."""

from django.urls import path

from apps.risk.api.views import PositionsView, RiskView

urlpatterns = [
    path("positions", PositionsView.as_view(), name="api-positions"),
    path("risk", RiskView.as_view(), name="api-risk"),
]
