"""Instagram: only a real 404 would mean gone; login walls are unverifiable."""

from __future__ import annotations

from collections.abc import Sequence

from wmsocial_bot.checkers.common import (
    CheckContext,
    FunctionChecker,
    fetch,
    refused,
    result,
    unexpected,
)
from wmsocial_bot.identify.instagram import NAME
from wmsocial_bot.model import Account, CheckResult, Status

# One request, ``https://www.instagram.com/<user>/``, without following redirects: it is worth
# making because a real 404 is strong evidence that the profile is gone (``deleted``).  Every
# other answer is unverifiable: a 200 is the login wall Instagram shows for live and missing
# profiles alike, a 302 goes to ``/accounts/login``, and cloud addresses get 429.


def profile_url(user: str) -> str:
    return f"https://www.instagram.com/{user}/"


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    return ctx.check_each(lambda account: _check(account, ctx), accounts)


def _check(account: Account, ctx: CheckContext) -> CheckResult:
    user = account.handle
    answer = fetch(ctx, profile_url(user), allow_redirects=False)
    blocked = refused(answer, "Instagram")
    if blocked is not None:
        return result(account, *blocked)
    if answer.status == 404:
        return result(account, Status.DELETED, f"Instagram answers 404 for instagram.com/{user}/")
    if answer.status in (301, 302, 303, 307, 308):
        target = answer.location or ""
        wall = "its login page" if "/accounts/login" in target else target or "elsewhere"
        return result(
            account,
            Status.UNVERIFIABLE,
            f"Instagram sent instagram.com/{user}/ to {wall} (HTTP {answer.status}) instead of "
            "showing the profile",
        )
    if answer.status == 200:
        return result(
            account,
            Status.UNVERIFIABLE,
            "Instagram answered 200 with its login wall, which it shows for live and missing "
            "profiles alike",
        )
    return result(account, *unexpected(answer, "Instagram"))


CHECKER = FunctionChecker(NAME, check_accounts)
