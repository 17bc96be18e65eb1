"""A proxy the operator configured carries the requests path (Mastodon.py's) as before.

Without a proxy the bot's session reads nothing from the environment per request and has no
session-wide parameters or proxies to merge (net.py ``requests_session``); with one, requests'
own reading of the environment is kept.  Real requests through the real policy to loopback
servers: a forward proxy that records what it is asked, and an origin.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.net import Net

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class _Recorder:
    """An HTTP server on loopback that answers every GET and records its request target."""

    def __init__(self, body: bytes) -> None:
        self.seen: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def _serving(body: bytes) -> Iterator[_Recorder]:
    server = _Recorder(body)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def proxy() -> Iterator[_Recorder]:
    with _serving(b'{"via": "proxy"}') as server:
        yield server


@pytest.fixture
def origin() -> Iterator[_Recorder]:
    with _serving(b'{"via": "origin"}') as server:
        yield server


@pytest.fixture
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.usefixtures("no_proxy_settings")
def test_a_configured_proxy_carries_every_request_with_its_parameters(
    proxy: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # origin.invalid resolves nowhere: the answer can only come through the proxy.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    net = Net(NetworkConfig(timeout=5.0, retries=0), {"social.example": "http://origin.invalid"})
    answer = net.get("https://social.example/api/v1/accounts/lookup", params={"acct": "wm"})
    assert answer.json() == {"via": "proxy"}
    assert proxy.seen == ["http://origin.invalid/api/v1/accounts/lookup?acct=wm"]


@pytest.mark.usefixtures("no_proxy_settings")
def test_without_a_proxy_requests_go_straight_with_their_parameters(
    proxy: _Recorder, origin: _Recorder
) -> None:
    net = Net(
        NetworkConfig(timeout=5.0, retries=0),
        {"social.example": f"http://127.0.0.1:{origin.port}"},
    )
    for n in range(2):
        answer = net.get("https://social.example/api/v1/accounts/lookup", params={"acct": n})
        assert answer.json() == {"via": "origin"}
    assert origin.seen == [f"/api/v1/accounts/lookup?acct={n}" for n in range(2)]
    assert proxy.seen == []
