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

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

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
