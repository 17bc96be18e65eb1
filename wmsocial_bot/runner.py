"""The runner: executes a plan (:mod:`wmsocial_bot.plan`) safely, or shows it in a dry run.

It knows how to write, and nothing of what the text means:

* a dry run reads what it needs to show each wiki write (a diff, the new section) and writes
  nothing, to the wiki or to the store;
* a wiki write is not made while the run is *blocked* (the run page does not say yes, the
  on-wiki config is broken) or once this run has lost its lease on the state store; each such
  write is listed in the page report with its reason (``no write: ...``);
* edit conflicts and ``{{nobots}}`` are the wiki adapter's: ``save`` re-reads the page and
  re-applies the action's rewrite; a talk section is checked against the talk page as it is
  right before posting, so that nothing is posted twice;
* a write the wiki refuses is reported and not recorded, and the other writes go ahead; a
  write that lands is recorded in the store right after it.

After each step that matters for recovery the runner tells its *observer* (``checks``,
``after-edit``, ``before-notice``, ``after-notice``).  The default observer raises a Python
audit event (:func:`sys.audit`, ``wmsocial_bot.run``), which costs nothing unless a hook is
installed; the crash tests install one that kills the process there (docs/faults.md).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from wmsocial_bot.decide import Decision
from wmsocial_bot.errors import WikiError, WritesDisabled
from wmsocial_bot.fix import FixResult
from wmsocial_bot.model import CheckResult, Finding
from wmsocial_bot.net import NOT_CHECKED, SHARE_SPENT_PREFIX
from wmsocial_bot.notices import neutral, render_dry_run_diff
from wmsocial_bot.plan import (
    STATUS_SUMMARY,
    Action,
    AddTalkSection,
    EditPage,
    RecordNotices,
    RecordRecoveredFixes,
    RecordRun,
    UpdateStatusPage,
)
from wmsocial_bot.state import RunStore
from wmsocial_bot.wiki import PageRevision, SaveOutcome  # plain records: no Pywikibot

log = logging.getLogger(__name__)
AUDIT_EVENT = "wmsocial_bot.run"
Observer = Callable[[str], None]


def announce(event: str) -> None:
    """The default observer: an audit event, for whoever installed a hook (tests only)."""
    sys.audit(AUDIT_EVENT, event)


class WikiPort(Protocol):
    """What ``run`` needs from the wiki adapter (:class:`wmsocial_bot.wiki.Wiki`)."""

    @property
    def username(self) -> str | None: ...

    @property
    def simulate(self) -> bool: ...

    def read(self, title: str, *, models: tuple[str, ...] = ...) -> PageRevision: ...

    def read_if_exists(
        self, title: str, *, models: tuple[str, ...] = ...
    ) -> PageRevision | None: ...

    def writes_allowed(self) -> tuple[bool, str]: ...

    def talk_title(self, title: str) -> str: ...

    def save(
        self,
        title: str,
        change: Callable[[str], str | None],
        summary: str | Callable[[], str],
        *,
        minor: bool = ...,
        create: bool = ...,
    ) -> SaveOutcome: ...

    def add_section(self, title: str, heading: str, text: str, summary: str) -> SaveOutcome: ...

    def own_edits(self, title: str) -> list[tuple[int, str, str]]: ...

    def subpages(self, title: str) -> list[str]: ...

    def edit_texts(self, revid: int) -> tuple[str, str]: ...


@dataclass
class PageReport:
    """What one run did on one page: for the console, and for tests."""

    page: str
    results: list[CheckResult] = field(default_factory=list)
    decision: Decision | None = None
    new_findings: list[Finding] = field(default_factory=list)
    fix_result: FixResult | None = None
    edit_revid: int | None = None
    notice_revid: int | None = None
    status_page_saved: bool = False
    skipped_writes: list[str] = field(default_factory=list)
    plan: tuple[Action, ...] = ()

    def summary_lines(self) -> list[str]:
        lines = [self._counts()]
        unchecked = [r for r in self.results if r.detail == NOT_CHECKED]
        if unchecked:
            lines.append(
                f"  {NOT_CHECKED} for {len(unchecked)} accounts (see [network] run_budget); "
                "what was checked is recorded and reported"
            )
        waiting = [r for r in self.results if r.detail.startswith(SHARE_SPENT_PREFIX)]
        if waiting:
            lines.append(
                f"  not checked: {len(waiting)} accounts are left for the next run, the bot's "
                "share of their hosts' rate limits being used up (see [network] "
                "host_budget_share); they count as no evidence"
            )
        lines += self._decision_lines() + self._write_lines()
        return [neutral(line) for line in lines]  # no bidi override or escape sequence

    def _counts(self) -> str:
        counts: dict[str, int] = {}
        for result in self.results:
            if result.account.duplicate_of is None:
                counts[result.status.value] = counts.get(result.status.value, 0) + 1
        return f"[[{self.page}]]: {sum(counts.values())} accounts: " + ", ".join(
            f"{n} {s}" for s, n in sorted(counts.items())
        )

    def _decision_lines(self) -> list[str]:
        if self.decision is None:
            return []
        lines = [
            f"  outage: {outage.scope}: {outage.bad} of {outage.total} accounts bad "
            "at once; treated as an outage, nothing acted on"
            for outage in self.decision.outages
        ]
        lines += [
            f"  waiting for confirmation: {key} ({why})" for key, why in self.decision.waiting
        ]
        if self.decision.capped:
            lines.append(
                f"  {self.decision.capped} fixes left for the next run (max_fixes_per_run)"
            )
        return lines

    def _write_lines(self) -> list[str]:
        lines = []
        if self.fix_result is not None:
            lines += [f"  fix: {applied.fix.summary}" for applied in self.fix_result.applied]
            lines += [
                f"  fix skipped: {fix.summary}: {why}" for fix, why in self.fix_result.skipped
            ]
        if self.edit_revid:
            lines.append(f"  page edited: revision {self.edit_revid}")
        lines += [f"  new finding: {f.kind}: {f.key}" for f in self.new_findings]
        if self.notice_revid:
            lines.append(f"  talk notice posted: revision {self.notice_revid}")
        return lines + [f"  no write: {why}" for why in self.skipped_writes]


@dataclass(frozen=True)
class Runner:
    """Executes plans against one wiki and one store, with one run's write permission."""

    wiki: WikiPort
    store: RunStore
    blocked: str | None  # why no wiki write may be made this run; None: writes are allowed
    dry_run: bool
    echo: Callable[[str], None] = print
    observe: Observer = announce

    def execute(self, plan: tuple[Action, ...], report: PageReport) -> None:
        """Each action in order; in a dry run, each wiki write shown and nothing written."""
        report.plan = plan
        for action in plan:
            match action:
                case RecordRecoveredFixes() | RecordRun() | RecordNotices():
                    if not self.dry_run:
                        self._record(action)
                case EditPage():
                    self._edit(action, report)
                case AddTalkSection():
                    self._add_section(action, report)
                case UpdateStatusPage():
                    self._status_page(action, report)

    # ---- the store ---------------------------------------------------------------------

    def _record(self, action: RecordRecoveredFixes | RecordRun | RecordNotices) -> None:
        store = self.store
        match action:
            case RecordRecoveredFixes():
                for summary, record in action.found:
                    store.record_edit(
                        page=action.page,
                        revid=record.revid,
                        summary=summary,
                        fixes=[record],
                        at=action.at,
                    )
            case RecordRun():
                store.record_run(action.record)
            case RecordNotices():
                store.record_notice(
                    action.markers,
                    page=action.page,
                    talk_page=action.talk,
                    revid=None,
                    at=action.at,
                )

    # ---- the wiki ----------------------------------------------------------------------

    def _may_write(self, what: str, report: PageReport) -> bool:
        """Whether a wiki write may be made now; if not, the reason goes in the report."""
        if self.blocked:
            report.skipped_writes.append(f"{what}: {self.blocked}")
            return False
        problem = self.store.lease_problem()
        if problem is not None:
            log.error("%s not saved: %s", what, problem)
            report.skipped_writes.append(f"{what}: {problem}")
            return False
        return True

    def _edit(self, action: EditPage, report: PageReport) -> None:
        if self.dry_run:
            current = self.wiki.read(action.page).text
            report.fix_result = action.rewrite(current)
            if report.fix_result.changed:
                self.echo(render_dry_run_diff(current, report.fix_result.text, action.page))
            return
        if not self._may_write("page fixes", report):
            return

        def change(text: str) -> str | None:
            report.fix_result = action.rewrite(text)
            return report.fix_result.text if report.fix_result.changed else None

        try:
            outcome = self.wiki.save(
                action.page, change, lambda: action.summary(report.fix_result), minor=False
            )
        except WikiError as exc:  # writes disabled, protected, conflicts, maxlag, read-only, ...
            _not_written(report, "page fixes", exc)
            return
        self.observe("after-edit")
        result = report.fix_result
        if outcome.changed and result is not None:
            report.edit_revid = outcome.revid
            self.store.record_edit(
                page=action.page,
                revid=outcome.revid,
                summary=action.summary(result),
                fixes=action.records(result, outcome.revid),
                at=action.at,
            )

    def _add_section(self, action: AddTalkSection, report: PageReport) -> None:
        report.new_findings = list(action.findings)
        if self.dry_run:
            heading, body = action.section
            self.echo(f"--- new section on [[{action.talk}]] ---\n== {heading} ==\n{body}")
            return
        if not self._may_write("talk notice", report):
            return
        self.observe("before-notice")
        try:
            latest = self.wiki.read_if_exists(action.talk)
        except WikiError as exc:
            _not_written(report, "talk notice", exc)
            return
        if latest is not None and latest.revid != action.talk_revid:
            # Posted since the plan was made (a human, a run on another state store): the
            # same finding must not be posted twice.
            meanwhile = action.posted_in(latest.text)
            if meanwhile:
                log.warning(
                    "%d finding(s) were posted on [[%s]] while this run worked; "
                    "not posting them again",
                    len(meanwhile),
                    action.talk,
                )
                self._record(RecordNotices(meanwhile, action.page, action.talk, action.at))
                rest = action.without(meanwhile)
                report.new_findings = list(rest.findings) if rest else []
                if rest is None:
                    return
                action = rest
        heading, body = action.section
        try:
            outcome = self.wiki.add_section(action.talk, heading, body, action.summary)
        except WikiError as exc:
            _not_written(report, "talk notice", exc)
            return
        self.observe("after-notice")
        report.notice_revid = outcome.revid
        self.store.record_notice(
            action.markers,
            page=action.page,
            talk_page=action.talk,
            revid=outcome.revid,
            at=action.at,
        )

    def _status_page(self, action: UpdateStatusPage, report: PageReport) -> None:
        fixed = report.fix_result if report.edit_revid else None
        if self.dry_run:
            existing = self.wiki.read_if_exists(action.title)
            current = existing.text if existing is not None else ""
            new = action.text(current, fixed)
            if new is not None:
                self.echo(render_dry_run_diff(current, new, action.title))
            return
        if not self._may_write("status page", report):
            return
        try:
            outcome = self.wiki.save(
                action.title,
                lambda current: action.text(current, fixed),
                STATUS_SUMMARY,
                create=True,
            )
        except WikiError as exc:
            _not_written(report, "status page", exc)
            return
        report.status_page_saved = bool(outcome.changed)


def _not_written(report: PageReport, what: str, exc: WikiError) -> None:
    """A write the wiki refused: reported, not recorded, tried again by the next run.

    The other writes of the run go ahead: a protected list page must not keep the talk
    notice from being posted.
    """
    if not isinstance(exc, WritesDisabled):
        log.error("%s not saved: %s", what, exc)
    report.skipped_writes.append(f"{what}: {exc}")
