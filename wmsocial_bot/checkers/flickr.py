"""Flickr: ``/photos/<user>`` and ``/people/<user>``; a missing profile is a 404."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from wmsocial_bot.checkers.common import CheckContext, FunctionChecker, check_profile_page
from wmsocial_bot.identify.flickr import NAME
from wmsocial_bot.model import Account, CheckResult

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


CHECKER = FunctionChecker(NAME, check_accounts)
