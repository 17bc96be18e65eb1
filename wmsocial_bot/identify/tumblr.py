"""Tumblr: ``<user>.tumblr.com`` or ``tumblr.com/<user>``; a missing blog is a 404."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform
from wmsocial_bot.urls import UrlParts

NAME = "tumblr"
HOSTS = frozenset({"tumblr.com"})
HOST_PATTERN = re.compile(r"^[a-z0-9\-]+\.tumblr\.com$")
RESERVED = frozenset(
    {"www", "blog", "tagged", "search", "explore", "dashboard", "login", "register"}
)


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if parts.host != "tumblr.com":
        user = parts.host.split(".")[0]
        if user in RESERVED or (segs and segs[0] in ("post", "image")):
            return None
        return user
    if not segs or segs[0] in RESERVED or len(segs) > 1:
        return None
    if not re.fullmatch(r"[A-Za-z0-9\-]{1,32}", segs[0]):
        return None
    return segs[0].lower()


PLATFORM = Platform(
    name=NAME,
    display_name="Tumblr",
    hosts=HOSTS,
    normalise=normalise,
    host_pattern=HOST_PATTERN,
)
