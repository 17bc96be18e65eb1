"""Pinterest: a missing profile is redirected to the home page (a soft 404)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from wmsocial_bot.model import Account, CheckResult
from wmsocial_bot.platforms.common import CheckContext, check_profile_page, first_segment_user
from wmsocial_bot.urls import UrlParts

NAME = "pinterest"
HOSTS = frozenset({"pinterest.com"})
HOST_PATTERN = re.compile(
    r"^(?:[a-z]{2}\.)?pinterest\.(?:com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})$"
)
RESERVED = frozenset({"pin", "search", "ideas", "today", "business", "login", "explore", "_"})


def normalise(parts: UrlParts) -> str | None:
    return first_segment_user(
        parts,
        pattern=r"[A-Za-z0-9_]{3,30}",
        reserved=RESERVED,
        allowed_tail=frozenset({"_created", "_saved", "pins", "boards"}),
    )


# --------------------------------------------------------------------------- checks
#
# ``https://www.pinterest.com/<user>/`` (the same account on every country host): 200 is ok,
# 404 deleted, and a redirect to the home page (final path ``/``) is Pinterest's soft 404 for a
# missing profile: deleted.  Refusals and login walls are unverifiable.


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    return ctx.check_each(
        lambda account: check_profile_page(
            account,
            ctx,
            f"https://www.pinterest.com/{account.handle}/",
            site="Pinterest",
            domain="pinterest.com",
            home_is_gone=True,
        ),
        accounts,
    )
