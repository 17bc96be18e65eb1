"""Threads: profile pages sit behind a login wall, so checks are unverifiable."""

from __future__ import annotations

from collections.abc import Sequence

from wmsocial_bot.model import Account, CheckResult
from wmsocial_bot.platforms.common import CheckContext, first_segment_user, unverifiable_all
from wmsocial_bot.urls import UrlParts

NAME = "threads"
HOSTS = frozenset({"threads.net", "threads.com"})


def normalise(parts: UrlParts) -> str | None:
    return first_segment_user(
        parts, pattern=r"[A-Za-z0-9_.]{1,30}", need_at=True, allowed_tail=frozenset({"replies"})
    )


# --------------------------------------------------------------------------- checks
#
# No request is made: no answer Threads gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).

UNVERIFIABLE = (
    "not checked: Threads shows profiles only behind a login wall and has no free API to look "
    "accounts up, so a request would prove nothing"
)


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    del ctx  # no request would prove anything
    return unverifiable_all(accounts, UNVERIFIABLE)
