"""What the checkers share: the protocol, the context, and the rules for plain web pages."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

from wmsocial_bot.errors import (
    ConnectionFailed,
    NetworkPolicyError,
    RedirectLoop,
    Timeout,
    TooLarge,
    TransportError,
)
from wmsocial_bot.model import Account, CheckResult, Identity, Status
from wmsocial_bot.net import (
    NOT_CHECKED,
    NOT_CHECKED_PREFIX,
    BudgetSpent,
    Net,
    Response,
    ShareSpent,
    TimedOut,
    transport_errors,
)

T = TypeVar("T")
R = TypeVar("R")
# How one account's check is run: checks.py passes the guard that turns a bug into a reported
# bug (the only place that catches unexpected errors); without one, a bug propagates.
Guard = Callable[[Callable[[Account], CheckResult], Account], CheckResult]


def _unguarded(check: Callable[[Account], CheckResult], account: Account) -> CheckResult:
    return check(account)


@dataclass(frozen=True)
class CheckContext:
    """Everything a checker may use: the network, the clock, the policy and what we know."""

    net: Net
    now: datetime
    inactive_days: int
    known: Mapping[str, Identity]
    executor: ThreadPoolExecutor
    done: Callable[[Account], None] = lambda _account: None  # progress, once per account
    guard: Guard = _unguarded

    def get(self, url: str, **kwargs: Any) -> Response:
        """GET through the network policy; a failure is a :class:`TransportError`, nothing else."""
        with transport_errors(urlsplit(url).hostname or url):
            return self.net.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        """POST through the network policy; a failure is a :class:`TransportError`."""
        with transport_errors(urlsplit(url).hostname or url):
            return self.net.post(url, **kwargs)

    def allowed(self, url: str) -> None:
        """The address guard alone, for a link the bot would write: refused as a
        :class:`NetworkPolicyError`, an unresolvable host as a :class:`TransportError`."""
        with transport_errors(urlsplit(url).hostname or url):
            self.net.target(url)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Run ``fn`` over ``items`` concurrently (the network layer enforces the limits)."""
        return list(self.executor.map(fn, items))

    def check_each(
        self,
        check: Callable[[Account], CheckResult],
        accounts: Iterable[Account],
        *,
        host_of: Callable[[Account], str] | None = None,
    ) -> list[CheckResult]:
        """``check`` every account concurrently; a bug costs one account (the guard), not the run.

        With ``host_of``, at most as many accounts of one host are checked at a time as it may
        have requests in flight (``max_per_host``; 32 for the Bluesky AppView), the longest
        queues first: a host that is slow, or paced by its rate-limit share, holds that many
        workers, never all of them, and an account's clock
        (``account_deadline``) starts when its host can take it, not while it waits behind
        the host's other accounts.
        """

        def timed(account: Account) -> CheckResult:
            if self.net.budget_spent():
                return result(account, Status.UNVERIFIABLE, NOT_CHECKED)
            with self.net.account_time() as clock:
                found = check(account)
            return in_time(found, clock.cut)

        def guarded(account: Account) -> CheckResult:
            try:
                return self.guard(timed, account)
            finally:
                self.done(account)

        items = list(accounts)
        if host_of is None:
            return self.map(guarded, items)
        return self._per_host(guarded, items, host_of)

    def _per_host(
        self,
        check: Callable[[Account], CheckResult],
        items: list[Account],
        host_of: Callable[[Account], str],
    ) -> list[CheckResult]:
        """``check`` every item, at most the host's in-flight limit of one host at a time.

        Each host gets as many lanes as it may have requests in flight
        (:meth:`Net.in_flight_limit`), submitted round by round with the longest queues first;
        a lane checks its host's next account until none is left.  A finished check goes
        straight on to the next one in its own worker: no hand-off to another thread per
        account (under load, each hand-off waited for the interpreter's lock and left a host's
        slot idle: about 90 ms between one answer and the next request).
        """
        queues: dict[str, deque[int]] = {}
        for index, item in enumerate(items):
            queues.setdefault(host_of(item), deque()).append(index)
        found: list[CheckResult | None] = [None] * len(items)

        def lane(queue: deque[int]) -> None:
            while True:
                try:
                    index = queue.popleft()  # atomic: two lanes never take one account
                except IndexError:
                    return
                found[index] = check(items[index])  # guarded: a bug is already a result

        limits = {host: self.net.in_flight_limit(host) for host in queues}
        longest_first = sorted(queues.items(), key=lambda entry: len(entry[1]), reverse=True)
        lanes = [
            self.executor.submit(lane, queue)
            for round_ in range(max(limits.values(), default=0))
            for host, queue in longest_first
            if round_ < min(limits[host], len(queue))
        ]
        for running in lanes:
            running.result()
        return [item for item in found if item is not None]

    def is_stale(self, last: date | datetime | None) -> bool:
        if last is None:
            return False
        day = last.date() if isinstance(last, datetime) else last
        return day < (self.now - timedelta(days=self.inactive_days)).date()


class Checker(Protocol):
    """Asks one platform about its accounts: one result per account, with the evidence.

    ``check`` gets each distinct account once; a bug costs its accounts an ``unverifiable``
    result, never the run (:mod:`wmsocial_bot.checks`).
    """

    @property
    def name(self) -> str: ...

    def check(self, accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]: ...


@dataclass(frozen=True)
class FunctionChecker:
    """A :class:`Checker` made of a platform name and a function."""

    name: str
    check_accounts: Callable[[Sequence[Account], CheckContext], list[CheckResult]]

    def check(self, accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
        return self.check_accounts(accounts, ctx)


def in_time(found: CheckResult, cut: TimedOut | None) -> CheckResult:
    """A result whose requests a deadline cut, as the deadline's sentence says.

    The run's budget or the bot's share of a host's rate limit cut the check short: "not
    checked", whatever the checker made of the rest (it is never evidence, and never
    ``unreachable``: the host did nothing wrong).  The same for a non-verdict whose detail
    carries such a sentence from a request made outside the account's clock (a Bluesky batch).
    A slow host or account: the checker's non-verdict keeps its status, and the detail says
    what timed out; a verdict reached without the cut request stands (checkers never take a
    timeout for evidence).
    """
    if cut is None:
        skipped = found.detail.find(NOT_CHECKED_PREFIX)
        if skipped >= 0 and found.status in (Status.UNREACHABLE, Status.UNVERIFIABLE):
            detail = found.detail[skipped:].rstrip(")")
            return result(found.account, Status.UNVERIFIABLE, detail)
        return found
    if isinstance(cut, BudgetSpent):
        return result(found.account, Status.UNVERIFIABLE, NOT_CHECKED)
    if isinstance(cut, ShareSpent):
        return result(found.account, Status.UNVERIFIABLE, str(cut))
    if found.status in (Status.UNREACHABLE, Status.UNVERIFIABLE) and "timed out" not in (
        found.detail
    ):
        return replace(found, detail=str(cut))
    return found


def result(account: Account, status: Status, detail: str, **kwargs: object) -> CheckResult:
    """Shorthand used by every checker."""
    return CheckResult(account=account, status=status, detail=detail, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- page checks
#
# Shared by the checkers that read plain web pages and feeds (YouTube, Telegram, Reddit,
# Pinterest, Flickr, Tumblr, TikTok, Instagram): one GET through the network policy, reduced
# to a small frozen answer, and the rules every such platform shares (docs/platforms.md).

# Answers that say the platform would not show us the page: never a verdict.
_REFUSALS = {
    401: "asks for a login",
    403: "refused access",
    407: "asks for proxy authentication",
    429: "is rate limiting us",
    451: "withholds the page for legal reasons",
    999: "blocked the request (its anti-bot answer)",
}


@dataclass(frozen=True)
class Fetched:
    """One GET, as a checker needs it.

    ``final_url`` is the URL after redirects with endpoint overrides undone, so that checkers
    can compare it with the platform's real hosts.  ``fault`` is set when no usable answer
    came: ``INVALID`` (the network policy refused the URL), ``UNREACHABLE`` (timeout, refused
    connection, reset, redirect loop) or ``UNVERIFIABLE`` (a body larger than the cap); then
    ``error`` is the sentence that says so and ``status`` is None.
    """

    url: str
    status: int | None = None
    final_url: str = ""
    headers: tuple[tuple[str, str], ...] = ()  # lowercased names
    text: str | None = None
    redirected: bool = False
    location: str | None = None  # a redirect's absolute target, when not followed
    fault: Status | None = None
    error: str | None = None

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def final_host(self) -> str:
        return (urlsplit(self.final_url).hostname or "").lower()

    @property
    def final_path(self) -> str:
        return urlsplit(self.final_url).path or "/"

    @property
    def challenge(self) -> bool:
        """A bot challenge page (Cloudflare's ``cf-mitigated: challenge``)."""
        return (self.header("cf-mitigated") or "").strip().lower() == "challenge"

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        if self.text is None:
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            return None


def logical_url(net: Net, url: str) -> str:
    """``url`` with an endpoint override undone: ``BASE/path`` -> ``https://HOST/path``."""
    for host, base in sorted(net.endpoints.items(), key=lambda item: -len(item[1])):
        if url == base or url.startswith((base + "/", base + "?")):
            return f"https://{host}{url[len(base) :]}"
    return url


def fetch(ctx: CheckContext, url: str, *, allow_redirects: bool = True) -> Fetched:
    """GET ``url`` through the network policy; transport faults become ``fault``, never raise."""
    host = urlsplit(url).hostname or url
    try:
        response = ctx.get(url, allow_redirects=allow_redirects)
    except NetworkPolicyError as exc:
        return Fetched(url, final_url=url, fault=Status.INVALID, error=f"link refused: {exc}")
    except TooLarge as exc:
        return Fetched(
            url,
            final_url=url,
            fault=Status.UNVERIFIABLE,
            error=f"the answer of {host} was not read: {exc}",
        )
    except (Timeout, RedirectLoop, ConnectionFailed) as exc:  # each says what happened
        return Fetched(url, final_url=url, fault=Status.UNREACHABLE, error=str(exc))
    except TransportError as exc:  # the policy's own reasons (a host given up, a long wait)
        why = f"{type(exc).__name__}: {exc}"[:160]
        return Fetched(
            url,
            final_url=url,
            fault=Status.UNREACHABLE,
            error=f"{host} could not be reached ({why})",
        )
    location = response.headers.get("location")
    if location is not None:
        location = logical_url(ctx.net, urljoin(response.url or url, location))
    encoding = response.encoding or "utf-8"
    try:
        text = response.content.decode(encoding, errors="replace")
    except LookupError:  # a charset Python does not know
        text = response.content.decode("utf-8", errors="replace")
    return Fetched(
        url=url,
        status=response.status_code,
        final_url=logical_url(ctx.net, response.url or url),
        headers=tuple((k.lower(), v) for k, v in response.headers.items()),
        text=text,
        redirected=bool(response.history),
        location=location,
    )


def refused(answer: Fetched, site: str) -> tuple[Status, str] | None:
    """The shared rules: faults, challenges, refusals and 5xx; None when the answer speaks.

    Challenge pages and 401/403/407/429/451/999 are ``unverifiable``; 5xx is ``unreachable``.
    None of them ever says anything about the account.
    """
    if answer.fault is not None:
        return answer.fault, answer.error or f"{site} could not be asked"
    status = answer.status or 0
    if answer.challenge:
        return (
            Status.UNVERIFIABLE,
            f"{site} answered with a bot challenge page (HTTP {status}, cf-mitigated: challenge)",
        )
    if status in _REFUSALS:
        return Status.UNVERIFIABLE, f"{site} {_REFUSALS[status]} (HTTP {status})"
    if status >= 500:
        return Status.UNREACHABLE, f"{site} failed (HTTP {status}); try again later"
    return None


def unexpected(answer: Fetched, site: str) -> tuple[Status, str]:
    """An answer the platform is not known to give: it proves nothing."""
    return (
        Status.UNVERIFIABLE,
        f"{site} answered HTTP {answer.status} at {answer.final_url}, "
        "which says nothing certain about the account",
    )


def iso_datetime(text: str | None) -> datetime | None:
    """An ISO-8601 time stamp (``Z`` or an offset), or None when it is not one."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when


def activity_result(
    account: Account, ctx: CheckContext, last: date | None, exists: str, what: str = "post"
) -> CheckResult:
    """ok or inactive from the newest activity date; ``exists`` is the detail without one."""
    if last is None:
        return result(account, Status.OK, exists)
    if ctx.is_stale(last):
        return result(account, Status.INACTIVE, f"no {what} since {last}", last_activity=last)
    return result(account, Status.OK, f"active; last {what} {last}", last_activity=last)


# Paths a site sends anonymous visitors to instead of the page: login walls, content filters.
WALL_PATHS = ("/login", "/accounts/login", "/account/login", "/signin", "/authwall", "/safe-mode")


def check_profile_page(
    account: Account,
    ctx: CheckContext,
    url: str,
    *,
    site: str,
    domain: str,
    home_is_gone: bool = False,
) -> CheckResult:
    """A profile page on a site that answers 404 for a missing profile (Flickr, Tumblr, ...).

    404/410 is ``deleted``; 200 on the site itself is ``ok``; a redirect to the site's home page
    is ``deleted`` when ``home_is_gone`` (Pinterest's soft 404), else ``unverifiable``; a redirect
    to a login wall or off the site (``domain`` and its subdomains) is ``unverifiable``.
    """
    answer = fetch(ctx, url)
    blocked = refused(answer, site)
    if blocked is not None:
        return result(account, *blocked)
    shown = url.split("://", 1)[-1]
    if answer.status in (404, 410):
        return result(account, Status.DELETED, f"{site} answers {answer.status} for {shown}")
    if answer.status != 200:
        return result(account, *unexpected(answer, site))
    host = answer.final_host
    if host != domain and not host.endswith("." + domain):
        return result(
            account,
            Status.UNVERIFIABLE,
            f"{site} sent {shown} to {host} instead of the profile",
        )
    path = answer.final_path.lower()
    if answer.redirected and path.startswith(WALL_PATHS):
        return result(
            account,
            Status.UNVERIFIABLE,
            f"{site} sent {shown} to a login or content wall ({answer.final_path})",
        )
    if answer.redirected and path == "/":
        if home_is_gone:
            return result(
                account,
                Status.DELETED,
                f"{site} sends {shown} to its home page, which it does for missing profiles",
            )
        return result(account, Status.UNVERIFIABLE, f"{site} sent {shown} to its home page")
    page = (answer.text or "").lower()
    if account.handle.lower() not in page and site.lower() not in page:
        # Not the platform's page at all: a parked domain, a captive portal, a proxy's page.
        return result(
            account,
            Status.UNVERIFIABLE,
            f"the page at {shown} names neither {site} nor {account.handle}",
        )
    return result(account, Status.OK, f"{site} shows {shown}")
