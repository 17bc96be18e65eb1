"""Reddit users (``u/name``) and subreddits (``r/name``)."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform
from wmsocial_bot.urls import UrlParts

NAME = "reddit"
HOSTS = frozenset({"reddit.com", "redd.it"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if len(segs) < 2 or segs[0] not in ("u", "user", "r"):
        return None
    if len(segs) > 2 and segs[2] not in ("about", "new", "hot", "top", "wiki", "submitted"):
        return None  # comments, posts
    if not re.fullmatch(r"[A-Za-z0-9_\-]{2,32}", segs[1]):
        return None
    kind = "r" if segs[0] == "r" else "u"
    return f"{kind}/{segs[1].lower()}"


PLATFORM = Platform(
    name=NAME,
    display_name="Reddit",
    hosts=HOSTS,
    normalise=normalise,
)
