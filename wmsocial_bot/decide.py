"""Decide: check results + history -> fixes, findings, outages and the status table (pure).

Nothing here does I/O.  A bad result becomes a *finding* only once it has been seen often
enough over a long enough time (``[policy] confirmations`` over ``confirm_days``); explicit
statements by a platform (suspended, deactivated, moved, renamed, limited, a refused link)
confirm sooner.  When many accounts of one host or platform go bad in the same run, that is an
outage: recorded and shown, never acted on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from difflib import SequenceMatcher

from wmsocial_bot import gate, profiles
from wmsocial_bot.config import PolicyConfig
from wmsocial_bot.errors import WriteRefused
from wmsocial_bot.extract import Extraction, extract_accounts
from wmsocial_bot.identify import BY_NAME, HandleForm, identify_url
from wmsocial_bot.model import (
    Account,
    CheckResult,
    Finding,
    Fix,
    FixRecord,
    Status,
    StatusRow,
    Streak,
)
from wmsocial_bot.relme import Verdict

ACTIONS = {
    Status.DELETED: "Check the account; if it is really gone, remove or annotate the entry.",
    Status.SUSPENDED: "Check why it was suspended; remove or annotate the entry if it stays so.",
    Status.DEACTIVATED: "Ask the owner whether it is coming back; else remove or annotate it.",
    Status.UNREACHABLE: "The server has not answered for days; check whether it has shut down.",
    Status.INVALID: "Correct the link.",
    Status.INACTIVE: "Ask the owner whether the account is still used; mark it inactive if not.",
    Status.MOVED: "Find the account's new address and update the link by hand.",
    Status.RENAMED: "Update the link to the account's new handle by hand.",
}
_NOT_OWNER_COLUMN = re.compile(
    r"platform|service|network|site|account|handle|link|url|language|lang|notes?|remarks?|"
    r"comments?|since|status|followers",
    re.I,
)
_OWNER_COLUMN = re.compile(r"owner|organi[sz]ation|chapter|group|affiliate|name|who|entity", re.I)


@dataclass(frozen=True)
class Policy(PolicyConfig):
    """The knobs of ``[policy]`` (maybe overridden on-wiki), plus the ignore list."""

    ignore: frozenset[str] = frozenset()

    def needs(self, status: Status) -> tuple[int, timedelta]:
        """(sightings, time span) before ``status`` is acted on."""
        if status.explicit:
            return min(self.confirmations, 2), timedelta(days=min(self.confirm_days, 1))
        return self.confirmations, timedelta(days=self.confirm_days)


@dataclass(frozen=True)
class Outage:
    scope: str  # "host:wikis.world" or "platform:bluesky"
    bad: int
    total: int

    @property
    def share(self) -> float:
        return self.bad / self.total


@dataclass(frozen=True)
class Decision:
    fixes: tuple[Fix, ...]
    findings: tuple[Finding, ...]  # every confirmed finding; `act` posts only the new ones
    outages: tuple[Outage, ...]
    streaks: Mapping[str, Streak]  # to store
    rows: tuple[StatusRow, ...]
    waiting: tuple[tuple[str, str], ...] = field(default=())  # (key, "seen 1 of 3 times ...")
    ignored: tuple[str, ...] = ()
    capped: int = 0  # fixes left for a later run by max_fixes_per_run
    held: tuple[str, ...] = ()  # why fixes or revert findings were held back ("page fixes: ...")


def scope_of(account: Account) -> str:
    """Where an outage would come from: the fediverse server, or the whole platform."""
    record = BY_NAME.get(account.platform)
    if record is not None and record.handle_form is HandleForm.FEDIVERSE:
        return f"host:{account.handle.partition('@')[2]}"
    return f"platform:{account.platform}"


def ignore_keys(entries: Sequence[str]) -> frozenset[str]:
    """Ignore-list entries (account keys like ``mastodon:a@b.example``, or links) -> keys."""
    keys = set()
    for entry in entries:
        entry = entry.strip()
        found = identify_url(entry) if "://" in entry else None
        keys.add(f"{found.platform}:{found.handle}" if found else entry.lower())
    return frozenset(keys)


def owner_of(account: Account) -> str | None:
    """The row's owner cell, or else its first cell that is not about the account itself."""
    for name, value in account.cells:
        if _OWNER_COLUMN.search(name):
            return value
    for name, value in account.cells:
        if not _NOT_OWNER_COLUMN.search(name):
            return value
    return None


def next_streak(previous: Streak | None, status: Status, now: datetime) -> Streak | None:
    """The streak after this check; ``unverifiable`` is no evidence and changes nothing."""
    if status == Status.UNVERIFIABLE:
        return previous or Streak(status.value, now, now, 1)
    if previous is not None and previous.status == status.value:
        return Streak(previous.status, previous.first_seen, now, previous.count + 1)
    return Streak(status.value, now, now, 1)


@dataclass(frozen=True)
class History:
    """What ``decide`` knows from before this check of the page.

    ``streaks``: each account's streak before this run, except for ``counted``: accounts
    already counted in this run (listed on an earlier page too), whose streak is this run's.
    ``fixes``: the bot's earlier fixes, by old account (the store's, and those read back from
    the page history); an old account listed again is a human's revert of that fix unless its
    key is in ``standing`` (the bot's fix is still where it was made, see
    :func:`undone_by_human`): then the old link was added again elsewhere and is fixed like any
    other.  ``unsure``: old accounts whose fix revision cannot be read (key -> why);
    ``unreadable``: why the page history could not be read (None if it was, or need not be).
    ``verified_before`` (account key -> profile field -> the last run that saw it verified) and
    ``verdicts`` ((key, field) -> why it is not verified now, from this run's checks) give the
    lost verifications.
    """

    streaks: Mapping[str, Streak] = field(default_factory=dict)
    fixes: Mapping[str, FixRecord] = field(default_factory=dict)
    counted: frozenset[str] = frozenset()
    standing: frozenset[str] = frozenset()
    unsure: Mapping[str, str] = field(default_factory=dict)
    unreadable: str | None = None
    verified_before: Mapping[str, Mapping[str, datetime]] = field(default_factory=dict)
    verdicts: Mapping[tuple[str, str], Verdict] = field(default_factory=dict)


def decide(
    results: Sequence[CheckResult],
    extraction: Extraction,
    history: History,
    policy: Policy,
    now: datetime,
) -> Decision:
    """Fixes, findings and outages from this run's results and the history before it.

    The profiles' links to accounts the page does not list become suggestions.
    """
    unique = [r for r in results if r.account.duplicate_of is None]
    outages = _outages(unique, policy, history.streaks, now)
    in_outage = {o.scope for o in outages}
    streaks: dict[str, Streak] = {}
    acts: list[Fix | Finding] = []
    waiting: list[tuple[str, str]] = []
    ignored: list[str] = []
    rows: list[StatusRow] = []
    for result in unique:
        key = result.account.key
        affected = result.status.outage_worthy and scope_of(result.account) in in_outage
        streak = _streak_now(result, history, now, frozen=affected)
        if streak is not None:
            streaks[key] = streak
        rows.append(_row(result, streak))
        if key in policy.ignore:
            ignored.append(key)
            continue
        if affected or not _reported(result.status, policy):
            continue
        assert streak is not None
        unconfirmed = _unconfirmed(result.status, streak, policy)
        if unconfirmed:
            waiting.append((key, unconfirmed))
            continue
        acts.append(_act(result, streak, history))
    fixes = [a for a in acts if isinstance(a, Fix)]
    findings = [a for a in acts if isinstance(a, Finding)] + _duplicates(extraction, policy, now)
    findings += profiles.lost_verifications(
        unique, history.verified_before, history.verdicts, policy.ignore, now, owner_of
    )
    findings += profiles.suggestions(unique, extraction.accounts, policy.ignore, now, owner_of)
    capped = max(0, len(fixes) - policy.max_fixes_per_run)
    decision = Decision(
        fixes=tuple(fixes[: policy.max_fixes_per_run]),
        findings=tuple(findings),
        outages=tuple(outages),
        streaks=streaks,
        rows=tuple(rows),
        waiting=tuple(waiting),
        ignored=tuple(ignored),
        capped=capped,
    )
    return _hold_back(decision, history)


def _streak_now(
    result: CheckResult, history: History, now: datetime, *, frozen: bool
) -> Streak | None:
    """The account's streak after this check: unchanged in an outage or if counted already."""
    previous = history.streaks.get(result.account.key)
    if frozen or result.account.key in history.counted:
        return previous
    return next_streak(previous, result.status, now)


def _reported(status: Status, policy: Policy) -> bool:
    return status.reported and (status != Status.INACTIVE or policy.report_inactive)


def _unconfirmed(status: Status, streak: Streak, policy: Policy) -> str | None:
    """Why a bad status is not acted on yet ("seen 1 of 3 times ..."), or None."""
    count, span = policy.needs(status)
    seen = streak.last_seen - streak.first_seen
    if streak.count < count or seen < span:
        return (
            f"{status.value}: seen {streak.count} of {count} times "
            f"over {seen.days} of {span.days} days"
        )
    return None


def _act(result: CheckResult, streak: Streak, history: History) -> Fix | Finding:
    """A confirmed bad status: a fix of a moved or renamed account if safe, else a finding."""
    account = result.account
    if result.status not in (Status.MOVED, Status.RENAMED):
        action = ACTIONS.get(result.status, "Check the account.")
        return _finding(result, streak, result.status.value, result.detail, action)
    record = history.fixes.get(account.key)
    if record is not None and account.key not in history.standing:
        return _finding(
            result,
            streak,
            "reverted",
            f"the bot changed this link to {record.new_url} "
            f"({record.made_at.date()}), and someone changed it back",
            "Decide which link is right; the bot will not change it again.",
        )
    evidence = result.detail
    if result.new_url and result.new_handle:
        try:
            new_handle, new_url = gate.verified_successor(
                account.platform, result.new_handle, result.new_url
            )
        except WriteRefused as refusal:
            evidence = f"{result.detail}; not fixed by the bot: {refusal}"
        else:
            return Fix(
                account.key,
                account.platform,
                account.handle,
                new_handle,
                new_url,
                result.status.value,
                successor_listed_by_bot=record is not None,
            )
    return _finding(result, streak, result.status.value, evidence, ACTIONS[result.status])


def _duplicates(extraction: Extraction, policy: Policy, now: datetime) -> list[Finding]:
    return [
        Finding(
            key=first.key,
            kind="duplicate",
            platform=first.platform,
            handle=first.handle,
            url=first.url,
            section=first.section,
            owner=owner_of(first),
            since=now.date(),
            evidence=f"listed more than once: line {first.line} and line {later.line}",
            action="Keep one entry and remove the other.",
            label=first.label,
        )
        for first, later in extraction.duplicates
        if first.key not in policy.ignore
    ]


def _hold_back(decision: Decision, history: History) -> Decision:
    """The decision without what the bot's history cannot vouch for; the reasons in ``held``.

    The page history unreadable: a fix of an account the bot has no fix record of might repeat
    a fix a human reverted, so no fix this run.  An account whose fix revision cannot be read
    is neither fixed again nor reported as reverted: the next run decides.
    """
    held: list[str] = []
    fixes, findings = decision.fixes, decision.findings
    if history.unreadable and any(f.old_key not in history.fixes for f in fixes):
        held.append(
            f"page fixes: cannot rule out that a human reverted them ({history.unreadable})"
        )
        fixes = ()
    unsure = history.unsure
    if unsure:
        fixes = tuple(f for f in fixes if f.old_key not in unsure)
        findings = tuple(f for f in findings if not (f.kind == "reverted" and f.key in unsure))
        held += [
            f"page fixes: {key}: cannot tell whether a human reverted the bot's fix ({reason})"
            for key, reason in sorted(unsure.items())
        ]
    return replace(decision, fixes=fixes, findings=findings, held=tuple(held))


def undone_by_human(before: str, fixed: str, current: str, old_key: str) -> bool:
    """Whether a human changed the bot's fix of ``old_key`` back, at the place it was made.

    ``before`` and ``fixed`` are the page just before and at the bot's fix revision; a fix
    changes characters inside lines only, so its places have the same line numbers in both.
    The old account counts as put back when it now stands on lines that replaced one of those
    places (an undo, a manual revert, a rewrite of that row); when it appears only on new
    lines (added elsewhere) the bot's fix stands.
    """
    places = {a.line - 1 for a in extract_accounts(before).accounts if a.key == old_key}
    now = {a.line - 1 for a in extract_accounts(current).accounts if a.key == old_key}
    if not places:
        return True  # the bot's fix is not where its record says: assume the worst
    matcher = SequenceMatcher(None, fixed.splitlines(), current.splitlines(), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and places & set(range(i1, i2)) and now & set(range(j1, j2)):
            return True
    return False


def _outages(
    results: Sequence[CheckResult],
    policy: Policy,
    previous: Mapping[str, Streak],
    now: datetime,
) -> list[Outage]:
    """Scopes where many accounts went bad *at once*, in this run.

    Not counted as gone bad: an account that already had the same status before this run
    (known dead, reported earlier), and an explicit answer about one account (deleted,
    suspended, deactivated) from a server that answers other accounts fine in this run.
    """
    totals: dict[str, int] = {}
    answering: set[str] = set()
    for result in results:
        scope = scope_of(result.account)
        totals[scope] = totals.get(scope, 0) + 1
        if not result.status.outage_worthy and result.status != Status.UNVERIFIABLE:
            answering.add(scope)
    bad: dict[str, int] = {}
    for result in results:
        if not result.status.outage_worthy:
            continue
        scope = scope_of(result.account)
        known = previous.get(result.account.key)
        if known is not None and known.status == result.status.value and known.first_seen < now:
            continue
        if result.status.account_answer and scope in answering:
            continue
        bad[scope] = bad.get(scope, 0) + 1
    return [
        Outage(scope, bad[scope], totals[scope])
        for scope in sorted(bad)
        if totals[scope] >= policy.outage_min_accounts
        and bad[scope] / totals[scope] >= policy.outage_share
    ]


def _finding(result: CheckResult, streak: Streak, kind: str, evidence: str, action: str) -> Finding:
    account = result.account
    return Finding(
        key=account.key,
        kind=kind,
        platform=account.platform,
        handle=account.handle,
        url=account.url,
        section=account.section,
        owner=owner_of(account),
        since=streak.first_seen.date(),
        evidence=evidence,
        action=action,
        label=account.label,
        last_activity=result.last_activity,
    )


def _row(result: CheckResult, streak: Streak | None) -> StatusRow:
    account = result.account
    return StatusRow(
        platform=account.platform,
        handle=account.handle,
        url=account.url,
        status=result.status.value,
        last_activity=result.last_activity,
        since=streak.first_seen.date() if streak and streak.status == result.status.value else None,
        verified=result.verified,
        owner=owner_of(account),
        detail=result.detail,
    )
