"""Reddit users (``u/name``) and subreddits (``r/name``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wmsocial_bot.checkers.common import (
    CheckContext,
    FunctionChecker,
    fetch,
    refused,
    result,
    unexpected,
)
from wmsocial_bot.identify.reddit import NAME
from wmsocial_bot.model import Account, CheckResult, Status

# ``https://www.reddit.com/user/<u>/about.json``: 200 with ``data.is_suspended`` true is
# suspended, 200 otherwise ok, 404 deleted.  ``/r/<s>/about.json``: 200 ok, 404 with
# ``reason: "banned"`` suspended (banned by Reddit), 404 otherwise deleted, a redirect to the
# subreddit search (what Reddit does for a name no subreddit has) deleted, 403 with
# ``reason: "private"`` unverifiable, ``reason: "quarantined"`` limited.  Reddit blocks many
# cloud addresses with 403 and 429: those, and any other refusal, are unverifiable.

SITE = "https://www.reddit.com"


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    return ctx.check_each(lambda account: _check(account, ctx), accounts)


def _check(account: Account, ctx: CheckContext) -> CheckResult:
    kind, _, name = account.handle.partition("/")
    is_user = kind == "u"
    path = f"/user/{name}/about.json" if is_user else f"/r/{name}/about.json"
    shown = account.handle
    answer = fetch(ctx, SITE + path)
    body = answer.json()
    data = body.get("data") if isinstance(body, Mapping) else None
    reason = str(body.get("reason") or "") if isinstance(body, Mapping) else ""
    if answer.status == 403 and reason == "private" and not answer.challenge:
        detail = f"{shown} is a private subreddit (Reddit says 403 private)"
        return result(account, Status.UNVERIFIABLE, detail)
    if answer.status == 403 and reason == "quarantined" and not answer.challenge:
        return result(account, Status.LIMITED, f"Reddit has quarantined {shown} (403 quarantined)")
    blocked = refused(answer, "Reddit")
    if blocked is not None:
        return result(account, *blocked)
    if answer.status == 404 and not is_user and reason == "banned":
        return result(account, Status.SUSPENDED, f"Reddit has banned {shown} (404 banned)")
    if answer.status in (404, 410):
        return result(account, Status.DELETED, f"Reddit answers {answer.status} for {shown}")
    if answer.status != 200:
        return result(account, *unexpected(answer, "Reddit"))
    if not is_user and answer.final_path.startswith("/subreddits/search"):
        return result(
            account,
            Status.DELETED,
            f"Reddit sends {shown} to its subreddit search: no subreddit has this name",
        )
    expected = "t2" if is_user else "t5"
    if (
        not isinstance(body, Mapping)
        or body.get("kind") != expected
        or not isinstance(data, Mapping)
    ):
        return result(
            account,
            Status.UNVERIFIABLE,
            f"Reddit answered 200 for {shown} with something that is not its about.json "
            "(a block page?)",
        )
    if is_user and data.get("is_suspended") is True:
        return result(account, Status.SUSPENDED, f"Reddit says {shown} is suspended")
    return result(account, Status.OK, f"Reddit shows {shown}")


CHECKER = FunctionChecker(NAME, check_accounts)
