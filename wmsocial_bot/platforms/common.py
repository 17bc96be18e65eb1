"""What the platform modules share: normaliser helpers and the checkers' context."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from wmsocial_bot.errors import NetworkPolicyError
from wmsocial_bot.model import Account, CheckResult, Identity, Status
from wmsocial_bot.net import Net
from wmsocial_bot.urls import UrlParts

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def first_segment_user(
    parts: UrlParts,
    *,
    pattern: str,
    reserved: frozenset[str] = frozenset(),
    allowed_tail: frozenset[str] = frozenset(),
    strip_at: bool = False,
    need_at: bool = False,
) -> str | None:
    """The username in ``/<user>[/<allowed tail>]``, lowercased, or None.

    ``need_at`` demands the ``/@user`` form (TikTok, Threads); ``strip_at`` merely tolerates it.
    Anything after the user that is not an allowed tail (a post, a video) means the link is not
    an account link.
    """
    if not parts.segments:
        return None
    first, rest = parts.segments[0], parts.segments[1:]
    if need_at:
        if not first.startswith("@"):
            return None
        first = first[1:]
    elif strip_at and first.startswith("@"):
        first = first[1:]
    if first.lower() in reserved or not re.fullmatch(pattern, first):
        return None
    if rest and rest[0].lower() not in allowed_tail:
        return None
    return first.lower()


@dataclass(frozen=True)
class CheckContext:
    """Everything a checker may use: the network, the clock, the policy and what we know."""

    net: Net
    now: datetime
    inactive_days: int
    known: Mapping[str, Identity]
    executor: ThreadPoolExecutor

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Run ``fn`` over ``items`` concurrently (the network layer enforces the limits)."""
        return list(self.executor.map(fn, items))

    def check_each(
        self, check: Callable[[Account], CheckResult], accounts: Iterable[Account]
    ) -> list[CheckResult]:
        """``check`` every account concurrently; a bug costs one account, not the run."""

        def guarded(account: Account) -> CheckResult:
            try:
                return check(account)
            except Exception:  # a bug must never become a verdict or stop the run
                log.exception("checking %s failed", account.key)
                detail = "the check failed with an internal error (see the log)"
                return result(account, Status.UNVERIFIABLE, detail)

        return self.map(guarded, accounts)

    def is_stale(self, last: date | datetime | None) -> bool:
        if last is None:
            return False
        day = last.date() if isinstance(last, datetime) else last
        return day < (self.now - timedelta(days=self.inactive_days)).date()


def result(account: Account, status: Status, detail: str, **kwargs: object) -> CheckResult:
    """Shorthand used by every checker."""
    return CheckResult(account=account, status=status, detail=detail, **kwargs)  # type: ignore[arg-type]


def policy_refusal(exc: BaseException | None) -> NetworkPolicyError | None:
    """The guard's refusal, if it is what made a client library fail."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, NetworkPolicyError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None
