"""Production settings for a test server: ``config.settings.base`` exactly, except that static
files are served from the finders, because tests run no ``collectstatic`` (the manifest storage
of production would refuse every ``{% static %}``). Nothing here touches security settings."""

from config.settings.base import *  # noqa: F403

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
