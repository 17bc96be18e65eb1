"""The httpx path's keep-alive pool (http_pool.py) against a real HTTP/1.1 server on loopback.

What an operator would notice: one connection per host and worker, not one per request; a
connection the server closed while idle costs nothing (no error, no retry, no "host down");
an answer left half read never leaves its connection behind for the next request; and two
names pinned to one address never share a connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import httpx
import pytest

from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.http_pool import KeepAlivePool
from wmsocial_bot.net import Net


class _Server:
    """HTTP/1.1 with keep-alive; counts the connections it accepted and still has open."""

    def __init__(self) -> None:
        self.accepted = 0
        self.open = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with server.lock:
                    server.accepted += 1
                    server.open += 1

            def finish(self) -> None:
                super().finish()
                with server.lock:
                    server.open -= 1

            def do_GET(self) -> None:
                body = b"x" * (200_000 if self.path == "/big" else 10)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                # "/then-close": answered with keep-alive, then the server drops the
                # connection while the client holds it idle (as a keep-alive timeout does).
                self.close_connection = self.path == "/then-close"

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    try:
        yield running
    finally:
        running.close()


def _client(server: _Server, **config: float) -> tuple[Net, httpx.Client]:
    net = Net(
        NetworkConfig(retries=2, **config),  # type: ignore[arg-type]
        {"pool.example": f"http://127.0.0.1:{server.port}"},
    )
    return net, httpx.Client(transport=net.httpx_transport())


def _pool(client: httpx.Client) -> KeepAlivePool:
    pool = client._transport.inner._pool  # type: ignore[attr-defined]
    assert isinstance(pool, KeepAlivePool)  # the bot's transport must use it
    return pool


def _get(url: str, **extensions: str) -> httpcore.Request:
    return httpcore.Request("GET", url, headers=[(b"Host", b"pool.example")], extensions=extensions)


def test_sequential_requests_share_one_connection(server: _Server) -> None:
    _net, client = _client(server)
    with client:
        for _ in range(5):
            assert client.get("https://pool.example/a").status_code == 200
    assert server.accepted == 1


def test_a_connection_the_server_closed_while_idle_costs_nothing(server: _Server) -> None:
    net, client = _client(server)
    with client:
        assert client.get("https://pool.example/then-close").status_code == 200
        for _ in range(50):  # until the server's side of the socket is closed
            if server.open == 0:
                break
            threading.Event().wait(0.02)
        assert server.open == 0
        assert client.get("https://pool.example/a").status_code == 200
    assert server.accepted == 2  # a new connection, not a failed request on the dead one
    assert net.stats["retries"] == 0
    assert net.stats["hosts given up"] == 0


def test_an_answer_left_half_read_does_not_leave_its_connection_to_the_next(
    server: _Server,
) -> None:
    pool = KeepAlivePool(httpx.create_ssl_context(), httpcore.SyncBackend())
    url = f"http://127.0.0.1:{server.port}/big"
    with pool:
        response = pool.handle_request(_get(url))
        stream = response.stream
        next(iter(stream))  # type: ignore[call-overload]
        stream.close()  # type: ignore[union-attr]
        assert pool.idle_connections() == 0
        whole = pool.handle_request(_get(url))
        assert len(b"".join(whole.stream)) == 200_000  # type: ignore[arg-type]
        whole.stream.close()  # type: ignore[union-attr]
        assert pool.idle_connections() == 1
    assert pool.opened == 2
    assert server.accepted == 2


def test_two_names_pinned_to_one_address_never_share_a_connection(server: _Server) -> None:
    pool = KeepAlivePool(httpx.create_ssl_context(), httpcore.SyncBackend())
    url = f"http://127.0.0.1:{server.port}/a"
    with pool:
        for name in ("a.example", "b.example", "a.example", "b.example"):
            response = pool.handle_request(_get(url, sni_hostname=name))
            response.read()
            response.close()
        assert pool.idle_connections() == 2
    assert pool.opened == 2


def test_concurrent_workers_each_keep_their_connection(server: _Server) -> None:
    _net, client = _client(server, max_per_host=8)

    def fetch(_: int) -> int:
        return client.get("https://pool.example/a").status_code

    with client:
        with ThreadPoolExecutor(8) as workers:
            codes = list(workers.map(fetch, range(400)))
        idle = _pool(client).idle_connections()
    assert codes == [200] * 400
    assert server.accepted <= 8  # the host's limit, not one per request
    assert idle == server.accepted


def test_closing_the_client_closes_its_idle_connections(server: _Server) -> None:
    _net, client = _client(server)
    with client:
        client.get("https://pool.example/a")
        assert server.open == 1
    for _ in range(50):
        if server.open == 0:
            break
        threading.Event().wait(0.02)
    assert server.open == 0


def test_a_bluesky_check_leaves_no_connection_open() -> None:
    from datetime import datetime

    from wmsocial_bot.checks import check_accounts
    from wmsocial_bot.extract import extract_accounts
    from wmsocial_testkit.sim_scenario import live_bluesky
    from wmsocial_testkit.simulator import Simulator

    pools: list[KeepAlivePool] = []

    class RecordingNet(Net):
        def httpx_transport(self) -> httpx.BaseTransport:
            transport = super().httpx_transport()
            pools.append(transport.inner._pool)  # type: ignore[attr-defined]
            return transport

    data, page = live_bluesky("open", 3)
    with Simulator(data) as sim:
        net = RecordingNet(NetworkConfig(timeout=5.0), sim.overrides())
        results = check_accounts(extract_accounts(page).accounts, net, now=datetime(2026, 11, 24))
    assert [r.status.value for r in results] == ["ok"] * 3, [r.detail for r in results]
    assert pools and all(pool.opened > 0 for pool in pools)
    assert [pool.idle_connections() for pool in pools] == [0] * len(pools)
