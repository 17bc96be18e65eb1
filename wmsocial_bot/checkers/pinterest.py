"""Pinterest: a missing profile is redirected to the home page (a soft 404)."""

from __future__ import annotations

from collections.abc import Sequence

from wmsocial_bot.checkers.common import (
    CheckContext,
    FunctionChecker,
    check_profile_page,
)
from wmsocial_bot.identify.pinterest import NAME
from wmsocial_bot.model import Account, CheckResult

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


CHECKER = FunctionChecker(NAME, check_accounts)
