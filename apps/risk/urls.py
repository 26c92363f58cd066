"""Risk pages, mounted at /risk/."""

from django.urls import path

from apps.risk import views

app_name = "risk"

urlpatterns = [
    path("", views.overview_view, name="overview"),
    path("limits/new/", views.limit_new_view, name="limit_new"),
    path("limits/<int:pk>/", views.limit_edit_view, name="limit_edit"),
    path("limits/<int:pk>/delete/", views.limit_delete_view, name="limit_delete"),
]
