"""Breaker API under /api/v1/ (scopes breakers:read and breakers:trip)."""

from django.urls import path

from apps.breakers.api.views import BreakerListView, BreakerTripView

urlpatterns = [
    path("breakers", BreakerListView.as_view(), name="api-breakers"),
    path("breakers/trip", BreakerTripView.as_view(), name="api-breakers-trip"),
]
