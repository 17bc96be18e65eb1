"""TikTok: accounts are ``/@user``; checked through oEmbed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

from wmsocial_bot.checkers.common import (
    CheckContext,
    FunctionChecker,
    fetch,
    refused,
    result,
    unexpected,
)
from wmsocial_bot.identify.tiktok import NAME
from wmsocial_bot.model import Account, CheckResult, Status

# TikTok's oEmbed endpoint, ``https://www.tiktok.com/oembed?url=https://www.tiktok.com/@<user>``:
# 200 with JSON means the profile exists and is public.  A failure (400, 404) is not a
# deletion: private accounts cannot be embedded either, so it is unverifiable; refusals too.


def oembed_url(user: str) -> str:
    return "https://www.tiktok.com/oembed?url=" + quote(f"https://www.tiktok.com/@{user}", safe="")


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    return ctx.check_each(lambda account: _check(account, ctx), accounts)


def _check(account: Account, ctx: CheckContext) -> CheckResult:
    user = account.handle
    answer = fetch(ctx, oembed_url(user))
    blocked = refused(answer, "TikTok")
    if blocked is not None:
        return result(account, *blocked)
    if answer.status in (400, 404):
        return result(
            account,
            Status.UNVERIFIABLE,
            f"TikTok will not embed @{user} (HTTP {answer.status}): the account is missing or "
            "private, and private accounts cannot be told apart",
        )
    if answer.status != 200:
        return result(account, *unexpected(answer, "TikTok"))
    body = answer.json()
    if not isinstance(body, Mapping) or not (body.get("html") or body.get("author_name")):
        return result(
            account,
            Status.UNVERIFIABLE,
            f"TikTok answered 200 for @{user} with something that is not an oEmbed document",
        )
    return result(account, Status.OK, f"TikTok embeds the profile @{user} (oEmbed 200)")


CHECKER = FunctionChecker(NAME, check_accounts)
