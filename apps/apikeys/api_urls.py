from django.urls import path

from apps.apikeys.views_api import MeView

urlpatterns = [
    path("me", MeView.as_view(), name="api-me"),
]
