"""The plain data that flows between the stages: accounts, check results.

Everything here is a frozen dataclass so that stages cannot change each other's data.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from wmsocial_bot.identify import shown_handle
from wmsocial_bot.relme import FieldLink, Verdict


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """Half-open character range ``[start, end)`` in the page text."""

    start: int
    end: int

    def to_json(self) -> list[int]:
        return [self.start, self.end]


@dataclass(frozen=True)
class Account:
    """One place on a page where a social-media account is listed.

    ``span`` covers the URL (or plain-text handle) exactly as written, so that a later edit
    can replace just those characters.  ``label_span`` covers the link's label, if any.
    """

    platform: str
    handle: str
    url: str | None
    section: str | None
    span: Span
    line: int
    source: str = "link"  # link | bare | template | image | text | context
    label: str | None = None
    label_span: Span | None = None
    cells: tuple[tuple[str, str], ...] = ()
    duplicate_of: Span | None = None

    @property
    def key(self) -> str:
        """Identity of the account, the same for every place that lists it."""
        return f"{self.platform}:{self.handle}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "platform": self.platform,
            "handle": self.handle,
            "url": self.url,
            "section": self.section,
            "line": self.line,
            "span": self.span.to_json(),
            "source": self.source,
            "label": self.label,
            "cells": dict(self.cells),
        }
        if self.duplicate_of is not None:
            data["duplicate_of"] = self.duplicate_of.to_json()
        return data


class Status(enum.StrEnum):
    """The fixed vocabulary of check outcomes."""

    OK = "ok"
    INACTIVE = "inactive"
    MOVED = "moved"
    RENAMED = "renamed"
    LIMITED = "limited"
    SUSPENDED = "suspended"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"
    UNREACHABLE = "unreachable"
    UNVERIFIABLE = "unverifiable"
    INVALID = "invalid"

    @property
    def stale(self) -> bool:
        """The account itself needs a look (``--strict``); unreachable/unverifiable say nothing."""
        return self in _STALE

    @property
    def explicit(self) -> bool:
        """The platform states this outright, so fewer sightings (2, a day apart) suffice."""
        return self in _EXPLICIT

    @property
    def outage_worthy(self) -> bool:
        """The server or platform, not the account, may be at fault: counts towards an outage."""
        return self in _OUTAGE_WORTHY

    @property
    def account_answer(self) -> bool:
        """A server's explicit word on one account: no outage while it answers others fine."""
        return self in _ACCOUNT_ANSWERS

    @property
    def reported(self) -> bool:
        """Can reach a talk notice (inactive only if the policy asks); the rest need no human."""
        return self in _REPORTED

    @property
    def order(self) -> int:
        """Rank on notices and the status page: the account gone first, merely quiet last."""
        return _ORDER.index(self)

    @property
    def colour(self) -> str:
        """Terminal colour: red gone or broken, yellow stale, green ok, grey says nothing."""
        return _COLOURS[self]


_STALE = frozenset(
    {
        Status.INACTIVE,
        Status.MOVED,
        Status.RENAMED,
        Status.LIMITED,
        Status.SUSPENDED,
        Status.DEACTIVATED,
        Status.DELETED,
        Status.INVALID,
    }
)
_EXPLICIT = frozenset(
    {
        Status.SUSPENDED,
        Status.DEACTIVATED,
        Status.MOVED,
        Status.RENAMED,
        Status.LIMITED,
        Status.INVALID,
    }
)
_OUTAGE_WORTHY = frozenset(
    {Status.DELETED, Status.SUSPENDED, Status.DEACTIVATED, Status.UNREACHABLE}
)
_ACCOUNT_ANSWERS = frozenset({Status.DELETED, Status.SUSPENDED, Status.DEACTIVATED})
_REPORTED = frozenset(Status) - {Status.OK, Status.UNVERIFIABLE, Status.LIMITED}
# Most urgent first: the account is gone, then the link does not work, then the page is
# untidy (notices put their page-level kinds here), then the account is merely quiet.
_ORDER = (
    Status.DELETED,
    Status.SUSPENDED,
    Status.DEACTIVATED,
    Status.LIMITED,
    Status.UNREACHABLE,
    Status.INVALID,
    Status.MOVED,
    Status.RENAMED,
    Status.INACTIVE,
    Status.UNVERIFIABLE,
    Status.OK,
)
_COLOURS = {
    Status.OK: "green",
    Status.INACTIVE: "yellow",
    Status.MOVED: "yellow",
    Status.RENAMED: "yellow",
    Status.LIMITED: "yellow",
    Status.DELETED: "red",
    Status.SUSPENDED: "red",
    Status.DEACTIVATED: "red",
    Status.INVALID: "red",
    Status.UNREACHABLE: "grey",
    Status.UNVERIFIABLE: "grey",
}


@dataclass(frozen=True)
class Identity:
    """What a platform told us about an account that outlives a rename.

    Kept in the state store between runs: a Bluesky DID or a Mastodon account id, the handle it
    had then, and facts that let the next run skip requests when nothing changed.
    """

    key: str  # Account.key of the listed account
    platform: str
    ident: str  # DID, Mastodon account id
    handle: str  # the handle the platform reported
    posts_count: int | None = None
    last_activity: date | None = None
    seen_at: datetime | None = None


@dataclass(frozen=True)
class Reach:
    """Activity and audience that a check received anyway, at no extra request.

    Kept per account per run in the state store for the dashboard (docs/dashboard.md).  None
    (or an empty tuple) where the platform's answer did not show it: never a guess.
    """

    posts_total: int | None = None  # Mastodon statuses_count, Bluesky postsCount
    followers: int | None = None  # Mastodon followers_count, Bluesky followersCount
    post_dates: tuple[date, ...] = ()  # dates of the recent posts the check saw (feeds)
    last_post: date | None = None  # the platform's own date of the newest post

    def to_json(self) -> dict[str, Any]:
        return {
            "posts_total": self.posts_total,
            "followers": self.followers,
            "post_dates": [day.isoformat() for day in self.post_dates],
            "last_post": self.last_post.isoformat() if self.last_post else None,
        }


@dataclass(frozen=True)
class ProfileLink:
    """A link in an account's own profile (a field, the bio), read as hostile input."""

    url: str  # http(s), a public host name (profiles.public_link)
    where: str  # "field “Website”", "bio", "description": for the notice


@dataclass(frozen=True)
class Profile:
    """What the check's own answer shows of the profile, at no extra request (issue 17).

    ``fields``: Mastodon's profile fields (name, value HTML, whether verified), for the
    verification help; empty where the server does not verify links (Pleroma, Akkoma), so that
    "not verified" is never claimed for a server that never verifies.  ``links``: every link
    in the fields and the bio (Bluesky: the description), for the missing-account
    suggestions.  ``url``: the profile's address as Mastodon compares rel=me links with it.
    """

    fields: tuple[FieldLink, ...] = ()
    links: tuple[ProfileLink, ...] = ()
    url: str | None = None


@dataclass(frozen=True)
class RelMePage:
    """What the bot kept of a page a profile field links to: enough to explain, no more.

    Cached in the state store and read again at most every ``[dashboard] verify_days``.
    """

    url: str
    fetched_at: datetime
    status: int | None  # None: no answer (``problem`` says why)
    rel_me: tuple[str, ...] = ()  # the page's rel=me hrefs, in order (at most 20)
    problem: str | None = None


@dataclass(frozen=True)
class FieldCheck:
    """One Mastodon profile field and why it is (not) verified, for the status page."""

    key: str  # Account.key
    platform: str
    handle: str
    url: str | None  # the account's link as the page writes it
    owner: str | None
    verdict: Verdict


@dataclass(frozen=True)
class CheckResult:
    """What one check found about one account, with the evidence in a sentence."""

    account: Account
    status: Status
    detail: str
    new_url: str | None = None
    new_handle: str | None = None
    last_activity: date | None = None
    verified: bool | None = None
    learned: Identity | None = None  # for the state store
    reach: Reach | None = None  # activity and followers, for the dashboard
    profile: Profile | None = None  # fields and links, for verification help and suggestions

    def to_json(self) -> dict[str, Any]:
        data = self.account.to_json()
        data.update(
            {
                "status": self.status.value,
                "detail": self.detail,
                "new_url": self.new_url,
                "new_handle": self.new_handle,
                "last_activity": self.last_activity.isoformat() if self.last_activity else None,
                "verified": self.verified,
                "reach": self.reach.to_json() if self.reach is not None else None,
            }
        )
        return data


@dataclass(frozen=True)
class Fix:
    """A safe page fix: point every place that lists ``old_key`` at the successor."""

    old_key: str  # Account.key of the listed account
    platform: str
    old_handle: str
    new_handle: str
    new_url: str
    reason: str  # "moved" or "renamed"
    # The successor is listed because the bot's own earlier fix (still standing) put it there,
    # and the old link was added again elsewhere: listing it twice is no reason to skip.
    successor_listed_by_bot: bool = False

    @property
    def summary(self) -> str:
        """``@a@old.example -> @a@new.example (moved)``, for the edit summary."""
        old = shown_handle(self.platform, self.old_handle)
        new = shown_handle(self.platform, self.new_handle)
        return f"{old} -> {new} ({self.reason})"


@dataclass(frozen=True)
class Streak:
    """How long an account has shown its current status, without a break."""

    status: str
    first_seen: datetime
    last_seen: datetime
    count: int


@dataclass(frozen=True)
class FixRecord:
    """A fix the bot made on a page: if the old account comes back, a human reverted it."""

    page: str
    old_key: str
    new_key: str
    new_url: str
    revid: int | None
    made_at: datetime


@dataclass(frozen=True)
class Finding:
    """Something on the page that needs a human, one item of a talk-page notice.

    ``kind`` is a :class:`Status` value (deleted, suspended, ...), ``duplicate`` or
    ``reverted`` (a human undid one of the bot's fixes).  ``url``, ``label``, ``owner`` and
    ``section`` come from the page, which anyone can edit: renderers must make them inert.
    """

    key: str  # Account.key
    kind: str
    platform: str
    handle: str
    url: str | None
    section: str | None
    owner: str | None
    since: date
    evidence: str
    action: str  # the suggested action, in a sentence
    label: str | None = None
    # The platform's own date of the account's last activity (newest post), where it has one;
    # ``since`` is the bot's first sighting of the status.
    last_activity: date | None = None
    # What in the account the finding is about, where it is not the whole account: a profile
    # field's name for a lost verification.  Part of the marker.
    subject: str | None = None

    @property
    def marker(self) -> str:
        """Identity of the finding while it persists: the same account in the same state."""
        base = f"{self.kind}:{self.key}"
        return f"{base}#{self.subject}" if self.subject is not None else base


@dataclass(frozen=True)
class StatusRow:
    """One row of the status page (the dashboard of every account)."""

    platform: str
    handle: str
    url: str | None
    status: str
    last_activity: date | None
    since: date | None
    verified: bool | None
    owner: str | None
    detail: str


@dataclass(frozen=True)
class RunRecord:
    """What one run learned about a page's accounts, written in one transaction.

    ``checks``: (account key, status, detail, new url); ``outages``: (scope, bad, total);
    ``resolved``: finding markers no longer true; ``reach``: (account key, platform, figures)
    per account, for the dashboard.  ``relme_pages``: the linked pages read in this run
    (replacing the older reading); ``fields``: (account key, field name, verified now) of the
    profiles seen (verification help).  ``servers``: (host, facts as JSON) of the movement's
    servers read, replacing the last facts.
    """

    started: datetime
    pages: Sequence[str]
    checks: Sequence[tuple[str, str, str, str | None]] = ()
    streaks: Mapping[str, Streak] = field(default_factory=dict)
    outages: Sequence[tuple[str, int, int]] = ()
    identities: Sequence[Identity] = ()
    resolved: Sequence[str] = ()
    reach: Sequence[tuple[str, str, Reach]] = ()
    dry_run: bool = False
    relme_pages: Sequence[RelMePage] = ()
    fields: Sequence[tuple[str, str, bool]] = ()
    servers: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class ReachRecord:
    """What one run's check of one account showed of its activity and followers."""

    key: str  # Account.key
    platform: str
    checked_at: datetime
    reach: Reach
