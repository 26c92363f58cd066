"""``{% nav_link "dashboard:overview" "Overview" %}``: a main-navigation link that carries
``aria-current="page"`` on the page it names (and the pages under it)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def nav_link(context: dict[str, Any], url_name: str, label: str) -> str:
    """The link, or an empty string when ``url_name`` is not mounted."""
    try:
        url = reverse(url_name)
    except NoReverseMatch:
        return ""
    request = context.get("request")
    path = getattr(request, "path", "")
    current = path == url or (url != "/" and path.startswith(url))
    if current:
        return format_html('<a href="{}" aria-current="page">{}</a>', url, label)
    return format_html('<a href="{}">{}</a>', url, label)
