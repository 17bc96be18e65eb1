"""Mastodon and the rest of the fediverse: ``user@host`` accounts on any server."""

from __future__ import annotations

import re

from wmsocial_bot.urls import UrlParts

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
_ACCOUNT_TAILS = frozenset({"with_replies", "media", "tagged", "followers", "following"})
TEXT_HANDLE = re.compile(
    rf"(?<![\w@/.:\-])(?:acct:|@)(?P<user>{_USER})@(?P<host>{_HOST}\b)(?![@\w\-]|\.[A-Za-z0-9])",
    re.IGNORECASE,
)


def canonical(user: str, host: str) -> str:
    return f"{user}@{host}".lower()


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
        user, _, host = user.partition("@")
    if not re.fullmatch(_USER, user) or not re.fullmatch(_HOST, host):
        return None
    return canonical(user, host)
