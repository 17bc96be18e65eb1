"""X (Twitter): no free account API; links are normalised here, checks are unverifiable."""

from __future__ import annotations

from wmsocial_bot.platforms.common import first_segment_user
from wmsocial_bot.urls import UrlParts

NAME = "x"
HOSTS = frozenset({"x.com", "twitter.com"})
RESERVED = frozenset(
    {
        "i",
        "home",
        "intent",
        "search",
        "hashtag",
        "share",
        "explore",
        "settings",
        "messages",
        "notifications",
        "login",
        "signup",
        "tos",
        "privacy",
        "compose",
        "widgets",
    }
)


def normalise(parts: UrlParts) -> str | None:
    return first_segment_user(
        parts,
        pattern=r"[A-Za-z0-9_]{1,15}",
        reserved=RESERVED,
        allowed_tail=frozenset({"with_replies", "media", "likes", "highlights"}),
        strip_at=True,
    )
