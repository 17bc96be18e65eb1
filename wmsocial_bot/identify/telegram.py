"""Telegram: public channels and groups on t.me."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform
from wmsocial_bot.urls import UrlParts

NAME = "telegram"
HOSTS = frozenset({"t.me", "telegram.me", "telegram.dog"})
RESERVED = frozenset({"share", "addstickers", "proxy", "socks", "iv", "login", "setlanguage"})


def normalise(parts: UrlParts) -> str | None:
    """``t.me/name`` and ``t.me/s/name`` -> ``name``; invite links keep their form."""
    segs = parts.segments
    if not segs:
        return None
    if segs[0] == "s" and len(segs) >= 2:
        segs = segs[1:]
    first = segs[0]
    if first == "joinchat" and len(segs) >= 2:
        return f"joinchat/{segs[1]}"
    if first.startswith("+") and len(segs) == 1:
        return first
    if len(segs) > 1 or first.lower() in RESERVED:
        return None  # a post (t.me/name/123) or a tool link
    if not re.fullmatch(r"[A-Za-z0-9_]{4,32}", first):
        return None
    return first.lower()


def is_invite(handle: str) -> bool:
    """Invite links cannot be checked without joining."""
    return handle.startswith(("+", "joinchat/"))


PLATFORM = Platform(
    name=NAME,
    display_name="Telegram",
    hosts=HOSTS,
    normalise=normalise,
    profile_url="https://t.me/{}",
    label_words=("Telegram",),
    reports_activity=True,
)
