"""TikTok: accounts are ``/@user``; checked through oEmbed."""

from __future__ import annotations

from wmsocial_bot.identify.record import Platform, first_segment_user
from wmsocial_bot.urls import UrlParts

NAME = "tiktok"
HOSTS = frozenset({"tiktok.com"})


def normalise(parts: UrlParts) -> str | None:
    return first_segment_user(parts, pattern=r"[A-Za-z0-9_.]{1,24}", need_at=True)


PLATFORM = Platform(
    name=NAME,
    display_name="TikTok",
    hosts=HOSTS,
    normalise=normalise,
    profile_url="https://www.tiktok.com/@{}",
    label_words=("TikTok", "Tiktok"),
)
