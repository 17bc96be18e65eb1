"""The check stage: accounts in, one :class:`CheckResult` per account out.

Each platform that can be asked has a :class:`~wmsocial_bot.checkers.Checker`; this module
groups the accounts, hands each platform's checker its share with a :class:`CheckContext`, and
maps the results back to every place an account is listed.  A platform that is never asked gets
``unverifiable`` with the reason its identify record gives.

Checkers see only the bot's :class:`~wmsocial_bot.errors.TransportError` family for a request
that got no answer.  Anything else they raise is a bug, and this module is the one place that
catches it: per account (:func:`_guarded`) and per checker (:func:`_run_checker`).  A bug is
logged with its traceback and reported as ``unverifiable`` with the detail "internal error:
<type> ...": never ``unreachable``, never a verdict, so it never reaches a talk page.
"""

from __future__ import annotations

import functools
import gc
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from wmsocial_bot.checkers import CHECKERS, CheckContext, Checker, bluesky
from wmsocial_bot.checkers.common import result
from wmsocial_bot.identify import BY_NAME
from wmsocial_bot.model import Account, CheckResult, Identity, Status
from wmsocial_bot.net import Net, load_tls_trust

log = logging.getLogger(__name__)


def check_accounts(
    accounts: Sequence[Account],
    net: Net,
    *,
    inactive_days: int = 365,
    known: Mapping[str, Identity] | None = None,
    now: datetime | None = None,
    progress: Callable[[], None] | None = None,
) -> list[CheckResult]:
    """Check every distinct account once; return a result for every listed place, in order.

    Platforms are checked side by side, and each platform's accounts concurrently; the network
    policy (:class:`Net`) decides how many requests really are in flight.
    """
    ready_for_checks()
    unique: dict[str, Account] = {}
    for account in accounts:
        kept = unique.setdefault(account.key, account)
        if _shows_handle(account) and not _shows_handle(kept):
            unique[account.key] = account  # a DID link's label that can be out of date
    by_platform: dict[str, list[Account]] = {}
    for account in unique.values():
        by_platform.setdefault(account.platform, []).append(account)
    when = now or datetime.now(UTC)
    tick = progress or (lambda: None)
    found_unasked = [
        item
        for platform, group in by_platform.items()
        if platform not in CHECKERS
        for item in _unasked(platform, group, tick)
    ]
    shared = _Shared(net, when, inactive_days, known or {}, tick)
    with ThreadPoolExecutor(max_workers=len(CHECKERS), thread_name_prefix="platform") as outer:
        futures = [
            outer.submit(_check_platform, CHECKERS[platform], group, shared)
            for platform, group in by_platform.items()
            if platform in CHECKERS
        ]
        found = {item.account.key: item for f in futures for item in f.result()}
    found.update((item.account.key, item) for item in found_unasked)
    return [
        found[a.key] if found[a.key].account is a else replace(found[a.key], account=a)
        for a in accounts
    ]


@functools.cache
def ready_for_checks() -> None:
    """Import the platform clients, build the atproto models the checks read, load the CA
    certificates, and set what the process holds by then apart from the garbage collector;
    once per process, before its first check.

    The clients' classes, models and tables (about 110,000 objects, most of them atproto's)
    live as long as the process.  Every full collection of Python's cycle collector walked
    them all: one during a check cost 0.2 to 0.3 s of CPU, about 0.1 ms per account of a
    2,300-account run, and came or not by chance.  ``gc.freeze`` moves every object alive to
    a permanent generation that later collections skip (Python's ``gc`` documentation); a
    collection first leaves only objects that are alive.  An object frozen and later
    abandoned in a cycle is not freed: the modules, the configuration and the wiki session
    frozen here live to the end of a run anyway.
    """
    importlib.import_module("mastodon")
    bluesky.build_models()
    load_tls_trust()
    gc.collect()
    gc.freeze()


def _shows_handle(account: Account) -> bool:
    """A link by a stable id (a Bluesky DID) whose label shows a handle: the place whose
    label is checked."""
    record = BY_NAME.get(account.platform)
    return (
        record is not None
        and record.is_stable_id(account.handle)
        and record.label_handle(account.label) is not None
    )


def _unasked(platform: str, group: list[Account], tick: Callable[[], None]) -> list[CheckResult]:
    """A platform without a checker: ``unverifiable``, with the reason its record gives."""
    record = BY_NAME.get(platform)
    detail = (
        record.unasked
        if record is not None and record.unasked
        else f"wmsocial-bot has no check for {platform} accounts yet"
    )
    for _ in group:
        tick()
    return [result(account, Status.UNVERIFIABLE, detail) for account in group]


@dataclass(frozen=True)
class _Shared:
    """What every platform's check of one run shares."""

    net: Net
    now: datetime
    inactive_days: int
    known: Mapping[str, Identity]
    tick: Callable[[], None]


def _check_platform(checker: Checker, group: list[Account], shared: _Shared) -> list[CheckResult]:
    """One platform's accounts, with workers of its own: a slow platform never queues another."""
    net, tick = shared.net, shared.tick
    workers = net.config.max_connections + 8  # enough threads to fill every connection slot
    ticked: set[str] = set()

    def done(account: Account) -> None:
        if account.key not in ticked:
            ticked.add(account.key)
            tick()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=checker.name) as executor:
        ctx = CheckContext(
            net, shared.now, shared.inactive_days, shared.known, executor, done, _guarded
        )
        found = _run_checker(checker, group, ctx)
    for account in group:
        done(account)  # accounts a checker answered without check_each
    return found


def internal_error(exc: BaseException, platform: str) -> str:
    """The detail of a result a bug made: it says so, and is no evidence about the account."""
    return f"internal error: {type(exc).__name__} in the {platform} check (a bug; see the log)"


def _guarded(check: Callable[[Account], CheckResult], account: Account) -> CheckResult:
    """One account's check; a bug costs this account, reported as a bug, not the run."""
    try:
        return check(account)
    except Exception as exc:  # the one place: a bug must never become a verdict or stop the run
        log.exception("checking %s failed", account.key)
        return result(account, Status.UNVERIFIABLE, internal_error(exc, account.platform))


def _run_checker(checker: Checker, group: list[Account], ctx: CheckContext) -> list[CheckResult]:
    """A checker's accounts; a bug outside the per-account guard costs them all, as a bug."""
    try:
        return list(checker.check(group, ctx))
    except Exception as exc:  # the one place, per checker: see _guarded
        log.exception("the %s checker failed", checker.name)
        detail = internal_error(exc, checker.name)
        return [result(a, Status.UNVERIFIABLE, detail) for a in group]
