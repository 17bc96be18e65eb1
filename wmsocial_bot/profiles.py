"""Listed accounts' own profiles: their links, read as hostile input, and what they suggest (pure).

A check already receives each account's profile (Mastodon's ``fields`` and ``note``, Bluesky's
``description``); :func:`mastodon_profile` and :func:`bluesky_profile` keep from it only what
the bot needs, bounded and checked: at most :data:`MAX_FIELDS` fields and :data:`MAX_LINKS`
links, names and values cut to a size, every link ``http(s)`` to a public host *name* (never
an IP literal or a local name).  Nothing from a profile reaches the wiki except through
:func:`wmsocial_bot.notices.inert`.

:func:`suggestions` turns links to accounts the page does not list into talk-notice findings
(kind ``suggested``); :func:`lost_verifications` the fields verified at an earlier run and not
now (kind ``verification-lost``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from wmsocial_bot.identify import identify_url, shown_handle
from wmsocial_bot.model import Account, CheckResult, Finding, Profile, ProfileLink, Status
from wmsocial_bot.relme import FieldLink, Verdict
from wmsocial_bot.urls import ascii_host

MAX_FIELDS = 16  # Mastodon allows 4 (Account::DEFAULT_FIELDS_SIZE), forks more
MAX_LINKS = 20  # per profile
MAX_HTML = 10_000  # characters of a field value or a bio read at all
MAX_NAME = 255  # characters of a field name kept (Mastodon's own limit)
MAX_URL = 2_000
SUGGESTED = "suggested"
LOST = "verification-lost"
# Names that never reach a public host: RFC 6761/6762 special-use and private-use suffixes.
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".onion", ".invalid", ".lan")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# Bluesky descriptions are plain text: the app links URLs and @handle mentions itself
# (bluesky-social/atproto packages/api/src/rich-text/detection.ts: URL_REGEX, MENTION_REGEX).
_TEXT_URL = re.compile(r"https?://[^\s<>\"']{1,2000}", re.I)
_TEXT_MENTION = re.compile(r"(?:^|[\s(])@([a-z0-9][a-z0-9.-]{1,251}\.[a-z][a-z0-9-]*)\b", re.I)
_TRAILING = ".,;:!?)]}'\""


def public_link(url: str) -> str | None:
    """``url`` if it is an http(s) link to a public host name, else None (hostile input)."""
    if len(url) > MAX_URL or any(ord(c) <= 32 or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a port that is not a number raises ValueError
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return None  # an address, not a name: never from a profile
    host = ascii_host(host) or ""  # IDN in punycode, as DNS spells it; "" if not a host name
    if "." not in host or host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        return None
    if not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    return url


class _Anchors(HTMLParser):
    """The hrefs of a fragment's ``<a>`` elements, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _anchors(fragment: str) -> list[str]:
    parser = _Anchors()
    parser.feed(fragment[:MAX_HTML])
    parser.close()
    return parser.hrefs


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _bounded(links: Iterable[ProfileLink]) -> tuple[ProfileLink, ...]:
    seen: set[str] = set()
    kept: list[ProfileLink] = []
    for item in links:
        if item.url in seen:
            continue
        seen.add(item.url)
        kept.append(item)
        if len(kept) == MAX_LINKS:
            break
    return tuple(kept)


def mastodon_profile(fields: object, note: object, url: str | None, *, verifies: bool) -> Profile:
    """The fields and links of a Mastodon API account (``fields[]``, ``note``).

    ``verifies``: the server verifies links (Mastodon does; Pleroma and Akkoma do not, and
    their fields are then not kept for the verification help).
    (mastodon/mastodon app/serializers/rest/account_serializer.rb: ``note`` is the bio as HTML,
    each field ``name``, ``value`` (HTML) and ``verified_at``.)
    """
    items = (
        [f for f in fields if isinstance(f, Mapping)][:MAX_FIELDS]
        if isinstance(fields, list)
        else []
    )
    kept: list[FieldLink] = []
    links: list[ProfileLink] = []
    for item in items:
        name = " ".join(_text(item.get("name"), MAX_NAME).split())
        value = _text(item.get("value"), MAX_HTML)
        kept.append(FieldLink(name, value, bool(item.get("verified_at"))))
        for href in _anchors(value):
            if public_link(href):
                links.append(ProfileLink(href, f"field “{name}”"))
    for href in _anchors(_text(note, MAX_HTML)):
        if public_link(href):
            links.append(ProfileLink(href, "bio"))
    return Profile(fields=tuple(kept) if verifies else (), links=_bounded(links), url=url)


def _text_links(text: str, where: str) -> list[ProfileLink]:
    """The ``http(s)`` URLs of plain text, trailing punctuation left out."""
    found = []
    for match in _TEXT_URL.finditer(text[:MAX_HTML]):
        url = match.group(0).rstrip(_TRAILING)
        if public_link(url):
            found.append(ProfileLink(url, where))
    return found


def misskey_profile(fields: object, description: object) -> Profile:
    """The links of a Misskey user (``users/show``: ``fields[]`` and ``description``, plain
    text (MFM) where the client links URLs itself; misskey-dev/misskey
    ``packages/backend/src/core/entities/UserEntityService.ts``).  No fields to explain:
    Misskey verifies links its own way (``verifiedLinks``), not by Mastodon's rules."""
    items = (
        [f for f in fields if isinstance(f, Mapping)][:MAX_FIELDS]
        if isinstance(fields, list)
        else []
    )
    links: list[ProfileLink] = []
    for item in items:
        name = " ".join(_text(item.get("name"), MAX_NAME).split())
        links += _text_links(_text(item.get("value"), MAX_HTML), f"field “{name}”")
    links += _text_links(_text(description, MAX_HTML), "bio")
    return Profile(links=_bounded(links))


def bluesky_profile(description: object) -> Profile:
    """The links of a Bluesky profile's ``description`` (plain text: URLs and @handles)."""
    text = _text(description, MAX_HTML)
    links = _text_links(text, "description")
    for match in _TEXT_MENTION.finditer(text):
        url = f"https://bsky.app/profile/{match.group(1).lower().rstrip('.')}"
        if public_link(url):
            links.append(ProfileLink(url, "description"))
    return Profile(links=_bounded(links))


def _own_keys(result: CheckResult) -> set[str]:
    """The account itself under every name the check knows (its handle, DID, successor)."""
    keys = {result.account.key}
    learned = result.learned
    if learned is not None:
        keys |= {f"{learned.platform}:{learned.handle}", f"{learned.platform}:{learned.ident}"}
    if result.new_handle:
        keys.add(f"{result.account.platform}:{result.new_handle}")
    return keys


def suggestions(
    results: Sequence[CheckResult],
    listed: Iterable[Account],
    ignore: frozenset[str],
    now: datetime,
    owner_of: Callable[[Account], str | None],
) -> list[Finding]:
    """Accounts that listed accounts' profiles link and the page does not list: one each.

    Not suggested: the account itself under any form (compared by the identify layer's key),
    links that name no account (posts, pages), an account on the ignore list, and anything
    linked from an ignored account's profile.  The suggestion names who links it and where,
    and the row it would belong to (the linking account's owner and section).
    """
    known = {a.key for a in listed}
    for result in results:
        known |= _own_keys(result)
    linkers: dict[str, list[tuple[CheckResult, ProfileLink]]] = {}
    order: list[tuple[str, str, str]] = []
    for result in results:
        account = result.account
        if result.profile is None or account.duplicate_of is not None or account.key in ignore:
            continue
        for link in result.profile.links:
            found = identify_url(link.url)
            if found is None:
                continue
            key = f"{found.platform}:{found.handle}"
            if key in known or key in ignore:
                continue
            if key not in linkers:
                order.append((key, found.platform, found.handle))
            linkers.setdefault(key, []).append((result, link))
    findings = []
    for key, platform, handle in order:
        first, _link = linkers[key][0]
        account = first.account
        named = [f"{_shown(r.account)}'s {link.where}" for r, link in linkers[key][:3]]
        more = len(linkers[key]) - len(named)
        evidence = "linked from " + ", ".join(named) + (f" and {more} more" if more else "")
        findings.append(
            Finding(
                key=key,
                kind=SUGGESTED,
                platform=platform,
                handle=handle,
                url=linkers[key][0][1].url,
                section=account.section,
                owner=owner_of(account),
                since=now.date(),
                evidence=evidence + "; the page does not list it",
                action="If it is the same owner's, add it to that row; the bot never adds it.",
            )
        )
    return findings


def _shown(account: Account) -> str:
    return shown_handle(account.platform, account.handle)


def lost_verifications(
    results: Sequence[CheckResult],
    verified_before: Mapping[str, Mapping[str, datetime]],
    verdicts: Mapping[tuple[str, str], Verdict],
    ignore: frozenset[str],
    now: datetime,
    owner_of: Callable[[Account], str | None],
) -> list[Finding]:
    """Fields verified at an earlier run and shown unverified now: one finding per field.

    ``verified_before``: account key -> its fields the store saw verified before this run, with
    the last run that did.  The finding persists (and is reported once) while the field stays
    unverified; its marker holds that date, so a loss after the field was verified again is a
    new finding.
    """
    findings = []
    for result in results:
        account = result.account
        if (
            result.profile is None
            or result.status != Status.OK
            or account.duplicate_of is not None
            or account.key in ignore
        ):
            continue
        before = verified_before.get(account.key, {})
        for field in result.profile.fields:
            if field.verified or field.name not in before:
                continue
            until = before[field.name].date().isoformat()
            verdict = verdicts.get((account.key, field.name))
            why = f": {verdict.message}" if verdict is not None and verdict.side != "none" else ""
            findings.append(
                Finding(
                    key=account.key,
                    kind=LOST,
                    platform=account.platform,
                    handle=account.handle,
                    url=account.url,
                    section=account.section,
                    owner=owner_of(account),
                    since=now.date(),
                    evidence=f"the profile field “{field.name}” was verified (rel=me) at an "
                    f"earlier run and is not now{why}",
                    action="Restore the rel=me link back to the profile, then save the profile "
                    "once more so that Mastodon checks again.",
                    label=account.label,
                    subject=f"{field.name}@{until}",
                )
            )
    return findings


def still_persists(marker: str, results: Sequence[CheckResult], listed: set[str]) -> bool | None:
    """Whether a profile finding's marker still holds; None for the other kinds.

    Only positive evidence resolves one, never a failed check: a suggestion when the account is
    listed now, a lost verification when the field is seen verified again (or gone).
    """
    kind, _, rest = marker.partition(":")
    if kind == SUGGESTED:
        return rest not in listed
    if kind != LOST:
        return None
    key, _, subject = rest.partition("#")
    name = subject.rpartition("@")[0]
    if key not in listed:
        return False
    for result in results:
        if result.account.key == key and result.profile is not None and result.status == Status.OK:
            fields = {f.name: f.verified for f in result.profile.fields}
            return fields.get(name) is False
    return True
