"""Weibo: ``weibo.com/u/<id>`` or ``weibo.com/<name>``; checks are unverifiable."""

from __future__ import annotations

import re
from collections.abc import Sequence

from wmsocial_bot.model import Account, CheckResult
from wmsocial_bot.platforms.common import CheckContext, unverifiable_all
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


# --------------------------------------------------------------------------- checks
#
# No request is made: no answer Weibo gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).

UNVERIFIABLE = (
    "not checked: Weibo shows profiles only after a login or a visitor check and has no free "
    "API, so a request would prove nothing"
)


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    del ctx  # no request would prove anything
    return unverifiable_all(accounts, UNVERIFIABLE)
