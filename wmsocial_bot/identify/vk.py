"""VK: no free account check; links are normalised only."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform, first_segment_user
from wmsocial_bot.urls import UrlParts

NAME = "vk"
HOSTS = frozenset({"vk.com", "vkontakte.ru", "vk.ru"})
RESERVED = frozenset({"feed", "im", "search", "share.php", "video", "audio", "photo", "away.php"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if segs and re.match(r"^(wall|photo|video|topic|album)-?\d", segs[0]):
        return None
    return first_segment_user(parts, pattern=r"[A-Za-z0-9_.]{2,40}", reserved=RESERVED)


# Never asked: no answer VK gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).
UNASKED = (
    "not checked: VK needs an access token for its API and shows profiles to anonymous visitors"
    " inconsistently, so a request would prove nothing"
)


PLATFORM = Platform(
    name=NAME,
    display_name="VK",
    hosts=HOSTS,
    normalise=normalise,
    unasked=UNASKED,
)
