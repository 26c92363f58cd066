"""Everything under /api/v1/: one include per app, so apps add endpoints without editing this."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.apikeys.api_urls")),
    path("", include("apps.venues.api_urls")),
    path("", include("apps.breakers.api_urls")),
    path("", include("apps.gateway.api_urls")),
    path("", include("apps.risk.api_urls")),
]
