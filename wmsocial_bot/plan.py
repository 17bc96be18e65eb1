"""Plan: a page's decision -> the plain write actions that carry it out (pure).

``run`` gathers every input (the page, the bot's past fixes, the talk page's markers, the
state), ``decide`` runs once, and :func:`plan_page` turns the decision into a tuple of
actions: records for the state store and writes for the wiki, in the order they are to be
done.  Nothing here reads or writes anything; :mod:`wmsocial_bot.runner` executes a plan (or,
in a dry run, shows it).  An action knows what its text means (how the page is rewritten, what
a talk section says); the runner knows only how to write safely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time

from wmsocial_bot.dashboard import (
    OwnerRow,
    owner_rows,
    owners_after_fixes,
    reach_rows,
    status_section,
    with_this_run,
)
from wmsocial_bot.decide import Decision
from wmsocial_bot.extract import Extraction
from wmsocial_bot.fix import FixResult, apply_fixes
from wmsocial_bot.model import (
    CheckResult,
    FieldCheck,
    Finding,
    Fix,
    FixRecord,
    ReachRecord,
    RelMePage,
    RunRecord,
    Status,
    StatusRow,
)
from wmsocial_bot.notices import (
    VERIFICATION_HEADING,
    neutral,
    render_notice,
    render_status_page,
    render_verification,
    reported_markers,
)
from wmsocial_bot.profiles import still_persists
from wmsocial_bot.servers import (
    CHANGED,
    Reading,
    SecurityRelease,
    ServerFacts,
    change_finding,
    changes,
    facts_json,
    server_key,
    to_store,
)
from wmsocial_bot.servers import status_section as servers_section

SUMMARY_LIMIT = 450
FIX_SUMMARY = "Bot: updating moved or renamed social media accounts: "
STATUS_SUMMARY = "Bot: updating the status of the listed social media accounts"
ACTIVITY_HEADING = "Activity and reach per owner"
SERVERS_HEADING = "The movement's own servers"
_UPDATED = re.compile(r"Last updated: (\d{4}-\d{2}-\d{2})")


# ---- store records (never in a dry run; not held back by the run page) ----------------------


@dataclass(frozen=True)
class RecordRecoveredFixes:
    """Fixes the bot made that the store had lost, read back from its own edit summaries."""

    page: str
    found: tuple[tuple[str, FixRecord], ...]  # (the edit's summary, the fix)
    at: datetime


@dataclass(frozen=True)
class RecordRun:
    """Everything this run learned about the page's accounts, in one transaction."""

    record: RunRecord


@dataclass(frozen=True)
class RecordNotices:
    """Findings already on the talk page (or its archives): never posted again."""

    markers: frozenset[str]
    page: str
    talk: str
    at: datetime


# ---- wiki writes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EditPage:
    """Point the page's moved or renamed accounts at their successors; record the fixes made."""

    page: str
    fixes: tuple[Fix, ...]
    at: datetime

    def rewrite(self, text: str) -> FixResult:
        """The fixes applied to ``text``; run again on the latest text after a conflict."""
        return apply_fixes(text, self.fixes)

    @staticmethod
    def summary(result: FixResult | None) -> str:
        """The edit summary: one ``old -> new (reason)`` per fix, which later runs read back."""
        text = neutral(result.summary) if result else ""
        return FIX_SUMMARY + (
            text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"
        )

    def records(self, result: FixResult, revid: int | None) -> list[FixRecord]:
        return [
            FixRecord(
                self.page,
                a.fix.old_key,
                f"{a.fix.platform}:{a.fix.new_handle}",
                a.fix.new_url,
                revid,
                self.at,
            )
            for a in result.applied
        ]


@dataclass(frozen=True)
class AddTalkSection:
    """One new talk-page section with the findings not reported before; record them."""

    page: str
    talk: str
    findings: tuple[Finding, ...]
    bot: str
    config_page: str
    at: datetime
    talk_revid: int | None  # the talk page's revision the findings were filtered against

    @property
    def markers(self) -> frozenset[str]:
        return frozenset(f.marker for f in self.findings)

    @property
    def section(self) -> tuple[str, str]:
        """(heading, body)."""
        return render_notice(
            self.findings,
            bot=self.bot,
            run_date=self.at.date(),
            page_title=self.page,
            config_page=self.config_page,
        )

    @property
    def summary(self) -> str:
        return (
            f"Bot: {len(self.findings)} social media account(s) on [[{self.page}]] need attention"
        )

    def posted_in(self, talk_text: str) -> frozenset[str]:
        """This section's findings that a talk text already reports."""
        return self.markers & reported_markers(talk_text)

    def without(self, markers: frozenset[str]) -> AddTalkSection | None:
        """The section without ``markers``; None when nothing is left to post."""
        left = tuple(f for f in self.findings if f.marker not in markers)
        return replace(self, findings=left) if left else None


@dataclass(frozen=True)
class UpdateStatusPage:
    """The status page, as the listed page reads after this run's fixes."""

    title: str
    page: str
    rows: tuple[StatusRow, ...]
    updated: date
    owners: tuple[OwnerRow, ...] = ()  # activity and reach per owner, with this run's figures
    verification: tuple[FieldCheck, ...] = ()  # each Mastodon profile field's verdict
    servers: str = ""  # the servers section's body; empty: no section

    def sections(self, on: date, owners: Sequence[OwnerRow]) -> list[tuple[str, str]]:
        """The sections under the accounts table, in page order: activity per owner, then
        verification help (issue 17, part 3), then the movement's servers (part 5)."""
        sections = []
        if owners:
            moment = datetime.combine(on, time(), UTC)
            sections.append((ACTIVITY_HEADING, status_section(owners, now=moment)))
        if self.verification:
            sections.append((VERIFICATION_HEADING, render_verification(self.verification)))
        if self.servers:
            sections.append((SERVERS_HEADING, self.servers))
        return sections

    def render(self, rows: Sequence[StatusRow], owners: Sequence[OwnerRow], on: date) -> str:
        return render_status_page(
            rows, updated=on, page_title=self.page, sections=self.sections(on, owners)
        )

    def text(self, current: str, fixed: FixResult | None) -> str | None:
        """The new page text, or None when nothing but the date would change.

        ``fixed``: this run's page fixes if the page edit was saved (else None).
        """
        rows = rows_after_fixes(self.rows, fixed)
        owners = owners_after_fixes(self.owners, [a.fix for a in fixed.applied] if fixed else [])
        new = self.render(rows, owners, self.updated)
        stamp = _UPDATED.search(current)
        if stamp and self.render(rows, owners, date.fromisoformat(stamp.group(1))) == current:
            return None
        return None if new == current else new


Action = (
    RecordRecoveredFixes | RecordRun | RecordNotices | EditPage | AddTalkSection | UpdateStatusPage
)
WIKI_WRITES = (EditPage, AddTalkSection, UpdateStatusPage)


# ---- what the plan is made from ---------------------------------------------------------------


@dataclass(frozen=True)
class TalkState:
    """What the talk page (and its archives) already report."""

    title: str
    markers: frozenset[str]
    revid: int | None  # None: the talk page does not exist


@dataclass(frozen=True)
class ServersSeen:
    """The movement's servers as this run read them, and what the store knew before."""

    readings: tuple[Reading, ...]
    before: Mapping[str, tuple[ServerFacts, datetime]]  # the store's last facts and their time
    announce: frozenset[str]  # hosts this page is the first of the run to read: its notice
    known: tuple[SecurityRelease, ...]  # the security releases the bot (and operator) know
    ignore: frozenset[str] = frozenset()

    def findings(self, on: date) -> list[Finding]:
        """A talk item per announced server whose facts changed since the store's."""
        out = []
        for reading in self.readings:
            if reading.facts is None or reading.host not in self.announce:
                continue
            old = self.before.get(reading.host)
            said = changes(old[0] if old else None, reading.facts)
            if said and server_key(reading.host) not in self.ignore:
                out.append(change_finding(reading.host, said, on))
        return out

    def section(self) -> str:
        stored = {host: (facts, at.date().isoformat()) for host, (facts, at) in self.before.items()}
        return servers_section(self.readings, stored, self.known) if self.readings else ""


@dataclass(frozen=True)
class PageFacts:
    """Everything :func:`plan_page` needs, gathered before it runs."""

    page: str
    results: tuple[CheckResult, ...]
    extraction: Extraction
    decision: Decision
    recovered: tuple[tuple[str, FixRecord], ...]
    reported: Mapping[str, datetime | None]  # the store's notices (marker -> resolved at)
    talk: TalkState | None  # None: no finding is new to the store, the talk page was not read
    now: datetime
    bot: str
    config_page: str
    status_page: str | None
    # The stored figures of the page's accounts (read only when there is a status page).
    reach_history: Mapping[str, Sequence[ReachRecord]] = field(default_factory=dict)
    # Verification help: the linked pages read in this run (to cache) and every field's verdict.
    relme_pages: tuple[RelMePage, ...] = ()
    verification: tuple[FieldCheck, ...] = ()
    servers: ServersSeen | None = None  # None: no server read (none configured, no status page)

    def server_findings(self) -> list[Finding]:
        return self.servers.findings(self.now.date()) if self.servers is not None else []


def plan_page(facts: PageFacts) -> tuple[Action, ...]:
    """The page's actions, in order: records first, then page edit, talk notice, status page."""
    actions: list[Action] = []
    if facts.recovered:
        actions.append(RecordRecoveredFixes(facts.page, facts.recovered, facts.now))
    resolved = resolved_markers(facts.reported, facts.results, facts.extraction)
    actions.append(_record_run(facts, resolved))
    if facts.decision.fixes:
        actions.append(EditPage(facts.page, facts.decision.fixes, facts.now))
    actions += _notice(facts, set(resolved))
    if facts.status_page:
        actions.append(_status_page(facts, facts.status_page))
    return tuple(actions)


def _status_page(facts: PageFacts, title: str) -> UpdateStatusPage:
    """The status page with this run's figures: the stored history plus what this run saw."""
    history = with_this_run(facts.reach_history, reach_rows(facts.results), facts.now)
    owners = owner_rows(facts.extraction.accounts, history, facts.now)
    return UpdateStatusPage(
        title,
        facts.page,
        facts.decision.rows,
        facts.now.date(),
        owners=tuple(owners),
        verification=facts.verification,
        servers=facts.servers.section() if facts.servers is not None else "",
    )


def new_findings(
    findings: Sequence[Finding], reported: Mapping[str, datetime | None], resolved: set[str]
) -> list[Finding]:
    """Findings the store does not know as reported and persisting."""
    known = {m for m in reported if m not in resolved}
    return [f for f in findings if f.marker not in known]


def _notice(facts: PageFacts, resolved: set[str]) -> list[Action]:
    found = [*facts.decision.findings, *facts.server_findings()]
    fresh = new_findings(found, facts.reported, resolved)
    if not fresh or facts.talk is None:
        return []
    talk = facts.talk
    actions: list[Action] = []
    already = frozenset(f.marker for f in fresh if f.marker in talk.markers)
    if already:
        actions.append(RecordNotices(already, facts.page, talk.title, facts.now))
    left = tuple(f for f in fresh if f.marker not in already)
    if not left:
        return actions
    actions.append(
        AddTalkSection(
            facts.page, talk.title, left, facts.bot, facts.config_page, facts.now, talk.revid
        )
    )
    return actions


def _record_run(facts: PageFacts, resolved: Sequence[str]) -> RecordRun:
    results = facts.results
    return RecordRun(
        RunRecord(
            started=facts.now,
            pages=(facts.page,),
            checks=tuple(
                (r.account.key, r.status.value, r.detail, r.new_url)
                for r in results
                if r.account.duplicate_of is None
            ),
            streaks=facts.decision.streaks,
            outages=tuple((o.scope, o.bad, o.total) for o in facts.decision.outages),
            identities=tuple(r.learned for r in results if r.learned is not None),
            resolved=tuple(resolved),
            reach=tuple(reach_rows(results)),
            relme_pages=facts.relme_pages,
            fields=tuple(
                (r.account.key, f.name, f.verified)
                for r in results
                if r.status == Status.OK
                and r.profile is not None
                and r.account.duplicate_of is None
                for f in r.profile.fields
            ),
            servers=tuple(_servers_to_store(facts)),
        )
    )


def _servers_to_store(facts: PageFacts) -> list[tuple[str, str]]:
    """The servers' facts the store keeps from this run: a change not yet announced keeps the
    old facts, so that a notice the wiki did not take is posted by a later run."""
    seen = facts.servers
    if seen is None:
        return []
    announced = set(facts.reported) | (facts.talk.markers if facts.talk is not None else set())
    pending = {f.handle: f.marker for f in facts.server_findings()}
    out = []
    for reading in seen.readings:
        if reading.facts is None or reading.host not in seen.announce:
            continue
        old = seen.before.get(reading.host)
        done = reading.host not in pending or pending[reading.host] in announced
        kept = to_store(old[0] if old else None, reading.facts, announced=done)
        if kept is reading.facts:
            out.append((reading.host, facts_json(kept)))
    return out


# ---- pure helpers of the gathering ----------------------------------------------------------


def fix_candidates(results: Sequence[CheckResult], known: Mapping[str, FixRecord]) -> list[Fix]:
    """The fixes ``decide`` may make whose old account the store has no fix record of.

    For these the page history is read before deciding: the bot may have fixed the same old
    account before (a run killed before its record, a lost state file) and a human reverted it.
    """
    return [
        Fix(
            r.account.key,
            r.account.platform,
            r.account.handle,
            r.new_handle,
            r.new_url,
            r.status.value,
        )
        for r in results
        if r.status in (Status.MOVED, Status.RENAMED)
        and r.new_url
        and r.new_handle
        and r.account.duplicate_of is None
        and r.account.key not in known
    ]


def recover_fixes(
    page: str, edits: Sequence[tuple[int, str, str]], fixes: Sequence[Fix], now: datetime
) -> list[tuple[str, FixRecord]]:
    """Fixes of the same old accounts that the bot's own edit summaries on ``page`` record.

    ``edits``: ``(revid, timestamp, summary)``, newest first.  Each fix edit's summary names
    every change as ``old -> new (reason)`` (:meth:`EditPage.summary`), so an earlier fix of
    ``old`` is found whatever its successor was.
    """
    found: list[tuple[str, FixRecord]] = []
    for fix in fixes:
        old = fix.summary.split(" -> ", 1)[0]
        pattern = re.compile(
            r"(?:: |; )" + re.escape(old) + r" -> (?P<new>.+?) \((?:moved|renamed)\)"
        )
        for revid, stamp, comment in edits:
            match = pattern.search(comment)
            if match is None:
                continue
            try:
                made = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                made = now
            new = match.group("new")
            new_key = f"{fix.platform}:{new.removeprefix('@')}"
            found.append((comment, FixRecord(page, fix.old_key, new_key, new, revid, made)))
            break
    return found


def resolved_markers(
    reported: Mapping[str, datetime | None], results: Sequence[CheckResult], extraction: Extraction
) -> list[str]:
    """Reported findings that no longer persist: the account is fine now, or off the page."""
    status = {r.account.key: r.status for r in results}
    listed = {a.key for a in extraction.accounts}
    duplicated = {later.key for _first, later in extraction.duplicates}

    def persists(marker: str) -> bool:
        profile_kind = still_persists(marker, results, listed)
        if profile_kind is not None:
            return profile_kind
        kind, _, key = marker.partition(":")
        if kind == CHANGED:
            return True  # a server's change is news once; its marker names that change
        if key not in listed:
            return False
        if kind == "duplicate":
            return key in duplicated
        return status.get(key) != Status.OK

    return [m for m, resolved_at in reported.items() if resolved_at is None and not persists(m)]


def rows_after_fixes(rows: Sequence[StatusRow], fixed: FixResult | None) -> list[StatusRow]:
    """The status rows as the page reads after this run's fixes, not one run behind them."""
    applied = {(a.fix.platform, a.fix.old_handle): a.fix for a in fixed.applied} if fixed else {}
    out = []
    for row in rows:
        fix = applied.get((row.platform, row.handle))
        if fix is None:
            out.append(row)
            continue
        out.append(
            replace(
                row,
                handle=fix.new_handle,
                url=fix.new_url,
                status=Status.OK.value,
                since=None,
                detail=f"link updated by the bot ({fix.reason}: was {fix.old_handle})",
            )
        )
    return out
