"""Tumblr: ``<user>.tumblr.com`` or ``tumblr.com/<user>``; a missing blog is a 404."""

from __future__ import annotations

from collections.abc import Sequence

from wmsocial_bot.checkers.common import CheckContext, FunctionChecker, check_profile_page
from wmsocial_bot.identify.tumblr import NAME
from wmsocial_bot.model import Account, CheckResult

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


CHECKER = FunctionChecker(NAME, check_accounts)
