"""The project's URLs plus one class-based sensitive view (for the step-up test)."""

from django.http import HttpResponse
from django.urls import include, path
from django.utils.decorators import method_decorator
from django.views import View

from apps.accounts.stepup import sensitive_action


@method_decorator(sensitive_action, name="dispatch")
class TripEverything(View):
    def post(self, request):
        return HttpResponse(f"tripped: {request.POST.get('reason', '')}")


urlpatterns = [
    path("test-only/trip/", TripEverything.as_view(), name="test-trip"),
    path("", include("config.urls")),
]
