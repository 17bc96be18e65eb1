"""Instagram: only a real 404 would mean gone; login walls are unverifiable."""

from __future__ import annotations

from wmsocial_bot.identify.record import Platform, first_segment_user
from wmsocial_bot.urls import UrlParts

NAME = "instagram"
HOSTS = frozenset({"instagram.com", "instagr.am"})
RESERVED = frozenset(
    {"p", "reel", "reels", "tv", "explore", "stories", "accounts", "direct", "about"}
)


def normalise(parts: UrlParts) -> str | None:
    return first_segment_user(
        parts,
        pattern=r"[A-Za-z0-9_.]{1,30}",
        reserved=RESERVED,
        allowed_tail=frozenset({"reels", "tagged"}),
        strip_at=True,
    )


PLATFORM = Platform(
    name=NAME,
    display_name="Instagram",
    hosts=HOSTS,
    normalise=normalise,
    profile_url="https://www.instagram.com/{}",
    label_words=("Instagram",),
)
