"""Pinterest: a missing profile is redirected to the home page (a soft 404)."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform, first_segment_user
from wmsocial_bot.urls import UrlParts

NAME = "pinterest"
HOSTS = frozenset({"pinterest.com"})
HOST_PATTERN = re.compile(
    r"^(?:[a-z]{2}\.)?pinterest\.(?:com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})$"
)
RESERVED = frozenset({"pin", "search", "ideas", "today", "business", "login", "explore", "_"})


def normalise(parts: UrlParts) -> str | None:
    return first_segment_user(
        parts,
        pattern=r"[A-Za-z0-9_]{3,30}",
        reserved=RESERVED,
        allowed_tail=frozenset({"_created", "_saved", "pins", "boards"}),
    )


PLATFORM = Platform(
    name=NAME,
    display_name="Pinterest",
    hosts=HOSTS,
    normalise=normalise,
    host_pattern=HOST_PATTERN,
)
