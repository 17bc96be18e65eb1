"""Flickr: ``/photos/<user>`` and ``/people/<user>``; a missing profile is a 404."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform
from wmsocial_bot.urls import UrlParts

NAME = "flickr"
HOSTS = frozenset({"flickr.com"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if len(segs) < 2 or segs[0] not in ("photos", "people"):
        return None
    tail = segs[2:]
    if tail and tail[0] not in ("albums", "favorites", "galleries", "with"):
        return None  # a single photo or a set
    user = segs[1]
    if user in ("tags", "upload", "organize") or not re.fullmatch(r"[A-Za-z0-9_@\-]{2,40}", user):
        return None
    return user.lower()


PLATFORM = Platform(
    name=NAME,
    display_name="Flickr",
    hosts=HOSTS,
    normalise=normalise,
)
