"""A checker's door to the network: what reaches it is the bot's TransportError family.

Real requests through the real network policy to a loopback server (and a closed loopback
port): requests' own failures never reach a checker; each comes as one member of the family
(issue 14, step 4), with the library's exception kept as its cause for the log.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from wmsocial_bot.checkers.common import CheckContext
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.errors import (
    ConnectionFailed,
    NetworkPolicyError,
    RedirectLoop,
    TooLarge,
    TransportError,
)
from wmsocial_bot.net import Net

NOW = datetime(2026, 11, 30, tzinfo=UTC)
CAP = 2_000


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"x" * (10 * CAP) if self.path == "/big" else b"fine"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ctx() -> Iterator[CheckContext]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    endpoints = {"pages.example": base, "down.example": f"http://127.0.0.1:{_closed_port()}"}
    net = Net(NetworkConfig(retries=0, max_response_bytes=CAP), endpoints)
    try:
        with ThreadPoolExecutor(max_workers=2) as executor:
            yield CheckContext(net, NOW, 365, {}, executor)
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_still_comes_through(ctx: CheckContext) -> None:
    assert ctx.get("https://pages.example/ok").text == "fine"


@pytest.mark.parametrize(
    ("url", "family"),
    [
        ("https://pages.example/big", TooLarge),  # the policy's cap, raised inside requests
        ("https://pages.example/loop", RedirectLoop),
        ("https://down.example/", ConnectionFailed),
        ("http://10.0.0.1/", NetworkPolicyError),  # the private-address guard
    ],
)
def test_failures_reach_a_checker_as_the_family(
    ctx: CheckContext, url: str, family: type[TransportError]
) -> None:
    with pytest.raises(family) as failure:
        ctx.get(url)
    if family in (RedirectLoop, ConnectionFailed):  # translated: requests' failure is the cause
        assert not isinstance(failure.value, requests.RequestException)
        assert isinstance(failure.value.__cause__, requests.RequestException)
