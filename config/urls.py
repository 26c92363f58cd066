from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.apikeys.views_api import PingView
from config import health
from config.csp import swagger_ui_style_hashes

# A database error that escapes config.database_outage's middleware is a 503 page, not a 500.
handler500 = "config.database_outage.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/ping", PingView.as_view(), name="api-ping"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (no inline script, so the
    # CSP holds); its assets come from drf-spectacular-sidecar, never from a CDN.
    path(
        "api/docs/",
        csp_update({"style-src-elem": list(swagger_ui_style_hashes())})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    path("keys/", include("apps.apikeys.urls")),
    path("market/", include("apps.venues.urls")),
    path("breakers/", include("apps.breakers.urls")),
    path("risk/", include("apps.risk.urls")),
    path("", include("apps.dashboard.urls")),
]
