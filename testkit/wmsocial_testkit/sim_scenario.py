"""Scenario data for the platform simulator: parsing, validation and defaults.

A scenario is plain JSON data (see ``docs/simulator.md``).  :func:`parse_scenario` turns it into
frozen dataclasses with every default filled in, and rejects unknown keys and bad values with a
message that names the key, so a typo in a test scenario fails loudly instead of silently
simulating something else.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SOFTWARES: frozenset[str] = frozenset(
    {
        "mastodon",
        "pleroma",
        "akkoma",
        "gotosocial",
        "misskey",
        "web",
        "bluesky-appview",
        "bluesky-pds",
        "plc",
    }
)
FEDI_SOFTWARES: frozenset[str] = frozenset(
    {"mastodon", "pleroma", "akkoma", "gotosocial", "misskey"}
)
BEHAVIOURS: frozenset[str] = frozenset(
    {
        "normal",
        "refuse",
        "timeout",
        "error500",
        "error502",
        "error503",
        "nonjson",
        "oversized",
        "redirect_loop",
        "anon_api_forbidden",
        "limited_federation",
    }
)
FEDI_STATES: frozenset[str] = frozenset(
    {"ok", "moved", "suspended", "limited", "deactivated", "memorial", "deleted", "pending"}
)
BSKY_STATES: frozenset[str] = frozenset({"ok", "deactivated", "takendown", "deleted"})
BSKY_POST_KINDS: frozenset[str] = frozenset({"post", "reply", "repost"})
FLAKY_KINDS: frozenset[str] = frozenset(
    {"error500", "error502", "error503", "reset", "timeout", "slow", "ratelimit"}
)

DEFAULT_VERSIONS: dict[str, str] = {
    "mastodon": "4.3.0",
    "pleroma": "2.7.0",
    "akkoma": "3.13.2",
    "gotosocial": "0.17.3",
    "misskey": "2024.11.0",
    "web": "",
    "bluesky-appview": "",
    "bluesky-pds": "",
    "plc": "",
}
DEFAULT_CREATED_AT = "2022-11-05T00:00:00.000Z"
DEFAULT_PDS = "https://puffball.us-east.host.bsky.network"

_ACCT_RE = re.compile(r"^@?([A-Za-z0-9_.\-]+)@([A-Za-z0-9.\-]+(?::[0-9]+)?)$")
_DID_RE = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%\-]*[A-Za-z0-9._\-]$")


class ScenarioError(ValueError):
    """The scenario data is malformed; the message names the offending key.

    A test-kit error, outside the bot's exception tree (:mod:`wmsocial_bot.errors`): the bot
    never reads a scenario.
    """


@dataclass(frozen=True, slots=True)
class Page:
    """A canned HTTP response for one path (or path prefix) of a host."""

    status: int
    body: str
    json_body: Any
    headers: tuple[tuple[str, str], ...]
    redirect: str | None
    content_type: str


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    window_s: float


@dataclass(frozen=True, slots=True)
class Flaky:
    error_rate: float
    seed: int
    kinds: tuple[str, ...]
    slow_ms: int


@dataclass(frozen=True, slots=True)
class ProfileField:
    name: str
    value: str
    verified_at: str | None
    html: bool


@dataclass(frozen=True, slots=True)
class FediAccount:
    """One account on a fediverse host (Mastodon, Pleroma, Akkoma, GoToSocial, Misskey)."""

    name: str
    state: str
    id: str
    username: str
    display_name: str
    note: str
    created_at: str
    last_status_at: str | None
    updated_at: str | None
    statuses_count: int
    followers_count: int
    following_count: int
    fields: tuple[ProfileField, ...]
    moved_to: str | None
    permanent: bool
    bot: bool
    locked: bool
    group: bool
    discoverable: bool
    statuses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    software: str
    version: str
    domain: str
    title: str
    latency_ms: float
    max_in_flight: int | None
    rate_limit: RateLimit | None
    behaviour: str
    hang_s: float
    oversized_bytes: int
    oversized_chunked: bool
    flaky: Flaky | None
    retry_after: int | None
    accounts: Mapping[str, FediAccount]
    pages: Mapping[str, Page]
    default_page: Page | None
    nodeinfo_name: str
    hide_suspended: bool
    visitor_visibility: str
    webfinger_redirect: str | None
    user_count: int
    status_count: int
    # What /api/v2/instance and the privacy policy show (Mastodon; docs/simulator.md).
    rules: tuple[str, ...] = ()
    contact_account: str | None = None  # a local username, or None (no contact account)
    registrations: str = "closed"  # open | approval | closed
    privacy_policy: str | None = None  # the admin's own text; None: Mastodon's default


@dataclass(frozen=True, slots=True)
class BskyPost:
    """A feed item: the account's post, its reply, or its repost of someone else's post.

    ``indexed_at`` is when it was written (and indexed; its record key's TID says the same),
    ``created_at`` what the record claims.  The AppView shows and sorts it at the earlier of
    the two (``packages/bsky``: ``sortAt``).
    """

    indexed_at: str
    created_at: str
    text: str
    kind: str = "post"
    subject_at: str = "2020-01-01T00:00:00.000Z"  # a repost: when the reposted post was made

    @property
    def sort_at(self) -> str:
        return min(self.indexed_at, self.created_at)


@dataclass(frozen=True, slots=True)
class BskyAccount:
    did: str
    handle: str
    state: str
    handle_invalid: bool
    display_name: str
    description: str
    posts_count: int
    followers_count: int
    follows_count: int
    created_at: str
    last_post_at: str | None
    posts: tuple[BskyPost, ...]
    labels: tuple[str, ...]
    pds: str
    plc_gone_status: int
    tombstoned: bool = False


@dataclass(frozen=True, slots=True)
class Scenario:
    now: datetime | None
    rewrite_links: bool
    hosts: Mapping[str, Host]
    bluesky: Mapping[str, BskyAccount]

    def host_for_domain(self, domain: str) -> Host | None:
        """The simulated host whose name or account domain is ``domain``."""
        domain = domain.lower()
        host = self.hosts.get(domain)
        if host is not None:
            return host
        for candidate in self.hosts.values():
            if candidate.domain == domain:
                return candidate
        return None

    def bsky_by_handle(self, handle: str) -> BskyAccount | None:
        """The account a handle resolves to: not deleted, handle verified."""
        handle = handle.lower()
        for account in self.bluesky.values():
            if (
                account.handle == handle
                and account.state != "deleted"
                and not account.handle_invalid
            ):
                return account
        return None


# --------------------------------------------------------------------------- helpers


def _check_keys(where: str, data: Mapping[str, Any], allowed: frozenset[str]) -> None:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: expected an object, got {type(data).__name__}")
    for key in data:
        if key not in allowed:
            raise ScenarioError(f"{where}: unknown key {key!r} (allowed: {sorted(allowed)})")


def _get(
    where: str, data: Mapping[str, Any], key: str, default: Any, kinds: tuple[type, ...]
) -> Any:
    value = data.get(key)
    if value is None:
        value = default
    if value is None:
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise ScenarioError(f"{where}.{key}: expected {_kind_names(kinds)}, got a boolean")
    if not isinstance(value, kinds):
        raise ScenarioError(
            f"{where}.{key}: expected {_kind_names(kinds)}, got {type(value).__name__}"
        )
    return value


def _kind_names(kinds: tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kinds)


def _choice(where: str, value: str, allowed: frozenset[str]) -> str:
    if value not in allowed:
        raise ScenarioError(f"{where}: {value!r} is not one of {sorted(allowed)}")
    return value


def _timestamp(where: str, value: Any) -> str | None:
    """Validate an ISO-8601 date or date-time; keep the text as given."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: expected an ISO-8601 string, got {type(value).__name__}")
    try:
        parse_time(value)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {value!r} is not an ISO-8601 date: {exc}") from None
    return value


def parse_time(value: str) -> datetime:
    """Parse ``2026-06-30`` or ``2026-06-30T12:00:00Z`` (any ISO-8601 form) as UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso_ms(moment: datetime) -> str:
    """``2026-10-01T12:00:00.000Z``: the form Mastodon and Bluesky use for date-times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stable_number(*parts: str, digits: int = 15) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return int(digest[:16], 16) % (10**digits)


def default_account_id(host: str, name: str, software: str) -> str:
    if software == "misskey":
        alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
        number = stable_number(host, name, digits=18)
        chars = []
        for _ in range(9):
            number, rest = divmod(number, 36)
            chars.append(alphabet[rest])
        return "9" + "".join(chars)
    return str(109_000_000_000_000_000 + stable_number(host, name))


def split_acct(acct: str) -> tuple[str, str] | None:
    """``user@host`` (or ``@user@host``) -> (user, host); None when malformed."""
    match = _ACCT_RE.match(acct.strip())
    if match is None:
        return None
    return match.group(1), match.group(2).lower()


def is_did(text: str) -> bool:
    return _DID_RE.match(text) is not None


# --------------------------------------------------------------------------- pages

_PAGE_KEYS = frozenset({"status", "body", "json", "headers", "redirect", "content_type"})


def _parse_page(where: str, data: Any) -> Page:
    if isinstance(data, str):
        data = {"body": data}
    _check_keys(where, data, _PAGE_KEYS)
    redirect = _get(where, data, "redirect", None, (str,))
    status = _get(where, data, "status", 302 if redirect else 200, (int,))
    if not 100 <= status <= 599:
        raise ScenarioError(f"{where}.status: {status} is not an HTTP status")
    headers = _get(where, data, "headers", {}, (dict,))
    for name, value in headers.items():
        if not isinstance(value, str):
            raise ScenarioError(f"{where}.headers.{name}: expected a string")
    json_body = data.get("json")
    default_type = (
        "application/json; charset=utf-8" if "json" in data else "text/html; charset=utf-8"
    )
    return Page(
        status=status,
        body=_get(where, data, "body", "", (str,)),
        json_body=json_body,
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
        redirect=redirect,
        content_type=_get(where, data, "content_type", default_type, (str,)),
    )


# --------------------------------------------------------------------------- accounts

_FIELD_KEYS = frozenset({"name", "value", "verified", "verified_at", "html"})
_FEDI_ACCOUNT_KEYS = frozenset(
    {
        "state",
        "id",
        "username",
        "display_name",
        "note",
        "created_at",
        "last_status_at",
        "updated_at",
        "statuses_count",
        "followers_count",
        "following_count",
        "fields",
        "moved_to",
        "permanent",
        "bot",
        "locked",
        "group",
        "discoverable",
        "statuses",
    }
)


def _parse_field(where: str, data: Any) -> ProfileField:
    _check_keys(where, data, _FIELD_KEYS)
    verified_at = _timestamp(f"{where}.verified_at", data.get("verified_at"))
    if verified_at is None and _get(where, data, "verified", False, (bool,)):
        verified_at = "2025-01-02T03:04:05.000+00:00"
    return ProfileField(
        name=_get(where, data, "name", "", (str,)),
        value=_get(where, data, "value", "", (str,)),
        verified_at=verified_at,
        html=_get(where, data, "html", False, (bool,)),
    )


def _parse_fedi_account(where: str, host: str, software: str, name: str, data: Any) -> FediAccount:
    if data is None:
        data = {}
    _check_keys(where, data, _FEDI_ACCOUNT_KEYS)
    state = _choice(f"{where}.state", _get(where, data, "state", "ok", (str,)), FEDI_STATES)
    moved_to = _get(where, data, "moved_to", None, (str,))
    if moved_to is not None and split_acct(moved_to) is None:
        raise ScenarioError(f"{where}.moved_to: {moved_to!r} is not of the form user@host")
    if state == "moved" and moved_to is None:
        raise ScenarioError(f"{where}: state 'moved' needs moved_to (user@host)")
    last_status_at = _timestamp(f"{where}.last_status_at", data.get("last_status_at"))
    statuses_count = _get(where, data, "statuses_count", 0, (int,))
    statuses_raw = data.get("statuses")
    if statuses_raw is None:
        statuses: tuple[str, ...] = ()
        if last_status_at is not None and statuses_count > 0:
            when = parse_time(last_status_at)
            if "T" not in last_status_at:
                when = when.replace(hour=12)
            statuses = (iso_ms(when),)
    else:
        if not isinstance(statuses_raw, list):
            raise ScenarioError(f"{where}.statuses: expected a list of ISO-8601 date-times")
        statuses = tuple(
            iso_ms(parse_time(_timestamp(f"{where}.statuses[{i}]", s) or ""))
            for i, s in enumerate(statuses_raw)
        )
        statuses = tuple(sorted(statuses, reverse=True))
    fields_raw = _get(where, data, "fields", [], (list,))
    username = _get(where, data, "username", name, (str,))
    return FediAccount(
        name=name,
        state=state,
        id=_get(where, data, "id", default_account_id(host, name, software), (str,)),
        username=username,
        display_name=_get(where, data, "display_name", username.capitalize(), (str,)),
        note=_get(where, data, "note", "", (str,)),
        created_at=_timestamp(f"{where}.created_at", data.get("created_at", DEFAULT_CREATED_AT))
        or DEFAULT_CREATED_AT,
        last_status_at=last_status_at,
        updated_at=_timestamp(f"{where}.updated_at", data.get("updated_at")),
        statuses_count=statuses_count,
        followers_count=_get(where, data, "followers_count", 0, (int,)),
        following_count=_get(where, data, "following_count", 0, (int,)),
        fields=tuple(_parse_field(f"{where}.fields[{i}]", f) for i, f in enumerate(fields_raw)),
        moved_to=moved_to,
        permanent=_get(where, data, "permanent", state == "deleted", (bool,)),
        bot=_get(where, data, "bot", False, (bool,)),
        locked=_get(where, data, "locked", False, (bool,)),
        group=_get(where, data, "group", False, (bool,)),
        discoverable=_get(where, data, "discoverable", True, (bool,)),
        statuses=statuses,
    )


_BSKY_ACCOUNT_KEYS = frozenset(
    {
        "handle",
        "state",
        "handle_invalid",
        "display_name",
        "description",
        "posts_count",
        "followers_count",
        "follows_count",
        "created_at",
        "last_post_at",
        "posts",
        "labels",
        "pds",
        "plc_gone_status",
        "tombstoned",
    }
)
_BSKY_POST_KEYS = frozenset({"indexed_at", "created_at", "text", "kind", "subject_at"})


def _parse_bsky_post(where: str, data: Any, index: int) -> BskyPost:
    if isinstance(data, str):
        data = {"indexed_at": data}
    _check_keys(where, data, _BSKY_POST_KEYS)
    indexed = _timestamp(f"{where}.indexed_at", data.get("indexed_at"))
    if indexed is None:
        raise ScenarioError(f"{where}.indexed_at: required")
    created = _timestamp(f"{where}.created_at", data.get("created_at")) or indexed
    subject = _timestamp(f"{where}.subject_at", data.get("subject_at"))
    return BskyPost(
        indexed_at=iso_ms(parse_time(indexed)),
        created_at=iso_ms(parse_time(created)),
        text=_get(where, data, "text", f"post {index + 1}", (str,)),
        kind=_choice(f"{where}.kind", _get(where, data, "kind", "post", (str,)), BSKY_POST_KINDS),
        subject_at=iso_ms(parse_time(subject)) if subject else "2020-01-01T00:00:00.000Z",
    )


def _parse_bsky_account(where: str, did: str, data: Any) -> BskyAccount:
    if not is_did(did):
        raise ScenarioError(f"{where}: {did!r} is not a DID")
    _check_keys(where, data, _BSKY_ACCOUNT_KEYS)
    handle = _get(where, data, "handle", None, (str,))
    if handle is None:
        raise ScenarioError(f"{where}.handle: required")
    state = _choice(f"{where}.state", _get(where, data, "state", "ok", (str,)), BSKY_STATES)
    last_post_at = _timestamp(f"{where}.last_post_at", data.get("last_post_at"))
    posts_count = _get(where, data, "posts_count", 0, (int,))
    posts_raw = data.get("posts")
    if posts_raw is None:
        posts: tuple[BskyPost, ...] = ()
        if last_post_at is not None and posts_count > 0:
            posts = (_parse_bsky_post(f"{where}.last_post_at", last_post_at, 0),)
    else:
        if not isinstance(posts_raw, list):
            raise ScenarioError(f"{where}.posts: expected a list")
        posts = tuple(
            _parse_bsky_post(f"{where}.posts[{i}]", p, i) for i, p in enumerate(posts_raw)
        )
        posts = tuple(sorted(posts, key=lambda p: p.sort_at, reverse=True))
    labels = _get(where, data, "labels", [], (list,))
    if not all(isinstance(label, str) for label in labels):
        raise ScenarioError(f"{where}.labels: expected a list of strings")
    gone = _get(where, data, "plc_gone_status", 404, (int,))
    tombstoned = _get(where, data, "tombstoned", False, (bool,))
    if tombstoned and state != "deleted":
        raise ScenarioError(f"{where}.tombstoned: only a deleted account's DID is tombstoned")
    if gone not in (404, 410):
        raise ScenarioError(f"{where}.plc_gone_status: must be 404 or 410")
    return BskyAccount(
        did=did,
        handle=handle.lower().lstrip("@"),
        state=state,
        handle_invalid=_get(where, data, "handle_invalid", False, (bool,)),
        display_name=_get(where, data, "display_name", handle.split(".")[0].capitalize(), (str,)),
        description=_get(where, data, "description", "", (str,)),
        posts_count=posts_count,
        followers_count=_get(where, data, "followers_count", 0, (int,)),
        follows_count=_get(where, data, "follows_count", 0, (int,)),
        created_at=iso_ms(
            parse_time(
                _timestamp(f"{where}.created_at", data.get("created_at", DEFAULT_CREATED_AT))
                or DEFAULT_CREATED_AT
            )
        ),
        last_post_at=last_post_at,
        posts=posts,
        labels=tuple(labels),
        pds=_get(where, data, "pds", DEFAULT_PDS, (str,)),
        plc_gone_status=gone,
        tombstoned=tombstoned,
    )


# --------------------------------------------------------------------------- hosts

_HOST_KEYS = frozenset(
    {
        "software",
        "version",
        "domain",
        "title",
        "latency_ms",
        "max_in_flight",
        "rate_limit",
        "behaviour",
        "hang_s",
        "oversized_bytes",
        "oversized_chunked",
        "flaky",
        "retry_after",
        "accounts",
        "pages",
        "default_page",
        "nodeinfo_name",
        "hide_suspended",
        "visitor_visibility",
        "webfinger_redirect",
        "user_count",
        "status_count",
        "rules",
        "contact_account",
        "registrations",
        "privacy_policy",
    }
)
_RATE_KEYS = frozenset({"limit", "window_s"})
_FLAKY_KEYS = frozenset({"error_rate", "seed", "kinds", "slow_ms"})


def _parse_host(where: str, name: str, data: Any) -> Host:
    if data is None:
        data = {}
    _check_keys(where, data, _HOST_KEYS)
    software = _choice(
        f"{where}.software", _get(where, data, "software", "mastodon", (str,)), SOFTWARES
    )
    behaviour = _choice(
        f"{where}.behaviour", _get(where, data, "behaviour", "normal", (str,)), BEHAVIOURS
    )
    rate_raw = _get(where, data, "rate_limit", None, (dict,))
    rate_limit = None
    if rate_raw is not None:
        _check_keys(f"{where}.rate_limit", rate_raw, _RATE_KEYS)
        rate_limit = RateLimit(
            limit=_get(f"{where}.rate_limit", rate_raw, "limit", 300, (int,)),
            window_s=float(_get(f"{where}.rate_limit", rate_raw, "window_s", 300, (int, float))),
        )
    flaky_raw = _get(where, data, "flaky", None, (dict,))
    flaky = None
    if flaky_raw is not None:
        fwhere = f"{where}.flaky"
        _check_keys(fwhere, flaky_raw, _FLAKY_KEYS)
        kinds = _get(fwhere, flaky_raw, "kinds", ["error503", "reset", "timeout", "slow"], (list,))
        for i, kind in enumerate(kinds):
            _choice(f"{fwhere}.kinds[{i}]", kind, FLAKY_KINDS)
        if not kinds:
            raise ScenarioError(f"{fwhere}.kinds: must not be empty")
        rate = float(_get(fwhere, flaky_raw, "error_rate", 0.3, (int, float)))
        if not 0.0 <= rate <= 1.0:
            raise ScenarioError(f"{fwhere}.error_rate: must be between 0 and 1")
        flaky = Flaky(
            error_rate=rate,
            seed=_get(fwhere, flaky_raw, "seed", 0, (int,)),
            kinds=tuple(kinds),
            slow_ms=_get(fwhere, flaky_raw, "slow_ms", 1000, (int,)),
        )
    max_in_flight = _get(where, data, "max_in_flight", None, (int,))
    if max_in_flight is not None and max_in_flight < 1:
        raise ScenarioError(f"{where}.max_in_flight: must be at least 1")
    accounts_raw = _get(where, data, "accounts", {}, (dict,))
    accounts: dict[str, FediAccount] = {}
    for acc_name, acc_data in accounts_raw.items():
        account = _parse_fedi_account(
            f"{where}.accounts.{acc_name}", name, software, acc_name, acc_data
        )
        accounts[account.username.lower()] = account
    pages_raw = _get(where, data, "pages", {}, (dict,))
    pages: dict[str, Page] = {}
    for path, page in pages_raw.items():
        if not path.startswith("/"):
            raise ScenarioError(f"{where}.pages: path {path!r} must start with '/'")
        pages[path] = _parse_page(f"{where}.pages.{path}", page)
    default_raw = data.get("default_page")
    default_page = None
    if default_raw is not None:
        default_page = _parse_page(f"{where}.default_page", default_raw)
    version = _get(where, data, "version", DEFAULT_VERSIONS[software], (str,))
    return Host(
        name=name,
        software=software,
        version=version,
        domain=_get(where, data, "domain", name, (str,)).lower(),
        title=_get(where, data, "title", name, (str,)),
        latency_ms=float(_get(where, data, "latency_ms", 0, (int, float))),
        max_in_flight=max_in_flight,
        rate_limit=rate_limit,
        behaviour=behaviour,
        hang_s=float(_get(where, data, "hang_s", 30, (int, float))),
        oversized_bytes=_get(where, data, "oversized_bytes", 50_000_000, (int,)),
        oversized_chunked=_get(where, data, "oversized_chunked", False, (bool,)),
        flaky=flaky,
        retry_after=_get(where, data, "retry_after", None, (int,)),
        accounts=accounts,
        pages=pages,
        default_page=default_page,
        nodeinfo_name=_get(where, data, "nodeinfo_name", software, (str,)),
        hide_suspended=_get(where, data, "hide_suspended", True, (bool,)),
        visitor_visibility=_choice(
            f"{where}.visitor_visibility",
            _get(where, data, "visitor_visibility", "all", (str,)),
            frozenset({"all", "local", "none"}),
        ),
        webfinger_redirect=_get(where, data, "webfinger_redirect", None, (str,)),
        user_count=_get(where, data, "user_count", max(len(accounts), 1), (int,)),
        status_count=_get(
            where,
            data,
            "status_count",
            sum(a.statuses_count for a in accounts.values()),
            (int,),
        ),
        rules=tuple(str(rule) for rule in _get(where, data, "rules", [], (list,))),
        contact_account=_get(where, data, "contact_account", None, (str,)),
        registrations=_choice(
            f"{where}.registrations",
            _get(where, data, "registrations", "closed", (str,)),
            frozenset({"open", "approval", "closed"}),
        ),
        privacy_policy=_get(where, data, "privacy_policy", None, (str,)),
    )


_TOP_KEYS = frozenset({"now", "rewrite_links", "hosts", "bluesky", "description"})
_BSKY_KEYS = frozenset({"accounts"})


def parse_scenario(data: Any) -> Scenario:
    """Validate scenario data and fill in every default."""
    _check_keys("scenario", data, _TOP_KEYS)
    now_raw = _timestamp("scenario.now", data.get("now"))
    hosts_raw = _get("scenario", data, "hosts", {}, (dict,))
    hosts: dict[str, Host] = {}
    for name, host_data in hosts_raw.items():
        key = name.lower()
        if not key or "/" in key:
            raise ScenarioError(f"scenario.hosts: {name!r} is not a host name")
        hosts[key] = _parse_host(f"hosts.{name}", key, host_data)
    bsky_raw = _get("scenario", data, "bluesky", {}, (dict,))
    _check_keys("bluesky", bsky_raw, _BSKY_KEYS)
    accounts_raw = _get("bluesky", bsky_raw, "accounts", {}, (dict,))
    bluesky: dict[str, BskyAccount] = {}
    claimed: dict[str, str] = {}
    for did, account_data in accounts_raw.items():
        account = _parse_bsky_account(f"bluesky.accounts.{did}", did, account_data)
        if account.state != "deleted" and not account.handle_invalid:
            other = claimed.get(account.handle)
            if other is not None:
                raise ScenarioError(
                    f"bluesky.accounts.{did}.handle: {account.handle!r} is already the "
                    f"verified handle of {other}"
                )
            claimed[account.handle] = did
        bluesky[did] = account
    return Scenario(
        now=parse_time(now_raw) if now_raw else None,
        rewrite_links=_get("scenario", data, "rewrite_links", True, (bool,)),
        hosts=hosts,
        bluesky=bluesky,
    )


def load_scenario_data(source: Mapping[str, Any] | Path | str) -> dict[str, Any]:
    """Scenario data from a mapping (deep-copied) or a JSON file path."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: the scenario must be a JSON object")
    return data


def live_bluesky(prefix: str, count: int, **appview: Any) -> tuple[dict[str, Any], str]:
    """A scenario of ``count`` live Bluesky accounts ``<prefix><n>.bsky.social`` (each with
    two posts, the last on 2026-11-01) and the wiki text that lists them; ``appview`` sets the
    AppView host's fields (``latency_ms``, ``max_in_flight``, ...)."""
    dids = [f"did:plc:{prefix}{n:03d}".ljust(29, "a") for n in range(count)]
    data = {
        "now": "2026-11-24T00:00:00Z",
        "hosts": {
            "public.api.bsky.app": {"software": "bluesky-appview", **appview},
            "plc.directory": {"software": "plc"},
        },
        "bluesky": {
            "accounts": {
                did: {
                    "handle": f"{prefix}{n}.bsky.social",
                    "state": "ok",
                    "posts_count": 2,
                    "last_post_at": "2026-11-01T00:00:00Z",
                }
                for n, did in enumerate(dids)
            }
        },
    }
    page = "".join(f"* https://bsky.app/profile/{prefix}{n}.bsky.social\n" for n in range(count))
    return data, page
