"""Threads: profile pages sit behind a login wall, so checks are unverifiable."""

from __future__ import annotations

from wmsocial_bot.identify.record import Platform, first_segment_user
from wmsocial_bot.urls import UrlParts

NAME = "threads"
HOSTS = frozenset({"threads.net", "threads.com"})


def normalise(parts: UrlParts) -> str | None:
    return first_segment_user(
        parts, pattern=r"[A-Za-z0-9_.]{1,30}", need_at=True, allowed_tail=frozenset({"replies"})
    )


# Never asked: no answer Threads gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).
UNASKED = (
    "not checked: Threads shows profiles only behind a login wall and has no free API to look "
    "accounts up, so a request would prove nothing"
)


PLATFORM = Platform(
    name=NAME,
    display_name="Threads",
    hosts=HOSTS,
    normalise=normalise,
    profile_url="https://www.threads.net/@{}",
    label_words=("Threads",),
    unasked=UNASKED,
)
