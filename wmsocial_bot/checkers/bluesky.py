"""Bluesky accounts: ``bsky.app/profile/<handle|did>`` and ``at://`` URIs."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from wmsocial_bot import gate, profiles
from wmsocial_bot.checkers.common import CheckContext, FunctionChecker, result
from wmsocial_bot.errors import NetworkPolicyError, TransportError, Unreadable
from wmsocial_bot.identify.bluesky import NAME, is_did, label_handle
from wmsocial_bot.model import Account, CheckResult, Identity, Reach, Status
from wmsocial_bot.net import as_transport_error, transport_errors

# Through atproto to the public AppView (``public.api.bsky.app``) and the PLC directory.
# Profiles come 25 to a ``getProfiles`` call; an account the AppView leaves out is asked once
# more alone, for the XRPC error that says why.  The DID learned on the first good lookup is
# what later runs ask for, so a rename shows as the DID's new handle.

APPVIEW = "public.api.bsky.app"
PLC = "plc.directory"
BATCH = 25
FEED_LIMIT = 30  # feed items read for the last activity: reposts and replies count too
_ERRORS = {
    "AccountTakedown": (Status.SUSPENDED, "suspended: Bluesky says the account was taken down"),
    "AccountDeactivated": (
        Status.DEACTIVATED,
        "deactivated: Bluesky says its owner deactivated the account (reversible)",
    ),
}


def profile_url(actor: str) -> str:
    return f"https://bsky.app/profile/{actor}"


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    checker = _Bluesky(ctx)
    try:
        return checker.check(accounts)
    finally:
        checker.close()  # its keep-alive connections: none left open on the AppView's side


def build_models() -> None:
    """Have pydantic build the validator of ``getProfiles``' answer (with its profile views)
    now: atproto's models defer it to their first use, which cost about 40 ms of CPU inside
    the first check of a process (once per process: :func:`checks.ready_for_checks`)."""
    from atproto_client import models

    models.AppBskyActorGetProfiles.Response(profiles=[])


@dataclass(frozen=True)
class _ErrorAnswer:
    """An XRPC error answer (the server spoke, with an error), as atproto raised it."""

    raised: str  # atproto's exception class, as details have always named it
    status: int
    name: str | None  # the XRPC ``error`` (``AccountTakedown``, ``InvalidRequest``, ...)
    message: str

    def describe(self) -> str:
        """One line, at most 160 characters."""
        text = f"{self.raised} {self.name or ''} {self.message}"
        if not (self.name or self.message):
            text = f"{self.raised}: {self.status}"
        return " ".join(text.split())[:160]


def _xrpc(call: Callable[[], Any]) -> Any:
    """One atproto call: its answer, or an :class:`_ErrorAnswer`; a failure without an answer
    raises a :class:`TransportError`.

    The one place that reads atproto's errors: a ``RequestErrorBase`` with a ``response`` is
    an error answer (400 ``BadRequestError``, 401/403, 429, 409/413/502 ``NetworkError``, the
    rest ``RequestException``); without one it wraps the httpx failure it was raised from
    (atproto_client/request.py ``_handle_request_errors`` and ``_handle_response``, atproto
    0.0.73).  A body that is not what the lexicon says raises ``ModelError`` or, for JSON that
    does not parse, a ``ValueError``: the answer is :class:`Unreadable`.
    """
    from atproto_client.exceptions import ModelError, RequestErrorBase

    try:
        with transport_errors(APPVIEW):
            return call()
    except RequestErrorBase as exc:
        if exc.response is None:
            raise as_transport_error(exc, APPVIEW) from exc
        content = exc.response.content
        name = getattr(content, "error", None)
        message = str(getattr(content, "message", "") or "")
        return _ErrorAnswer(
            type(exc).__name__,
            exc.response.status_code,
            name if isinstance(name, str) else None,
            message,
        )
    except (ModelError, ValueError) as exc:
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise Unreadable(
            f"the answer of {APPVIEW} is not what atproto expects ({text})"[:160]
        ) from exc


class _Bluesky:
    def __init__(self, ctx: CheckContext) -> None:
        from atproto_client import Client
        from atproto_client.request import Request

        self.ctx = ctx
        net = ctx.net
        request = Request(
            transport=net.httpx_transport(),
            timeout=net.config.timeout,
            max_redirects=net.config.max_redirects,
        )
        request.add_additional_header("User-Agent", net.httpx_user_agent())
        self.client = Client(base_url=f"https://{APPVIEW}", request=request)

    def close(self) -> None:
        self.client.request.close()  # atproto's public Request: its httpx client

    def actor_for(self, account: Account) -> str:
        """Ask by the DID we learned earlier, so that a rename cannot hide."""
        known = self.ctx.known.get(account.key)
        return (
            known.ident if known is not None and known.ident.startswith("did:") else account.handle
        )

    def check(self, accounts: Sequence[Account]) -> list[CheckResult]:
        actors = list(dict.fromkeys(self.actor_for(a) for a in accounts))
        batches = [actors[i : i + BATCH] for i in range(0, len(actors), BATCH)]
        profiles: dict[str, Any] = {}
        failures: dict[str, str] = {}
        for batch, (found, failure) in zip(
            batches, self.ctx.map(self.fetch_batch, batches), strict=True
        ):
            profiles.update(found)
            if failure:
                failures.update(dict.fromkeys(batch, failure))
        return self.ctx.check_each(
            lambda account: self.check_one(account, profiles, failures),
            accounts,
            host_of=lambda _account: APPVIEW,
        )

    def fetch_batch(self, actors: list[str]) -> tuple[dict[str, Any], str | None]:
        """Profiles by DID and by handle; or the reason the batch failed."""
        try:
            response = _xrpc(lambda: self.client.app.bsky.actor.get_profiles({"actors": actors}))
        except TransportError as exc:
            return {}, _describe(exc)
        if isinstance(response, _ErrorAnswer):
            return {}, response.describe()
        found: dict[str, Any] = {}
        for profile in response.profiles:
            found[profile.did] = profile
            found[profile.handle.lower()] = profile
        return found, None

    def check_one(
        self, account: Account, profiles: Mapping[str, Any], failures: Mapping[str, str]
    ) -> CheckResult:
        actor = self.actor_for(account)
        if actor in failures:
            return result(
                account, Status.UNREACHABLE, f"Bluesky could not be asked: {failures[actor]}"
            )
        profile = profiles.get(actor if is_did(actor) else actor.lower())
        if profile is None:
            return self.missing(account, actor)
        return self.found(account, profile)

    def missing(self, account: Account, actor: str) -> CheckResult:
        """Left out of ``getProfiles``: ask alone, and read the XRPC error."""
        try:
            profile = _xrpc(lambda: self.client.app.bsky.actor.get_profile({"actor": actor}))
        except TransportError as exc:
            why = _describe(exc)
            return result(account, Status.UNREACHABLE, f"Bluesky could not be asked: {why}")
        if not isinstance(profile, _ErrorAnswer):
            return self.found(account, profile)
        if profile.status != 400:  # only a BadRequestError names why an account is missing
            why = profile.describe()
            return result(account, Status.UNREACHABLE, f"Bluesky could not be asked: {why}")
        name, message = profile.name, profile.message
        if name in _ERRORS:
            status, detail = _ERRORS[name]
            return result(account, status, detail)
        if "not found" in message.lower() or name == "InvalidRequest":
            return self.not_found(account, actor, message or name or "not found")
        return result(account, Status.UNVERIFIABLE, f"Bluesky answered {name}: {message}")

    def not_found(self, account: Account, actor: str, message: str) -> CheckResult:
        """The AppView does not know the account: ask the DID's own directory, then its PDS.

        Deleting an account does not tombstone its DID (PLC keeps answering 200); only the PDS
        named in the DID document knows (``getRepoStatus``: ``RepoNotFound``).
        """
        if not is_did(actor):
            # Deleted, renamed, or a handle that no longer verifies: without a DID we cannot
            # tell which, so this is a broken link, not a dead account.
            return result(
                account,
                Status.INVALID,
                f'broken link: Bluesky says "{message}" for @{actor}; the account was deleted, '
                "renamed, or its handle no longer verifies (no DID was known to tell which)",
            )
        if actor.startswith("did:web:"):
            return self.not_found_web(account, actor, message)
        directory = "the PLC directory"
        try:
            response = self.ctx.get(f"https://{PLC}/{actor}")
        except TransportError as exc:
            return result(
                account, Status.UNREACHABLE, f"{directory} could not be asked: {_describe(exc)}"
            )
        if response.status_code == 404 and "not registered" in response.text.lower():
            return result(
                account,
                Status.INVALID,
                f"broken link: {actor} was never registered (the PLC directory: "
                f'"DID not registered"; Bluesky: "{message}")',
            )
        if response.status_code in (404, 410):
            return result(
                account,
                Status.DELETED,
                f'Bluesky says "{message}" and the PLC directory answers {response.status_code} '
                f"for {actor} (the DID was tombstoned)",
            )
        if response.status_code != 200:
            return result(
                account, Status.UNREACHABLE, f"{directory} answered HTTP {response.status_code}"
            )
        return self.ask_pds(account, actor, message, _json(response), directory)

    def not_found_web(self, account: Account, did: str, message: str) -> CheckResult:
        """A ``did:web`` is its domain's to answer (``/.well-known/did.json``), not PLC's."""
        domain = did[len("did:web:") :]
        if ":" in domain:  # a path-based did:web; Bluesky supports hostname-only ones
            return result(
                account,
                Status.INVALID,
                f"broken link: {did} is not a did:web Bluesky can use (hostname only)",
            )
        url = f"https://{domain}/.well-known/did.json"
        try:
            response = self.ctx.get(url)
        except TransportError as exc:
            return result(
                account, Status.UNREACHABLE, f"{url} could not be asked: {_describe(exc)}"
            )
        if response.status_code in (404, 410):
            return result(
                account,
                Status.INVALID,
                f"broken link: {domain} serves no DID document for {did} (HTTP "
                f'{response.status_code}; Bluesky: "{message}")',
            )
        if response.status_code != 200:
            return result(
                account, Status.UNREACHABLE, f"{url} answered HTTP {response.status_code}"
            )
        document = _json(response)
        if document.get("id") != did:
            return result(
                account,
                Status.INVALID,
                f"broken link: {url} does not describe {did}",
            )
        return self.ask_pds(account, did, message, document, domain)

    def ask_pds(
        self, account: Account, did: str, message: str, document: Mapping[str, Any], source: str
    ) -> CheckResult:
        """The account's own PDS, named by its DID document: anyone can publish that
        address, so it goes through the private-address guard like a link from the page."""
        pds = _pds_endpoint(document)
        if pds is None:
            return result(
                account,
                Status.UNVERIFIABLE,
                f'Bluesky says "{message}"; {source} lists {did} but names no PDS to ask',
            )
        url = f"{pds}/xrpc/com.atproto.sync.getRepoStatus?did={quote(did, safe=':')}"
        try:
            response = self.ctx.get(url)
        except TransportError as exc:
            return result(
                account,
                Status.UNVERIFIABLE if isinstance(exc, NetworkPolicyError) else Status.UNREACHABLE,
                f'Bluesky says "{message}"; its PDS {pds} could not be asked: {_describe(exc)}',
            )
        body = _json(response)
        if response.status_code == 400 and body.get("error") == "RepoNotFound":
            return result(
                account,
                Status.DELETED,
                f'deleted: its PDS {pds} says RepoNotFound for {did} (Bluesky: "{message}"; '
                f"{source} still lists the DID)",
            )
        if response.status_code != 200:
            return result(
                account,
                Status.UNREACHABLE,
                f"its PDS {pds} answered HTTP {response.status_code} {body.get('error') or ''}",
            )
        status = body.get("status")
        if body.get("active") is False and status == "takendown":
            return result(account, Status.SUSPENDED, f"suspended: its PDS {pds} took it down")
        if body.get("active") is False and status == "deactivated":
            return result(
                account,
                Status.DEACTIVATED,
                f"deactivated: its PDS {pds} says its owner deactivated it (reversible)",
            )
        return result(
            account,
            Status.UNVERIFIABLE,
            f'Bluesky says "{message}", but its PDS {pds} has the account '
            f"(active: {body.get('active')}, status: {status})",
        )

    def found(self, account: Account, profile: Any) -> CheckResult:
        """The verdict, with the figures the profile and feed showed anyway (no extra request).

        The feed is read only when the verdict may need it (:meth:`earlier_activity`).
        """
        earlier = self.earlier_activity(account, profile)
        if earlier is not None:
            items: list[datetime] = []
            problem: str | None = None
        else:
            items, problem = self.feed_items(str(profile.did))
        followers = getattr(profile, "followers_count", None)
        reach = Reach(
            posts_total=profile.posts_count,
            followers=followers if isinstance(followers, int) else None,
            post_dates=tuple(moment.date() for moment in items),
            last_post=max(items).date() if items else None,
        )
        last = max(items).date() if items else earlier
        return replace(
            self.judge(account, profile, last, problem, from_earlier_run=earlier is not None),
            reach=reach,
            profile=profiles.bluesky_profile(getattr(profile, "description", None)),
        )

    def earlier_activity(self, account: Account, profile: Any) -> date | None:
        """The last activity an earlier run read in this account's feed, when it settles this
        run's verdict: then the feed is not read again (0.04 requests per account instead of
        1.04 on a second run).

        Activity only moves forward: an account seen posting on day D cannot be inactive
        before D + ``inactive_days``, whatever its feed says now.  So the stored date is used
        when it is known for this very DID, is recent enough for this run's ``inactive_days``,
        and ``postsCount`` is the one stored with it (a changed count means posts to date,
        for the dashboard).  Otherwise (unknown, too old, another DID, a new count) the feed
        is read as always.  A repost or a post and a deletion leave the count alone: the
        verdict cannot change by them (the account is active anyway), only the dashboard's
        dates wait for the next feed read; its post counts come from ``postsCount``.
        """
        known = self.ctx.known.get(account.key)
        if (
            known is None
            or known.platform != NAME
            or known.ident != str(profile.did)
            or known.last_activity is None
            or known.posts_count is None
            or known.posts_count != profile.posts_count
            or self.ctx.is_stale(known.last_activity)
        ):
            return None
        return known.last_activity

    def judge(
        self,
        account: Account,
        profile: Any,
        last: date | None,
        problem: str | None,
        *,
        from_earlier_run: bool = False,
    ) -> CheckResult:
        did = str(profile.did)
        handle = str(profile.handle).lower()
        posts = profile.posts_count
        learned = Identity(account.key, NAME, did, handle, posts, last, self.ctx.now)
        written = account.handle
        if not is_did(written) and handle == "handle.invalid":
            return result(
                account,
                Status.INVALID,
                f"broken handle link: @{written} no longer verifies (Bluesky shows "
                f"handle.invalid); the account itself ({did}) lives",
                last_activity=last,
                learned=replace(learned, handle=written),
            )
        if not is_did(written) and handle != written:
            if gate.bluesky_handle(handle) != handle:
                return result(
                    account,
                    Status.RENAMED,
                    f"renamed: {did} is no longer @{written}, and Bluesky names as its handle "
                    f"{handle[:80]!r}, which is not a valid handle",
                    last_activity=last,
                    learned=replace(learned, handle=written),
                )
            return result(
                account,
                Status.RENAMED,
                f"renamed: {did} is now @{handle}, no longer @{written}",
                new_url=gate.profile_link(NAME, handle),
                new_handle=handle,
                last_activity=last,
                learned=learned,
            )
        shown = label_handle(account.label) if is_did(written) else None
        if shown is not None and shown != handle and gate.bluesky_handle(handle) == handle:
            # The DID link still works, but its label shows a name the account no longer has.
            return result(
                account,
                Status.RENAMED,
                f"renamed: the link names {did}, which is now @{handle}; its label still shows "
                f"@{shown}",
                new_url=gate.profile_link(NAME, handle),
                new_handle=handle,
                last_activity=last,
                learned=learned,
            )
        if posts == 0 and last is None and problem is None:
            return result(account, Status.INACTIVE, "the account has never posted", learned=learned)
        if problem is not None:
            # The profile proves the account lives, not that it is used: "ok" here would hide
            # (and reset) an inactive account.
            return result(
                account,
                Status.UNVERIFIABLE,
                f"the account exists, but its last post is unknown: {problem}",
                learned=learned,
            )
        if self.ctx.is_stale(last):
            return result(
                account,
                Status.INACTIVE,
                f"no post, reply or repost since {last}",
                last_activity=last,
                learned=learned,
            )
        detail = f"active; last post, reply or repost {last}" if last else "the account exists"
        if from_earlier_run and last is not None:
            until = last + timedelta(days=self.ctx.inactive_days)
            detail = (
                f"active; last post, reply or repost {last}, as an earlier run read its feed "
                f"(it counts as active until {until} whatever it did since)"
            )
        return result(account, Status.OK, detail, last_activity=last, learned=learned)

    def raw_query(self, nsid: str, params: Any) -> Any:
        """The decoded JSON of an XRPC query, without atproto's typed models.

        Only a few fields of a feed are read (dates, record keys, DIDs), each checked here
        (:func:`_own_item_stamps`); validating every post, embed and label of it with the
        models cost CPU for fields never read (0.3 ms an account on the simulator's short
        feeds, more on real ones).  ``invoke_query`` is atproto's public low-level call, and
        its errors are the ones :func:`_xrpc` reads.
        """
        answer = self.client.invoke_query(nsid, params=params, output_encoding="application/json")
        return answer.content

    def feed_items(self, did: str) -> tuple[list[datetime], str | None]:
        """(when each own post, reply or repost in the feed was written, newest first; why the
        feed could not be read if it could not).

        Asked unless an earlier run's reading settles the verdict (:meth:`earlier_activity`):
        an unchanged ``postsCount`` alone proves nothing (one post deleted and another
        written; reposts are not counted at all).  A post view's ``indexedAt`` is
        ``min(createdAt, indexedAt)`` (``packages/bsky`` views), so a backdated ``createdAt``
        pulls it into the past; the record key, a TID the PDS takes from its clock when it
        writes the record (``packages/pds`` ``repo/prepare``), says when it was really written.
        """
        try:
            answer = _xrpc(lambda: self.raw_query("app.bsky.feed.getAuthorFeed", feed_params(did)))
        except TransportError as exc:
            return [], f"its feed could not be read ({_describe(exc)})"
        if isinstance(answer, _ErrorAnswer):
            return [], f"its feed could not be read ({answer.describe()})"
        feed = answer.get("feed") if isinstance(answer, dict) else None
        if not isinstance(feed, list):
            return [], f"its feed could not be read ({APPVIEW} sent no feed list)"
        items: list[list[datetime]] = []
        for item in feed:
            try:
                stamps = _own_item_stamps(item, did)
            except _NotAFeedItem as exc:
                return [], f"its feed could not be read ({APPVIEW} sent {exc})"
            if stamps is not None:
                items.append(stamps)
        now = self.ctx.now if self.ctx.now.tzinfo else self.ctx.now.replace(tzinfo=UTC)
        kept = ([s for s in stamps if s <= now + timedelta(days=1)] for stamps in items)
        return [max(stamps) for stamps in kept if stamps], None


def feed_params(did: str) -> Any:
    """getAuthorFeed's parameters, built (and checked) by atproto's own params model."""
    from atproto_client import models

    return models.AppBskyFeedGetAuthorFeed.Params(
        actor=did, limit=FEED_LIMIT, filter="posts_with_replies"
    )


class _NotAFeedItem(ValueError):
    """A feed item not shaped like the lexicon's ``#feedViewPost``."""


def _own_item_stamps(item: object, did: str) -> list[datetime] | None:
    """The moments a feed item of ``did`` vouches for; None if it is someone else's.

    A repost counts as the reposter's activity at the repost (``reason``); a post counts
    when its author is the account.  The fields read are the lexicon's required ones: a
    ``post`` with its ``uri``, ``indexedAt`` and author's ``did`` (``#feedViewPost``,
    ``#postView``), a repost with its reposter (``by``) and ``indexedAt``, its ``uri``
    optional (``#reasonRepost``) -- ``app.bsky.feed.defs`` as the reference stack's
    ``@atproto/api`` 0.20.44 has it (``dist/client/types/app/bsky/feed/defs.d.ts``, served by
    ``@atproto/bsky`` 0.0.280).  A missing one raises :class:`_NotAFeedItem`.
    """
    if not isinstance(item, dict) or not isinstance(post := item.get("post"), dict):
        raise _NotAFeedItem("a feed item without its post")
    reason = item.get("reason")
    if isinstance(reason, dict) and str(reason.get("$type", "")).endswith("reasonRepost"):
        by = reason.get("by")
        if not isinstance(by, dict) or not isinstance(by.get("did"), str):
            raise _NotAFeedItem("a repost without its reposter")
        if not isinstance(reason.get("indexedAt"), str):
            raise _NotAFeedItem("a repost without its date")
        return _stamps(reason["indexedAt"], reason.get("uri")) if by["did"] == did else None
    author = post.get("author")
    if not isinstance(author, dict) or not isinstance(author.get("did"), str):
        raise _NotAFeedItem("a post without its author")
    if not isinstance(post.get("uri"), str) or not isinstance(post.get("indexedAt"), str):
        raise _NotAFeedItem("a post without its address or date")
    return _stamps(post["indexedAt"], post["uri"]) if author["did"] == did else None


def _stamps(indexed_at: object, uri: object) -> list[datetime]:
    """The moments a feed item vouches for: its ``indexedAt`` and its record key's TID."""
    out = []
    moment = _parse_time(str(indexed_at)) if indexed_at else None
    if moment is not None:
        out.append(moment)
    rkey = str(uri).rsplit("/", 1)[-1] if uri else ""
    tid = tid_time(rkey)
    if tid is not None:
        out.append(tid)
    return out


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def tid_time(rkey: str) -> datetime | None:
    """The moment in a TID record key (53 bits of microseconds since 1970), or None."""
    if not _TID.fullmatch(rkey):
        return None
    value = 0
    for char in rkey:
        value = value * 32 + _TID_ALPHABET.index(char)
    try:
        return datetime.fromtimestamp((value >> 10) / 1_000_000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _pds_endpoint(document: Mapping[str, Any]) -> str | None:
    """The ``#atproto_pds`` service URL of a DID document (http or https), or None."""
    services = document.get("service")
    for service in services if isinstance(services, list) else []:
        if not isinstance(service, dict) or not str(service.get("id", "")).endswith("#atproto_pds"):
            continue
        endpoint = service.get("serviceEndpoint")
        if isinstance(endpoint, str) and endpoint.startswith(("https://", "http://")):
            return endpoint.rstrip("/")
    return None


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _describe(exc: TransportError) -> str:
    """One line, at most 160 characters (a garbled answer's validation error is not)."""
    if isinstance(exc, NetworkPolicyError):
        return f"refused: {exc}"
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:160]


CHECKER = FunctionChecker(NAME, check_accounts)
