"""Market-data API under /api/v1/ (scope market:read)."""

from django.urls import path

from apps.venues.api.views import ChainView, InstrumentListView, SurfaceHistoryView, SurfaceView

urlpatterns = [
    path("instruments", InstrumentListView.as_view(), name="api-instruments"),
    path("chains/<str:underlying>", ChainView.as_view(), name="api-chain"),
    path("surfaces/<str:underlying>", SurfaceView.as_view(), name="api-surface"),
    path(
        "surfaces/<str:underlying>/history",
        SurfaceHistoryView.as_view(),
        name="api-surface-history",
    ),
]
