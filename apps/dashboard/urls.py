from django.urls import include, path

from apps.dashboard.views import audit, home, overview, positions, surface

app_name = "dashboard"

urlpatterns = [
    path("", home.home, name="home"),
    # desk side (overview, audit)
    path("overview/", overview.overview_view, name="overview"),
    path("overview/panels/<slug:name>/", overview.overview_panel_view, name="overview_panel"),
    path("audit/", audit.audit_view, name="audit"),
    path("audit/verify/", audit.audit_verify_view, name="audit_verify"),
    # trader side (surface, positions)
    path("surface/", surface.surface_view, name="surface"),
    path("surface/figures.json", surface.surface_figures_view, name="surface_figures"),
    path("positions/", positions.positions_view, name="positions"),
    path("positions/data.json", positions.positions_data_view, name="positions_data"),
    path("accounts/", include("apps.accounts.urls")),
]
