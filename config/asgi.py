"""ASGI entry point: HTTP through Django, websockets through Channels.

Websockets are origin-checked against ALLOWED_HOSTS and carry the Django session user;
consumers refuse anonymous users themselves (see apps.realtime.consumers).

HTTP goes through :class:`HttpHandler`, Django's ASGI handler run the way Django runs under
WSGI: the whole request (``request_started``, the synchronous middleware chain, the view,
``request_finished``) is one call on one worker thread, instead of Django's per-request
thread plus a thread hop at every switch between sync and async code (each sync-only
middleware boundary, each ``process_view``, the view, the signals). Every view here is
synchronous (DRF and Django views), so nothing can run concurrently with them anyway. Worker
threads are reused across requests instead of two threads being started per request.
Measured on the bench's 2 cores: ~1.4 ms of worker CPU per bare ``/api/ping`` before, see
docs/gateway.md ("Performance") for after.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
from concurrent.futures import ThreadPoolExecutor

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

# Django must be set up before importing anything that touches models (what
# django.core.asgi.get_asgi_application does, without building its handler).
django.setup(set_prefix=False)

from asgiref.sync import ThreadSensitiveContext, sync_to_async  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.core import signals  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # noqa: E402
from django.http import FileResponse  # noqa: E402
from django.urls import get_resolver, set_script_prefix  # noqa: E402

from apps.realtime.routing import websocket_urlpatterns  # noqa: E402

__all__ = ["HttpHandler", "application"]

# Idle worker threads kept for reuse; beyond this, a finished request's thread is let go.
MAX_IDLE_THREADS = 64
# Recent asgiref (3.13 here) lets a ThreadSensitiveContext use a given, reusable executor; older
# releases start a thread per request, as Django's own handler does.
_REUSABLE_THREADS = "executor" in inspect.signature(ThreadSensitiveContext).parameters


class HttpHandler(ASGIHandler):
    """Django's ASGI handler with a synchronous middleware chain, one worker thread hop per
    request (two for streaming responses, which are closed after they are sent) and reused
    worker threads.

    Behaviour is Django's: the same middleware run in the same order (in their sync mode, as
    under WSGI), the signals fire around the request on the request's thread (so
    ``close_old_connections`` returns the thread's database connection to the pool), errors
    become responses the same way. A client that disconnects while a synchronous view runs
    is noticed when the answer is sent, as before (Django cannot cancel a sync view)."""

    def __init__(self) -> None:
        # Not ASGIHandler.__init__: that builds the async chain (adapters between every
        # sync-only middleware and the async base handler).
        self.load_middleware(is_async=False)
        self._idle: list[ThreadPoolExecutor] = []

    def _lease(self) -> ThreadPoolExecutor:
        # Only the event loop's thread leases and releases: no lock needed.
        return self._idle.pop() if self._idle else ThreadPoolExecutor(1, "http")

    def _release(self, executor: ThreadPoolExecutor) -> None:
        if len(self._idle) < MAX_IDLE_THREADS:
            self._idle.append(executor)
        else:
            executor.shutdown(wait=False)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        if not _REUSABLE_THREADS:
            async with ThreadSensitiveContext():
                await self.handle(scope, receive, send)
            return
        executor = self._lease()
        try:
            # Every thread-sensitive call of this request (ours, and any a view makes through
            # async_to_sync/sync_to_async) runs on this one thread, as Django expects.
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._release(executor)

    async def handle(self, scope, receive, send) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # client disconnected during send_response (Django ignores it too)
            finally:
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        """On the request's thread: request_started, the middleware chain and the view, and
        for a response already in memory its close() (resource closers, request_finished)."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        response._handler_class = self.__class__
        if not response.streaming:
            response.close()
        return response


# Build the URL resolver now, not on each worker's first request (the URLconf imports every
# app's views, numerics included: seconds on a loaded machine, paid by the first caller).
get_resolver().url_patterns  # noqa: B018
# Everything imported so far lives as long as the process: keep the cyclic garbage collector
# from walking it again and again (measured under order load: full collections of the ~220k
# start-up objects paused a worker for 150-250 ms each).
gc.freeze()

application = ProtocolTypeRouter(
    {
        "http": HttpHandler(),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
