"""The one HTTP policy every platform request goes through.

* Endpoint overrides: a request for ``https://HOST/path`` goes to ``BASEURL/path`` when the
  config maps ``HOST`` to ``BASEURL`` (tests, staging, proxies).  Override targets are trusted.
* Private-address guard: any other URL (and every hop of a redirect) may reach only public
  addresses over http(s).  Hosts come from a wiki page anyone can edit, and the bot runs
  inside Toolforge, so this is a security boundary.  The connection goes to the address that
  was checked (the Host header, TLS SNI and certificate check keep the host name), so a name
  that resolves differently the second time (DNS rebinding) cannot reach a private address.
* Bounds: a timeout per request, a cap on the response size and on redirects, a global and a
  per-host concurrency limit, and a User-Agent as Wikimedia's policy asks.  The size cap
  counts the *decoded* body: only gzip and deflate are asked for (``Accept-Encoding``), both
  are decompressed a bounded piece at a time, and a body in any other compression is refused,
  so a few kilobytes of compressed zeros cannot become gigabytes in memory.  A JSON body
  nested deeper than any real API answer is refused too (``MAX_JSON_DEPTH``): Python's and
  the libraries' parsers would otherwise raise ``RecursionError`` somewhere inside a client.
* Time: a deadline for each whole answer (``request_deadline``; the socket ``timeout`` is per
  read, which a host sending one byte every few seconds never hits), one for all of an
  account's requests (``account_deadline``, see :meth:`Net.account_time`) and one for all the
  checks of a run (``run_budget``).  A request past its deadline is cut (the requests path: a
  watchdog shuts the socket down; the httpx path: every read's timeout is shortened to what is
  left) and raises a :class:`TimedOut`, which is never retried.
* Politeness: each host's own rate-limit headers (``X-RateLimit-*``, ``ratelimit-*``,
  ``Retry-After``) pace the requests to it before it has to say 429; a 429 or 503 halves the
  host's concurrency, which then grows back one step per streak of good answers; transient
  failures (timeouts, resets, 5xx, 429) are retried with capped, jittered exponential backoff
  (tenacity); a host that fails or errs (5xx) several times in a row, or refuses with 429 many
  times in a row (a 429 storm), is not asked again in this run, which bounds the time a dead
  or hostile server can cost.

Mastodon.py gets :meth:`Net.requests_session`, atproto gets :meth:`Net.httpx_transport`, and
the checks' own requests (WebFinger, nodeinfo, pages) use the same requests session.
"""

from __future__ import annotations

import collections
import contextvars
import email.utils
import functools
import heapq
import ipaddress
import itertools
import math
import os
import re
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx
import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import create_urllib3_context

from wmsocial_bot import __version__
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.errors import (
    ConfigError,
    ConnectionFailed,
    NetworkPolicyError,
    RedirectLoop,
    Throttled,
    Timeout,
    TooLarge,
    TransportError,
    Unreachable,
    Unreadable,
)
from wmsocial_bot.http_pool import KeepAlivePool

Resolver = Callable[[str], list[str]]
Response = requests.Response  # what a request through the policy returns
METADATA_ADDRESSES = frozenset({"169.254.169.254", "fd00:ec2::254"})


TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
DOWN_AFTER = 3  # transport failures in a row before a host is given up for the run
THROTTLED_AFTER = 10  # 429s in a row (no other answer between) before a host is given up,
# or twice as many in all when they are most of the host's answers (a squall, not a storm)
BACKOFF_CAP = 8.0  # seconds, when a 429 or 503 does not say how long to wait
GROW_AFTER = 10  # good answers in a row before a throttled host gets one more slot
# Services built for many clients at once, with their own per-host limit instead of
# ``max_per_host``: Bluesky's public AppView is cached and has "generous rate-limits"
# (bluesky-social/bsky-docs docs/advanced-guides/rate-limits.md, "Bluesky AppView Limits").
# Its advertised budget, when it sends one, is shared as for any host.
WIDE_HOSTS = {"public.api.bsky.app": 32}
ACCEPT_ENCODING = "gzip, deflate"  # the compressions whose decoding the size cap bounds
MAX_JSON_DEPTH = 100  # nesting levels; real API answers use about ten
_DECODED = frozenset({"gzip", "x-gzip", "deflate"})
_REFUSED_CODINGS = frozenset({"br", "zstd", "compress", "x-compress"})  # never asked for


# The policy's own failures are raised inside the clients (requests' adapter, the httpx
# transport), so each is also the client's exception type: requests, Mastodon.py and atproto
# handle them as their own.  Each is a member of the bot's TransportError family too, which is
# all that checkers see (as_transport_error).


class ResponseTooLarge(TooLarge, requests.RequestException):
    """The body exceeded ``network.max_response_bytes``; it was not read further."""


class UnreadableAnswer(Unreadable, requests.RequestException):
    """The body cannot be read safely (a compression we did not ask for, JSON nested too deep)."""


class HostDown(Unreachable, requests.RequestException):
    """The host failed several times in a row; it is not asked again in this run."""


class RateLimited(Throttled, requests.RequestException):
    """The host asks us to wait longer than ``network.max_wait`` seconds; we do not."""


class TimedOut(Timeout, requests.Timeout):
    """A deadline of the policy passed; never retried (another try would cost as much)."""


class AnswerTooSlow(TimedOut):
    """One whole answer took longer than ``network.request_deadline``: the host's fault."""


class AccountTooSlow(TimedOut):
    """An account's requests took longer than ``network.account_deadline`` in all."""


class BudgetSpent(TimedOut):
    """The run's ``network.run_budget`` is spent: nothing more is asked in this run."""


class ShareSpent(TimedOut):
    """The bot's share of a host's rate-limit budget is spent for longer than it may wait.

    Not the host's fault and no evidence about any account: the account is left for the next
    run (``in_time`` makes it ``unverifiable`` with this sentence, whatever a checker said).
    """


NOT_CHECKED = "not checked: the run's time budget ran out"
NOT_CHECKED_PREFIX = "not checked: "  # every sentence of an account left for the next run
# The sentence of an account left because the bot's share of its host's rate limit is spent
# (never-asked platforms' own sentences start "not checked: " too, for other reasons).
SHARE_SPENT_PREFIX = f"{NOT_CHECKED_PREFIX}the bot's share of "

# Failures worth another try; HostDown, RateLimited and TimedOut are deliberately not among them.
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, httpx.TransportError)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS) and not isinstance(exc, TimedOut)


# What the clients raise when a request gets no usable answer: requests (and urllib3 inside
# it), httpx and httpcore, and the OS (sockets, name lookups, TLS).  Mastodon.py wraps these in
# MastodonNetworkError, an OSError whose context is the original (mastodon/internals.py,
# ``__api_request``: ``except Exception as e: raise MastodonNetworkError(...)``); atproto in
# NetworkError and InvokeTimeoutError, raised ``from`` the httpx error
# (atproto_client/request.py, ``_handle_request_errors``).
LIBRARY_FAILURES: tuple[type[BaseException], ...] = (
    requests.RequestException,
    httpx.HTTPError,
    httpx.StreamError,
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    OSError,
)
_TIMEOUTS = (requests.Timeout, httpx.TimeoutException, httpcore.TimeoutException, TimeoutError)
_REDIRECT_LOOPS = (requests.TooManyRedirects, httpx.TooManyRedirects)
_CONNECTION_FAILURES = (
    requests.ConnectionError,
    httpx.NetworkError,
    httpcore.NetworkError,
    ConnectionError,
    socket.gaierror,
    ssl.SSLError,
)


def _replay_failure(exc: BaseException) -> Callable[[], Any]:
    """A first try's failure, to be raised again as tenacity's first attempt."""

    def replay() -> Any:
        raise exc

    return replay


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it (``__cause__``, else ``__context__``), at most ten deep."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(found) < 10 and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def as_transport_error(exc: BaseException, host: str) -> TransportError:
    """A client's failure of a request to ``host`` as the bot's :class:`TransportError`.

    The policy's refusal wins wherever it sits in the chain (a client may wrap it); then the
    first exception of the chain that says what happened: one of the policy's own (already in
    the family), Mastodon.py's 429, a timeout, a redirect loop, a failed connection.  Anything
    else a client raised is :class:`Unreachable` with its type and message.
    """
    from mastodon.errors import MastodonRatelimitError  # imported by then, if it was raised

    chain = _chain(exc)
    for link in chain:
        if isinstance(link, NetworkPolicyError):
            return link
    for link in chain:
        if isinstance(link, TransportError):
            return link
        if isinstance(link, MastodonRatelimitError):  # HTTP 429, ratelimit_method="throw"
            return Throttled(f"{host} is rate limiting us (HTTP 429)")
        if isinstance(link, _TIMEOUTS):
            return Timeout(f"{host} timed out")
        if isinstance(link, _REDIRECT_LOOPS):
            return RedirectLoop(f"{host} redirects in a loop")
        if isinstance(link, _CONNECTION_FAILURES):
            return ConnectionFailed(f"{host} could not be reached (the connection failed)")
    clients = LIBRARY_FAILURES[:-1]  # the clients' own: more telling than an OSError wrapper
    described = next((link for link in chain if isinstance(link, clients)), exc)
    return Unreachable(f"{type(described).__name__}: {described}"[:160])


@contextmanager
def transport_errors(host: str) -> Iterator[None]:
    """Inside: a client's failure (:data:`LIBRARY_FAILURES`) comes out as a TransportError."""
    try:
        yield
    except TransportError:
        raise
    except LIBRARY_FAILURES as exc:
        raise as_transport_error(exc, host) from exc


@dataclass
class AccountClock:
    """The time of one account's check (:meth:`Net.account_time`) and what cut it, if anything."""

    deadline: float
    cut: TimedOut | None = None


_ACCOUNT: contextvars.ContextVar[AccountClock | None] = contextvars.ContextVar(
    "wmsocial_account", default=None
)


class _Watch:
    """The deadline of one answer in flight, and the sockets that carry it."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self.done = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self.lock:
            if self.fired:
                _cut(sock)
            elif not self.done and sock not in self.sockets:
                self.sockets.append(sock)

    def expire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            for sock in self.sockets:
                _cut(sock)

    def close(self) -> None:
        with self.lock:
            self.done = True
            self.sockets.clear()


def _cut(sock: socket.socket) -> None:
    """Wake whatever waits on ``sock``: its reads return at once, as if the host hung up."""
    with suppress(OSError):
        # The plain socket's shutdown, also for an SSLSocket (whose own drops its SSL state
        # under the reading thread).
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_ANSWER: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar(
    "wmsocial_answer", default=None
)


def _wake(gate: _Gate) -> None:
    """After an answer (``gate.cond`` held): wake as many waiters as there are free slots.

    Not all of them: with 200 workers behind the AppView's 32 slots, waking the 168 others
    for every answer cost more CPU than the checks.  A waiter that leaves without a slot
    passes its wake-up on (``Net._admit``); a host given up wakes everyone, to give up too.
    """
    if gate.down:
        gate.cond.notify_all()
    else:
        gate.cond.notify(max(1, gate.limit - gate.active))


class _Watchdog:
    """One thread that expires the answers whose deadline passed (the requests path)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, watch: _Watch) -> None:
        with self._cond:
            # Woken only when its next deadline moves earlier: deadlines mostly come in
            # ascending order, so the thread is not woken once per request for nothing.
            sooner = not self._heap or watch.deadline < self._heap[0][0]
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wmsocial-watchdog", daemon=True
                )
                self._thread.start()
            if sooner:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, watch = self._heap[0]
                left = deadline - time.monotonic()
                if left > 0 and not watch.done:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._heap)
            if not watch.done:
                watch.expire()


_WATCHDOG = _Watchdog()


def _watch_socket(sock: socket.socket | None) -> None:
    watch = _ANSWER.get()
    if watch is not None:
        watch.add(sock)


def _time_left(timeout: float | None) -> float | None:
    """A read's own timeout, shortened to what is left of the answer's deadline (httpx path)."""
    watch = _ANSWER.get()
    if watch is None:
        return timeout
    left = watch.deadline - time.monotonic()
    if left <= 0:
        watch.fired = True
        raise httpcore.ReadTimeout("the answer's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Reply(Protocol):
    """What both requests' and httpx's responses offer."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Any: ...

    def close(self) -> None: ...


R = TypeVar("R", bound=_Reply)


def _seconds_until(value: str, now: float) -> float | None:
    """A reset or Retry-After value -> seconds from now: delta seconds, epoch, ISO or HTTP date."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        return number - now if number > 1e9 else number  # an epoch, or delta seconds
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        stamp = parsed.timestamp()
    return stamp - now


def rate_limit_hints(headers: Mapping[str, str], now: float) -> tuple[int | None, float | None]:
    """(requests remaining, seconds until the window resets) from the server's headers."""
    remaining = None
    wait = None
    for prefix in ("x-ratelimit-", "ratelimit-"):
        raw = headers.get(prefix + "remaining")
        if raw is not None and remaining is None:
            with suppress(ValueError):
                remaining = int(float(raw))
        reset = headers.get(prefix + "reset")
        if reset is not None and wait is None:
            wait = _seconds_until(reset, now)
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        seconds = _seconds_until(retry_after, now)
        if seconds is not None:
            wait = seconds
    return remaining, wait


def advertised_limit(headers: Mapping[str, str]) -> tuple[int | None, float | None]:
    """(requests per window, window length in seconds when stated) from the server's headers.

    ``X-RateLimit-Limit`` (Mastodon, from Rack::Attack's throttle data) or ``RateLimit-Limit``
    (the IETF draft; Bluesky), and the window from ``RateLimit-Policy: 300;w=300``.
    """
    limit = None
    for name in ("x-ratelimit-limit", "ratelimit-limit"):
        raw = headers.get(name)
        if raw is not None:
            with suppress(ValueError):
                limit = int(float(raw.split(",")[0].split(";")[0]))
            break
    window = None
    policy = headers.get("ratelimit-policy")
    if policy is not None:
        found = re.search(r";\s*w\s*=\s*([0-9.]+)", policy)
        if found is not None:
            with suppress(ValueError):
                window = float(found.group(1))
    return (limit if limit is not None and limit > 0 else None), window


def _server_time(headers: Mapping[str, str]) -> float:
    """The host's own clock (its ``Date``), against which its reset times are meant.

    A host whose clock is off by minutes still says when its window ends; ``Date`` has whole
    seconds, so the window is taken up to a second longer than it is, never shorter.
    """
    raw = headers.get("date")
    stamp = _http_date(raw) if raw else None
    return time.time() if stamp is None else stamp


@functools.lru_cache(maxsize=256)
def _http_date(raw: str) -> float | None:
    """An HTTP ``Date`` as a timestamp; kept, since every answer of a second has the same."""
    with suppress(TypeError, ValueError, IndexError, OverflowError):
        return email.utils.parsedate_to_datetime(raw).timestamp()
    return None


@dataclass
class _Gate:
    """Admission to one host: an adaptive concurrency limit, pacing and a circuit breaker."""

    limit: int
    ceiling: int
    active: int = 0
    not_before: float = 0.0
    failures: int = 0
    streak: int = 0
    throttles: int = 0
    refusals: int = 0  # 429s in a row
    refused: int = 0  # 429s in all
    answered: int = 0  # answers in all
    waiting: int = 0  # requests queued for this host: its share of the remaining work
    down: str | None = None
    # The bot's share of the host's advertised budget (``network.host_budget_share``).
    advertised: int | None = None  # the host's limit per window, as its headers say
    budget: int | None = None  # how many of them this bot may use per window
    window_end: float | None = None  # when the host's current window ends (our clock)
    period: float = 0.0  # the window's length, as far as seen (the longest reset seen)
    used: int = 0  # our requests admitted in the current window
    next_start: float = 0.0  # the share's pacing: the next request starts no earlier
    # When our latest requests to the host started (the last ``budget`` of them at most).
    starts: collections.deque[float] = field(default_factory=collections.deque)
    cond: threading.Condition = field(default_factory=threading.Condition)


def _sliding_start(gate: _Gate) -> float:
    """The earliest start that keeps ``budget`` requests in ANY window-long span of time.

    Our idea of where the host's window ends is only as good as its ``Date`` header (whole
    seconds) and the answer's latency, and some servers start a window at the first request
    after the last one ended.  Counting per window of our own could then put the tail of one
    of our windows and the head of the next into one window of the host's.  Spacing the
    ``budget``-th latest start a whole period (plus a tenth, for jitter) back holds whatever
    the host's alignment.
    """
    if not gate.budget or gate.period <= 0 or len(gate.starts) < gate.budget:
        return 0.0
    return gate.starts[-gate.budget] + gate.period * 1.1


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
    address: str | None = None  # untrusted: the checked address the connection must use


# Set (to anything) by the test kit and the demo: every request must go to an endpoint
# override (the simulator, the reference stack); a public address is refused, never fetched.
OFFLINE = "WMSOCIAL_BOT_OFFLINE"


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
        # Each override's base URL -> its host (the first listed wins a base two share), and
        # the lengths to cut a URL at to find it: one dict lookup a length per request instead
        # of a scan of every override.
        self._bases = {base: host for host, base in reversed(self.endpoints.items())}
        self._base_lengths = sorted({len(base) for base in self._bases}, reverse=True)
        self.contact = contact or "contact unset: see README"
        self.resolver = resolver
        self.offline = bool(os.environ.get(OFFLINE))
        self._slots = threading.Lock()
        self._in_use = 0  # connection slots taken, or handed to a waiting host
        self._queued: Counter[str] = Counter()  # requests waiting for a slot, per host
        self._granted: Counter[str] = Counter()  # slots handed to a host, not yet taken
        self._turns: dict[str, threading.Condition] = {}  # each host's waiters, on _slots
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self.clock: Callable[[], float] = time.monotonic  # the deadlines' clock too
        self.sleep: Callable[[float], None] = time.sleep
        self.stats: Counter[str] = Counter()  # requests, retries, 429s, hosts given up
        self.run_deadline = time.monotonic() + config.run_budget

    # -- policy ---------------------------------------------------------------------------

    def user_agent(self, library: str, version: str) -> str:
        return f"wmsocial-bot/{__version__} ({self.contact}) {library}/{version}"

    # -- time -----------------------------------------------------------------------------

    def budget_spent(self) -> bool:
        """Whether the run's time budget for the checks is spent."""
        return self.clock() >= self.run_deadline

    @contextmanager
    def account_time(self) -> Iterator[AccountClock]:
        """The checks of one account, in this thread: their deadline, and what cut them."""
        clock = AccountClock(min(self.clock() + self.config.account_deadline, self.run_deadline))
        token = _ACCOUNT.set(clock)
        try:
            yield clock
        finally:
            _ACCOUNT.reset(token)

    def _until(self) -> float:
        """When the current request must be done by: the account's or the run's deadline."""
        clock = _ACCOUNT.get()
        return self.run_deadline if clock is None else min(clock.deadline, self.run_deadline)

    def _late(self, host: str, until: float, answer: float | None = None) -> TimedOut:
        """The error for a deadline that passed (``answer``: that of one whole answer)."""
        exc: TimedOut
        if answer is not None and answer < until:
            seconds = self.config.request_deadline
            exc = AnswerTooSlow(
                f"{host} timed out after {seconds:g} s (a whole answer may take at most "
                f"{seconds:g} s, whatever the pace of its bytes)"
            )
        elif until >= self.run_deadline:
            exc = BudgetSpent(NOT_CHECKED)
        else:
            seconds = self.config.account_deadline
            exc = AccountTooSlow(
                f"timed out after {seconds:g} s: the checks of one account may take at most "
                f"{seconds:g} s in all (the last request was to {host})"
            )
        clock = _ACCOUNT.get()
        if clock is not None and clock.cut is None:
            clock.cut = exc
        return exc

    def _nap(self, seconds: float) -> None:
        """A pause between retries, never past the current deadline (the next try fails then)."""
        self.sleep(max(0.0, min(seconds, self._until() - self.clock())))

    def base_url(self, host: str) -> str:
        """The base URL for ``https://host``: the override target, if any."""
        return self.endpoints.get(host.lower(), f"https://{host.lower()}")

    def target(self, url: str) -> Target:
        """Apply endpoint overrides and the address guard to ``url``.

        Raises :class:`NetworkPolicyError` for a URL the bot must not fetch.
        """
        for length in self._base_lengths:
            host = self._bases.get(url[:length])
            if host is not None and url[length : length + 1] in ("", "/", "?"):
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
        address = self._guard(host)
        del port
        if self.offline:
            raise NetworkPolicyError(
                f"offline (${OFFLINE} is set): {host} has no endpoint override, so it is not asked"
            )
        return Target(url, host, trusted=False, address=address)

    def _guard(self, host: str) -> str:
        """Refuse ``host`` unless every address it has is public; return the one to use."""
        literal = _literal_ip(host.strip("[]"))
        try:
            addresses = [literal] if literal else self.resolver(host)
        except (OSError, UnicodeError) as exc:
            raise requests.ConnectionError(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise requests.ConnectionError(f"{host} has no address")
        for address in addresses:
            reason = refusal_reason(address)
            if reason:
                raise NetworkPolicyError(f"refused to connect to {host}: {reason}")
        ipv4 = [a for a in addresses if ":" not in a]
        return (ipv4 or list(addresses))[0].split("%")[0]

    def in_flight_limit(self, host: str) -> int:
        """How many requests ``host`` may have in flight at most (the per-host limit)."""
        return max(1, WIDE_HOSTS.get(host, self.config.max_per_host))

    def _gate(self, host: str) -> _Gate:
        # A host's gate, once made, is only ever read here: no lock for it.  Under load, every
        # request taking one lock shared by 200 workers cost more than the rest of the policy.
        gate = self._gates.get(host)
        if gate is not None:
            return gate
        with self._lock:
            gate = self._gates.get(host)
            if gate is None:
                limit = self.in_flight_limit(host)
                gate = self._gates[host] = _Gate(limit=limit, ceiling=limit)
            return gate

    def _admit(self, host: str, until: float) -> _Gate:
        """Wait for a slot on ``host`` and for its pacing; refuse a down or long-closed host."""
        gate = self._gate(host)
        with gate.cond:
            gate.waiting += 1
            admitted = False
            try:
                while True:
                    if gate.down:
                        raise HostDown(f"{host} is not asked again in this run: {gate.down}")
                    now = self.clock()
                    if now >= until:
                        raise self._late(host, until)
                    delay = gate.not_before - now
                    if delay > self.config.max_wait:
                        raise RateLimited(f"{host} asks us to wait {delay:.0f} s (rate limit)")
                    share_delay = self._share_delay(gate, now)
                    if share_delay > 0 and (
                        share_delay > self.config.max_wait or now + share_delay >= until
                    ):
                        raise self._share_spent(host, gate)
                    delay = max(delay, share_delay)
                    if gate.active < gate.limit and delay <= 0:
                        gate.active += 1
                        self._take_share(gate, now)
                        admitted = True
                        return gate
                    wait = delay if gate.active < gate.limit else until - now
                    gate.cond.wait(timeout=min(wait, until - now))
            finally:
                gate.waiting -= 1
                if not admitted and gate.active < gate.limit:
                    gate.cond.notify()  # a wake-up for a free slot that this waiter leaves

    def _roll_window(self, gate: _Gate, now: float) -> None:
        """Start the host's next window once the current one has ended: the share is whole."""
        if gate.window_end is None or now < gate.window_end:
            return
        if gate.period > 0:
            missed = (now - gate.window_end) // gate.period + 1
            gate.window_end += missed * gate.period
        else:
            gate.window_end = None  # the next answer says when this window ends
        gate.used = 0
        gate.next_start = 0.0

    def _share_delay(self, gate: _Gate, now: float) -> float:
        """Seconds until the bot's share of the host's budget allows one more request."""
        self._roll_window(gate, now)
        if gate.budget is None or gate.window_end is None:
            return 0.0  # nothing advertised (yet): the per-host limit alone applies
        if gate.used >= gate.budget:
            return gate.window_end - now  # the share of this window is spent
        return max(gate.next_start, _sliding_start(gate)) - now

    def _take_share(self, gate: _Gate, now: float) -> None:
        """Count one request against the share; pace the rest evenly over the window."""
        gate.used += 1
        gate.starts.append(now)
        while len(gate.starts) > (gate.budget or 64):  # unknown budget: keep the first burst
            gate.starts.popleft()
        if gate.budget is None or gate.window_end is None:
            return
        left = gate.budget - gate.used
        gap = (gate.window_end - now) / (left + 1) if left > 0 else 0.0
        gate.next_start = max(gate.next_start, now + gap)

    def _share_spent(self, host: str, gate: _Gate) -> ShareSpent:
        exc = ShareSpent(
            f"{SHARE_SPENT_PREFIX}{host}'s rate limit "
            f"({gate.budget} of {gate.advertised} requests per window) is used up for now; "
            "left for the next run"
        )
        self.stats["left for the next window's share"] += 1
        clock = _ACCOUNT.get()
        if clock is not None and clock.cut is None:
            clock.cut = exc
        return exc

    def _learn_budget(self, gate: _Gate, headers: Mapping[str, str], now: float) -> None:
        """The host's advertised budget and window, from one answer's headers."""
        limit, window = advertised_limit(headers)
        if limit is None:
            return
        _remaining, wait = rate_limit_hints(headers, _server_time(headers))
        if wait is None or wait <= 0:
            return
        gate.advertised = limit
        gate.budget = max(1, math.floor(limit * self.config.host_budget_share + 1e-9))
        gate.period = max(gate.period, window or 0.0, wait)
        end = now + wait
        if gate.window_end is None:
            gate.window_end = end
        elif end > gate.window_end + 1.0:
            # The host's window ended before we thought: what is in flight counts in the new one.
            gate.window_end = end
            gate.used = gate.active
            gate.next_start = 0.0
        elif end < gate.window_end - 1.0:
            gate.window_end = end  # the same window ends sooner than we thought (no drift)

    @contextmanager
    def _connection(self, host: str, until: float) -> Iterator[None]:
        """One of the global connection slots.

        A free slot is taken at once.  When none is free, a finished request hands its slot
        to the host with the longest queue: it is the one that decides when the whole run
        ends (longest remaining work first), so a host with one account left never starves
        a host with hundreds.  Only that host's waiters are woken, not every waiting thread.
        """
        with self._slots:
            if self._in_use < self.config.max_connections:
                self._in_use += 1
            else:
                self._wait_for_slot(host, until)
        try:
            yield
        finally:
            with self._slots:
                self._hand_on()

    def _wait_for_slot(self, host: str, until: float) -> None:
        """Wait (``_slots`` held) until a slot is handed to ``host``, or ``until``."""
        turn = self._turns.get(host)
        if turn is None:
            turn = self._turns[host] = threading.Condition(self._slots)
        self._queued[host] += 1
        try:
            while not self._granted[host]:
                left = until - self.clock()
                if left <= 0:
                    raise self._late(host, until)
                turn.wait(timeout=left)
            self._granted[host] -= 1  # the slot handed over is ours (still counted in use)
        finally:
            self._queued[host] -= 1
            if not self._queued[host]:
                del self._queued[host]
            if self._granted[host] > self._queued[host]:
                self._granted[host] -= 1  # handed to us as we gave up: the next host's
                self._hand_on()

    def _hand_on(self) -> None:
        """A slot is free (``_slots`` held): to the longest queue's host, or back to the pool."""
        gates = self._gates  # every queued host has its gate (``_admit`` made it)
        waiting = [h for h, n in self._queued.items() if n > self._granted[h]]
        if not waiting:
            self._in_use -= 1
            return
        host = max(waiting, key=lambda h: gates[h].waiting if h in gates else 0)
        self._granted[host] += 1
        self._turns[host].notify()

    def _settle(self, host: str, gate: _Gate, reply: _Reply | None, failed: bool) -> None:
        """Learn from one answer (or failure) of ``host``: pacing, throttling, breaker."""
        with gate.cond:
            gate.active -= 1
            now = self.clock()
            if failed:
                gate.failures += 1
                if gate.failures >= DOWN_AFTER:
                    gate.down = f"{gate.failures} failures in a row"
                    self.stats["hosts given up"] += 1
            elif reply is not None:
                gate.failures = gate.failures + 1 if reply.status_code >= 500 else 0
                if gate.failures >= DOWN_AFTER:
                    gate.down = f"{gate.failures} server errors in a row"
                    self.stats["hosts given up"] += 1
                remaining, wait = rate_limit_hints(reply.headers, time.time())
                if reply.status_code != 429:
                    self._learn_budget(gate, reply.headers, now)
                gate.answered += 1
                gate.refused += int(reply.status_code == 429)
                gate.refusals = gate.refusals + 1 if reply.status_code == 429 else 0
                storm = gate.refusals >= THROTTLED_AFTER
                squall = gate.refused >= 2 * THROTTLED_AFTER and 2 * gate.refused > gate.answered
                if (storm or squall) and not gate.down:
                    # Each retry of a 429 costs a pause, so without this a host that keeps
                    # refusing would cost (requests x retries x pause); with it, a few dozen.
                    gate.down = (
                        f"{gate.refusals} rate-limit refusals (HTTP 429) in a row"
                        if storm
                        else f"{gate.refused} of its {gate.answered} answers were HTTP 429"
                    )
                    self.stats["hosts given up"] += 1
                if reply.status_code in (429, 503):
                    self.stats[f"HTTP {reply.status_code}"] += 1
                    gate.throttles += 1
                    gate.limit = max(1, gate.limit // 2)
                    gate.streak = 0
                    backoff = min(0.5 * 2 ** min(gate.throttles, 6), BACKOFF_CAP)
                    pause = wait if wait is not None and wait > 0 else backoff
                    gate.not_before = max(gate.not_before, now + pause)
                else:
                    gate.streak += 1
                    if gate.streak >= GROW_AFTER and gate.limit < gate.ceiling:
                        gate.limit += 1
                        gate.streak = 0
                    if remaining is not None and wait is not None and wait > 0:
                        if remaining <= 0:
                            gate.not_before = max(gate.not_before, now + wait)
                        elif remaining <= 2 * gate.ceiling:
                            # Spread what is left of the window instead of running into a 429.
                            gate.not_before = max(gate.not_before, now + wait / remaining)
            _wake(gate)

    def exchange(self, host: str, send_once: Callable[[], R]) -> R:
        """Send through the policy: admission, limits, pacing, and retries of transient faults.

        When the retries run out, the last answer is returned (a 503 stays a 503 for the
        caller to judge) or the last error raised.

        The first try is made here: nearly every request ends with it, and tenacity's
        bookkeeping was two thirds of the policy's CPU per request (34 to 13 microseconds).
        A try to be retried goes to :meth:`_retry`.
        """

        attempt = functools.partial(self._attempt, host, send_once)
        try:
            reply = attempt()
        except BaseException as exc:
            if self.config.retries == 0 or not _transient(exc):
                raise
            return self._retry(attempt, _replay_failure(exc))
        if self.config.retries == 0 or reply.status_code not in TRANSIENT_STATUS:
            return reply
        return self._retry(attempt, lambda: reply)

    def _retry(self, attempt: Callable[[], R], first: Callable[[], R]) -> R:
        """tenacity's retries after a first try that is to be retried.

        ``first`` replays that try (it is not sent again) as tenacity's own first attempt, so
        the retries, their waits and what is kept of them are exactly tenacity's.
        """
        replay = [first]

        def backoff(state: tenacity.RetryCallState) -> float:
            outcome = state.outcome
            if (
                outcome is not None
                and not outcome.failed
                and outcome.result().status_code in (429, 503)
            ):
                return 0.0  # the gate already waits as long as the host asked
            return float(self._jitter(state))

        def discard(state: tenacity.RetryCallState) -> None:
            self.stats["retries"] += 1
            outcome = state.outcome
            if outcome is not None and not outcome.failed:
                outcome.result().close()

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.config.retries + 1),
            wait=backoff,
            retry=tenacity.retry_if_exception(_transient)
            | tenacity.retry_if_result(lambda reply: reply.status_code in TRANSIENT_STATUS),
            before_sleep=discard,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=self._nap,
            reraise=True,
        )
        return retrying(lambda: replay.pop()() if replay else attempt())

    def _attempt(self, host: str, send_once: Callable[[], R]) -> R:
        """One try: admission, a connection slot, the deadline, and what the answer teaches."""
        until = self._until()
        if self.clock() >= until:
            raise self._late(host, until)
        gate = self._admit(host, until)
        self.stats["requests"] += 1
        try:
            with self._connection(host, until):
                reply = self._in_time(host, until, send_once)
        except AnswerTooSlow:
            self._settle(host, gate, None, failed=True)
            raise
        except TimedOut:  # a wait, or the account's or the run's time: not the host's fault
            self._settle(host, gate, None, failed=False)
            raise
        except TRANSIENT_ERRORS:
            self._settle(host, gate, None, failed=True)
            raise
        except BaseException:
            self._settle(host, gate, None, failed=False)
            raise
        self._settle(host, gate, reply, failed=False)
        return reply

    def _in_time(self, host: str, until: float, send_once: Callable[[], R]) -> R:
        """``send_once`` cut at its deadline: the whole answer's, the account's or the run's."""
        answer = self.clock() + self.config.request_deadline
        watch = _Watch(min(answer, until))
        token = _ANSWER.set(watch)
        _WATCHDOG.arm(watch)
        try:
            return send_once()
        except Exception as exc:
            if watch.fired or self.clock() >= watch.deadline:
                raise self._late(host, until, answer) from exc
            raise
        finally:
            watch.close()
            _ANSWER.reset(token)

    _jitter = tenacity.wait_exponential(multiplier=0.25, max=8.0) + tenacity.wait_random(0, 0.25)

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
            session.headers["Accept-Encoding"] = ACCEPT_ENCODING
            if not urllib.request.getproxies():
                # No proxy is configured: requests would still read the environment (proxies,
                # .netrc, CA bundle) again for every request, a good part of its CPU per request.
                # Never .netrc: its credentials are not for hosts named on a wiki page.
                session.trust_env = False
                # Nothing to merge in either: requests returns a request's own parameters and
                # proxies when the session's are None, without comparing two empty mappings
                # item by item (runtime protocol checks, 4 of the 8 per request).
                session.params = None  # type: ignore[assignment]
                session.proxies = None  # type: ignore[assignment]
                # The CA bundle the environment names is the adapter's trust for verify=True
                # (_PolicyAdapter.bundle), as trust_env would make it.
            self._session = session
        return self._session

    def httpx_user_agent(self) -> str:
        """The User-Agent for a client on :meth:`httpx_transport` (atproto's)."""
        return self.user_agent("httpx", httpx.__version__)

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


def _literal_ip(text: str) -> str | None:
    """``text`` as an IP address if it is one in any form a resolver accepts, else None.

    Besides the usual forms, the C library reads ``127.1``, ``2130706433``, ``0x7f.0.0.1``
    and ``0177.0.0.1`` as IPv4 addresses; so does the guard.
    """
    try:
        return str(ipaddress.ip_address(text.split("%")[0]))
    except ValueError:
        pass
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", text) or not text[:1].isdigit():
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(text))
    except OSError:
        return None


class _PolicyAdapter(HTTPAdapter):
    """requests adapter: every request (each redirect hop too) passes :meth:`Net.target`."""

    def __init__(self, net: Net) -> None:
        size = net.config.max_connections
        super().__init__(pool_connections=size, pool_maxsize=size, max_retries=0)
        self.net = net
        self.bundle = _requests_bundle()  # what verify=True trusts
        self._context: ssl.SSLContext | None = None  # its context, once a request needs it

    def _shares_context(self, verify: bool | str | None, cert: Any) -> bool:
        """Whether a request's TLS goes through the one context of :attr:`bundle`.

        It does when ``verify`` asks for that trust and no client certificate is given;
        otherwise urllib3 loads the bundle into a new context for every new HTTPS connection,
        16 to 20 ms of CPU each (measured on certifi's and Debian's bundles).  Any other
        ``verify`` (False, another bundle) is left to requests, a context per connection.
        """
        return cert is None and (verify is True or verify == self.bundle)

    def _shared_context(self) -> ssl.SSLContext:
        """The context of :attr:`bundle`, kept here: no process-wide lock for each request."""
        context = self._context
        if context is None:
            context = self._context = bundle_context(self.bundle)
        return context

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        target = self.net.target(request.url or "")
        request.url = target.url
        # A redirect copies the previous hop's headers: the Host header is set for each hop.
        request.headers.pop("Host", None)
        if target.address is not None:
            request.headers["Host"] = urlsplit(target.url).netloc.rpartition("@")[2]
        request._wmsocial_address = target.address  # type: ignore[attr-defined]
        if timeout is None:
            timeout = self.net.config.timeout

        def send_once() -> requests.Response:
            response = super(_PolicyAdapter, self).send(
                request, stream=True, timeout=timeout, **kwargs
            )
            if not stream:
                _read_capped(response, self.net.config.max_response_bytes, target.host)
            return response

        return self.net.exchange(target.host, send_once)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager

    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Connect to the address the guard checked, never to a second lookup of the name."""
        params, kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params: dict[str, Any] = dict(params)
        pool_kwargs: dict[str, Any] = dict(kwargs)
        if host_params["scheme"] == "https" and self._shares_context(verify, cert):
            # The bundle is already in the context: urllib3 must not load it again into the
            # shared context (ca_certs would), and every pool of it requires a certificate.
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs.update(ssl_context=self._shared_context(), cert_reqs="CERT_REQUIRED")
        address = getattr(request, "_wmsocial_address", None)
        if address is not None:
            name = host_params["host"]
            host_params["host"] = address
            if host_params["scheme"] == "https":
                pool_kwargs.update(server_hostname=name, assert_hostname=name)
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: bool | str | None, cert: Any) -> None:
        """As requests does, without putting the bundle on a pool of the shared context."""
        if not url.lower().startswith("https") or not self._shares_context(verify, cert):
            super().cert_verify(conn, url, verify, cert)
            return
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


def load_tls_trust() -> None:
    """Load the CA certificates both paths trust, as the environment names them now: once per
    process (:func:`wmsocial_bot.checks.ready_for_checks`), 20 ms of CPU each.

    Certificates that cannot be read are a :class:`ConfigError` naming the variable, before
    any request: otherwise every HTTPS check would fail, each with its own traceback.
    """
    named = {
        name: f"{name}={os.environ[name]}"
        for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
        if os.environ.get(name)
    }
    # What each path reads: httpx both of its variables, requests the first one set.
    paths: tuple[tuple[list[str], Callable[[], object]], ...] = (
        ([named[n] for n in ("SSL_CERT_FILE", "SSL_CERT_DIR") if n in named], _httpx_context),
        (
            [named[n] for n in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if n in named][:1],
            lambda: bundle_context(_requests_bundle()),
        ),
    )
    for sources, load in paths:
        try:
            load()
        except OSError as exc:  # ssl.SSLError too: a file that holds no certificate
            source = ", ".join(sources) or "certifi's bundle"
            raise ConfigError(
                f"the CA certificates cannot be read ({source}): {exc.strerror or exc}"
            ) from None


def _requests_bundle() -> str:
    """What requests' verify=True trusts: the bundle the environment names (as its trust_env
    would make it), else requests' own (certifi's)."""
    return (
        os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or requests.utils.DEFAULT_CA_BUNDLE_PATH
    )


_BUNDLE_LOCK = threading.Lock()


def bundle_context(bundle: str) -> ssl.SSLContext:
    """The one TLS context of the requests path for ``bundle``, loaded by one thread only
    (a hundred workers opening their first connections at once would each load it)."""
    with _BUNDLE_LOCK:
        return _load_bundle_context(bundle)


@functools.lru_cache(maxsize=4)
def _load_bundle_context(bundle: str) -> ssl.SSLContext:
    """urllib3's TLS context with the CA bundle loaded, made once per process and bundle.

    Sharing one context between connections is what requests 2.32 did with its default
    bundle.  urllib3 sets ``verify_mode`` from the pool (always CERT_REQUIRED for this one) and
    turns ``check_hostname`` off for every pinned connection, whose name it then matches
    itself; it starts off here, so the name is always matched the same way, by urllib3.
    """
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    context.check_hostname = False
    if os.path.isdir(bundle):
        context.load_verify_locations(capath=bundle)
    else:
        context.load_verify_locations(cafile=bundle)
    return context


class _WatchedHTTPConnection(HTTPConnection):
    """Hands its socket to the answer's watchdog: at the deadline, the socket is shut down."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)  # connecting and the TLS handshake
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch_socket(self.sock)  # a reused connection: the status line, headers and body
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch_socket(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _WatchedHTTPPool,
    "https": _WatchedHTTPSPool,
}


def _read_capped(response: requests.Response, limit: int, host: str) -> None:
    """Read the body, refusing more than ``limit`` bytes after decompression.

    urllib3 (from 2.6.0, see setup.cfg) decompresses a streamed body at most the requested
    amount at a time, so ``iter_content`` never holds more than one chunk beyond the cap.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise ResponseTooLarge(f"response of {declared} bytes exceeds the {limit}-byte cap")
    try:
        content_codings(response.headers.get("Content-Encoding", ""), host)
    except UnreadableAnswer:
        response.close()
        raise
    chunks = []
    total = 0
    for chunk in response.iter_content(65536):
        total += len(chunk)
        if total > limit:
            response.close()
            raise ResponseTooLarge(f"response exceeds the {limit}-byte cap (decompressed)")
        chunks.append(chunk)
    body = b"".join(chunks)
    refuse_deep_json(body, host)
    response._content = body
    response._content_consumed = True  # type: ignore[attr-defined]


def content_codings(header: str, host: str) -> list[str]:
    """The codings of ``Content-Encoding`` that must be undone; refuse what the cap cannot bound.

    Both clients would decode brotli and zstd (when their libraries are installed) without
    any limit; the bot never asks for them, so a server that sends them anyway is refused.
    Unknown names (``utf-8`` from a misconfigured server) are left as they are, as both
    clients do.
    """
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    refused = [c for c in codings if c in _REFUSED_CODINGS]
    if refused:
        raise UnreadableAnswer(
            f"the answer of {host} could not be read: it is compressed with {refused[0]}, "
            f"which was not asked for (Accept-Encoding: {ACCEPT_ENCODING})"
        )
    decoded = [c for c in codings if c in _DECODED]
    if len(decoded) > 1:
        raise UnreadableAnswer(
            f"the answer of {host} could not be read: it is compressed {len(decoded)} times over"
        )
    return decoded


class _BoundedDecoder:
    """gzip or deflate, decompressed at most ``limit`` bytes in all (httpx has no such cap)."""

    def __init__(self, coding: str | None, limit: int, host: str) -> None:
        self.coding = coding
        self.limit = limit
        self.host = host
        self.total = 0
        self.first = True
        wbits = zlib.MAX_WBITS | 16 if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self.obj = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> bytes:
        if self.coding is None:
            return self._count(data)
        room = self.limit - self.total
        try:
            out = self.obj.decompress(data, room + 1)
        except zlib.error:
            if not (self.first and self.coding == "deflate"):
                raise self._broken() from None
            # "deflate" without the zlib header, as some servers send it (httpx and urllib3
            # accept both forms too).
            self.obj = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                out = self.obj.decompress(data, room + 1)
            except zlib.error:
                raise self._broken() from None
        self.first = False
        if self.obj.unconsumed_tail:  # more output is waiting beyond the cap
            raise ResponseTooLarge(f"response exceeds the {self.limit}-byte cap (decompressed)")
        return self._count(out)

    def flush(self) -> bytes:
        if self.coding is None:
            return b""
        try:
            return self._count(self.obj.flush())
        except zlib.error:
            raise self._broken() from None

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.limit:
            raise ResponseTooLarge(f"response exceeds the {self.limit}-byte cap (decompressed)")
        return data

    def _broken(self) -> UnreadableAnswer:
        return UnreadableAnswer(
            f"the answer of {self.host} could not be read: its {self.coding} data is broken"
        )


_NOT_BRACKETS_OR_QUOTES = bytes(sorted(set(range(256)) - set(b'[]{}"')))  # deleted
_ALL_SQUARE = bytes.maketrans(b"{}", b"[]")  # nesting is counted, not matched


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` is JSON (or starts like it) nested more than ``limit`` levels deep.

    Done with bytes methods only, a handful of passes in C over the answer (a Python step
    per bracket or string took 1.0 ms for a real 30-post Bluesky feed, five times the cost of
    parsing it; one split per string and a regex per pair, 0.32 ms; this, 0.06 ms).

    The escapes go first (escaped backslashes, then escaped quotes), so that every quote left
    opens or closes a string.  Of the rest only quotes and brackets are kept, braces as
    square brackets.  Two quotes side by side then enclose no bracket (a string without any)
    or no outside bracket (the end of one string and the start of the next): taking such a
    pair away loses no outside bracket and keeps the quotes alternating.  What is left
    between quotes alternates outside, inside; the outside pieces are the structure.  Each
    pass then takes away the innermost pairs (``bytes.replace`` does not look again at what
    a removal joined), so the passes count the nesting, and brackets left open add theirs.
    """
    start = body.lstrip(b" \t\r\n\x00\xef\xbb\xbf\xfe\xff")[:1]
    if start not in (b"[", b"{"):
        return False
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = body.translate(_ALL_SQUARE, _NOT_BRACKETS_OR_QUOTES)
    if marks.count(b"[") <= limit:
        return False  # cannot be that deep (the usual answer: a small one)
    marks = marks.replace(b'""', b"")
    brackets = b"".join(marks.split(b'"')[::2])
    if len(brackets) - len(brackets.lstrip(b"[")) > limit:
        return True  # the usual attack: a run of opening brackets, found in one step
    depth = 0
    while brackets:
        inner = brackets.replace(b"[]", b"")
        if len(inner) == len(brackets):
            break
        brackets = inner
        depth += 1
        if depth > limit:
            return True
    return depth + brackets.count(b"[") > limit


def refuse_deep_json(body: bytes, host: str) -> None:
    if json_too_deep(body):
        raise UnreadableAnswer(
            f"the answer of {host} could not be read: its JSON is nested more than "
            f"{MAX_JSON_DEPTH} levels deep"
        )


@functools.lru_cache(maxsize=4)
def _ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's TLS context (certifi, or the ``SSL_CERT_FILE``/``SSL_CERT_DIR`` it reads), made
    once per process and per those settings: loading the certificates took 20 ms of CPU for
    every check of Bluesky accounts.  A context is safe to share between connections."""
    del cert_file, cert_dir  # the cache key: httpx reads them from the environment itself
    return httpx.create_ssl_context()


def _httpx_context() -> ssl.SSLContext:
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


class _PolicyTransport(httpx.BaseTransport):
    """httpx transport: overrides, the address guard, limits and the size cap."""

    def __init__(self, net: Net) -> None:
        self.net = net
        context = _httpx_context()
        self.inner = httpx.HTTPTransport(verify=context)
        # httpx has no public hook for its connection pool: ours keeps connections without
        # httpcore's per-request sweep of every idle socket (http_pool.py says why), and every
        # read and write of its connections is bounded by the answer's deadline.  The tests fail
        # if this attribute moves.
        self.inner._pool = KeepAlivePool(  # type: ignore[assignment]
            context, _WatchedBackend(httpcore.SyncBackend())
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self.net.target(str(request.url))
        url = httpx.URL(target.url)
        headers = request.headers.copy()
        headers["Host"] = url.netloc.decode("ascii")
        extensions = dict(request.extensions)
        if target.address is not None:
            # Connect to the checked address; Host, SNI and the certificate keep the name.
            if url.scheme == "https":
                extensions["sni_hostname"] = url.host
            url = url.copy_with(host=target.address)
        # Only what the size cap can bound; httpx would also ask for br and zstd.
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        outgoing = httpx.Request(
            request.method, url, headers=headers, stream=request.stream, extensions=extensions
        )
        limit = self.net.config.max_response_bytes
        host = target.host

        def send_once() -> httpx.Response:
            response = self.inner.handle_request(outgoing)
            try:
                codings = content_codings(response.headers.get("Content-Encoding", ""), host)
                decoder = _BoundedDecoder(codings[0] if codings else None, limit, host)
                body = bytearray()
                received = 0
                for chunk in response.stream:  # type: ignore[union-attr]
                    received += len(chunk)
                    if received > limit:
                        raise ResponseTooLarge(f"response exceeds the {limit}-byte cap")
                    body += decoder.feed(chunk)
                body += decoder.flush()
            finally:
                response.close()
            refuse_deep_json(bytes(body), host)
            # The body is decoded here, under the cap: httpx must not decode it again.
            kept = [
                (name, value)
                for name, value in response.headers.multi_items()
                if name.lower() not in ("content-encoding", "content-length")
            ]
            return httpx.Response(
                response.status_code,
                headers=kept,
                content=bytes(body),
                request=request,
                extensions=response.extensions,
            )

        return self.net.exchange(target.host, send_once)

    def close(self) -> None:
        self.inner.close()


class _WatchedStream(httpcore.NetworkStream):
    """An httpcore stream whose every read and write ends by the answer's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _time_left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _time_left(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _WatchedStream(
            self.inner.start_tls(ssl_context, server_hostname, _time_left(timeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _WatchedBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self.inner.connect_tcp(
            host, port, _time_left(timeout), local_address, socket_options
        )
        return _WatchedStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self.inner.connect_unix_socket(path, _time_left(timeout), socket_options)
        return _WatchedStream(stream)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)
