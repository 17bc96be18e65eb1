"""YouTube channels: ``/channel/UC...``, ``/@handle``, ``/c/name`` and ``/user/name``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from urllib.parse import quote
from xml.etree import ElementTree

from wmsocial_bot.checkers.common import (
    CheckContext,
    Fetched,
    FunctionChecker,
    activity_result,
    fetch,
    iso_datetime,
    refused,
    result,
    unexpected,
)
from wmsocial_bot.identify.youtube import NAME
from wmsocial_bot.model import Account, CheckResult, Reach, Status

# A channel id is asked through its public Atom feed, which lists the newest uploads (the
# newest ``<entry><published>`` is the last activity) or answers 404 when the channel is gone;
# that 404 is confirmed by the channel page before it becomes ``deleted``.  ``@handle``,
# ``c/name`` and ``user/name`` are looked up on their page first: 404 means gone, 200 names the
# channel in ``<link rel="canonical" href=".../channel/UC...">``.  The EU consent redirect
# (consent.youtube.com) and every refusal are unverifiable (docs/platforms.md).

SITE = "https://www.youtube.com"
_OWN_HOSTS = frozenset({"www.youtube.com", "youtube.com", "m.youtube.com"})
_ATOM = "{http://www.w3.org/2005/Atom}"
_CHANNEL_ID = re.compile(r"UC[A-Za-z0-9_\-]{22}")
_CHANNEL_PATH = re.compile(r"/channel/(UC[A-Za-z0-9_\-]{22})(?![A-Za-z0-9_\-])")
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_META_TAG = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z:_\-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


def page_url(handle: str) -> str:
    """The channel's own page: ``/@handle``, ``/c/name``, ``/user/name`` or ``/channel/UC...``."""
    if _CHANNEL_ID.fullmatch(handle):
        return f"{SITE}/channel/{handle}"
    return f"{SITE}/{quote(handle, safe='@/')}"


def feed_url(channel_id: str) -> str:
    return f"{SITE}/feeds/videos.xml?channel_id={channel_id}"


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    return ctx.check_each(lambda account: _check(account, ctx), accounts)


def _check(account: Account, ctx: CheckContext) -> CheckResult:
    handle = account.handle
    if _CHANNEL_ID.fullmatch(handle):
        return _check_channel(account, ctx, handle, page_seen=False)
    page = fetch(ctx, page_url(handle))
    shown = f"youtube.com/{handle}"
    blocked = _refused(page)
    if blocked is not None:
        return result(account, *blocked)
    if page.status in (404, 410):
        return result(
            account, Status.DELETED, f"YouTube answers {page.status} for the page {shown}"
        )
    if page.status != 200:
        return result(account, *unexpected(page, "YouTube"))
    channel_id = channel_id_in(page.text or "")
    if channel_id is None:
        return result(
            account,
            Status.UNVERIFIABLE,
            f"YouTube answered the page {shown}, but it names no channel (no canonical "
            "/channel/UC... link)",
        )
    return _check_channel(account, ctx, channel_id, page_seen=True)


def _refused(answer: Fetched) -> tuple[Status, str] | None:
    """The shared rules, plus the consent redirect, which hides every page in the EU."""
    if answer.fault is None and answer.final_host.startswith("consent."):
        return (
            Status.UNVERIFIABLE,
            f"YouTube sent us to its consent page ({answer.final_host}) instead of the channel",
        )
    if answer.fault is None and answer.final_host not in _OWN_HOSTS:
        return (
            Status.UNVERIFIABLE,
            f"YouTube sent us to {answer.final_host} (a login or another site) instead of the "
            "channel",
        )
    return refused(answer, "YouTube")


def _check_channel(
    account: Account, ctx: CheckContext, channel_id: str, *, page_seen: bool
) -> CheckResult:
    feed = fetch(ctx, feed_url(channel_id))
    blocked = _refused(feed)
    if blocked is not None:
        return result(account, *blocked)
    if feed.status in (404, 410):
        if page_seen:
            return result(
                account,
                Status.UNVERIFIABLE,
                f"the channel page names {channel_id}, but its feed answers {feed.status} "
                "(terminated or hidden?)",
            )
        return _confirm_gone(account, ctx, channel_id, feed.status)
    if feed.status != 200:
        return result(account, *unexpected(feed, "YouTube"))
    try:
        entries, published = feed_entries(feed.text or "")
    except ValueError as exc:
        return result(
            account,
            Status.UNVERIFIABLE,
            f"YouTube's feed for {channel_id} could not be read: {exc}",
        )
    if not entries:
        return result(
            account,
            Status.INACTIVE,
            f"the channel {channel_id} exists but its feed lists no public videos",
        )
    if not published:
        return result(
            account, Status.OK, f"the channel {channel_id} exists (its feed gives no dates)"
        )
    found = activity_result(
        account, ctx, max(published), f"the channel {channel_id} exists", what="upload"
    )
    # The feed shows the newest uploads' dates, no totals and no subscribers.
    return replace(found, reach=Reach(post_dates=tuple(published), last_post=max(published)))


def _confirm_gone(
    account: Account, ctx: CheckContext, channel_id: str, feed_status: int
) -> CheckResult:
    """A feed 404 becomes ``deleted`` only when the channel page agrees."""
    page = fetch(ctx, page_url(channel_id))
    blocked = _refused(page)
    if blocked is not None:
        status, detail = blocked
        return result(account, status, f"the feed answers {feed_status}, but {detail}")
    if page.status in (404, 410):
        return result(
            account,
            Status.DELETED,
            f"YouTube answers {feed_status} for the feed and {page.status} for the page of "
            f"channel {channel_id}",
        )
    return result(
        account,
        Status.UNVERIFIABLE,
        f"YouTube answers {feed_status} for the feed of {channel_id} but {page.status} for its "
        "page (terminated or hidden?)",
    )


def _attrs(tag: str) -> dict[str, str]:
    return {
        m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
        for m in _ATTR.finditer(tag)
    }


def channel_id_in(html: str) -> str | None:
    """The ``UC...`` id a channel page names: its canonical link, else its ``og:url``."""
    for tag in _LINK_TAG.findall(html):
        attrs = _attrs(tag)
        if "canonical" in attrs.get("rel", "").lower().split():
            found = _CHANNEL_PATH.search(attrs.get("href", ""))
            if found:
                return found.group(1)
    for tag in _META_TAG.findall(html):
        attrs = _attrs(tag)
        if attrs.get("property", "").lower() == "og:url":
            found = _CHANNEL_PATH.search(attrs.get("content", ""))
            if found:
                return found.group(1)
    return None


def feed_entries(text: str) -> tuple[int, list[date]]:
    """(number of entries, their ``published`` dates); ValueError when it is not a feed.

    The body comes from the network: a document type declaration (entity expansion) is refused
    before parsing, and a parse error becomes a ValueError, never a crash.
    """
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise ValueError("it declares a document type (refused: entity expansion)")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ValueError(f"it is not well-formed XML ({exc})") from None
    if root.tag != f"{_ATOM}feed":
        raise ValueError(f"it is not an Atom feed (root element {root.tag[:60]!r})")
    entries = root.findall(f"{_ATOM}entry")
    dates = []
    for entry in entries:
        when = iso_datetime(entry.findtext(f"{_ATOM}published"))
        if when is not None:
            dates.append(when.date())
    return len(entries), dates


CHECKER = FunctionChecker(NAME, check_accounts)
