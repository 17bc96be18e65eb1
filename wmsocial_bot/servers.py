"""The movement's own fediverse servers: the facts an anonymous caller can read, and what is off.

Pure: the caller fetches ``/api/v2/instance`` and ``/api/v1/instance/privacy_policy`` (both
public on Mastodon 4.x) through the bot's network policy and hands the decoded JSON here.
Every answer is hostile input: anything of the wrong type or size is treated as not shown.

What the fields mean is Mastodon's own (mastodon/mastodon's main branch of the 4.5 line, the
one with ``wrapstodon``: ``app/serializers/rest/instance_serializer.rb``, and
``app/models/privacy_policy.rb`` at commit bfe7fb0):

- ``version`` is ``Mastodon::Version.to_s``: ``4.3.2``, with a suffix for forks and builds
  (``4.2.10+hometown-1.1.1``, ``4.4.0-beta.1``).
- ``rules`` lists the server rules (``REST::RuleSerializer``); an empty list is a server with
  no rules at all.
- ``contact`` holds ``email`` and ``account`` (the admin-chosen contact account, or null).
- ``registrations``: ``enabled``, ``approval_required``, ``message``.
- ``configuration.urls.privacy_policy`` is always set; the policy itself is Mastodon's
  template unless the admin wrote one: ``PrivacyPolicy.current`` then answers the default
  text with ``updated_at`` 2022-10-07 (``DEFAULT_UPDATED_AT``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from wmsocial_bot.model import Finding
from wmsocial_bot.notices import inert

DEFAULT_POLICY_DATE = "2022-10-07"
_VERSION = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,4})(?:[-+~][0-9A-Za-z.+~-]{0,60})?")
_MAX_TEXT = 200


@dataclass(frozen=True)
class SecurityRelease:
    """The newest release of one Mastodon line known to fix security issues, and the source."""

    line: tuple[int, int]
    version: tuple[int, int, int]
    published: date
    source: str


# What the bot knows, and since when: releases announced as security releases, each with the
# advisory or release page that says so.  A line with no entry is not flagged.  An operator
# can add newer knowledge in the configuration without a new release of the bot.
KNOWN_SECURITY_RELEASES: tuple[SecurityRelease, ...] = (
    SecurityRelease(
        (4, 2),
        (4, 2, 10),
        date(2024, 7, 4),
        "https://github.com/mastodon/mastodon/releases/tag/v4.2.10 "
        "(GHSA-xjvf-fm67-4qc3, GHSA-58x8-3qxw-6hm7 and four more)",
    ),
    SecurityRelease(
        (4, 1),
        (4, 1, 13),
        date(2024, 2, 1),
        "https://github.com/mastodon/mastodon/releases/tag/v4.1.13 (CVE-2024-23832; "
        "also 4.2.5, 4.0.13, 3.5.17)",
    ),
    SecurityRelease(
        (4, 0),
        (4, 0, 13),
        date(2024, 2, 1),
        "https://github.com/mastodon/mastodon/releases/tag/v4.0.13 (CVE-2024-23832)",
    ),
)


@dataclass(frozen=True)
class ServerFacts:
    """What one server shows anonymous callers about itself; None where it shows nothing."""

    host: str
    version: str | None = None
    rules: int | None = None
    contact_account: str | None = None
    contact_email: bool | None = None
    registrations: str | None = None  # open | approval | closed
    privacy_policy: str | None = None  # own | default | None (not read)
    policy_updated: str | None = None


def _text(value: Any) -> str | None:
    """A short one-line string from a hostile answer, or None."""
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        return None
    return " ".join(value.split())


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _registrations(value: Any) -> str | None:
    reg = _mapping(value)
    enabled = reg.get("enabled")
    if not isinstance(enabled, bool):
        return None
    if not enabled:
        return "closed"
    return "approval" if reg.get("approval_required") is True else "open"


def facts_from(host: str, instance: Any, privacy: Any = None) -> ServerFacts:
    """Facts from the decoded ``/api/v2/instance`` and privacy-policy answers (either may be
    anything, including None for "not answered")."""
    data = _mapping(instance)
    version = _text(data.get("version"))
    rules = data.get("rules")
    contact = _mapping(data.get("contact"))
    account = _mapping(contact.get("account"))
    acct = _text(account.get("acct"))
    email = contact.get("email")
    policy = _mapping(privacy)
    updated = _text(policy.get("updated_at"))
    content = policy.get("content")
    if isinstance(content, str) and updated:
        kind: str | None = "default" if updated.startswith(DEFAULT_POLICY_DATE) else "own"
    else:
        kind, updated = None, None
    return ServerFacts(
        host=host,
        version=version,
        rules=len(rules) if isinstance(rules, list) else None,
        contact_account=acct,
        contact_email=bool(email.strip()) if isinstance(email, str) else None,
        registrations=_registrations(data.get("registrations")),
        privacy_policy=kind,
        policy_updated=updated[:10] if updated else None,
    )


def parse_version(version: str | None) -> tuple[int, int, int] | None:
    """``4.2.10+hometown-1.1.1`` -> (4, 2, 10); None for anything that is not a version."""
    match = _VERSION.fullmatch(version or "")
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def security_gap(
    version: str | None, known: tuple[SecurityRelease, ...] = KNOWN_SECURITY_RELEASES
) -> SecurityRelease | None:
    """The security release this version is behind, if the bot knows of one for its line."""
    parsed = parse_version(version)
    if parsed is None:
        return None
    for release in known:
        if release.line == parsed[:2] and parsed < release.version:
            return release
    return None


def problems(
    facts: ServerFacts, known: tuple[SecurityRelease, ...] = KNOWN_SECURITY_RELEASES
) -> list[str]:
    """What a comms maintainer should look at, one sentence each; empty when all is well.

    Only what the answers prove: a fact the server did not show is not a problem.
    """
    found = []
    gap = security_gap(facts.version, known)
    if gap is not None:
        fixed = ".".join(str(n) for n in gap.version)
        found.append(
            f"runs Mastodon {facts.version}; {fixed} fixed security issues "
            f"({gap.published.isoformat()}, {gap.source})"
        )
    if facts.rules == 0:
        found.append("has no server rules")
    if facts.contact_account is None and facts.version is not None:
        found.append("names no contact account")
    if facts.privacy_policy == "default":
        found.append(
            f"shows Mastodon's default privacy policy (dated {DEFAULT_POLICY_DATE}), "
            "not one written for the server"
        )
    return found


def changes(old: ServerFacts | None, new: ServerFacts) -> list[str]:
    """What changed since the last run that read this server, for one talk notice.

    The first reading is no change; a fact that is unknown now (the server did not answer)
    is not reported as changed.
    """
    if old is None:
        return []
    said = []
    for name, label in (
        ("version", "version"),
        ("rules", "number of rules"),
        ("contact_account", "contact account"),
        ("registrations", "registrations"),
        ("privacy_policy", "privacy policy"),
    ):
        before, after = getattr(old, name), getattr(new, name)
        if after is not None and before != after:
            said.append(f"{label}: {before if before is not None else 'not shown'} -> {after}")
    return said


# -- which servers, what the store keeps, what the status page and the talk page say ----------


@dataclass(frozen=True)
class Reading:
    """One server as this run found it: its facts, or why there are none."""

    host: str
    facts: ServerFacts | None
    note: str | None = None  # "not a Mastodon server (...)", "could not be read: ..."


def default_hosts(handles: Iterable[str], cap: int) -> list[str]:
    """The servers of the page's Mastodon accounts (``user@host``), most accounts first
    (page order among equals), at most ``cap``: the movement's own servers host many."""
    counts = Counter(handle.rpartition("@")[2] for handle in handles if "@" in handle)
    ranked = sorted(counts, key=lambda host: -counts[host])  # stable: page order among equals
    return [host for host in ranked if host][:cap]


def is_mastodon(instance: Any) -> bool:
    """Whether a ``/api/v2/instance`` answer is Mastodon's own: a plain Mastodon version.

    Mastodon added ``/api/v2/instance`` in 4.0 (``app/controllers/api/v2/instances_controller.rb``).
    Other software answers the same path with versions that are not plain, or older
    (Pleroma and Akkoma: ``2.7.2 (compatible; Pleroma 2.6.0)``; GoToSocial: ``0.17.3``);
    their rules and policies mean other things, so nothing is judged there.
    """
    version = _mapping(instance).get("version")
    parsed = parse_version(version) if isinstance(version, str) else None
    return parsed is not None and parsed[0] >= 4


def with_operator_knowledge(
    extra: Iterable[SecurityRelease], known: tuple[SecurityRelease, ...] = KNOWN_SECURITY_RELEASES
) -> tuple[SecurityRelease, ...]:
    """The bot's security knowledge with the operator's entries replacing the same lines."""
    given = {release.line: release for release in extra}
    kept = [release for release in known if release.line not in given]
    return tuple(given.values()) + tuple(kept)


def facts_json(facts: ServerFacts) -> str:
    """The facts as the state store keeps them (for the next run's :func:`changes`)."""
    return json.dumps(asdict(facts), sort_keys=True)


def facts_from_json(text: str) -> ServerFacts | None:
    """Stored facts back; None for a row this version cannot read."""
    try:
        data = json.loads(text)
        return ServerFacts(**data) if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


CHANGED = "server-changed"  # the finding kind


def server_key(host: str) -> str:
    """The key of a server's findings, for the ignore list too."""
    return f"server:{host}"


def change_finding(host: str, said: Sequence[str], on: date) -> Finding:
    """One talk-notice item for a server's changes; its marker names this change, so that
    it is announced once, and a later change of the same server again."""
    digest = hashlib.sha256("\n".join(said).encode()).hexdigest()[:12]
    return Finding(
        key=server_key(host),
        kind=CHANGED,
        platform="server",
        handle=host,
        url=f"https://{host}/about",
        section=None,
        owner=None,
        since=on,
        evidence="; ".join(said),
        action="check on the server's About page that this was meant; the status page's "
        "servers section shows what is still to look at",
        subject=digest,
    )


def to_store(old: ServerFacts | None, new: ServerFacts, announced: bool) -> ServerFacts:
    """What the store keeps after this run: the new facts, unless a change is still to be
    announced (the talk notice not written yet: run page off, page protected), so that the
    next run finds the same change again instead of losing it."""
    return new if announced or not changes(old, new) else old if old is not None else new


def status_section(
    readings: Sequence[Reading],
    stored: Mapping[str, tuple[ServerFacts, str]],
    known: tuple[SecurityRelease, ...],
) -> str:
    """The status page's servers section: one table row per server, then the knowledge's date.

    ``stored``: host -> (facts, day read) of an earlier run, shown for a server this run
    could not read.  Every value from a server goes through :func:`inert`.
    """
    lines = [
        "What each server shows anonymous callers (<code>/api/v2/instance</code> and its "
        "privacy policy), read once per run.",
        '{| class="wikitable sortable"',
        "! Server !! Software !! Rules !! Contact account !! Registrations !! Privacy policy "
        "!! To look at",
    ]
    for reading in readings:
        facts, when = reading.facts, ""
        if facts is None and reading.host in stored and reading.note and "read" in reading.note:
            facts, day = stored[reading.host]
            when = f" (as read on {day})"
        lines.append("|-")
        if facts is None:
            lines.append(f'| {inert(reading.host)} || colspan="6" | {inert(reading.note or "")}')
            continue
        found = problems(facts, known)
        note = [inert(reading.note)] if reading.note else []
        cells = [
            inert(reading.host),
            inert(f"Mastodon {facts.version}" if facts.version else "not shown") + when,
            "not shown" if facts.rules is None else str(facts.rules),
            inert(f"@{facts.contact_account}") if facts.contact_account else "none",
            inert(facts.registrations or "not shown"),
            _policy_text(facts),
            "<br />".join(note + [inert(line) for line in found]) or "nothing",
        ]
        lines.append("| " + " || ".join(cells))
    lines.append("|}")
    newest = max((release.published for release in known), default=None)
    if newest is not None:
        releases = ", ".join(
            f"{'.'.join(map(str, r.version))} ({r.published.isoformat()})" for r in known
        )
        lines.append(
            f"The bot's knowledge of Mastodon security releases is from {newest.isoformat()}: "
            f"{inert(releases)}. Operators add newer ones with <code>[servers] "
            "security_releases</code>."
        )
    return "\n".join(lines)


def _policy_text(facts: ServerFacts) -> str:
    if facts.privacy_policy == "own":
        return inert(f"its own (updated {facts.policy_updated})")
    if facts.privacy_policy == "default":
        return "Mastodon's default"
    return "not shown"
