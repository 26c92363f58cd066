"""Placeholder: replaced by the audit page (dashboard issue). Answers 404 until then."""

from django.http import Http404, HttpRequest, HttpResponse


def audit_view(request: HttpRequest) -> HttpResponse:
    raise Http404("not built yet")
