"""Mastodon and the rest of the fediverse: ``user@host`` accounts on any server."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from wmsocial_bot import gate
from wmsocial_bot.errors import NetworkPolicyError, WriteRefused
from wmsocial_bot.model import Account, CheckResult, Identity, Status
from wmsocial_bot.platforms.common import CheckContext, policy_refusal
from wmsocial_bot.urls import UrlParts, ascii_host

NAME = "mastodon"
# Well-known servers: recognised whatever their path shape.  Any other host is a fediverse
# candidate only when its path has the /@user or /users/user shape.
HOSTS = frozenset(
    {
        "mastodon.social",
        "wikis.world",
        "wikimedia.social",
        "mastodon.online",
        "fosstodon.org",
        "mstdn.social",
        "mas.to",
        "social.coop",
        "chaos.social",
        "mastodon.xyz",
        "troet.cafe",
        "mastodon.world",
        "masto.ai",
        "social.wikimedia.de",
        "wikimedia.ch",
    }
)
# Hosts with /@user paths that are not fediverse servers.
NOT_FEDIVERSE = frozenset(
    {
        "medium.com",
        "substack.com",
        "vimeo.com",
        "github.com",
        "gitlab.com",
        "npmjs.com",
        "dev.to",
        "soundcloud.com",
        "figma.com",
        "codepen.io",
        "behance.net",
        "dribbble.com",
        "linktr.ee",
        "patreon.com",
        "ko-fi.com",
        "spotify.com",
        "twitch.tv",
        "discord.com",
        "discord.gg",
        "snapchat.com",
        "quora.com",
        "goodreads.com",
        "archive.org",
        "web.archive.org",
    }
)
_NOT_FEDIVERSE_SUFFIXES = (".medium.com", ".substack.com", ".wikipedia.org", ".wikimedia.org")
_USER = r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}"
_HOST = r"(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]{0,62}"
# A literal IPv4 address is listed too (as an account on that address) so that the network
# guard can refuse it with a reason, instead of the link silently vanishing from the report.
_URL_HOST = rf"{_HOST}|\d{{1,3}}(?:\.\d{{1,3}}){{3}}"
_ACCOUNT_TAILS = frozenset({"with_replies", "media", "tagged", "followers", "following"})
TEXT_HANDLE = re.compile(
    rf"(?<![\w@/.:\-])(?:acct:|@)(?P<user>{_USER})@(?P<host>{_HOST}\b)(?![@\w\-]|\.[A-Za-z0-9])",
    re.IGNORECASE,
)


# A handle as people write it in text: the server may be spelt in Unicode (``@a@bücher.social``),
# as Mastodon's own mention syntax allows (mastodon/mastodon app/models/account.rb
# ``MENTION_RE``, v4.3: the domain is ``[[:word:]]`` runs joined by ``.`` or ``-``).
# :func:`canonical` turns the server into punycode, so both spellings give one handle.
_UNICODE_LABEL = r"[^\W_](?:[^\W_]|-){0,62}"
WRITTEN_HANDLE = re.compile(
    rf"(?<![\w@/.:\-])(?:acct:|@)(?P<user>{_USER})@"
    rf"(?P<host>(?:{_UNICODE_LABEL}\.)+{_UNICODE_LABEL}\b)(?![@\w\-]|\.[^\W_])",
    re.IGNORECASE,
)


def canonical(user: str, host: str) -> str:
    """``user@host``, lowercase, the server in punycode (see :func:`urls.ascii_host`)."""
    return f"{user}@{ascii_host(host) or host}".lower()


def is_fediverse_candidate_host(host: str) -> bool:
    return host not in NOT_FEDIVERSE and not host.endswith(_NOT_FEDIVERSE_SUFFIXES)


def normalise(parts: UrlParts) -> str | None:
    """``/@user``, ``/web/@user``, ``/users/user``, ``/@user@other`` -> ``user@host``."""
    segs = parts.segments
    if segs and segs[0] == "web":
        segs = segs[1:]
    if not segs:
        return None
    first, tail = segs[0], segs[1:]
    if first.startswith("@"):
        user = first[1:]
    elif first == "users" and len(segs) >= 2:
        user, tail = segs[1], segs[2:]
    else:
        return None
    if tail and (tail[0] not in _ACCOUNT_TAILS or (tail[0] != "tagged" and len(tail) > 1)):
        return None  # a post (/@user/1234), a collection, a status
    host = parts.raw_host.removeprefix("www.")  # the server's own name: no other aliasing
    if "@" in user:
        user, _, other = user.partition("@")
        host = ascii_host(other) or ""
    if not re.fullmatch(_USER, user) or not re.fullmatch(_URL_HOST, host):
        return None
    return canonical(user, host)


# --------------------------------------------------------------------------- checks
#
# The home server is asked through Mastodon.py's ``account_lookup``; WebFinger, nodeinfo, the
# profile page and Misskey's API go through the same network policy.  Only explicit
# statements become verdicts: a 404 is "deleted" only when WebFinger agrees, and a server that
# refuses, times out, errs, rate-limits or serves a parked page is "unreachable".

MAX_HOPS = 5
_NOT_FOUND = frozenset({"Record not found", "Can't find user"})


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    fediverse = _Fediverse(ctx)
    return ctx.check_each(fediverse.check, accounts, host_of=lambda a: split_handle(a.handle)[1])


@dataclass(frozen=True)
class _Answer:
    """What one server said about one account."""

    kind: str  # found | missing | gone | forbidden | unknown | fault
    data: Mapping[str, Any] | None = None
    status: Status = Status.UNREACHABLE  # for kind == "fault"
    detail: str = ""


@dataclass(frozen=True)
class _Verdict:
    status: Status
    detail: str
    url: str | None = None
    handle: str | None = None
    last_activity: date | None = None
    verified: bool | None = None
    learned: Identity | None = None


def split_handle(handle: str) -> tuple[str, str]:
    user, _, host = handle.partition("@")
    return user, host


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            return None
    return None


def _verified(fields: object) -> bool | None:
    """True when a profile link is verified (rel="me"), False when links exist but none is."""
    if not isinstance(fields, list):
        return None
    links = [f for f in fields if isinstance(f, Mapping) and "http" in str(f.get("value", ""))]
    if any(isinstance(f, Mapping) and f.get("verified_at") for f in fields):
        return True
    return False if links else None


def _fault(exc: BaseException) -> _Answer:
    """A transport or server failure: never a verdict about the account."""
    refusal = policy_refusal(exc)
    if refusal is not None:
        return _Answer("fault", status=Status.INVALID, detail=f"link refused: {refusal}")
    text = str(exc)
    if "Could not parse response as JSON" in text or isinstance(exc, ValueError):
        return _Answer(
            "fault",
            detail="the server answered with a page that is not the API (parked or shut down?)",
        )
    return _Answer("fault", detail=f"the server could not be reached: {_short(exc)}")


def _short(exc: BaseException) -> str:
    cause = exc.__context__ or exc.__cause__
    text = f"{type(exc).__name__}: {exc}"
    if cause is not None and not str(exc).strip():
        text = f"{type(cause).__name__}: {cause}"
    return text[:160]


class _Fediverse:
    """Per-run state: one Mastodon.py client and one software guess per server."""

    def __init__(self, ctx: CheckContext) -> None:
        self.ctx = ctx
        self.net = ctx.net
        self._clients: dict[str, Any] = {}
        self._software: dict[str, str | None] = {}
        self._host_locks: dict[str, threading.Lock] = {}
        self._tried: set[str] = set()
        self._nodeinfo_failed: set[str] = set()  # hosts whose nodeinfo could not be read
        self._lock = threading.Lock()

    # -- entry ---------------------------------------------------------------------------

    def check(self, account: Account) -> CheckResult:
        verdict = self.inspect(account.handle, [account.handle])
        learned = verdict.learned
        if learned is not None:
            learned = replace(learned, key=account.key)
        return CheckResult(
            account=account,
            status=verdict.status,
            detail=verdict.detail,
            new_url=verdict.url if verdict.status in (Status.MOVED, Status.RENAMED) else None,
            new_handle=verdict.handle if verdict.status in (Status.MOVED, Status.RENAMED) else None,
            last_activity=verdict.last_activity,
            verified=verdict.verified,
            learned=learned,
        )

    def inspect(self, handle: str, chain: list[str]) -> _Verdict:
        """The verdict for ``handle``, following moves; ``chain`` holds the handles so far."""
        user, host = split_handle(handle)
        answer = self.lookup(user, host)
        if answer.kind == "unknown" or (answer.kind == "fault" and answer.status != Status.INVALID):
            software = self.software(host)
            if software == "misskey":
                answer = self.misskey(user, host)
            elif software == "gotosocial":
                answer = _Answer("forbidden")
            elif answer.kind == "unknown" and host in self._nodeinfo_failed:
                # Which API to ask is unknown for now: the fallback (WebFinger and the page)
                # cannot tell a moved or suspended account from a live one on every server.
                answer = _Answer(
                    "fault",
                    detail="the server has no Mastodon account lookup, and its nodeinfo "
                    "could not be read",
                )
        if answer.kind == "found" and answer.data is not None:
            return self.evaluate(handle, answer.data, chain)
        if answer.kind == "missing":
            return self.confirm_missing(user, host, answer.detail)
        if answer.kind in ("forbidden", "unknown"):
            return self.without_api(user, host, chain)
        if answer.kind == "gone":
            return self.confirm_missing(user, host, answer.detail)
        return _Verdict(answer.status, answer.detail)

    # -- the Mastodon API ----------------------------------------------------------------

    def client(self, host: str) -> Any:
        from importlib.metadata import version

        from mastodon import Mastodon

        with self._lock:
            client = self._clients.get(host)
            if client is None:
                client = Mastodon(
                    api_base_url=f"https://{host}",
                    request_timeout=self.net.config.timeout,
                    ratelimit_method="throw",
                    version_check_mode="none",
                    user_agent=self.net.user_agent("Mastodon.py", version("Mastodon.py")),
                    session=self.net.requests_session(),
                )
                self._clients[host] = client
        return client

    def lookup(self, user: str, host: str) -> _Answer:
        from mastodon import errors as mastodon_errors

        try:
            data = self.client(host).account_lookup(user)
        except mastodon_errors.MastodonNotFoundError as exc:
            message = exc.args[3] if len(exc.args) > 3 else None
            if isinstance(message, str) and message in _NOT_FOUND:
                return _Answer("missing", detail=f'the server says "{message}"')
            return _Answer("unknown", detail="the server has no Mastodon account lookup")
        except mastodon_errors.MastodonUnauthorizedError:
            return _Answer("forbidden", detail="the server requires a login for its API")
        except mastodon_errors.MastodonRatelimitError:
            return _Answer("fault", detail="the server is rate limiting us (HTTP 429)")
        except mastodon_errors.MastodonServerError as exc:
            return _Answer("fault", detail=f"the server failed (HTTP {exc.args[1]})")
        except mastodon_errors.MastodonAPIError as exc:
            code = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
            if code == 410:
                return _Answer("gone", detail="the server says the account is gone (HTTP 410)")
            if code in (401, 403):
                return _Answer(
                    "forbidden", detail=f"the server refused anonymous access (HTTP {code})"
                )
            if code is not None and code >= 500:
                return _Answer("fault", detail=f"the server failed (HTTP {code})")
            return _fault(exc)
        except (mastodon_errors.MastodonError, NetworkPolicyError, OSError) as exc:
            return _fault(exc)
        if not isinstance(data, Mapping) or ("acct" not in data and "username" not in data):
            return _Answer(
                "fault", detail="the server answered with something that is not an account"
            )
        return _Answer("found", data=data)

    def evaluate(
        self, handle: str, data: Mapping[str, Any], chain: list[str], server: str | None = None
    ) -> _Verdict:
        """The verdict from one account answer; ``server`` is the host that gave it."""
        user, host = split_handle(handle)
        last = _as_date(data.get("last_status_at"))
        verified = _verified(data.get("fields"))
        posts = data.get("statuses_count")
        learned = Identity(
            key=f"mastodon:{handle}",
            platform=NAME,
            ident=str(data.get("id", "")),
            handle=handle,
            posts_count=posts if isinstance(posts, int) else None,
            last_activity=last,
            seen_at=self.ctx.now,
        )
        # Built by the bot, never the server's own "url": a server may name any page there.
        username = data.get("username")
        url = gate.profile_link(
            NAME, handle, server=server, user=username if isinstance(username, str) else ""
        )

        def say(status: Status, detail: str) -> _Verdict:
            return _Verdict(status, detail, url, handle, last, verified, learned)

        if data.get("suspended"):
            webfinger = self.webfinger(user, host)
            if webfinger.status == 410:
                return say(
                    Status.SUSPENDED,
                    "suspended permanently: the account is a tombstone and WebFinger answers 410",
                )
            if webfinger.status == 200:
                return say(
                    Status.SUSPENDED,
                    "suspended, perhaps for now: the account is a tombstone but WebFinger "
                    "still answers (reversible)",
                )
            return say(Status.SUSPENDED, "suspended: the server marks the account suspended")
        pleroma = data.get("pleroma")
        if isinstance(pleroma, Mapping) and pleroma.get("deactivated"):
            return say(Status.DEACTIVATED, "deactivated: the server marks the account deactivated")
        moved = data.get("moved")
        if isinstance(moved, Mapping):
            return self.follow(handle, host, moved, chain, learned)
        if data.get("limited"):
            return say(Status.LIMITED, "limited: the server's moderators have hidden this account")
        if data.get("memorial"):
            return say(Status.INACTIVE, "in memoriam: the server marks this a memorial account")
        if self.ctx.is_stale(last):
            return say(Status.INACTIVE, f"no post since {last}")
        if last is None and posts == 0:
            return say(Status.INACTIVE, "the account has never posted")
        return say(Status.OK, f"active; last post {last}" if last else "the account exists")

    def follow(
        self, handle: str, host: str, moved: Mapping[str, Any], chain: list[str], learned: Identity
    ) -> _Verdict:
        """Follow a move to the account that is not moved; it must be ok to be a successor."""
        acct = str(moved.get("acct") or "")
        successor = gate.fediverse_handle(acct, host)
        if successor is None:
            return _Verdict(
                Status.MOVED,
                f"moved, but the server names as the successor {acct[:80]!r}, which is not a "
                "fediverse handle",
                learned=learned,
            )
        path = " -> ".join(f"@{h}" for h in [*chain, successor])
        if successor in chain:
            return _Verdict(Status.MOVED, f"moved in a loop: {path}", learned=learned)
        if len(chain) > MAX_HOPS:
            return _Verdict(
                Status.MOVED, f"moved more than {MAX_HOPS} times: {path}", learned=learned
            )
        final = self.inspect(successor, [*chain, successor])
        if final.status == Status.MOVED:
            return replace(final, learned=learned)
        if final.status != Status.OK:
            detail = f"moved to @{successor}, which is {final.status.value}: {final.detail}"
            return _Verdict(Status.MOVED, detail, learned=learned)
        handle = final.handle or successor
        try:
            handle, url = gate.verified_successor(
                NAME, handle, final.url or gate.profile_link(NAME, handle)
            )
            self.net.target(f"https://{urlsplit(url).hostname}/")  # the private-address guard
        except (WriteRefused, NetworkPolicyError, requests.RequestException) as exc:
            return _Verdict(
                Status.MOVED,
                f"moved to @{successor}, but the bot cannot link to it: {str(exc)[:160]}",
                learned=learned,
            )
        return _Verdict(
            Status.MOVED,
            f"moved: {path}",
            url=url,
            handle=handle,
            last_activity=final.last_activity,
            verified=final.verified,
            learned=learned,
        )

    # -- fallbacks -----------------------------------------------------------------------

    def confirm_missing(self, user: str, host: str, said: str) -> _Verdict:
        """A 404 from the API is "deleted" only when WebFinger agrees."""
        webfinger = self.webfinger(user, host)
        if webfinger.status == 404:
            return _Verdict(Status.DELETED, f"no such account: {said}, and WebFinger answers 404")
        if webfinger.status == 410:
            return _Verdict(
                Status.SUSPENDED, f"suspended permanently: {said}, and WebFinger answers 410 Gone"
            )
        if webfinger.status == 200:
            return _Verdict(Status.UNVERIFIABLE, f"{said}, but WebFinger still knows the account")
        return _Verdict(
            Status.UNVERIFIABLE, f"{said}; WebFinger could not confirm it ({webfinger.detail})"
        )

    def without_api(self, user: str, host: str, chain: list[str]) -> _Verdict:
        """No usable API on ``host``: WebFinger, which may name the real server, then the page."""
        webfinger = self.webfinger(user, host)
        if webfinger.status == 200 and webfinger.api_host and webfinger.api_host not in self._tried:
            # The handle's domain is not the server's (user@example.org on social.example.org).
            self._tried.add(webfinger.api_host)
            answer = self.lookup(user, webfinger.api_host)
            if answer.kind == "found" and answer.data is not None:
                return self.evaluate(
                    f"{user}@{host}", answer.data, chain, server=webfinger.api_host
                )
        if webfinger.status == 410:
            return _Verdict(Status.SUSPENDED, "suspended permanently: WebFinger answers 410 Gone")
        if webfinger.status not in (200, 404):
            return _Verdict(
                Status.UNVERIFIABLE,
                f"the API needs a login and WebFinger failed ({webfinger.detail})",
            )
        page = self.page_status(f"https://{host}/@{user}")
        if webfinger.status == 200 and page in (200, None):
            return _Verdict(
                Status.OK,
                "the account exists (WebFinger and the profile page; the API needs a login)",
                url=gate.profile_link(NAME, f"{user}@{host}"),
            )
        if webfinger.status == 404 and page in (404, 410):
            return _Verdict(
                Status.DELETED,
                f"no such account: WebFinger answers 404 and the profile page {page}",
            )
        return _Verdict(
            Status.UNVERIFIABLE, f"WebFinger answers {webfinger.status} but the profile page {page}"
        )

    def misskey(self, user: str, host: str) -> _Answer:
        """Misskey and forks: ``POST /api/users/show``."""
        try:
            response = self.net.post(
                f"https://{host}/api/users/show", json={"username": user, "host": None}
            )
        except (requests.RequestException, NetworkPolicyError) as exc:
            return _fault(exc)
        body = _json(response)
        if response.status_code == 404:
            code = (
                body.get("error", {}).get("code")
                if isinstance(body.get("error"), Mapping)
                else None
            )
            return _Answer(
                "missing",
                detail=f"Misskey says {code or 'HTTP 404'} (it hides suspended users this way too)",
            )
        if response.status_code != 200 or not body:
            return _Answer("fault", detail=f"Misskey's API answered HTTP {response.status_code}")
        data: dict[str, Any] = {
            "id": body.get("id"),
            "acct": body.get("username"),
            "url": f"https://{host}/@{user}",
            "suspended": bool(body.get("isSuspended")),
            "limited": bool(body.get("isSilenced")),
            "statuses_count": body.get("notesCount"),
            "last_status_at": body.get("updatedAt"),
        }
        moved_uri = body.get("movedToUri")
        if isinstance(moved_uri, str) and moved_uri:
            from wmsocial_bot.urls import parse_url

            parts = parse_url(moved_uri)
            handle = normalise(parts) if parts else None
            if handle:
                data["moved"] = {"acct": handle, "url": moved_uri}
        return _Answer("found", data=data)

    # -- small requests ------------------------------------------------------------------

    @dataclass(frozen=True)
    class _Finger:
        status: int | None
        detail: str
        api_host: str | None = None  # the host of the "self" link, when it is another host

    def webfinger(self, user: str, host: str) -> _Fediverse._Finger:
        url = f"https://{host}/.well-known/webfinger?resource=acct:{user}@{host}"
        try:
            response = self.net.get(url, allow_redirects=True)
        except (requests.RequestException, NetworkPolicyError) as exc:
            return self._Finger(None, _short(exc))
        body = _json(response)
        if response.status_code == 200 and not body:
            return self._Finger(None, "WebFinger answered with something that is not JSON")
        api_host = None
        links = body.get("links")
        for link in links if isinstance(links, list) else []:
            if isinstance(link, Mapping) and link.get("rel") == "self":
                other = (urlsplit(str(link.get("href", ""))).hostname or "").lower()
                api_host = other if other and other != host else None
        return self._Finger(response.status_code, f"HTTP {response.status_code}", api_host)

    def page_status(self, url: str) -> int | None:
        try:
            return self.net.get(url).status_code
        except (requests.RequestException, NetworkPolicyError):
            return None

    def software(self, host: str) -> str | None:
        """The server software's name from nodeinfo, asked once per server and run."""
        with self._lock:
            if host in self._software:
                return self._software[host]
            host_lock = self._host_locks.setdefault(host, threading.Lock())
        with host_lock:
            with self._lock:
                if host in self._software:
                    return self._software[host]
            name = self._nodeinfo(host)
            with self._lock:
                self._software[host] = name
        return name

    def _nodeinfo(self, host: str) -> str | None:
        """The software's name, or None: no nodeinfo, or (``_nodeinfo_failed``) none read."""
        try:
            response = self.net.get(f"https://{host}/.well-known/nodeinfo")
            index = _json(response)
            if _unanswered(response, index):
                self._nodeinfo_failed.add(host)
            links = index.get("links")
            if not isinstance(links, list):
                return None
            hrefs = [
                str(link.get("href"))
                for link in links
                if isinstance(link, Mapping) and link.get("href")
            ]
            if not hrefs:
                return None
            response = self.net.get(sorted(hrefs)[-1])
            info = _json(response)
            if _unanswered(response, info):
                self._nodeinfo_failed.add(host)
        except (requests.RequestException, NetworkPolicyError):
            self._nodeinfo_failed.add(host)
            return None
        software = info.get("software")
        name = software.get("name") if isinstance(software, Mapping) else None
        return str(name).lower() if name else None


def _unanswered(response: requests.Response, body: Mapping[str, Any]) -> bool:
    """A failure rather than an answer: 5xx, 429, a refusal, or a 200 that is not JSON."""
    return response.status_code not in (200, 404, 410) or (response.status_code == 200 and not body)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
