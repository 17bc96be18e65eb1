"""VK: no free account check; links are normalised only."""

from __future__ import annotations

import re
from collections.abc import Sequence

from wmsocial_bot.model import Account, CheckResult
from wmsocial_bot.platforms.common import CheckContext, first_segment_user, unverifiable_all
from wmsocial_bot.urls import UrlParts

NAME = "vk"
HOSTS = frozenset({"vk.com", "vkontakte.ru", "vk.ru"})
RESERVED = frozenset({"feed", "im", "search", "share.php", "video", "audio", "photo", "away.php"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if segs and re.match(r"^(wall|photo|video|topic|album)-?\d", segs[0]):
        return None
    return first_segment_user(parts, pattern=r"[A-Za-z0-9_.]{2,40}", reserved=RESERVED)


# --------------------------------------------------------------------------- checks
#
# No request is made: no answer VK gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).

UNVERIFIABLE = (
    "not checked: VK needs an access token for its API and shows profiles to anonymous visitors"
    " inconsistently, so a request would prove nothing"
)


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    del ctx  # no request would prove anything
    return unverifiable_all(accounts, UNVERIFIABLE)
