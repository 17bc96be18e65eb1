"""X (Twitter): no free account API; links are normalised here, checks are unverifiable."""

from __future__ import annotations

import dataclasses

from wmsocial_bot.identify.record import Platform, first_segment_user
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
    if not parts.segments and parts.fragment.startswith("!/"):
        # Twitter's old "hashbang" profile links (https://twitter.com/#!/name, 2010-2012),
        # still on older pages: twitter.com sends them to /name.
        hashbang = tuple(s for s in parts.fragment[2:].split("?")[0].split("/") if s)
        parts = dataclasses.replace(parts, segments=hashbang)
    return first_segment_user(
        parts,
        pattern=r"[A-Za-z0-9_]{1,15}",
        reserved=RESERVED,
        allowed_tail=frozenset({"with_replies", "media", "likes", "highlights"}),
        strip_at=True,
    )


# Never asked: no answer X gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).
UNASKED = (
    "not checked: X has no free API to look accounts up, and x.com answers every profile path "
    "with the same script shell (HTTP 200), so a request would prove nothing"
)


PLATFORM = Platform(
    name=NAME,
    display_name="X",
    hosts=HOSTS,
    normalise=normalise,
    profile_url="https://x.com/{}",
    label_words=("X", "Twitter"),
    unasked=UNASKED,
)
