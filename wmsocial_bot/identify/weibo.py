"""Weibo: ``weibo.com/u/<id>`` or ``weibo.com/<name>``; checks are unverifiable."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform
from wmsocial_bot.urls import UrlParts

NAME = "weibo"
HOSTS = frozenset({"weibo.com", "weibo.cn"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if len(segs) == 2 and segs[0] == "profile" and segs[1].isdigit():
        segs = ("u", segs[1])  # the mobile site's profile path (m.weibo.cn/profile/<id>)
    if len(segs) == 2 and segs[0] in ("u", "n") and re.fullmatch(r"\w{1,40}", segs[1]):
        return f"{segs[0]}/{segs[1].lower()}"
    if len(segs) == 1 and re.fullmatch(r"[A-Za-z0-9_]{2,40}", segs[0]):
        return segs[0].lower()
    return None


# Never asked: no answer Weibo gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).
UNASKED = (
    "not checked: Weibo shows profiles only after a login or a visitor check and has no free "
    "API, so a request would prove nothing"
)


PLATFORM = Platform(
    name=NAME,
    display_name="Weibo",
    hosts=HOSTS,
    normalise=normalise,
    unasked=UNASKED,
)
