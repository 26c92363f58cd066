from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.apikeys.views_api import PingView
from config import health

# A database error that escapes config.database_outage's middleware is a 503 page, not a 500.
handler500 = "config.database_outage.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/ping", PingView.as_view(), name="api-ping"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("keys/", include("apps.apikeys.urls")),
    path("market/", include("apps.venues.urls")),
    path("breakers/", include("apps.breakers.urls")),
    path("risk/", include("apps.risk.urls")),
    path("", include("apps.dashboard.urls")),
]
