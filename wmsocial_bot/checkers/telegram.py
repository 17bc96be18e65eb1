"""Telegram: public channels and groups on t.me."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from wmsocial_bot.checkers.common import (
    CheckContext,
    FunctionChecker,
    activity_result,
    fetch,
    iso_datetime,
    refused,
    result,
    unexpected,
)
from wmsocial_bot.identify.telegram import NAME, is_invite
from wmsocial_bot.model import Account, CheckResult, Reach, Status

# ``https://t.me/<name>`` answers 200 for every name.  A public channel, group, bot or user has
# a page with ``tgme_page_title``; a name that belongs to nobody public gets the generic
# "Telegram: Contact @name" page: the ``tgme_page`` layout without a title.  The rule for
# ``deleted``: HTTP 200, no redirect away from t.me/<name>, the ``tgme_page`` layout, no
# ``tgme_page_title``, and the page names @<name>.  Anything else that is not a profile (a block
# page, a proxy's page, a redirect) is unverifiable.  ``https://t.me/s/<name>`` is the public
# preview of a channel: the last ``<time datetime="...">`` is the newest post.  Invite links
# cannot be checked without joining.

SITE = "https://t.me"
_TIME = re.compile(r"<time\b[^>]*\bdatetime\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
# t.me/<name>: ``<div class="tgme_page_extra">12 345 subscribers</div>`` for a channel,
# ``... members, 56 online`` for a group; digits grouped by spaces.
_AUDIENCE = re.compile(
    r'class="tgme_page_extra"[^>]*>\s*([0-9][0-9 \u00a0\u202f,]{0,20}?)\s+(?:subscribers|members)\b'
)
_INVITE = (
    "not checked: an invite link (t.me/+... or joinchat/...) shows what it leads to only to "
    "someone who joins, so no public page can confirm it"
)


def check_accounts(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    return ctx.check_each(lambda account: _check(account, ctx), accounts)


def _check(account: Account, ctx: CheckContext) -> CheckResult:
    name = account.handle
    if is_invite(name):
        return result(account, Status.UNVERIFIABLE, _INVITE)
    page = fetch(ctx, f"{SITE}/{name}")
    blocked = refused(page, "Telegram")
    if blocked is not None:
        return result(account, *blocked)
    if page.status != 200:
        return result(account, *unexpected(page, "Telegram"))
    html = page.text or ""
    at_home = page.final_host == "t.me" and page.final_path.rstrip("/").lower() == f"/{name}"
    if at_home and "tgme_page_title" in html:
        dates, problem = preview_dates(ctx, name)
        last = max(dates, default=None)
        if problem is not None:
            # The page proves the name is taken, but not whether the channel is still used:
            # an "ok" here would hide (and reset) an inactive channel.
            return result(
                account,
                Status.UNVERIFIABLE,
                f"t.me/{name} is a public Telegram page, but its last post is unknown: {problem}",
            )
        found = activity_result(account, ctx, last, f"t.me/{name} is a public Telegram page")
        # The preview shows the newest posts' dates; the page itself the audience.
        reach = Reach(followers=audience(html), post_dates=tuple(dates), last_post=last)
        return replace(found, reach=reach)
    if at_home and 'class="tgme_page' in html and f"@{name}" in html.lower():
        return result(
            account,
            Status.DELETED,
            f"t.me/{name} shows only Telegram's generic contact page (no tgme_page_title): "
            "no public channel, group or user has this name any more",
        )
    return result(
        account,
        Status.UNVERIFIABLE,
        f"t.me/{name} answered with a page that is neither a Telegram profile nor its generic "
        f"contact page (at {page.final_url})",
    )


def audience(html: str) -> int | None:
    """The subscribers (channel) or members (group) ``t.me/<name>`` shows, when it shows an
    exact figure (``12 345 subscribers``); a rounded one (``1.2K``) or none is no figure."""
    match = _AUDIENCE.search(html)
    if match is None:
        return None
    digits = re.sub(r"[ \u00a0\u202f,]", "", match.group(1))
    return int(digits) if digits.isdigit() and len(digits) <= 12 else None


def preview_dates(ctx: CheckContext, name: str) -> tuple[list[date], str | None]:
    """(the post dates in the channel's public preview, if it has one; why the preview could
    not be read, if it could not: a fault, a refusal, a 5xx)."""
    preview = fetch(ctx, f"{SITE}/s/{name}")
    failed = refused(preview, "Telegram")
    if failed is not None:
        return [], failed[1]
    if preview.status != 200 or not preview.text:
        return [], None  # not a channel, or no preview: the page above already answered
    dates = [when.date() for when in map(iso_datetime, _TIME.findall(preview.text)) if when]
    return dates, None


CHECKER = FunctionChecker(NAME, check_accounts)
