"""Mastodon and the rest of the fediverse: ``user@host`` accounts on any server."""

from __future__ import annotations

import functools
import html
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from wmsocial_bot import gate, profiles
from wmsocial_bot.checkers.common import CheckContext, FunctionChecker
from wmsocial_bot.errors import NetworkPolicyError, Throttled, TransportError, WriteRefused
from wmsocial_bot.identify.mastodon import NAME, handle_from_url, link_names_id, split_handle
from wmsocial_bot.model import Account, CheckResult, Identity, Profile, Reach, Status
from wmsocial_bot.net import Net, Response, as_transport_error, transport_errors

# The home server is asked through Mastodon.py's ``account_lookup``; WebFinger, nodeinfo, the
# profile page, the ActivityPub actor and Misskey's API go through the same network policy.
# Only explicit statements become verdicts, and each follows what the server software's own
# source says it sends (docs/simulator.md cites the file and version for every rule).  Where a
# server gives no anonymous way to tell two states apart, the detail says so.

MAX_HOPS = 5
_NOT_FOUND = frozenset({"Record not found", "Can't find user"})
# Misskey and its forks: no Mastodon API, ``POST /api/users/show`` instead.  Forks report their
# own name in nodeinfo's ``software.name``.
MISSKEY_FAMILY = frozenset(
    {
        "misskey",
        "calckey",
        "firefish",
        "foundkey",
        "sharkey",
        "iceshrimp",
        "catodon",
        "cherrypick",
        "meisskey",
        "magnetar",
    }
)
# Pleroma and its forks: the Mastodon API with Pleroma's visibility rules.
PLEROMA_FAMILY = frozenset({"pleroma", "akkoma", "rebased"})
_LOGIN_PATHS = ("/auth/sign_in", "/login", "/signin", "/sign_in", "/auth/login")
_ACTIVITY_JSON = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


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
    reach: Reach | None = None  # the listed account's own figures, never a successor's
    profile: Profile | None = None  # the listed account's own fields and links


@dataclass(frozen=True)
class _Page:
    """A profile page as an anonymous visitor gets it."""

    status: int | None  # None: no answer
    login_wall: bool = False  # redirected to a sign-in page
    text: str = ""


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
    """True when a profile link is verified (rel="me"), False when links exist but none is.

    None when the server never verifies (no field has ``verified_at`` at all): "not
    verified" would be a claim it never made.
    """
    if not isinstance(fields, list):
        return None
    items = [f for f in fields if isinstance(f, Mapping)]
    if not any("verified_at" in f for f in items):
        return None
    if any(f.get("verified_at") for f in items):
        return True
    return False if any("http" in str(f.get("value", "")) for f in items) else None


def _fault(exc: TransportError) -> _Answer:
    """A transport failure: never a verdict about the account (a refused link is ``invalid``)."""
    if isinstance(exc, NetworkPolicyError):
        return _Answer("fault", status=Status.INVALID, detail=f"link refused: {exc}")
    if isinstance(exc, Throttled):
        return _Answer("fault", detail=f"rate limited: {_short(exc)}")
    return _Answer("fault", detail=f"the server could not be reached: {_short(exc)}")


def _short(exc: TransportError) -> str:
    return (str(exc) or type(exc).__name__)[:160]


@dataclass(frozen=True)
class ApiError:
    """An error answer of the Mastodon API, as Mastodon.py reported it."""

    status: int | None  # the HTTP status; None: the body was not the API's JSON
    error: str | None = None  # the server's ``error`` text ("Record not found")


def call_api(host: str, call: Callable[[], Any]) -> Any:
    """One Mastodon.py call: its answer, or an :class:`ApiError`; a transport failure raises
    a :class:`TransportError` (``net.transport_errors``).

    The one place that reads Mastodon.py's errors (its 429 is a :class:`Throttled`).  For an
    error answer it raises
    ``ex_type('Mastodon API returned error', status, reason, error)`` (a MastodonAPIError
    subclass; MastodonRatelimitError for 429 with ``ratelimit_method="throw"``), for a body that
    is not JSON ``MastodonAPIError(message, "Exception was: ...")`` with no status, and a
    MastodonNetworkError (an OSError) whose context is the transport's failure
    (mastodon/internals.py ``__api_request``, Mastodon.py 2.3.3).
    """
    from mastodon import errors as mastodon_errors

    try:
        with transport_errors(host):
            return call()
    except mastodon_errors.MastodonRatelimitError as exc:
        raise as_transport_error(exc, host) from exc
    except mastodon_errors.MastodonAPIError as exc:
        args = exc.args
        status = args[1] if len(args) > 1 and isinstance(args[1], int) else None
        error = args[3] if len(args) > 3 and isinstance(args[3], str) else None
        return ApiError(status, error)
    except ValueError:  # MastodonIllegalArgumentError, a body that does not parse
        return ApiError(None)


def _api_error_answer(error: ApiError) -> _Answer:
    """What an error answer of the API says: only a 404 with its known text is "missing"."""
    status = error.status
    if status is None:
        return _Answer(
            "fault",
            detail="the server answered with a page that is not the API (parked or shut down?)",
        )
    if status == 404:
        if error.error in _NOT_FOUND:
            return _Answer("missing", detail=f'the server says "{error.error}"')
        return _Answer("unknown", detail="the server has no Mastodon account lookup")
    if status == 401:
        return _Answer("forbidden", detail="the server requires a login for its API")
    if status == 410:
        return _Answer("gone", detail="the server says the account is gone (HTTP 410)")
    if status == 403:
        return _Answer("forbidden", detail=f"the server refused anonymous access (HTTP {status})")
    if status >= 500:
        return _Answer("fault", detail=f"the server failed (HTTP {status})")
    return _Answer("fault", detail=f"the server answered HTTP {status} {error.error or ''}".strip())


# GoToSocial's server-rendered profile page (web/template/profile_header.tmpl, status_info.tmpl
# and profile_about_user.tmpl): the moved-to notice, each post's time and the post count.
_GTS_MOVED = re.compile(r'<div class="moved-to">.*?<a\s+href="([^"]+)"', re.DOTALL)
_GTS_TIME = re.compile(r'<time class="dt-published[^"]*" datetime="([^"]+)"')
_GTS_POSTS = re.compile(r'<dd class="postsdd[^"]*">\s*(\d+)\s*</dd>')


class _Fediverse:
    """Per-run state: one Mastodon.py client and one software guess per server."""

    def __init__(self, ctx: CheckContext) -> None:
        self.ctx = ctx
        self.net = ctx.net
        self._clients: dict[str, Any] = {}
        self._software: dict[str, str | None] = {}
        self._host_locks: dict[str, threading.Lock] = {}
        # API hosts whose account lookup needs a login.  Only that is remembered: every account
        # is still checked through its own WebFinger and page (not just the first per server).
        self._login_required: set[str] = set()
        self._nodeinfo_failed: set[str] = set()  # hosts whose nodeinfo could not be read
        self._lock = threading.Lock()

    # -- entry ---------------------------------------------------------------------------

    def check(self, account: Account) -> CheckResult:
        verdict = self.inspect(account.handle, [account.handle], link=account.url)
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
            reach=verdict.reach,
            profile=verdict.profile,
        )

    def inspect(self, handle: str, chain: list[str], link: str | None = None) -> _Verdict:
        """The verdict for ``handle``, following moves; ``chain`` holds the handles so far.

        ``link``: the page's link to the account; its ``/users/<x>`` form carries an id on
        Misskey (read only for a Misskey server: parsing it cost every account microseconds).
        """
        user, host = split_handle(handle)
        answer = self.lookup(user, host)
        if answer.kind == "unknown" or (answer.kind == "fault" and answer.status != Status.INVALID):
            software = self.software(host)
            if software in MISSKEY_FAMILY:
                by_id = link_names_id(link)
                return self.misskey(user, host, chain, by_id, software or "misskey")
            if software == "gotosocial":
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
            return self.found(handle, host, answer.data, chain)
        if answer.kind in ("missing", "gone"):
            return self.confirm_missing(user, host, answer.detail)
        if answer.kind in ("forbidden", "unknown"):
            return self.without_api(user, host, chain)
        return _Verdict(answer.status, answer.detail)

    # -- the Mastodon API ----------------------------------------------------------------

    def client(self, host: str) -> Any:
        with self._lock:
            client = self._clients.get(host)
        if client is not None:
            return client
        # Built outside the lock (it takes milliseconds): the workers of other hosts go on.
        # Two workers may build one for the same host; the first one stored is kept.
        built = client_for(self.net, host)
        with self._lock:
            return self._clients.setdefault(host, built)

    def lookup(self, user: str, host: str) -> _Answer:
        """``GET /api/v1/accounts/lookup``."""
        return self._ask(host, lambda client: account_lookup(client, user))

    def by_account_id(self, host: str, account_id: str) -> _Answer:
        """``GET /api/v1/accounts/:id``: on Pleroma the call that applies the visibility rules."""
        return self._ask(host, lambda client: client.account(account_id))

    def _ask(self, host: str, call: Callable[[Any], Any]) -> _Answer:
        try:
            data = call_api(host, lambda: call(self.client(host)))
        except TransportError as exc:
            return _fault(exc)
        if isinstance(data, ApiError):
            return _api_error_answer(data)
        if not isinstance(data, Mapping) or ("acct" not in data and "username" not in data):
            return _Answer(
                "fault", detail="the server answered with something that is not an account"
            )
        return _Answer("found", data=data)

    def found(
        self, handle: str, api_host: str, data: Mapping[str, Any], chain: list[str]
    ) -> _Verdict:
        """An account from the lookup; Pleroma's lookup must be confirmed first."""
        if _pleroma_lookup(data):
            hidden = self.pleroma_hidden(api_host, data)
            if hidden is not None:
                return hidden
        server = api_host if api_host != split_handle(handle)[1] else None
        return self.evaluate(handle, data, chain, server=server)

    def pleroma_hidden(self, host: str, data: Mapping[str, Any]) -> _Verdict | None:
        """Pleroma's lookup answers for deactivated and deleted users too; ``accounts/:id`` not.

        (pleroma ``account_controller.ex``: ``lookup/2`` renders with
        ``skip_visibility_check``, ``show/2`` applies ``User.visible_for``.)
        """
        answer = self.by_account_id(host, str(data.get("id", "")))
        if answer.kind == "found":
            return None
        if answer.kind == "missing":
            return _Verdict(
                Status.DEACTIVATED,
                "deactivated or deleted: Pleroma's lookup still shows the account, but "
                '/api/v1/accounts/:id says "Can\'t find user" (Pleroma cannot tell the two '
                "apart anonymously)",
            )
        if answer.kind == "forbidden":
            return _Verdict(
                Status.UNVERIFIABLE,
                "Pleroma's lookup shows deactivated and deleted accounts too, and this server "
                "needs a login for the call that tells them apart",
            )
        return _Verdict(
            Status.UNREACHABLE if answer.kind == "fault" else Status.UNVERIFIABLE,
            f"Pleroma's lookup shows deactivated accounts too, and the check that tells them "
            f"apart failed: {answer.detail}",
        )

    def evaluate(
        self, handle: str, data: Mapping[str, Any], chain: list[str], server: str | None = None
    ) -> _Verdict:
        """The verdict from one account answer; ``server`` is the host that gave it."""
        user, host = split_handle(handle)
        last = _as_date(data.get("last_status_at"))
        posts = data.get("statuses_count")
        learned, reach = self._figures(handle, data, last)
        # Built by the bot, never the server's own "url": a server may name any page there.
        username = data.get("username")
        url = gate.profile_link(
            NAME, handle, server=server, user=username if isinstance(username, str) else ""
        )
        profile = _profile(data, url)
        verified = data["verified"] if "verified" in data else _verified(data.get("fields"))
        if verified is False and isinstance(data.get("pleroma"), Mapping):
            verified = None  # Pleroma never verifies links; Mastodon.py adds verified_at: null

        def say(status: Status, detail: str) -> _Verdict:
            return _Verdict(status, detail, url, handle, last, verified, learned, reach, profile)

        if data.get("suspended"):
            return self._suspended(user, host, say)
        pleroma = data.get("pleroma")
        if isinstance(pleroma, Mapping) and pleroma.get("deactivated"):
            return say(Status.DEACTIVATED, "deactivated: the server marks the account deactivated")
        moved = data.get("moved")
        if isinstance(moved, Mapping):
            return replace(
                self.follow(handle, host, moved, chain, learned), reach=reach, profile=profile
            )
        if data.get("limited"):
            return say(Status.LIMITED, "limited: the server's moderators have hidden this account")
        if data.get("memorial"):
            return say(Status.INACTIVE, "in memoriam: the server marks this a memorial account")
        if self.ctx.is_stale(last):
            return say(Status.INACTIVE, f"no post since {last}")
        if last is None and posts == 0:
            return say(Status.INACTIVE, "the account has never posted")
        detail = f"active; last post {last}" if last else "the account exists"
        if isinstance(data.get("pleroma"), Mapping):
            # Neither the API view nor the actor of Pleroma names a move
            # (account_view.ex, activity_pub/views/user_view.ex): say so.
            detail += " (Pleroma and Akkoma do not show a move to anonymous callers)"
        return say(Status.OK, detail)

    def _suspended(self, user: str, host: str, say: Callable[[Status, str], _Verdict]) -> _Verdict:
        """A tombstone: WebFinger tells a permanent suspension from one that may be lifted."""
        webfinger = self.webfinger(user, host)
        if webfinger.status == 410:
            return say(
                Status.SUSPENDED,
                "suspended permanently: the account is a tombstone and WebFinger answers 410 "
                "(before Mastodon 4.7 an owner's own deletion looked the same)",
            )
        if webfinger.status == 200:
            return say(
                Status.SUSPENDED,
                "suspended, perhaps for now: the account is a tombstone but WebFinger "
                "still answers (reversible)",
            )
        return say(Status.SUSPENDED, "suspended: the server marks the account suspended")

    def _figures(
        self, handle: str, data: Mapping[str, Any], last: date | None
    ) -> tuple[Identity, Reach]:
        """What the answer teaches about the account (identity) and shows of its reach."""
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
        # -1: the owner or the server hides the count (Mastodon's REST::AccountSerializer).
        followers = data.get("followers_count")
        reach = Reach(
            posts_total=learned.posts_count,
            followers=followers if isinstance(followers, int) and followers >= 0 else None,
            last_post=last,
        )
        return learned, reach

    def follow(
        self, handle: str, host: str, moved: Mapping[str, Any], chain: list[str], learned: Identity
    ) -> _Verdict:
        """Follow a move to the account that is not moved; it must be ok to be a successor."""
        acct = str(moved.get("acct") or "")
        if not acct:
            return _Verdict(
                Status.MOVED, "moved, to an account the server could not name", learned=learned
            )
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
            self.ctx.allowed(f"https://{urlsplit(url).hostname}/")  # the private-address guard
        except (WriteRefused, TransportError) as exc:
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
        """A 404 from the API is a verdict only together with WebFinger."""
        webfinger = self.webfinger(user, host)
        if webfinger.status == 404:
            return _Verdict(Status.DELETED, f"no such account: {said}, and WebFinger answers 404")
        if webfinger.status == 410:
            # Mastodon 4.7: a deletion and a purged permanent suspension look the same.
            return _Verdict(
                Status.DELETED,
                f"deleted or permanently suspended: {said}, and WebFinger answers 410 Gone "
                "(the server shows both the same way)",
            )
        if webfinger.status == 200 and "Can't find user" in said:
            # Akkoma's lookup applies User.visible_for; WebFinger does not.
            return _Verdict(
                Status.DEACTIVATED,
                f"deactivated or deleted: {said} while WebFinger still answers (Akkoma hides "
                "both from anonymous callers the same way)",
            )
        if webfinger.status == 200 and "Record not found" in said:
            # Mastodon's lookup also hides a local account not yet approved or confirmed
            # (lookup_controller.rb check_account_approval/confirmation); WebFinger does not.
            return _Verdict(
                Status.DELETED,
                f"being deleted, or never approved: {said} while WebFinger still answers "
                "(Mastodon 4.7 does this while an owner's deletion is carried out, and for an "
                "account not yet approved or confirmed; the two look the same)",
            )
        if webfinger.status == 200:
            return _Verdict(Status.UNVERIFIABLE, f"{said}, but WebFinger still knows the account")
        return _Verdict(
            Status.UNVERIFIABLE, f"{said}; WebFinger could not confirm it ({webfinger.detail})"
        )

    def without_api(self, user: str, host: str, chain: list[str]) -> _Verdict:
        """No usable API on ``host``: WebFinger, which may name the real server, then the page."""
        webfinger = self.webfinger(user, host)
        web_host = host
        if webfinger.status == 200 and webfinger.api_host:
            # The handle's domain is not the server's (user@example.org on social.example.org).
            web_host = webfinger.api_host
            if web_host not in self._login_required:
                answer = self.lookup(user, web_host)
                if answer.kind == "found" and answer.data is not None:
                    return self.found(f"{user}@{host}", web_host, answer.data, chain)
                if answer.kind == "forbidden":
                    with self._lock:
                        self._login_required.add(web_host)
        if webfinger.status == 410:
            return _Verdict(
                Status.DELETED,
                "deleted or permanently suspended: WebFinger answers 410 Gone (the API needs a "
                "login)",
            )
        if webfinger.status not in (200, 404):
            return _Verdict(
                Status.UNVERIFIABLE,
                f"the API needs a login and WebFinger failed ({webfinger.detail})",
            )
        software = self.software(web_host)
        if software == "gotosocial":
            return self.gotosocial(user, web_host, webfinger.status, chain)
        if software in PLEROMA_FAMILY and webfinger.status == 200:
            # restrict_unauthenticated: the API needs a login, and WebFinger answers for
            # deactivated and deleted users as well (account_controller.ex, user.ex).
            return _Verdict(
                Status.UNVERIFIABLE,
                f"{software.capitalize()} here shows profiles only after a login, and its "
                "WebFinger also answers for deactivated and deleted accounts, so whether the "
                "account is live cannot be seen",
            )
        return self.by_profile_page(user, host, web_host, webfinger, chain)

    def by_profile_page(
        self, user: str, host: str, web_host: str, webfinger: _Fediverse._Finger, chain: list[str]
    ) -> _Verdict:
        """The API needs a login: the profile page and WebFinger together, then the actor."""
        page = self.page(f"https://{web_host}/@{user}")
        if page.login_wall:
            if webfinger.status == 404:
                return _Verdict(
                    Status.DELETED,
                    "no such account: WebFinger answers 404 (the API and the profile page need "
                    "a login)",
                )
            return _Verdict(
                Status.UNVERIFIABLE,
                "the server shows nothing to anonymous visitors (limited-federation mode: the "
                "API needs a login and the profile page sends to the sign-in page); WebFinger "
                "knows the account, but whether it is live, moved, suspended or inactive "
                "cannot be seen",
            )
        if webfinger.status == 404:
            if page.status in (404, 410):
                return _Verdict(
                    Status.DELETED,
                    f"no such account: WebFinger answers 404 and the profile page {page.status}",
                )
            return _Verdict(
                Status.UNVERIFIABLE, f"WebFinger answers 404 but the profile page {page.status}"
            )
        if page.status == 410:
            return _Verdict(
                Status.DELETED,
                "deleted or permanently suspended: the profile page answers 410 Gone",
            )
        if page.status == 403:
            return _Verdict(
                Status.SUSPENDED,
                "suspended, perhaps for now: the profile page answers 403 (the API needs a login)",
            )
        if page.status not in (200, None):
            return _Verdict(
                Status.UNVERIFIABLE, f"WebFinger answers 200 but the profile page {page.status}"
            )
        return self.from_actor(user, host, webfinger, chain)

    def from_actor(
        self, user: str, host: str, webfinger: _Fediverse._Finger, chain: list[str]
    ) -> _Verdict:
        """The ActivityPub actor says whether the account moved or is suspended."""
        url = gate.profile_link(NAME, f"{user}@{host}")
        actor = self.actor(webfinger.self_href) if webfinger.self_href else None
        if actor is None:
            return _Verdict(
                Status.UNVERIFIABLE,
                "the account exists (WebFinger and the profile page), but the API needs a login "
                "and the ActivityPub actor is not shown to anonymous callers, so a move, "
                "suspension or silence cannot be seen",
                url=url,
            )
        if actor.get("suspended"):
            return _Verdict(
                Status.SUSPENDED, "suspended: the ActivityPub actor says so (the API needs a login)"
            )
        moved_to = actor.get("movedTo")
        if isinstance(moved_to, str) and moved_to:
            successor = self.actor_handle(moved_to)
            learned = Identity(
                key=f"mastodon:{user}@{host}",
                platform=NAME,
                ident=str(actor.get("id", "")),
                handle=f"{user}@{host}",
                seen_at=self.ctx.now,
            )
            if successor is None:
                return _Verdict(
                    Status.MOVED,
                    f"moved to {moved_to} (the ActivityPub actor says so), an account that "
                    "could not be named",
                    learned=learned,
                )
            return self.follow(f"{user}@{host}", host, {"acct": successor}, chain, learned)
        outbox = actor.get("outbox")
        total, last = self.outbox(outbox) if isinstance(outbox, str) else (None, None)
        seen = "WebFinger, the profile page and the ActivityPub actor; the API needs a login"
        if total == 0:
            return _Verdict(Status.INACTIVE, f"the account has never posted ({seen})", url=url)
        if last is not None:
            return self.last_public_post(last, f"the ActivityPub outbox; {seen}", url)
        return _Verdict(
            Status.OK,
            f"the account exists and is not moved or suspended ({seen}); its last post is "
            "unknown: the outbox shows no public post",
            url=url,
        )

    def last_public_post(self, last: date, source: str, url: str | None) -> _Verdict:
        """Inactive or ok by the newest public post that ``source`` (a page, an outbox) shows."""
        if self.ctx.is_stale(last):
            return _Verdict(
                Status.INACTIVE,
                f"no public post since {last} ({source})",
                url=url,
                last_activity=last,
            )
        return _Verdict(
            Status.OK, f"active; last public post {last} ({source})", url=url, last_activity=last
        )

    def outbox(self, href: str) -> tuple[int | None, date | None]:
        """(total posts, newest public post) from the actor's outbox and its first page.

        Mastodon: ``app/controllers/activitypub/outboxes_controller.rb`` (``totalItems`` is
        the post count; ``?page=true`` lists the newest public activities).  Only URLs on the
        actor's own host are followed.
        """
        host = urlsplit(href).hostname
        collection = self.actor(href, kind="OrderedCollection")
        if collection is None:
            return None, None
        total = collection.get("totalItems")
        first = collection.get("first")
        page: Mapping[str, Any] | None = first if isinstance(first, Mapping) else None
        if isinstance(first, str) and urlsplit(first).hostname == host:
            page = self.actor(first, kind="OrderedCollectionPage")
        items = page.get("orderedItems") if page else None
        dates = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping):
                inner = item.get("object")
                when = item.get("published") or (
                    inner.get("published") if isinstance(inner, Mapping) else None
                )
                day = _as_date(when)
                if day is not None:
                    dates.append(day)
        return (total if isinstance(total, int) else None), (max(dates) if dates else None)

    def gotosocial(
        self, user: str, host: str, finger_status: int | None, chain: list[str]
    ) -> _Verdict:
        """GoToSocial: the API always needs a token; its profile page is the anonymous view.

        WebFinger ignores suspension and a deleted account stays as a suspended stub
        (internal/processing/fedi/wellknown.go); the page is 404 for both
        (internal/web/profile.go), shows a moved-to notice and the posts with their times.
        """
        url = gate.profile_link(NAME, f"{user}@{host}")
        page = self.page(f"https://{host}/@{user}")
        if page.status == 404:
            if finger_status == 404:
                return _Verdict(
                    Status.DELETED,
                    "no such account: WebFinger answers 404 and the profile page 404",
                )
            return _Verdict(
                Status.SUSPENDED,
                "suspended or deleted: WebFinger still knows the account but the profile page "
                "answers 404 (GoToSocial keeps a deleted account as a suspended one, so the two "
                "cannot be told apart)",
            )
        if page.status != 200 or finger_status != 200:
            return _Verdict(
                Status.UNVERIFIABLE,
                f"WebFinger answers {finger_status} and the profile page {page.status}",
            )
        moved = _GTS_MOVED.search(page.text)
        if moved is not None:
            target = html.unescape(moved.group(1))
            successor = handle_from_url(target)
            learned = Identity(
                key=f"mastodon:{user}@{host}",
                platform=NAME,
                ident="",
                handle=f"{user}@{host}",
                seen_at=self.ctx.now,
            )
            if successor is None:
                return _Verdict(
                    Status.MOVED, f"moved to {target} (the profile page says so)", learned=learned
                )
            return self.follow(
                f"{user}@{host}", host, {"acct": successor, "url": target}, chain, learned
            )
        times = [d for d in (_as_date(html.unescape(t)) for t in _GTS_TIME.findall(page.text)) if d]
        last = max(times) if times else None
        posts_match = _GTS_POSTS.search(page.text)
        posts = int(posts_match.group(1)) if posts_match else None
        if posts == 0:
            return _Verdict(Status.INACTIVE, "the account has never posted", url=url)
        if last is not None:
            return self.last_public_post(last, "the profile page", url)
        return _Verdict(
            Status.OK,
            "the account exists (WebFinger and the profile page); it shows no public post, so "
            "its last activity is unknown",
            url=url,
        )

    # -- Misskey -------------------------------------------------------------------------

    def misskey(
        self, user: str, host: str, chain: list[str], by_id: bool, software: str
    ) -> _Verdict:
        """Misskey and forks: ``POST /api/users/show``; a ``/users/<x>`` link carries an id."""
        name = "Misskey" if software == "misskey" else f"{software.capitalize()} (a Misskey fork)"
        answer = self.misskey_show(host, {"userId": user}) if by_id else None
        if answer is None or answer.kind == "missing":
            answer = self.misskey_show(host, {"username": user, "host": None})
        if answer.kind == "found" and answer.data is not None:
            handle = f"{answer.data['acct']}@{host}".lower()
            return self.evaluate(handle, answer.data, [*chain[:-1], handle])
        if answer.kind != "missing":
            return _Verdict(answer.status, answer.detail)
        resource = f"https://{host}/users/{user}" if by_id else None
        webfinger = self.webfinger(user, host, resource=resource)
        said = f"{name} answers {answer.detail}"
        if webfinger.status == 200:
            return _Verdict(
                Status.UNVERIFIABLE,
                f"{said}, but WebFinger knows the account: the server hides users from "
                "anonymous visitors",
            )
        if webfinger.status == 404:
            return _Verdict(
                Status.DELETED,
                f"deleted or suspended: {said} and WebFinger 404, as it does for a suspended "
                "user too (the two cannot be told apart)",
            )
        return _Verdict(
            Status.UNVERIFIABLE, f"{said}; WebFinger could not confirm it ({webfinger.detail})"
        )

    def misskey_show(self, host: str, params: dict[str, Any]) -> _Answer:
        try:
            response = self.ctx.post(f"https://{host}/api/users/show", json=params)
        except TransportError as exc:
            return _fault(exc)
        body = _json(response)
        if response.status_code == 404:
            error = body.get("error")
            code = error.get("code") if isinstance(error, Mapping) else None
            return _Answer("missing", detail=str(code or "HTTP 404"))
        if response.status_code == 400 and "userId" in params:
            return _Answer("missing", detail="INVALID_PARAM (not an id)")
        if response.status_code != 200 or not body:
            return _Answer("fault", detail=f"Misskey's API answered HTTP {response.status_code}")
        fields = body.get("fields")
        links = (
            [f for f in fields if isinstance(f, Mapping) and "http" in str(f.get("value", ""))]
            if isinstance(fields, list)
            else []
        )
        verified_links = body.get("verifiedLinks")
        data: dict[str, Any] = {
            "id": body.get("id"),
            "acct": body.get("username"),
            "username": body.get("username"),
            "host": body.get("host"),
            "url": f"https://{host}/@{body.get('username')}",
            "suspended": bool(body.get("isSuspended")),
            "limited": bool(body.get("isSilenced")),
            "statuses_count": body.get("notesCount"),
            "followers_count": _misskey_followers(body),
            "last_status_at": body.get("updatedAt"),
            "verified": True if verified_links else (False if links else None),
            # The profile's links, read here: Misskey's fields and bio are plain text.
            "profile": profiles.misskey_profile(fields, body.get("description")),
        }
        moved = self.misskey_moved(host, body)
        if moved is not None:
            data["moved"] = moved
        return _Answer("found", data=data)

    def misskey_moved(self, host: str, body: Mapping[str, Any]) -> dict[str, str] | None:
        """Misskey names a move by ``movedTo``, the successor's id on this server.

        (packages/backend/src/core/entities/UserEntityService.ts; newer versions add
        ``movedToUri``, which is used when present.)
        """
        moved_uri = body.get("movedToUri")
        if isinstance(moved_uri, str) and moved_uri:
            handle = handle_from_url(moved_uri)
            if handle:
                return {"acct": handle, "url": moved_uri}
        moved_id = body.get("movedTo")
        if not isinstance(moved_id, str) or not moved_id:
            return None
        target = self.misskey_show(host, {"userId": moved_id})
        if target.kind != "found" or target.data is None:
            return {"acct": "", "url": ""}
        name, domain = target.data.get("username"), target.data.get("host") or host
        return {"acct": f"{name}@{domain}", "url": ""}

    # -- small requests ------------------------------------------------------------------

    @dataclass(frozen=True)
    class _Finger:
        status: int | None
        detail: str
        api_host: str | None = None  # the host of the "self" link, when it is another host
        self_href: str | None = None  # the ActivityPub actor

    def webfinger(self, user: str, host: str, resource: str | None = None) -> _Fediverse._Finger:
        url = f"https://{host}/.well-known/webfinger?resource={resource or f'acct:{user}@{host}'}"
        try:
            response = self.ctx.get(url, allow_redirects=True)
        except TransportError as exc:
            return self._Finger(None, _short(exc))
        body = _json(response)
        if response.status_code == 200 and not body:
            return self._Finger(None, "WebFinger answered with something that is not JSON")
        api_host = None
        self_href = None
        links = body.get("links")
        for link in links if isinstance(links, list) else []:
            if isinstance(link, Mapping) and link.get("rel") == "self":
                self_href = str(link.get("href", "")) or None
                other = (urlsplit(self_href or "").hostname or "").lower()
                api_host = other if other and other != host else None
        return self._Finger(
            response.status_code, f"HTTP {response.status_code}", api_host, self_href
        )

    def page(self, url: str) -> _Page:
        try:
            response = self.ctx.get(url)
        except TransportError:
            return _Page(None)
        final = urlsplit(response.url or url).path
        login = bool(response.history) and final.rstrip("/").endswith(_LOGIN_PATHS)
        return _Page(response.status_code, login_wall=login, text=response.text)

    def actor(self, href: str, kind: str | None = None) -> Mapping[str, Any] | None:
        """An ActivityPub object (the actor unless ``kind`` says) as an unsigned request gets
        it; None when refused or not of that kind."""
        try:
            response = self.ctx.get(href, headers={"Accept": _ACTIVITY_JSON})
        except TransportError:
            return None
        body = _json(response)
        if response.status_code != 200 or not body.get("type"):
            return None
        return body if kind is None or body.get("type") == kind else None

    def actor_handle(self, href: str) -> str | None:
        """``user@host`` of the actor at ``href``, from its ``preferredUsername``."""
        actor = self.actor(href)
        name = actor.get("preferredUsername") if actor else None
        host = (urlsplit(href).hostname or "").lower()
        return f"{name}@{host}".lower() if isinstance(name, str) and name and host else None

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
            response = self.ctx.get(f"https://{host}/.well-known/nodeinfo")
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
            response = self.ctx.get(sorted(hrefs)[-1])
            info = _json(response)
            if _unanswered(response, info):
                self._nodeinfo_failed.add(host)
        except TransportError:
            self._nodeinfo_failed.add(host)
            return None
        software = info.get("software")
        name = software.get("name") if isinstance(software, Mapping) else None
        return str(name).lower() if name else None


def _pleroma_lookup(data: Mapping[str, Any]) -> bool:
    """An account from Pleroma's lookup, which skips the visibility check (Akkoma's does not)."""
    return isinstance(data.get("pleroma"), Mapping) and "akkoma" not in data


def _unanswered(response: Response, body: Mapping[str, Any]) -> bool:
    """A failure rather than an answer: 5xx, 429, a refusal, or a 200 that is not JSON."""
    return response.status_code not in (200, 404, 410) or (response.status_code == 200 and not body)


def _json(response: Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def client_for(net: Net, host: str) -> Any:
    """A Mastodon.py client for ``host`` whose every request goes through ``net``'s policy."""
    from mastodon import Mastodon

    return Mastodon(
        api_base_url=f"https://{host}",
        request_timeout=net.config.timeout,
        ratelimit_method="throw",
        version_check_mode="none",
        user_agent=net.user_agent("Mastodon.py", _mastodon_py_version()),
        session=net.requests_session(),
    )


def account_lookup(client: Any, acct: str) -> Any:
    """Mastodon.py's ``account_lookup``, answered as the server's plain JSON object.

    Mastodon.py turns every answer into typed objects (``try_cast_recurse``: the type hints of
    every field walked, every date parsed by dateutil), which cost about 0.85 ms of CPU per
    account, more than the rest of the check; the verdict reads the JSON fields only.  The
    request itself (same URL, session, errors) is Mastodon.py's own ``__api_request``, asked
    for the answer itself (``return_response_object=True``: returned after its error checks,
    before any parsing) and read with ``Response.json()``, as ``__api_request`` reads it; an
    error answer's text is still read by Mastodon.py, cast with ``override_type=dict`` (the
    cast its own ``register_app`` uses; mastodon/internals.py, authentication.py;
    Mastodon.py 2.1.0 to 2.3.3).  Even the ``dict`` cast cost about 15 microseconds an answer
    (a dozen ``issubclass`` checks, each raising and catching two ``AttributeError``).  That
    method is private: where a Mastodon.py release lacks it, the public ``account_lookup`` is
    called instead (the same answer, typed), and tests/integration/test_mastodon_raw.py fails
    so that the change is noticed.  A body that is not JSON raises ``ValueError`` either way.

    ``do_ratelimiting=False`` leaves the rate limits to the network policy, which reads them
    already: Mastodon.py's own bookkeeping parsed ``X-RateLimit-Reset`` and ``Date`` with
    dateutil on every answer, and raised its 429 error ("Rate limit time calculations
    failed") when a server garbled them.  A 429 is still raised as one: ``if
    self.ratelimit_method == 'throw' or not do_ratelimiting`` (mastodon/internals.py,
    ``__api_request``, Mastodon.py 2.1.0 and 2.3.3).
    """
    if _raw_lookup_supported():
        raw_request = client._Mastodon__api_request  # private: see the docstring
        answer = raw_request(
            "GET",
            "/api/v1/accounts/lookup",
            {"acct": acct},
            do_ratelimiting=False,
            return_response_object=True,
            override_type=dict,
        )
        return answer.json()
    return client.account_lookup(acct)


@functools.cache
def _raw_lookup_supported() -> bool:
    """Whether this Mastodon.py has ``__api_request(..., return_response_object=...)`` and
    ``override_type`` (see above)."""
    import inspect

    from mastodon import Mastodon

    request = getattr(Mastodon, "_Mastodon__api_request", None)
    if request is None:
        return False
    try:
        parameters = inspect.signature(request).parameters
    except (TypeError, ValueError):
        return False
    used = {
        "method",
        "endpoint",
        "params",
        "do_ratelimiting",
        "return_response_object",
        "override_type",
    }
    return used <= set(parameters)


@functools.cache
def _mastodon_py_version() -> str:
    """Mastodon.py's version, for the User-Agent (a metadata lookup scans sys.path: once)."""
    from importlib.metadata import version

    return version("Mastodon.py")


CHECKER = FunctionChecker(NAME, check_accounts)


def _profile(data: Mapping[str, Any], url: str) -> Profile:
    """The profile's fields and links (a stored one, or read from the answer)."""
    given = data.get("profile")
    if isinstance(given, Profile):
        return given
    fields = data.get("fields")
    return profiles.mastodon_profile(
        fields,
        data.get("note"),
        url,
        verifies=not isinstance(data.get("pleroma"), Mapping)
        and isinstance(fields, list)
        and any(isinstance(f, Mapping) and "verified_at" in f for f in fields),
    )


def _misskey_followers(body: Mapping[str, Any]) -> int | None:
    """Misskey's follower count, or None where the owner hides it.

    ``packages/backend/src/core/entities/UserEntityService.ts`` (misskey-dev/misskey, read at
    ee06152 and at a newer main) sends ``followersCount: followersCount ?? 0``: a hidden count
    comes as 0, and only the visibility setting tells a real 0 from a hidden one (older
    releases: ``ffVisibility``; newer: ``followersVisibility``, which the answer also carries).
    """
    visibility = body.get("followersVisibility", body.get("ffVisibility"))
    count = body.get("followersCount")
    return count if visibility == "public" and isinstance(count, int) else None
