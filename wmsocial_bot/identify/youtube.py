"""YouTube channels: ``/channel/UC...``, ``/@handle``, ``/c/name`` and ``/user/name``."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform
from wmsocial_bot.urls import UrlParts

NAME = "youtube"
HOSTS = frozenset({"youtube.com"})
_TABS = frozenset(
    {
        "videos",
        "shorts",
        "streams",
        "playlists",
        "community",
        "about",
        "featured",
        "live",
        "channels",
        "posts",
        "podcasts",
        "releases",
    }
)


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if not segs:
        return None
    first = segs[0]
    if first.startswith("@") and len(first) > 1:
        handle, tail = first, segs[1:]
        if not re.fullmatch(r"@[\w.\-·]{1,100}", handle):
            return None
        result = handle.lower()
    elif first == "channel" and len(segs) >= 2 and re.fullmatch(r"UC[A-Za-z0-9_\-]{22}", segs[1]):
        result, tail = segs[1], segs[2:]
    elif first in ("c", "user") and len(segs) >= 2:
        result, tail = f"{first}/{segs[1].lower()}", segs[2:]
    else:
        return None  # watch, shorts, playlist, results, embed, ...
    if tail and tail[0].lower() not in _TABS:
        return None
    return result


PLATFORM = Platform(
    name=NAME,
    display_name="YouTube",
    hosts=HOSTS,
    normalise=normalise,
    profile_url="https://www.youtube.com/@{}",
    label_words=("YouTube", "Youtube"),
    reports_activity=True,
)
