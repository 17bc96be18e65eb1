"""Threads: profile pages sit behind a login wall, so checks are unverifiable."""

from __future__ import annotations

from wmsocial_bot.platforms.common import first_segment_user
from wmsocial_bot.urls import UrlParts

NAME = "threads"
HOSTS = frozenset({"threads.net", "threads.com"})


def normalise(parts: UrlParts) -> str | None:
    return first_segment_user(
        parts, pattern=r"[A-Za-z0-9_.]{1,30}", need_at=True, allowed_tail=frozenset({"replies"})
    )
