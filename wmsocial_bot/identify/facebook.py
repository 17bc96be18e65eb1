"""Facebook pages: name lowercase, or the numeric id; checks are mostly unverifiable."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform
from wmsocial_bot.urls import UrlParts

NAME = "facebook"
HOSTS = frozenset({"facebook.com", "fb.com", "fb.me", "business.facebook.com"})
# Language hosts (``de-de.facebook.com``, ``es-la.facebook.com``, ``de.facebook.com``) and the
# alternative front ends (``web.``, ``mbasic.``, ``touch.``, ``free.``) show the same pages.
HOST_PATTERN = re.compile(r"^(?:[a-z]{2}(?:-[a-z]{2})?|web|mbasic|touch|free)\.facebook\.com$")
RESERVED = frozenset(
    {
        "sharer",
        "sharer.php",
        "share",
        "share.php",
        "dialog",
        "watch",
        "events",
        "photo",
        "photo.php",
        "story.php",
        "permalink.php",
        "login",
        "login.php",
        "hashtag",
        "help",
        "policies",
        "privacy",
        "plugins",
        "l.php",
        "media",
        "reel",
        "marketplace",
        "gaming",
        "search",
        "home.php",
        "people",
        "notes",
        "business",
    }
)
_PAGE_TAILS = frozenset({"about", "photos", "videos", "events", "community", "reviews", "mentions"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if not segs:
        return None
    first = segs[0]
    if first == "profile.php":
        ident = parts.param("id")
        return ident if ident and ident.isdigit() else None
    if first == "pages" and len(segs) >= 3 and segs[-1].isdigit():
        return segs[-1]
    if first == "groups" and len(segs) >= 2:
        return None if len(segs) > 2 and segs[2] not in ("about",) else f"groups/{segs[1].lower()}"
    if first.lower() in RESERVED or not re.fullmatch(r"[A-Za-z0-9.\-]{2,80}", first):
        return None
    if len(segs) > 1 and segs[1].lower() not in _PAGE_TAILS:
        return None  # posts, photos of a post, videos
    return first if first.isdigit() else first.lower()


# Never asked: no answer Facebook gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).
UNASKED = (
    "not checked: Facebook shows pages behind a login wall or as a 200 “content isn't "
    "available” page whether or not they exist, and has no free API to look them up, so a "
    "request would prove nothing"
)


PLATFORM = Platform(
    name=NAME,
    display_name="Facebook",
    hosts=HOSTS,
    normalise=normalise,
    host_pattern=HOST_PATTERN,
    unasked=UNASKED,
)
