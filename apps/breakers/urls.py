"""Breaker pages, mounted at /breakers/."""

from django.urls import path

from apps.breakers import views

app_name = "breakers"

urlpatterns = [
    path("", views.board_view, name="board"),
    path("trip/", views.trip_view, name="trip"),
    path("<int:pk>/", views.detail_view, name="detail"),
    path("<int:pk>/reset/", views.reset_view, name="reset"),
    path("requests/<int:pk>/approve/", views.approve_view, name="approve"),
]
