"""The two backends of the Bluesky contract: the reference stack and the simulator."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from reference_bluesky import ReferenceStack

DID_WEB_DOMAIN = "nobody.example.com"  # the did:web case's domain: serves no DID document


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"Not Found"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _not_found_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class ReferenceBackend:
    """``stack.mjs`` on dev-env; the bot's public hosts point at its loopback servers."""

    def __init__(self, stack: ReferenceStack, web: str) -> None:
        self.stack = stack
        self.overrides = {
            "public.api.bsky.app": stack.urls["appview"],
            "plc.directory": stack.urls["plc"],
            # The PDS named in the DID documents: reachable because it is an override target.
            "pds.reference.test": stack.urls["pdsPublicUrl"],
            DID_WEB_DOMAIN: web,
        }

    def setup(self, states: list[str]) -> dict[str, dict[str, Any]]:
        accounts: dict[str, dict[str, Any]] = self.stack.command("setup", states=states)["accounts"]
        return accounts

    def advance(self) -> None:
        self.stack.command("advance")


@contextlib.contextmanager
def reference(request: pytest.FixtureRequest) -> Iterator[ReferenceBackend]:
    stack: ReferenceStack = request.getfixturevalue("bluesky_stack")
    with _not_found_server() as web:
        yield ReferenceBackend(stack, web)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], contextlib.AbstractContextManager[Any]]] = {
    "reference": reference,
}
