"""Benchmark: CPU per new HTTPS connection on Mastodon.py's path (requests), against an ideal.

    python benchmarks/bench_tls.py [--connections 40]

Every fediverse server, WebFinger and nodeinfo host the bot asks is a new HTTPS connection.
An HTTPS server on loopback with a test CA's certificate answers each request and closes the
connection, so every request opens a new one.  The CA bundle is certifi's with the test CA
added (a real bundle's size: loading it is what costs).  Measured in the same run, in turns:

- the ideal: a socket, the TLS handshake with one context made once, one GET by hand;
- the bot's session (``Net``), with the bundle in ``REQUESTS_CA_BUNDLE``;
- plain requests given the same bundle as ``verify`` (requests 2.34 has urllib3 load it into
  a new context for every new connection).
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import certifi
import requests
import urllib3
from urllib3.util import create_urllib3_context

from wmsocial_bot import net as net_module
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.net import OFFLINE, Net
from wmsocial_testkit.tls import TlsServer, certificates

NAME = "localhost"  # plain requests resolves it too, without DNS (/etc/hosts)


def cpu_per_call(call: Callable[[], object], count: int) -> float:
    """Process CPU per call, in milliseconds."""
    start = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - start) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ca, cert, key = certificates(Path(tmp), NAME)
        bundle = Path(tmp) / "bundle.pem"
        bundle.write_bytes(Path(certifi.where()).read_bytes() + ca.read_bytes())
        server = TlsServer(cert, key)  # HTTP/1.0: it closes each connection
        url = f"https://{NAME}:{server.port}/x"
        os.environ.pop(OFFLINE, None)
        os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)
        # Loopback plays the public Internet here, as in the security tests.
        net_module.refusal_reason = lambda address: None
        bot = Net(NetworkConfig(timeout=10.0, retries=0), resolver=lambda host: ["127.0.0.1"])
        plain = requests.Session()
        plain.trust_env = False
        context = create_urllib3_context()
        context.load_verify_locations(cafile=str(bundle))

        def ideal() -> None:
            request = f"GET /x HTTP/1.1\r\nHost: {NAME}:{server.port}\r\n\r\n".encode()
            with (
                socket.create_connection(("127.0.0.1", server.port)) as raw,
                context.wrap_socket(raw, server_hostname=NAME) as tls,
            ):
                tls.sendall(request)
                while tls.recv(65536):
                    pass

        calls: dict[str, Callable[[], object]] = {
            "ideal": ideal,
            "bot": lambda: bot.get(url).content,
            "plain requests": lambda: plain.get(url, verify=str(bundle), timeout=10).content,
        }
        for call in calls.values():  # warm: imports, the bot's context, first connections
            call()
        figures: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(3):
            for name, call in calls.items():
                figures[name].append(cpu_per_call(call, args.connections))
        server.close()
        size = bundle_size(bundle)
    ideal_ms = min(figures["ideal"])
    print(
        f"== CPU per new HTTPS connection (a {size}-certificate bundle; "
        f"{args.connections} connections x 3 turns, best turn)"
    )
    print(f"  ideal (one context, a GET by hand): {ideal_ms:.2f} ms")
    for name in ("bot", "plain requests"):
        best = min(figures[name])
        print(f"  {name}: {best:.2f} ms, {best / ideal_ms:.2f} times the ideal")
    versions = f"requests {requests.__version__}, urllib3 {urllib3.__version__}"
    print(f"  {versions}, {ssl.OPENSSL_VERSION}")


def bundle_size(path: Path) -> int:
    return path.read_text(encoding="ascii").count("BEGIN CERTIFICATE")


if __name__ == "__main__":
    main()
