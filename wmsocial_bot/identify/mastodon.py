"""Mastodon and the rest of the fediverse: ``user@host`` accounts on any server."""

from __future__ import annotations

import re

from wmsocial_bot import gate
from wmsocial_bot.identify.record import HandleForm, Platform
from wmsocial_bot.urls import UrlParts, ascii_host, parse_url

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


def split_handle(handle: str) -> tuple[str, str]:
    user, _, host = handle.partition("@")
    return user, host


def link_names_id(url: str | None) -> bool:
    """True for a ``/users/<x>`` link: on Misskey ``<x>`` is an internal id, not a name."""
    if not url:
        return False
    parts = parse_url(url)
    if parts is None:
        return False
    segs = parts.segments[1:] if parts.segments[:1] == ("web",) else parts.segments
    return len(segs) >= 2 and segs[0] == "users"


def handle_from_url(url: str) -> str | None:
    """The fediverse handle a profile URL names, or None."""
    parts = parse_url(url)
    return normalise(parts) if parts else None


def handle_link(handle: str) -> str | None:
    """``user@host`` -> ``https://host/@user`` (the server's own profile page).

    None unless the user name is of Mastodon's grammar and the host a public DNS name: text
    such as ``@0`` is no account, and ``https://0/@`` no link to give it.
    """
    if gate.fediverse_handle(handle, "") is None:
        return None
    user, host = handle.split("@")
    return f"https://{host}/@{user}"


def read_text(text: str) -> str | None:
    """``@user@host`` or ``acct:user@host`` written as text -> ``user@host``, or None."""
    found = TEXT_HANDLE.fullmatch(text)
    return canonical(found["user"], found["host"]) if found else None


PLATFORM = Platform(
    name=NAME,
    display_name="Mastodon",
    hosts=HOSTS,
    normalise=normalise,
    handle_link=handle_link,
    reports_activity=True,
    handle_form=HandleForm.FEDIVERSE,
    shows_at=True,
    read_text=read_text,
)
