"""Keep-alive connections for the httpx path (atproto's), one stack per origin and name.

httpcore's ``ConnectionPool`` re-examines every connection it holds each time a request comes
or goes (``_assign_requests_to_connections``): a ``poll()`` of each idle socket, and a count of
idle connections for each of them.  Behind the Bluesky AppView's 32 slots that was about a dozen
``poll()`` calls per request, each releasing the interpreter's lock to some 200 waiting threads;
the upstream fix is still open (encode/httpcore#1035), as is a race in which a pass closes a
connection already handed to a queued request, so that request hangs until its read timeout
(encode/httpcore#1110, seen with 342 threads).

This pool needs none of that, because :class:`~wmsocial_bot.net.Net` already decides how many
requests are in flight, per host and in all: a request takes the most recently used idle
connection of its origin, polls that one only (``has_expired``: closed by the server, or idle
past ``keepalive_expiry``), and gives it back when its answer is closed.  There is no queue
and no limit here.  Connections are httpcore's own ``HTTPConnection`` (public API); only the
bookkeeping is ours.

Connections are keyed by origin *and* the TLS name (``sni_hostname``): with the address
guard's pinning the URL holds the checked address, so two names on one address share an
origin, and a connection whose certificate was checked for one name must never carry a request
for the other.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore

_Key = tuple[bytes, bytes, int, str | None]


class KeepAlivePool:
    """A stand-in for httpcore's ``ConnectionPool`` (its ``handle_request`` and ``close``)."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        network_backend: httpcore.NetworkBackend,
        *,
        keepalive_expiry: float = 5.0,
        idle_per_origin: int = 32,
    ) -> None:
        self._ssl_context = ssl_context
        self._network_backend = network_backend
        self._keepalive_expiry = keepalive_expiry
        self._idle_per_origin = idle_per_origin
        self._idle: dict[_Key, list[httpcore.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self.opened = 0  # connections made, for tests and figures

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        origin = request.url.origin
        key: _Key = (origin.scheme, origin.host, origin.port, _sni(request))
        while True:
            connection = self._take(key)
            if connection is None:
                connection = self._open(origin)
            elif connection.has_expired() or not connection.is_idle():
                connection.close()  # the server closed it, or it idled too long: the next one
                continue
            try:
                response = connection.handle_request(request)
            except httpcore.ConnectionNotAvailable:
                continue  # only a connection that was not idle says so; it is not kept
            except BaseException:
                connection.close()
                raise
            assert isinstance(response.stream, Iterable)
            return httpcore.Response(
                status=response.status,
                headers=response.headers,
                content=_GivenBack(response.stream, self, key, connection),
                extensions=response.extensions,
            )

    def _take(self, key: _Key) -> httpcore.HTTPConnection | None:
        with self._lock:
            stack = self._idle.get(key)
            return stack.pop() if stack else None

    def _open(self, origin: httpcore.Origin) -> httpcore.HTTPConnection:
        with self._lock:
            self.opened += 1
        return httpcore.HTTPConnection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
            network_backend=self._network_backend,
        )

    def give_back(self, key: _Key, connection: httpcore.HTTPConnection) -> None:
        """Keep a connection whose answer was read to the end; close any other."""
        if connection.is_idle():
            with self._lock:
                stack = self._idle.setdefault(key, [])
                if len(stack) < self._idle_per_origin:
                    stack.append(connection)
                    return
        connection.close()

    def idle_connections(self) -> int:
        with self._lock:
            return sum(len(stack) for stack in self._idle.values())

    def close(self) -> None:
        with self._lock:
            idle = [connection for stack in self._idle.values() for connection in stack]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def __enter__(self) -> KeepAlivePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _GivenBack:
    """An answer's body; closing it gives its connection back to the pool (once)."""

    def __init__(
        self,
        stream: Iterable[bytes],
        pool: KeepAlivePool,
        key: _Key,
        connection: httpcore.HTTPConnection,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._key = key
        self._connection = connection
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()  # httpcore: idle again if the answer was read to its end, else closed
        finally:
            self._pool.give_back(self._key, self._connection)


def _sni(request: httpcore.Request) -> str | None:
    name: Any = request.extensions.get("sni_hostname")
    return None if name is None else str(name)
