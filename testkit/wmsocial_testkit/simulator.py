"""A local simulator of the platforms the bot checks: many virtual hosts on one loopback port.

``http://127.0.0.1:PORT/HOST/...`` behaves like ``https://HOST/...``.  Point a client at
:meth:`Simulator.url_for` and it talks to a simulated Mastodon, Pleroma, Akkoma, GoToSocial or
Misskey server, the Bluesky AppView, the PLC directory or plain web pages, as described by a
scenario (JSON data; see ``docs/simulator.md``).  Hosts can be slow, capped, rate limited,
down, hanging, huge, looping or flaky; every request is logged with the host's concurrency.

Usage from tests::

    with Simulator(Path("tests/scenarios/basic.json")) as sim:
        api = Mastodon(api_base_url=sim.url_for("social.example"), ...)
        ...
        assert sim.max_in_flight("social.example") <= 4

Command line: ``python -m wmsocial_testkit.simulator --scenario FILE [--port N]``.

The server side uses the standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import email.utils
import json
import random
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import urlsplit

from wmsocial_testkit.sim_bsky import (
    atproto_did,
    handle_appview,
    handle_pds,
    handle_plc,
    xrpc_error,
)
from wmsocial_testkit.sim_fedi import handle_fedi
from wmsocial_testkit.sim_http import (
    HTML_TYPE,
    TEXT_TYPE,
    Hang,
    Outcome,
    Reset,
    Response,
    SimRequest,
    error_page,
    html_page,
    html_response,
    json_response,
    resolve_location,
    sim_url,
    text_response,
)
from wmsocial_testkit.sim_scenario import (
    FEDI_SOFTWARES,
    Flaky,
    Host,
    Page,
    Scenario,
    ScenarioError,
    load_scenario_data,
    parse_scenario,
)

__all__ = ["RequestRecord", "ScenarioError", "Simulator", "main"]

LOG_BODY_LIMIT = 65536
PARKED_PAGE = html_page(
    "This domain may be for sale",
    "<h1>This domain may be for sale!</h1><p>Buy this domain.</p>",
)
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the simulator saw it.

    ``path`` is the path inside the virtual host (``/api/v1/accounts/lookup``), ``query`` the
    raw query string.  ``started``/``ended`` are ``time.monotonic()`` values; ``ended`` and
    ``status`` are None while the request is in flight, and ``status`` stays None when no
    response was sent (refused, reset, hung).  ``in_flight_host_at_start`` counts the requests
    to the same host in flight when this one arrived, itself included.  ``fault`` names an
    injected failure (``max_in_flight``, ``rate_limit``, a behaviour or a flaky kind).
    """

    seq: int
    host: str
    method: str
    path: str
    query: str
    body: str
    started: float
    ended: float | None
    status: int | None
    in_flight_host_at_start: int
    fault: str | None
    user_agent: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _HostRuntime:
    in_flight: int = 0
    admitted: int = 0
    window_start: float | None = None
    window_count: int = 0
    rng: random.Random | None = None
    flaky: Flaky | None = None


@dataclass(slots=True)
class _Ticket:
    seq: int
    host: str
    admitted: bool
    capped: bool
    flaky_kind: str | None


class _Core:
    """The simulator's state: scenario, clock, per-host counters and the request log."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.raw: dict[str, Any] = {}
        self.scenario: Scenario = parse_scenario({})
        self.runtimes: dict[str, _HostRuntime] = {}
        self.log: list[RequestRecord] = []
        self.log_index: dict[int, int] = {}
        self.errors: list[str] = []
        self.seq = 0
        self.clock_start = time.monotonic()
        self.clock_offset = 0.0
        self.idle = threading.Condition(self.lock)
        self.total_in_flight = 0
        self.load(data)

    # ------------------------------------------------------------------ scenario

    def load(self, data: dict[str, Any]) -> None:
        scenario = parse_scenario(data)
        with self.lock:
            self.raw = copy.deepcopy(data)
            self.scenario = scenario
            self.clock_start = time.monotonic()
            self.clock_offset = 0.0
            for runtime in self.runtimes.values():
                runtime.window_start = None
                runtime.window_count = 0
                runtime.rng = None
                runtime.flaky = None
            self._sync_flaky()

    def edit(self, change: Any) -> None:
        """Apply ``change(raw_copy)`` and re-validate; the old scenario stays on error."""
        with self.lock:
            raw = copy.deepcopy(self.raw)
        change(raw)
        scenario = parse_scenario(raw)
        with self.lock:
            self.raw = raw
            self.scenario = scenario
            self._sync_flaky()

    def _sync_flaky(self) -> None:
        for name, host in self.scenario.hosts.items():
            runtime = self.runtimes.setdefault(name, _HostRuntime())
            if runtime.flaky != host.flaky:
                runtime.flaky = host.flaky
                runtime.rng = random.Random(host.flaky.seed) if host.flaky else None

    # ------------------------------------------------------------------ clock

    def now_epoch(self) -> float:
        elapsed = time.monotonic() - self.clock_start + self.clock_offset
        start = self.scenario.now
        if start is None:
            return time.time() + self.clock_offset
        return start.timestamp() + elapsed

    # ------------------------------------------------------------------ log

    def begin(self, req: SimRequest, user_agent: str | None) -> _Ticket:
        host = self.scenario.hosts.get(req.host)
        with self.lock:
            runtime = self.runtimes.setdefault(req.host, _HostRuntime())
            runtime.in_flight += 1
            self.total_in_flight += 1
            capped = False
            admitted = False
            flaky_kind = None
            if host is not None:
                cap = host.max_in_flight
                if cap is not None and runtime.admitted >= cap:
                    capped = True
                else:
                    runtime.admitted += 1
                    admitted = True
                if runtime.rng is not None and runtime.flaky is not None:
                    draw = runtime.rng.random()
                    pick = runtime.rng.randrange(len(runtime.flaky.kinds))
                    if draw < runtime.flaky.error_rate:
                        flaky_kind = runtime.flaky.kinds[pick]
            self.seq += 1
            record = RequestRecord(
                seq=self.seq,
                host=req.host,
                method=req.method,
                path=req.path,
                query=req.query,
                body=req.body[:LOG_BODY_LIMIT].decode("utf-8", "replace"),
                started=time.monotonic(),
                ended=None,
                status=None,
                in_flight_host_at_start=runtime.in_flight,
                fault="max_in_flight" if capped else flaky_kind,
                user_agent=user_agent,
            )
            self.log_index[record.seq] = len(self.log)
            self.log.append(record)
        return _Ticket(record.seq, req.host, admitted, capped, flaky_kind)

    def end(self, ticket: _Ticket, status: int | None, fault: str | None) -> None:
        with self.lock:
            runtime = self.runtimes.setdefault(ticket.host, _HostRuntime())
            runtime.in_flight -= 1
            if ticket.admitted:
                runtime.admitted -= 1
            self.total_in_flight -= 1
            index = self.log_index.pop(ticket.seq, None)
            if index is not None:
                old = self.log[index]
                self.log[index] = RequestRecord(
                    **{
                        **asdict(old),
                        "ended": time.monotonic(),
                        "status": status,
                        "fault": fault or old.fault,
                    }
                )
            self.idle.notify_all()

    def reset_log(self) -> None:
        """Forget every record, also of requests still in flight (their end goes unlogged)."""
        with self.lock:
            self.log = []
            self.log_index = {}

    def take_window(self, host: Host) -> tuple[bool, int, float]:
        """Count one request against the host's budget: (over, remaining, reset_epoch)."""
        assert host.rate_limit is not None
        now = self.now_epoch()
        with self.lock:
            runtime = self.runtimes.setdefault(host.name, _HostRuntime())
            start = runtime.window_start
            if start is None or now >= start + host.rate_limit.window_s:
                runtime.window_start = start = now
                runtime.window_count = 0
            runtime.window_count += 1
            count = runtime.window_count
        remaining = max(0, host.rate_limit.limit - count)
        return count > host.rate_limit.limit, remaining, start + host.rate_limit.window_s


# ---------------------------------------------------------------------------- responses


def _iso_reset(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rate_headers(host: Host, limit: int, remaining: int, reset: float) -> list[tuple[str, str]]:
    if host.software in ("bluesky-appview", "bluesky-pds", "plc"):
        window = int(host.rate_limit.window_s) if host.rate_limit else 1
        return [
            ("ratelimit-limit", str(limit)),
            ("ratelimit-remaining", str(remaining)),
            ("ratelimit-reset", str(int(reset))),
            ("ratelimit-policy", f"{limit};w={window}"),
        ]
    reset_text = str(int(reset)) if host.software == "gotosocial" else _iso_reset(reset)
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", str(remaining)),
        ("X-RateLimit-Reset", reset_text),
    ]


def _too_many(host: Host) -> Response:
    if host.software in ("mastodon", "pleroma", "akkoma", "gotosocial"):
        response = json_response(429, {"error": "Too many requests"})
    elif host.software == "misskey":
        response = json_response(
            429,
            {
                "error": {
                    "message": "Rate limit exceeded. Please try again later.",
                    "code": "RATE_LIMIT_EXCEEDED",
                    "id": "d5826d14-3982-4d2e-8011-b9e9f02499ef",
                    "kind": "client",
                }
            },
        )
    elif host.software in ("bluesky-appview", "bluesky-pds"):
        response = xrpc_error("RateLimitExceeded", "Rate Limit Exceeded", 429)
    elif host.software == "plc":
        response = json_response(429, {"message": "Too Many Requests"})
    else:
        response = error_page(429, "Too Many Requests")
    if host.retry_after is not None:
        response.set_header("Retry-After", str(host.retry_after))
    return response


def _server_error(host: Host, status: int) -> Response:
    if status == 500:
        if host.software in ("bluesky-appview", "bluesky-pds"):
            return xrpc_error("InternalServerError", "Internal Server Error", 500)
        if host.software == "plc":
            return json_response(500, {"message": "Internal Server Error"})
        return html_response(
            500,
            html_page(
                "We're sorry, but something went wrong (500)",
                "<h1>We're sorry, but something went wrong.</h1>",
            ),
        )
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable"}[status]
    response = error_page(status, reason)
    if status == 503 and host.retry_after is not None:
        response.set_header("Retry-After", str(host.retry_after))
    return response


def _oversized(host: Host) -> Response:
    size = max(host.oversized_bytes, 32)
    head = b'{"id":"1","username":"big","note":"'
    tail = b'"}'
    filler = size - len(head) - len(tail)

    def stream() -> Iterator[bytes]:
        yield head
        left = filler
        block = b"A" * _CHUNK
        while left > 0:
            piece = block if left >= _CHUNK else block[:left]
            left -= len(piece)
            yield piece
        yield tail

    return Response(
        200,
        b"",
        [("Content-Type", "application/json; charset=utf-8")],
        stream=stream,
        length=None if host.oversized_chunked else size,
    )


def _redirect_loop(req: SimRequest, scenario: Scenario) -> Response:
    marker = "_sim_loop=1"
    parts = [p for p in req.query.split("&") if p and not p.startswith("_sim_loop=")]
    if marker not in req.query:
        parts.append(marker)
    query = "&".join(parts)
    location = resolve_location(req.path + ("?" + query if query else ""), req, scenario)
    return Response(302, b"", [("Location", location), ("Content-Type", HTML_TYPE)])


def _find_page(host: Host, req: SimRequest) -> Page | None:
    page = host.pages.get(req.target) or host.pages.get(req.path)
    if page is not None:
        return page
    best: tuple[int, Page] | None = None
    for key, candidate in host.pages.items():
        prefix_match = key.endswith("*") and req.target.startswith(key[:-1])
        if prefix_match and (best is None or len(key) > best[0]):
            best = (len(key), candidate)
    return best[1] if best else None


def _page_response(page: Page, req: SimRequest, scenario: Scenario) -> Response:
    if page.json_body is not None:
        body = json.dumps(page.json_body, ensure_ascii=False).encode("utf-8")
    else:
        body = page.body.encode("utf-8")
    headers = [("Content-Type", page.content_type)]
    for name, value in page.headers:
        if name.lower() == "content-type":
            headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
        if name.lower() == "location":
            value = resolve_location(value, req, scenario)
        headers.append((name, value))
    if page.redirect is not None:
        headers.append(("Location", resolve_location(page.redirect, req, scenario)))
    return Response(page.status, body, headers)


def _not_found(host: Host) -> Response:
    if host.software in ("bluesky-appview", "bluesky-pds"):
        return Response(404, b"Not Found", [("Content-Type", TEXT_TYPE)])
    if host.software == "plc":
        return json_response(404, {"message": "not found"})
    return html_response(404, html_page("404 Not Found", "<h1>404 Not Found</h1>"))


def _route(req: SimRequest, scenario: Scenario, host: Host) -> Outcome:
    page = _find_page(host, req)
    if page is not None:
        return _page_response(page, req, scenario)
    if req.path == "/.well-known/atproto-did":
        found = atproto_did(scenario, host.name)
        if found is not None:
            return found
    if req.path == "/.well-known/webfinger" and host.webfinger_redirect:
        target = f"https://{host.webfinger_redirect}/.well-known/webfinger"
        if req.query:
            target += "?" + req.query
        return Response(301, b"", [("Location", sim_url(target, scenario, req.sim_base))])
    outcome: Outcome | None = None
    if host.software in FEDI_SOFTWARES:
        outcome = handle_fedi(req, scenario, host)
    elif host.software == "bluesky-appview":
        outcome = handle_appview(req, scenario)
    elif host.software == "plc":
        outcome = handle_plc(req, scenario)
    elif host.software == "bluesky-pds":
        outcome = handle_pds(req, scenario, host.name)
    if outcome is not None:
        return outcome
    if host.default_page is not None:
        return _page_response(host.default_page, req, scenario)
    return _not_found(host)


def _decide(core: _Core, req: SimRequest, ticket: _Ticket) -> tuple[Outcome, float, str | None]:
    """(outcome, delay before answering in seconds, fault name)."""
    scenario = core.scenario
    host = scenario.hosts.get(req.host)
    if host is None:
        return (
            Response(
                421,
                f"simulator: unknown host {req.host!r}; add it to the scenario's hosts\n".encode(),
                [("Content-Type", TEXT_TYPE)],
            ),
            0.0,
            "unknown_host",
        )
    delay = host.latency_ms / 1000.0
    rate_headers: list[tuple[str, str]] = []
    if ticket.capped:
        assert host.max_in_flight is not None
        response = _too_many(host)
        limit = host.rate_limit.limit if host.rate_limit else host.max_in_flight
        for name, value in _rate_headers(host, limit, 0, core.now_epoch() + 1):
            response.set_header(name, value)
        return response, delay, "max_in_flight"
    if host.rate_limit is not None:
        over, remaining, reset = core.take_window(host)
        rate_headers = _rate_headers(host, host.rate_limit.limit, remaining, reset)
        if over:
            response = _too_many(host)
            for name, value in rate_headers:
                response.set_header(name, value)
            return response, delay, "rate_limit"
    outcome, extra, fault = _misbehave(req, scenario, host, ticket.flaky_kind)
    if outcome is None:
        outcome = _route(req, scenario, host)
    if isinstance(outcome, Response):
        for name, value in rate_headers:
            if outcome.header(name) is None:
                outcome.headers.append((name, value))
    return outcome, delay + extra, fault


def _misbehave(
    req: SimRequest, scenario: Scenario, host: Host, flaky_kind: str | None
) -> tuple[Outcome | None, float, str | None]:
    extra = 0.0
    if flaky_kind is not None:
        if flaky_kind == "reset":
            return Reset(), 0.0, "reset"
        if flaky_kind == "timeout":
            return Hang(host.hang_s), 0.0, "timeout"
        if flaky_kind == "ratelimit":
            return _too_many(host), 0.0, "ratelimit"
        if flaky_kind == "slow":
            assert host.flaky is not None
            extra = host.flaky.slow_ms / 1000.0
        else:
            status = int(flaky_kind.removeprefix("error"))
            return _server_error(host, status), 0.0, flaky_kind
    behaviour = host.behaviour
    fault = "slow" if flaky_kind == "slow" else None
    if behaviour == "refuse":
        return Reset(), extra, behaviour
    if behaviour == "timeout":
        return Hang(host.hang_s), extra, behaviour
    if behaviour in ("error500", "error502", "error503"):
        return _server_error(host, int(behaviour[5:])), extra, behaviour
    if behaviour == "nonjson":
        return html_response(200, PARKED_PAGE), extra, behaviour
    if behaviour == "oversized":
        return _oversized(host), extra, behaviour
    if behaviour == "redirect_loop":
        return _redirect_loop(req, scenario), extra, behaviour
    return None, extra, fault


# ---------------------------------------------------------------------------- HTTP server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], core: _Core) -> None:
        self.core = core
        self.open_sockets: set[socket.socket] = set()
        self.reset_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
            reset = request in self.reset_sockets
            self.reset_sockets.discard(request)
        if reset:
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        self.core.errors.append(traceback.format_exc())

    def close_all(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wmsocial-simulator"
    sys_version = ""
    timeout = 60
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits
    # for the client's delayed ACK (40 ms on Linux), a delay no real server adds.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(self.server.core.now_epoch(), usegmt=True)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    # ------------------------------------------------------------------ plumbing

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        core = self.server.core
        parts = urlsplit(self.path)
        path = parts.path or "/"
        body = self._read_body()
        if path.startswith("/_sim/"):
            self._control(path, body)
            return
        segments = path.split("/", 2)
        host = segments[1].lower() if len(segments) > 1 else ""
        inner = "/" + segments[2] if len(segments) > 2 else "/"
        sim_base = self.server.base_url
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = SimRequest(
            host=host,
            method=self.command,
            path=inner,
            query=parts.query,
            headers=headers,
            body=body,
            sim_base=sim_base,
        )
        ticket = core.begin(req, headers.get("user-agent"))
        status: int | None = None
        fault: str | None = None
        try:
            try:
                outcome, delay, fault = _decide(core, req, ticket)
            except Exception:
                core.errors.append(traceback.format_exc())
                outcome = text_response(500, "simulator internal error\n")
                delay, fault = 0.0, "simulator_error"
            if delay > 0 and core.stop_event.wait(delay):
                self._drop(reset=True)
                return
            status = self._send(outcome)
        finally:
            core.end(ticket, status, fault)

    def _drop(self, *, reset: bool) -> None:
        self.close_connection = True
        if reset:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            with self.server.sockets_lock:
                self.server.reset_sockets.add(self.connection)

    def _send(self, outcome: Outcome) -> int | None:
        core = self.server.core
        if isinstance(outcome, Reset):
            self._drop(reset=True)
            return None
        if isinstance(outcome, Hang):
            core.stop_event.wait(outcome.seconds)
            self._drop(reset=False)
            return None
        try:
            self.send_response(outcome.status)
            for name, value in outcome.headers:
                self.send_header(name, value)
            if outcome.stream is not None and outcome.length is None:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                size = outcome.length if outcome.stream is not None else len(outcome.body)
                self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command == "HEAD":
                return outcome.status
            if outcome.stream is None:
                self.wfile.write(outcome.body)
            else:
                chunked = outcome.length is None
                for piece in outcome.stream():
                    if core.stop_event.is_set():
                        self._drop(reset=True)
                        break
                    if chunked:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    else:
                        self.wfile.write(piece)
                else:
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        return outcome.status

    def _control(self, path: str, body: bytes) -> None:
        core = self.server.core
        response: Response
        if path == "/_sim/log" and self.command == "GET":
            with core.lock:
                records = [r.to_dict() for r in core.log]
            response = json_response(200, records)
        elif path == "/_sim/reset" and self.command == "POST":
            core.reset_log()
            response = json_response(200, {"ok": True})
        elif path == "/_sim/scenario" and self.command == "GET":
            with core.lock:
                response = json_response(200, core.raw)
        elif path == "/_sim/scenario" and self.command == "POST":
            try:
                data = json.loads(body.decode("utf-8"))
                if not isinstance(data, dict):
                    raise ScenarioError("the scenario must be a JSON object")
                core.load(data)
                response = json_response(200, {"ok": True})
            except (ValueError, ScenarioError) as exc:
                response = json_response(400, {"error": str(exc)})
        elif path == "/_sim/health":
            response = json_response(200, {"ok": True, "hosts": sorted(core.scenario.hosts)})
        else:
            response = json_response(404, {"error": f"no control endpoint {path}"})
        self._send(response)


# ---------------------------------------------------------------------------- public API


class Simulator:
    """The platform simulator.  Use as a context manager, or call :meth:`start`/:meth:`stop`."""

    def __init__(
        self,
        scenario: Mapping[str, Any] | Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._core = _Core(load_scenario_data(scenario) if scenario is not None else {})
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Simulator:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._core.stop_event.clear()
        self._server = _Server(self._address, self._core)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="wmsocial-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving.  Hanging and sleeping handlers are woken and dropped, not awaited."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._core.stop_event.set()
        server.shutdown()
        server.close_all()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.base_url

    def url_for(self, host: str) -> str:
        """The override base URL for ``host``: ``http://127.0.0.1:PORT/<host>``."""
        return f"{self.base_url}/{host.lower()}"

    def overrides(self) -> dict[str, str]:
        """``{host: url_for(host)}`` for every host in the scenario."""
        return {name: self.url_for(name) for name in self._core.scenario.hosts}

    # ------------------------------------------------------------------ scenario

    @property
    def scenario(self) -> Scenario:
        """The parsed scenario (frozen, defaults filled in)."""
        return self._core.scenario

    @property
    def scenario_data(self) -> dict[str, Any]:
        """A copy of the scenario data as loaded and edited."""
        with self._core.lock:
            return copy.deepcopy(self._core.raw)

    def load(self, scenario: Mapping[str, Any] | Path | str) -> None:
        """Replace the scenario.  Restarts the clock, budgets and flaky sequences; keeps the log."""
        self._core.load(load_scenario_data(scenario))

    def update_host(self, host: str, **changes: Any) -> None:
        """Change (or add) a host's keys; a value of None drops the key back to its default."""

        def change(raw: dict[str, Any]) -> None:
            hosts = raw.setdefault("hosts", {})
            key = _find_key(hosts, host)
            entry = hosts.setdefault(key, {}) or {}
            hosts[key] = _merged(entry, changes)

        self._core.edit(change)

    def remove_host(self, host: str) -> None:
        self._core.edit(lambda raw: raw.get("hosts", {}).pop(_find_key(raw.get("hosts", {}), host)))

    def update_account(self, host: str, name: str, **changes: Any) -> None:
        """Change (or add) an account on a fediverse host, e.g. ``state="moved", moved_to=...``."""

        def change(raw: dict[str, Any]) -> None:
            hosts = raw.setdefault("hosts", {})
            host_key = _find_key(hosts, host)
            if host_key not in hosts:
                raise ScenarioError(f"hosts.{host}: no such host")
            entry = hosts[host_key] = hosts[host_key] or {}
            accounts = entry.setdefault("accounts", {})
            key = _find_key(accounts, name)
            accounts[key] = _merged(accounts.get(key) or {}, changes)

        self._core.edit(change)

    def remove_account(self, host: str, name: str) -> None:
        def change(raw: dict[str, Any]) -> None:
            entry = raw.get("hosts", {}).get(_find_key(raw.get("hosts", {}), host)) or {}
            accounts = entry.get("accounts", {})
            accounts.pop(_find_key(accounts, name), None)

        self._core.edit(change)

    def update_bluesky(self, did: str, **changes: Any) -> None:
        """Change (or add) a Bluesky account, e.g. ``handle="new.bsky.social"`` for a rename."""

        def change(raw: dict[str, Any]) -> None:
            accounts = raw.setdefault("bluesky", {}).setdefault("accounts", {})
            accounts[did] = _merged(accounts.get(did) or {}, changes)

        self._core.edit(change)

    def remove_bluesky(self, did: str) -> None:
        self._core.edit(lambda raw: raw.get("bluesky", {}).get("accounts", {}).pop(did, None))

    # ------------------------------------------------------------------ clock

    def now(self) -> datetime:
        """The simulated clock: the scenario's ``now`` plus the time since loading."""
        return datetime.fromtimestamp(self._core.now_epoch(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the simulated clock forward (rate-limit windows expire accordingly)."""
        with self._core.lock:
            self._core.clock_offset += seconds

    # ------------------------------------------------------------------ log

    @property
    def log(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first.

        A request is logged just after its client has the answer, so this first waits (up to
        2 s) for requests in flight to finish: a client that is done sees its request logged.
        """
        self.wait_idle(2.0)
        with self._core.lock:
            return list(self._core.log)

    @property
    def errors(self) -> list[str]:
        """Tracebacks of simulator bugs met while answering (should stay empty)."""
        return list(self._core.errors)

    def reset_log(self) -> None:
        self._core.reset_log()

    def max_in_flight(self, host: str) -> int:
        """The highest concurrency seen on ``host`` in the current log (0 when none)."""
        host = host.lower()
        return max((r.in_flight_host_at_start for r in self.log if r.host == host), default=0)

    def count(
        self,
        host: str | None = None,
        path_prefix: str | None = None,
        *,
        status: int | None = None,
    ) -> int:
        """How many logged requests match the host, path prefix and status given."""
        wanted = host.lower() if host is not None else None
        return sum(
            1
            for r in self.log
            if (wanted is None or r.host == wanted)
            and (path_prefix is None or r.path.startswith(path_prefix))
            and (status is None or r.status == status)
        )

    def in_flight(self, host: str | None = None) -> int:
        """Requests being answered right now (on ``host``, or on all hosts)."""
        with self._core.lock:
            if host is None:
                return self._core.total_in_flight
            runtime = self._core.runtimes.get(host.lower())
            return runtime.in_flight if runtime else 0

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._core.idle:
            while self._core.total_in_flight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._core.idle.wait(left)
        return True


def _find_key(mapping: Mapping[str, Any], name: str) -> str:
    for key in mapping:
        if key.lower() == name.lower():
            return key
    return name


def _merged(entry: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(entry)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = copy.deepcopy(value)
    return result


# ---------------------------------------------------------------------------- CLI


def endpoints_toml(overrides: dict[str, str]) -> str:
    """A wmsocial-bot config file (TOML) whose ``[endpoints]`` point every host here."""
    lines = [
        "# Written by the platform simulator: every simulated host is served by it.",
        "[endpoints]",
    ]
    lines += [f"{json.dumps(host)} = {json.dumps(url)}" for host, url in overrides.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wmsocial_testkit.simulator",
        description="Serve simulated social-media platforms on one loopback port.",
    )
    parser.add_argument("--scenario", type=Path, help="scenario JSON file (default: empty)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    parser.add_argument(
        "--write-config",
        type=Path,
        metavar="FILE",
        help="write a config file whose [endpoints] send every simulated host here, for "
        "wmsocial-bot --config FILE (instead of one --endpoint per host)",
    )
    args = parser.parse_args(argv)
    try:
        sim = Simulator(args.scenario, host=args.host, port=args.port)
        sim.start()
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.write_config is not None:
        try:
            args.write_config.write_text(endpoints_toml(sim.overrides()), encoding="utf-8")
        except OSError as exc:
            sim.stop()
            print(f"error: cannot write {args.write_config}: {exc.strerror}", file=sys.stderr)
            return 2
    print(sim.base_url, flush=True)
    for name, url in sim.overrides().items():
        print(f"  {name} -> {url}", file=sys.stderr)
    if args.write_config is not None:
        print(
            f"endpoints written to {args.write_config}: use --config {args.write_config}",
            file=sys.stderr,
            flush=True,
        )
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
