"""A TCP proxy that injects network faults (the idea of toxiproxy, in one small module).

Server processes under test are given an address on the proxy instead of the real service
(``DATABASE_URL=postgres://...@127.0.0.1:<proxy port>/db``), so a test can take the service
away from *them* without touching the shared server other people use:

    with TcpProxy("127.0.0.1", 5432) as proxy:
        ...  # start a server with proxy.port
        proxy.cut()      # every open connection is reset, new ones are refused
        proxy.restore()  # accept again (same port); the service itself never went down

Bytes are relayed unchanged by two threads per connection. ``cut()`` closes the listening
socket (a connect gets ECONNREFUSED at once, as when the server is down) and resets every
relayed connection on both sides (the client sees "server closed the connection
unexpectedly"; the upstream server sees its client vanish and frees the backend).
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from types import TracebackType

__all__ = ["TcpProxy"]

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        sock.shutdown(socket.SHUT_RDWR)  # wakes the relay thread blocked in recv()
    except OSError:
        pass
    sock.close()


class TcpProxy:
    """Relay ``127.0.0.1:<port>`` to ``upstream`` until told to fail."""

    def __init__(self, upstream: tuple[str, int] | str, *, port: int = 0) -> None:
        self.upstream = upstream  # (host, port), or the path of a Unix socket (embedded PG)
        self.port = port
        self.accepted = 0  # connections relayed so far
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._listen()

    def stop(self) -> None:
        self.cut()

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # --- faults ---------------------------------------------------------------------------

    def cut(self) -> int:
        """Refuse new connections and reset every open one; returns how many were reset."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        return len(pairs)

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        if self._listener is None:
            self._listen()

    # --- relaying -------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping = threading.Event()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, args=(listener, self._stopping), daemon=True
        )
        self._accept_thread.start()

    def _accept_loop(self, listener: socket.socket, stopping: threading.Event) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            while not stopping.is_set():
                if not selector.select(timeout=0.1):
                    continue
                try:
                    client, _ = listener.accept()
                except OSError:
                    return  # closed by cut()
                self._relay(client, stopping)

    def _relay(self, client: socket.socket, stopping: threading.Event) -> None:
        try:
            upstream = self._connect_upstream()
        except OSError:
            _reset(client)  # upstream really down: the client sees a reset
            return
        upstream.settimeout(None)
        pair = (client, upstream)
        with self._lock:
            if stopping.is_set():  # cut() ran while we connected
                _reset(client)
                _reset(upstream)
                return
            self._pairs.add(pair)
            self.accepted += 1
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(pair, source, sink), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.upstream, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(self.upstream)
            except OSError:
                sock.close()
                raise
            return sock
        return socket.create_connection(self.upstream, timeout=5)

    def _pump(
        self, pair: tuple[socket.socket, socket.socket], source: socket.socket, sink: socket.socket
    ) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # reset by cut(), or by the other side
        # One side finished (or was reset): end the whole connection, as a dead link would.
        with self._lock:
            if pair not in self._pairs:
                return  # cut() already reset both sockets
            self._pairs.discard(pair)
        for sock in pair:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
