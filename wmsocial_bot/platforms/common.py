"""Helpers shared by the platform normalisers."""

from __future__ import annotations

import re

from wmsocial_bot.urls import UrlParts


def first_segment_user(
    parts: UrlParts,
    *,
    pattern: str,
    reserved: frozenset[str] = frozenset(),
    allowed_tail: frozenset[str] = frozenset(),
    strip_at: bool = False,
    need_at: bool = False,
) -> str | None:
    """The username in ``/<user>[/<allowed tail>]``, lowercased, or None.

    ``need_at`` demands the ``/@user`` form (TikTok, Threads); ``strip_at`` merely tolerates it.
    Anything after the user that is not an allowed tail (a post, a video) means the link is not
    an account link.
    """
    if not parts.segments:
        return None
    first, rest = parts.segments[0], parts.segments[1:]
    if need_at:
        if not first.startswith("@"):
            return None
        first = first[1:]
    elif strip_at and first.startswith("@"):
        first = first[1:]
    if first.lower() in reserved or not re.fullmatch(pattern, first):
        return None
    if rest and rest[0].lower() not in allowed_tail:
        return None
    return first.lower()
