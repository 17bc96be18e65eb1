"""Flickr: ``/photos/<user>`` and ``/people/<user>``; a missing profile is a 404."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from wmsocial_bot.model import Account, CheckResult
from wmsocial_bot.platforms.common import CheckContext, check_profile_page
from wmsocial_bot.urls import UrlParts

NAME = "flickr"
HOSTS = frozenset({"flickr.com"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if len(segs) < 2 or segs[0] not in ("photos", "people"):
        return None
    tail = segs[2:]
    if tail and tail[0] not in ("albums", "favorites", "galleries", "with"):
        return None  # a single photo or a set
    user = segs[1]
    if user in ("tags", "upload", "organize") or not re.fullmatch(r"[A-Za-z0-9_@\-]{2,40}", user):
        return None
    return user.lower()


# --------------------------------------------------------------------------- checks
#
# ``https://www.flickr.com/photos/<user>/``: 200 is ok, 404 deleted; refusals, login walls and
# redirects home are unverifiable.  The handle is lowercased, but numeric ids are written
# ``12345678@N05``: the ``@N`` is put back in capitals for the request.


def profile_url(handle: str) -> str:
    user = re.sub(r"^(\d+)@n(\d+)$", r"\1@N\2", handle)
    return f"https://www.flickr.com/photos/{quote(user, safe='@')}/"


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    return ctx.check_each(
        lambda account: check_profile_page(
            account, ctx, profile_url(account.handle), site="Flickr", domain="flickr.com"
        ),
        accounts,
    )
