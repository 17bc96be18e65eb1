"""The one HTTP policy every platform request goes through.

* Endpoint overrides: a request for ``https://HOST/path`` goes to ``BASEURL/path`` when the
  config maps ``HOST`` to ``BASEURL`` (tests, staging, proxies).  Override targets are trusted.
* Private-address guard: any other URL (and every hop of a redirect) may reach only public
  addresses over http(s).  Hosts come from a wiki page anyone can edit, and the bot runs
  inside Toolforge, so this is a security boundary.
* Bounds: a timeout per request, a cap on the response size and on redirects, a global and a
  per-host concurrency limit, and a User-Agent as Wikimedia's policy asks.

Mastodon.py gets :meth:`Net.requests_session`, atproto gets :meth:`Net.httpx_transport`, and
the checks' own requests (WebFinger, nodeinfo, pages) use the same requests session.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from requests.adapters import HTTPAdapter

from wmsocial_bot import __version__
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.errors import NetworkPolicyError

Resolver = Callable[[str], list[str]]
METADATA_ADDRESSES = frozenset({"169.254.169.254", "fd00:ec2::254"})


class ResponseTooLarge(requests.RequestException):
    """The body exceeded ``network.max_response_bytes``; it was not read further."""


def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def refusal_reason(address: str) -> str | None:
    """Why the bot must not connect to ``address``, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    for test, name in (
        (ip.is_loopback, "loopback"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
    ):
        if test:
            return f"{address} is a {name} address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None


@dataclass(frozen=True)
class Target:
    """Where a logical URL really goes."""

    url: str  # the URL to fetch
    host: str  # the logical host, for limits and logs
    trusted: bool  # an endpoint override target: exempt from the address guard


class Net:
    """Shared network policy; one instance per run, safe to use from many threads."""

    def __init__(
        self,
        config: NetworkConfig,
        endpoints: Mapping[str, str] | None = None,
        *,
        contact: str = "",
        resolver: Resolver = system_resolver,
    ) -> None:
        self.config = config
        self.endpoints = {
            host.lower(): base.rstrip("/") for host, base in (endpoints or {}).items()
        }
        self.contact = contact or "contact unset: see README"
        self.resolver = resolver
        self._global = threading.BoundedSemaphore(config.max_connections)
        self._per_host: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()
        self._session: requests.Session | None = None

    # -- policy ---------------------------------------------------------------------------

    def user_agent(self, library: str, version: str) -> str:
        return f"wmsocial-bot/{__version__} ({self.contact}) {library}/{version}"

    def base_url(self, host: str) -> str:
        """The base URL for ``https://host``: the override target, if any."""
        return self.endpoints.get(host.lower(), f"https://{host.lower()}")

    def target(self, url: str) -> Target:
        """Apply endpoint overrides and the address guard to ``url``.

        Raises :class:`NetworkPolicyError` for a URL the bot must not fetch.
        """
        for host, base in self.endpoints.items():
            if url == base or url.startswith(base + "/") or url.startswith(base + "?"):
                return Target(url, host, trusted=True)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise NetworkPolicyError(f"not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https"):
            raise NetworkPolicyError(f"the {parts.scheme or 'missing'} scheme is not allowed")
        host = (parts.hostname or "").lower()
        if not host:
            raise NetworkPolicyError("the URL has no host")
        if host in self.endpoints:
            rest = url.split(parts.netloc, 1)[1] if parts.netloc else ""
            return Target(self.endpoints[host] + rest, host, trusted=True)
        self._guard(host)
        del port
        return Target(url, host, trusted=False)

    def _guard(self, host: str) -> None:
        try:
            addresses = [host.strip("[]")] if _is_ip(host.strip("[]")) else self.resolver(host)
        except (OSError, UnicodeError) as exc:
            raise requests.ConnectionError(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise requests.ConnectionError(f"{host} has no address")
        for address in addresses:
            reason = refusal_reason(address)
            if reason:
                raise NetworkPolicyError(f"refused to connect to {host}: {reason}")

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        """Hold one of the global and one of ``host``'s connection slots."""
        with self._lock:
            per_host = self._per_host.get(host)
            if per_host is None:
                per_host = threading.BoundedSemaphore(self.config.max_per_host)
                self._per_host[host] = per_host
        with per_host, self._global:
            yield

    # -- clients --------------------------------------------------------------------------

    def requests_session(self) -> requests.Session:
        """A requests session that applies this policy to every request and redirect."""
        if self._session is None:
            session = requests.Session()
            adapter = _PolicyAdapter(self)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.max_redirects = self.config.max_redirects
            session.headers["User-Agent"] = self.user_agent("requests", requests.__version__)
            self._session = session
        return self._session

    def httpx_transport(self) -> httpx.BaseTransport:
        """An httpx transport (for atproto) that applies this policy to every request."""
        return _PolicyTransport(self)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        """GET through the policy with the default timeout."""
        kwargs.setdefault("timeout", self.config.timeout)
        return self.requests_session().get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.config.timeout)
        return self.requests_session().post(url, **kwargs)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return True


class _PolicyAdapter(HTTPAdapter):
    """requests adapter: every request (each redirect hop too) passes :meth:`Net.target`."""

    def __init__(self, net: Net) -> None:
        size = net.config.max_connections
        super().__init__(pool_connections=size, pool_maxsize=size, max_retries=0)
        self.net = net

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        target = self.net.target(request.url or "")
        request.url = target.url
        if timeout is None:
            timeout = self.net.config.timeout
        with self.net.slot(target.host):
            response = super().send(request, stream=True, timeout=timeout, **kwargs)
            if not stream:
                _read_capped(response, self.net.config.max_response_bytes)
        return response


def _read_capped(response: requests.Response, limit: int) -> None:
    """Read the body, refusing more than ``limit`` bytes."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise ResponseTooLarge(f"response of {declared} bytes exceeds the {limit}-byte cap")
    chunks = []
    total = 0
    for chunk in response.iter_content(65536):
        total += len(chunk)
        if total > limit:
            response.close()
            raise ResponseTooLarge(f"response exceeds the {limit}-byte cap")
        chunks.append(chunk)
    response._content = b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]


class _PolicyTransport(httpx.BaseTransport):
    """httpx transport: overrides, the address guard, limits and the size cap."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.inner = httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=net.config.max_connections)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self.net.target(str(request.url))
        request.url = httpx.URL(target.url)
        request.headers["Host"] = request.url.netloc.decode("ascii")
        with self.net.slot(target.host):
            response = self.inner.handle_request(request)
            limit = self.net.config.max_response_bytes
            body = bytearray()
            try:
                for chunk in response.stream:  # type: ignore[union-attr]
                    body += chunk
                    if len(body) > limit:
                        raise httpx.ReadError(
                            f"response exceeds the {limit}-byte cap", request=request
                        )
            finally:
                response.close()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=bytes(body),
            request=request,
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()
