"""Request and response values shared by the simulator's platform modules.

Platform modules are pure functions ``(SimRequest, Scenario, ...) -> Outcome``; the server in
:mod:`wmsocial_testkit.simulator` does the socket work, the timing and the log.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from wmsocial_testkit.sim_scenario import Scenario

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
JRD_TYPE = "application/jrd+json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One request, seen as the virtual host would see it."""

    host: str
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    sim_base: str

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json_body(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not."""
        return json.loads(self.body.decode("utf-8") or "null")

    @property
    def target(self) -> str:
        return self.path + ("?" + self.query if self.query else "")


@dataclass(slots=True)
class Response:
    """A complete response.  ``stream`` (with ``length``) replaces ``body`` for huge bodies."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Callable[[], Iterator[bytes]] | None = None
    length: int | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


@dataclass(frozen=True, slots=True)
class Reset:
    """Close the connection abruptly (TCP RST), without any response."""


@dataclass(frozen=True, slots=True)
class Hang:
    """Say nothing for ``seconds`` (or until the simulator stops), then drop the connection."""

    seconds: float


Outcome = Response | Reset | Hang


def json_response(
    status: int,
    data: Any,
    content_type: str = JSON_TYPE,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, [("Content-Type", content_type), *(headers or [])])


def html_response(
    status: int, markup: str, headers: list[tuple[str, str]] | None = None
) -> Response:
    return Response(status, markup.encode("utf-8"), [("Content-Type", HTML_TYPE), *(headers or [])])


def text_response(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"), [("Content-Type", TEXT_TYPE)])


def empty_response(status: int) -> Response:
    return Response(status, b"", [])


def html_page(title: str, body: str = "", head: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{head}</head>"
        f"<body>{body}</body></html>\n"
    )


def error_page(status: int, reason: str) -> Response:
    """An nginx-style HTML error page."""
    markup = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return html_response(status, markup)


def sim_url(url: str, scenario: Scenario, sim_base: str) -> str:
    """Point an absolute ``https://host/...`` URL of a simulated host at the simulator.

    Used for URLs a client fetches (redirect targets, nodeinfo links) when the scenario's
    ``rewrite_links`` is on.  Identity URLs in bodies (account ``url``/``uri``, WebFinger
    ``self`` links, DID documents) are never rewritten.
    """
    if not scenario.rewrite_links:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return url
    host = parts.netloc.lower()
    if host not in scenario.hosts:
        return url
    base = urlsplit(sim_base)
    return urlunsplit((base.scheme, base.netloc, f"/{host}{parts.path or '/'}", parts.query, ""))


def resolve_location(location: str, request: SimRequest, scenario: Scenario) -> str:
    """A Location header value: host-relative paths stay inside the virtual host."""
    if location.startswith("/") and not location.startswith("//"):
        if scenario.rewrite_links:
            return f"/{request.host}{location}"
        return f"https://{request.host}{location}"
    return sim_url(location, scenario, request.sim_base)
