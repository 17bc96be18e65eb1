"""The check stage: accounts in, one :class:`CheckResult` per account out.

Each platform module that can check accounts has ``check_accounts(accounts, ctx)``; this module
groups the accounts, hands each platform its share with a :class:`CheckContext`, and maps the
results back to every place an account is listed.  A bug in one checker becomes an
``unverifiable`` result for its accounts, not a failed run, and never a verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

from wmsocial_bot.model import Account, CheckResult, Identity, Status
from wmsocial_bot.net import Net
from wmsocial_bot.platforms import MODULES
from wmsocial_bot.platforms.common import CheckContext, result

log = logging.getLogger(__name__)


def check_accounts(
    accounts: Sequence[Account],
    net: Net,
    *,
    inactive_days: int = 365,
    known: Mapping[str, Identity] | None = None,
    now: datetime | None = None,
    workers: int = 32,
) -> list[CheckResult]:
    """Check every distinct account once; return a result for every listed place, in order."""
    unique: dict[str, Account] = {}
    for account in accounts:
        unique.setdefault(account.key, account)
    by_platform: dict[str, list[Account]] = {}
    for account in unique.values():
        by_platform.setdefault(account.platform, []).append(account)
    found: dict[str, CheckResult] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as executor:
        ctx = CheckContext(net, now or datetime.now(UTC), inactive_days, known or {}, executor)
        modules = {module.NAME: module for module in MODULES}
        for platform, group in by_platform.items():
            checker = getattr(modules[platform], "check_accounts", None)
            if checker is None:
                detail = f"wmsocial-bot has no check for {platform} accounts yet"
                results = [result(a, Status.UNVERIFIABLE, detail) for a in group]
            else:
                try:
                    results = checker(group, ctx)
                except Exception:  # a bug must not stop the run or become a verdict
                    log.exception("the %s checker failed", platform)
                    detail = f"the {platform} check failed with an internal error (see the log)"
                    results = [result(a, Status.UNVERIFIABLE, detail) for a in group]
            for item in results:
                found[item.account.key] = item
    return [
        found[a.key] if found[a.key].account is a else replace(found[a.key], account=a)
        for a in accounts
    ]
