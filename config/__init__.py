"""Project configuration: settings, URLs, ASGI and Celery applications."""
