"""Market-data pages, mounted at /market/."""

from django.urls import path

from apps.venues import views

app_name = "venues"

urlpatterns = [
    path("", views.market_view, name="market"),
    path("live.json", views.market_live_view, name="market_live"),
]
