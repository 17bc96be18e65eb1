"""Bluesky accounts: ``bsky.app/profile/<handle|did>`` and ``at://`` URIs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import httpx

from wmsocial_bot import gate
from wmsocial_bot.model import Account, CheckResult, Identity, Status
from wmsocial_bot.platforms.common import CheckContext, policy_refusal, result
from wmsocial_bot.urls import UrlParts

NAME = "bluesky"
HOSTS = frozenset({"bsky.app", "staging.bsky.app", "main.bsky.dev"})
_DID = re.compile(r"did:(plc:[a-z2-7]{24}|web:[A-Za-z0-9.\-%:]+)")
_HANDLE = re.compile(
    r"(?=.{3,253}$)([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]*[a-z0-9]"
)


def normalise_actor(actor: str) -> str | None:
    """A handle lowercase without ``@``, or a DID exactly as written; None if neither."""
    actor = actor.strip()
    if actor.startswith("did:"):
        return actor if _DID.fullmatch(actor) else None
    handle = actor.lstrip("@").lower()
    return handle if _HANDLE.fullmatch(handle) else None


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if len(segs) < 2 or segs[0] != "profile":
        return None
    if len(segs) > 2 and segs[2] not in ("feed", "lists", "follows", "followers"):
        return None  # a post, a starter pack
    if len(segs) > 3:
        return None
    return normalise_actor(segs[1])


def normalise_at_uri(uri: str) -> str | None:
    """``at://<actor>`` names an account; ``at://<actor>/<collection>/...`` a record."""
    rest = uri[len("at://") :] if uri.startswith("at://") else None
    if not rest or "/" in rest.rstrip("/"):
        return None
    return normalise_actor(rest.rstrip("/"))


def is_did(handle: str) -> bool:
    return handle.startswith("did:")


_LABEL_HANDLE = re.compile(
    r"(?<![\w@/.:\-])@(?P<handle>[A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z][A-Za-z0-9\-]*)"
)


def label_handle(label: str | None) -> str | None:
    """The handle a link's label shows (``@name.bsky.social``, ``name.bsky.social`` alone, or
    one ``@handle`` among other words), lowercase; None when it shows none or several."""
    if not label:
        return None
    whole = label.strip().strip("'").strip().removeprefix("@")
    if "." in whole and not is_did(whole) and _HANDLE.fullmatch(whole.lower()):
        return whole.lower()
    shown = {m["handle"].lower() for m in _LABEL_HANDLE.finditer(label)}
    shown = {h for h in shown if _HANDLE.fullmatch(h)}
    return shown.pop() if len(shown) == 1 else None


# --------------------------------------------------------------------------- checks
#
# Through atproto to the public AppView (``public.api.bsky.app``) and the PLC directory.
# Profiles come 25 to a ``getProfiles`` call; an account the AppView leaves out is asked once
# more alone, for the XRPC error that says why.  The DID learned on the first good lookup is
# what later runs ask for, so a rename shows as the DID's new handle.

APPVIEW = "public.api.bsky.app"
PLC = "plc.directory"
BATCH = 25
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
    return _Bluesky(ctx).check(accounts)


def _xrpc_error(exc: BaseException) -> tuple[str | None, str]:
    """(error name, message) of an XRPC error response."""
    response = getattr(exc, "response", None)
    content = getattr(response, "content", None)
    return getattr(content, "error", None), str(getattr(content, "message", "") or "")


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
        request.add_additional_header("User-Agent", net.user_agent("httpx", httpx.__version__))
        self.client = Client(base_url=f"https://{APPVIEW}", request=request)

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
            lambda account: self.check_one(account, profiles, failures), accounts
        )

    def fetch_batch(self, actors: list[str]) -> tuple[dict[str, Any], str | None]:
        """Profiles by DID and by handle; or the reason the batch failed."""
        try:
            response = self.client.app.bsky.actor.get_profiles({"actors": actors})
        except Exception as exc:  # atproto, httpx and the network guard all end up here
            return {}, _describe(exc)
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
        from atproto_client.exceptions import BadRequestError

        try:
            profile = self.client.app.bsky.actor.get_profile({"actor": actor})
        except BadRequestError as exc:
            name, message = _xrpc_error(exc)
            if name in _ERRORS:
                status, detail = _ERRORS[name]
                return result(account, status, detail)
            if "not found" in message.lower() or name == "InvalidRequest":
                return self.not_found(account, actor, message or name or "not found")
            return result(account, Status.UNVERIFIABLE, f"Bluesky answered {name}: {message}")
        except Exception as exc:
            return result(
                account, Status.UNREACHABLE, f"Bluesky could not be asked: {_describe(exc)}"
            )
        return self.found(account, profile)

    def not_found(self, account: Account, actor: str, message: str) -> CheckResult:
        if not is_did(actor):
            # Deleted, renamed, or a handle that no longer verifies: without a DID we cannot
            # tell which, so this is a broken link, not a dead account.
            return result(
                account,
                Status.INVALID,
                f'broken link: Bluesky says "{message}" for @{actor}; the account was deleted, '
                "renamed, or its handle no longer verifies (no DID was known to tell which)",
            )
        try:
            response = self.ctx.net.get(f"https://{PLC}/{actor}")
        except Exception as exc:
            return result(
                account,
                Status.UNREACHABLE,
                f"the PLC directory could not be asked: {_describe(exc)}",
            )
        if response.status_code in (404, 410):
            return result(
                account,
                Status.DELETED,
                f'Bluesky says "{message}" and the PLC directory answers {response.status_code} '
                f"for {actor}",
            )
        if response.status_code != 200:
            return result(
                account,
                Status.UNREACHABLE,
                f"the PLC directory answered HTTP {response.status_code}",
            )
        return result(
            account,
            Status.UNVERIFIABLE,
            f'Bluesky says "{message}" but the PLC directory still lists {actor}',
        )

    def found(self, account: Account, profile: Any) -> CheckResult:
        did = str(profile.did)
        handle = str(profile.handle).lower()
        posts = profile.posts_count
        last, problem = self.last_activity(account, did, posts)
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
        if posts == 0:
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
                f"no post since {last}",
                last_activity=last,
                learned=learned,
            )
        detail = f"active; last post {last}" if last else "the account exists"
        return result(account, Status.OK, detail, last_activity=last, learned=learned)

    def last_activity(
        self, account: Account, did: str, posts: int | None
    ) -> tuple[date | None, str | None]:
        """(the newest post's date, why the feed could not be read if it could not).

        Reused from the store when the posts count is unchanged.  When the feed fails, the
        stored date is no answer either: the posts count changed since it was stored.
        """
        known = self.ctx.known.get(account.key)
        if (
            known is not None
            and known.ident == did
            and known.posts_count == posts
            and known.last_activity is not None
        ):
            return known.last_activity, None
        if posts == 0:
            return None, None
        try:
            feed = self.client.app.bsky.feed.get_author_feed(
                {"actor": did, "limit": 1, "filter": "posts_no_replies"}
            ).feed
        except Exception as exc:
            return None, f"its feed could not be read ({_describe(exc)})"
        if not feed:
            return None, None
        stamp = str(feed[0].post.indexed_at)
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date(), None
        except ValueError:
            return None, None


def _describe(exc: BaseException) -> str:
    """One line, at most 160 characters (a garbled answer's validation error is not)."""
    refusal = policy_refusal(exc)
    if refusal is not None:
        return f"refused: {refusal}"
    name, message = _xrpc_error(exc)
    if name or message:
        text = f"{type(exc).__name__} {name or ''} {message}"
    else:
        cause = exc.__cause__ or exc.__context__
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if cause is not None:
            text += f" ({type(cause).__name__}: {cause})"
    return " ".join(text.split())[:160]
