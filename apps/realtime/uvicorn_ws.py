"""uvicorn's websocket protocol with a bounded kernel send queue (so latest-wins is real) and
a deadline on closing.

Start uvicorn with ``--ws apps.realtime.uvicorn_ws:BoundedSendWebSocketProtocol`` (scripts/run.py,
docker/Dockerfile and tests/support/servers.py do).

Why: the outbox (apps/realtime/outbox.py) coalesces a topic's messages only while its send
is held back, and uvicorn holds a send back only when the transport's own buffer is full
(asyncio's 64 KiB high-water mark). Underneath, Linux autotunes the socket's send buffer up to
``net.ipv4.tcp_wmem`` max (4 MiB by default): a tab that stopped reading still had ~100
stale 40 kB pushes queued in the kernel for it, all delivered in order before the newest
(measured: Send-Q 3.9 MB per socket, docs/realtime.md). ``TCP_NOTSENT_LOWAT`` caps the bytes
the kernel accepts but has not sent yet, while leaving in-flight data (the congestion window)
autotuned, so a fast tab on a long path keeps its throughput and a stalled one blocks the
outbox after about 64 KiB. Where the option does not exist, ``SO_SNDBUF`` bounds the whole
send buffer instead. Only upgraded websocket connections get it; plain HTTP is untouched.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

logger = logging.getLogger(__name__)

# Unsent bytes the kernel holds for one websocket: about one or two large pushes. The stale
# backlog a stalled tab receives before the newest message is this, plus the receiver's window,
# plus the transport's 64 KiB high-water mark.
NOTSENT_LOWAT_BYTES = 64 * 1024
SNDBUF_BYTES = 128 * 1024  # fallback without TCP_NOTSENT_LOWAT (the kernel doubles it)
# After the app closes the socket, how long the close frame may take before the connection is
# aborted: a revocation (~2 s after the change) then drops even a frozen tab within ~5 s.
CLOSE_GRACE_SECONDS = 3.0

# Set once a connection went through this protocol: the consumer warns when it runs without it.
in_use = False

if AutoWebSocketsProtocol is None:  # pragma: no cover - uvicorn[standard] brings websockets
    raise ImportError("uvicorn has no websocket implementation installed")


def bound_send_queue(sock: Any) -> None:
    """Bound what the kernel queues for ``sock`` (a socket or uvloop's pseudo-socket)."""
    if sock is None:
        return
    try:
        lowat = getattr(socket, "TCP_NOTSENT_LOWAT", None)
        if lowat is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, lowat, NOTSENT_LOWAT_BYTES)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF_BYTES)
    except OSError:  # an exotic transport: coalescing only starts later, nothing breaks
        logger.warning("could not bound the websocket send queue", exc_info=True)


class BoundedSendWebSocketProtocol(AutoWebSocketsProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's default (``--ws auto``) websocket protocol, with a bounded send queue and a
    deadline on closing.

    The deadline: once the app sends ``websocket.close`` (a session ended, rights shrank),
    the connection is reset if ``CLOSE_GRACE_SECONDS`` later the close frame has still not
    left uvicorn's buffer for the kernel. A tab that stopped reading never takes the close
    frame (uvicorn waits for the write buffer to drain first), and uvicorn's own keepalive
    timeout only *closes* the transport, which waits for the same buffer to flush: such a
    socket stayed open indefinitely after its session ended.
    """

    _transport: Any = None
    _lost = False
    _abort_timer: asyncio.TimerHandle | None = None
    _close_written = False

    def connection_made(self, transport: Any) -> None:
        global in_use
        in_use = True
        self._transport = transport
        bound_send_queue(transport.get_extra_info("socket"))
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._abort_timer is not None:
            self._abort_timer.cancel()
        super().connection_lost(exc)

    def _close_deadline(self, message: Any) -> None:
        if message.get("type") == "websocket.close" and self._abort_timer is None:
            loop = asyncio.get_running_loop()
            self._abort_timer = loop.call_later(CLOSE_GRACE_SECONDS, self._abort_unless_gone)

    def _abort_unless_gone(self) -> None:
        if self._lost or self._transport is None:
            return
        if self._close_written and not self._transport.get_write_buffer_size():
            # The close frame reached the kernel: the peer can read it, and uvicorn's own
            # close-handshake timer ends the connection (a reset now could beat the frame).
            return
        logger.info("websocket aborted: the close frame could not be sent in time")
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            try:  # reset, dropping what is queued: a plain close would keep sending it
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:  # socket already gone: abort() below still drops the connection
                pass
        self._transport.abort()

    # The ASGI send callable: ``send`` in uvicorn's sans-I/O and wsproto protocols,
    # ``asgi_send`` in its legacy websockets one (where ``send`` sends a data frame).
    if hasattr(AutoWebSocketsProtocol, "asgi_send"):  # pragma: no cover - older uvicorn

        async def asgi_send(self, message: Any) -> None:
            self._close_deadline(message)
            await super().asgi_send(message)
            if message.get("type") == "websocket.close":
                self._close_written = True

    else:

        async def send(self, message: Any) -> None:
            self._close_deadline(message)
            await super().send(message)
            if message.get("type") == "websocket.close":
                self._close_written = True
