"""VK: no free account check; links are normalised only."""

from __future__ import annotations

import re

from wmsocial_bot.platforms.common import first_segment_user
from wmsocial_bot.urls import UrlParts

NAME = "vk"
HOSTS = frozenset({"vk.com", "vkontakte.ru", "vk.ru"})
RESERVED = frozenset({"feed", "im", "search", "share.php", "video", "audio", "photo", "away.php"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if segs and re.match(r"^(wall|photo|video|topic|album)-?\d", segs[0]):
        return None
    return first_segment_user(parts, pattern=r"[A-Za-z0-9_.]{2,40}", reserved=RESERVED)
