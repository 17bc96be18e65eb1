"""Tumblr: ``<user>.tumblr.com`` or ``tumblr.com/<user>``; a missing blog is a 404."""

from __future__ import annotations

import re
from collections.abc import Sequence

from wmsocial_bot.model import Account, CheckResult
from wmsocial_bot.platforms.common import CheckContext, check_profile_page
from wmsocial_bot.urls import UrlParts

NAME = "tumblr"
HOSTS = frozenset({"tumblr.com"})
HOST_PATTERN = re.compile(r"^[a-z0-9\-]+\.tumblr\.com$")
RESERVED = frozenset(
    {"www", "blog", "tagged", "search", "explore", "dashboard", "login", "register"}
)


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if parts.host != "tumblr.com":
        user = parts.host.split(".")[0]
        if user in RESERVED or (segs and segs[0] in ("post", "image")):
            return None
        return user
    if not segs or segs[0] in RESERVED or len(segs) > 1:
        return None
    if not re.fullmatch(r"[A-Za-z0-9\-]{1,32}", segs[0]):
        return None
    return segs[0].lower()


# --------------------------------------------------------------------------- checks
#
# ``https://<user>.tumblr.com/`` (both link forms name the same blog): 200 is ok, also after a
# redirect to ``www.tumblr.com/<user>``; 404 deleted; refusals, the login wall, the safe-mode
# (content filter) wall and a redirect to the home page are unverifiable.


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    return ctx.check_each(
        lambda account: check_profile_page(
            account,
            ctx,
            f"https://{account.handle}.tumblr.com/",
            site="Tumblr",
            domain="tumblr.com",
        ),
        accounts,
    )
