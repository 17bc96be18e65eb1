"""``wmsocial-bot run``: read, check, decide, act -- the bot's job on the wiki.

The stages are pure except two: checking (network) and acting (wiki writes).  Acting goes
through the wiki adapter, which re-reads and re-applies on an edit conflict and obeys the run
page and ``{{nobots}}``; this module decides *whether* to write at all: never in a dry run
(``--dry-run`` or ``-simulate``), never while the run page says no, and never when the on-wiki
configuration is broken.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import Config, config_from_mapping
from wmsocial_bot.dashboard import reach_rows
from wmsocial_bot.decide import Decision, Policy, decide, ignore_keys, undone_by_human
from wmsocial_bot.errors import ConfigError, UserError, WikiError, WritesDisabled
from wmsocial_bot.extract import Extraction, extract_accounts
from wmsocial_bot.fix import FixResult, apply_fixes
from wmsocial_bot.model import CheckResult, Finding, Fix, Status, StatusRow
from wmsocial_bot.net import NOT_CHECKED, NOT_CHECKED_PREFIX, Net
from wmsocial_bot.notices import (
    neutral,
    render_dry_run_diff,
    render_notice,
    render_status_page,
    reported_markers,
)
from wmsocial_bot.state import FixRecord, SqliteStore, Streak, crash_point

log = logging.getLogger(__name__)
IGNORE_MARKER = re.compile(r"<!--\s*wmsocial-bot\s*:\s*ignore\s*-->", re.I)
SUMMARY_LIMIT = 450
_UPDATED = re.compile(r"Last updated: (\d{4}-\d{2}-\d{2})")


class WikiPort(Protocol):
    """What ``run`` needs from the wiki adapter (:class:`wmsocial_bot.wiki.Wiki`)."""

    @property
    def username(self) -> str | None: ...

    @property
    def simulate(self) -> bool: ...

    def read(self, title: str, *, models: tuple[str, ...] = ...) -> Any: ...

    def read_if_exists(self, title: str, *, models: tuple[str, ...] = ...) -> Any: ...

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
    ) -> Any: ...

    def add_section(self, title: str, heading: str, text: str, summary: str) -> Any: ...

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

    def summary_lines(self) -> list[str]:
        counts: dict[str, int] = {}
        for result in self.results:
            if result.account.duplicate_of is None:
                counts[result.status.value] = counts.get(result.status.value, 0) + 1
        lines = [
            f"[[{self.page}]]: {sum(counts.values())} accounts: "
            + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        ]
        unchecked = [r for r in self.results if r.detail == NOT_CHECKED]
        if unchecked:
            lines.append(
                f"  {NOT_CHECKED} for {len(unchecked)} accounts (see [network] run_budget); "
                "what was checked is recorded and reported"
            )
        waiting = [
            r
            for r in self.results
            if r.detail.startswith(NOT_CHECKED_PREFIX) and r.detail != NOT_CHECKED
        ]
        if waiting:
            lines.append(
                f"  not checked: {len(waiting)} accounts are left for the next run, the bot's "
                "share of their hosts' rate limits being used up (see [network] "
                "host_budget_share); they count as no evidence"
            )
        if self.decision is not None:
            for outage in self.decision.outages:
                lines.append(
                    f"  outage: {outage.scope}: {outage.bad} of {outage.total} accounts bad "
                    "at once; treated as an outage, nothing acted on"
                )
            for key, why in self.decision.waiting:
                lines.append(f"  waiting for confirmation: {key} ({why})")
            if self.decision.capped:
                lines.append(
                    f"  {self.decision.capped} fixes left for the next run (max_fixes_per_run)"
                )
        if self.fix_result is not None:
            for applied in self.fix_result.applied:
                lines.append(f"  fix: {applied.fix.summary}")
            for fix, reason in self.fix_result.skipped:
                lines.append(f"  fix skipped: {fix.summary}: {reason}")
        if self.edit_revid:
            lines.append(f"  page edited: revision {self.edit_revid}")
        for finding in self.new_findings:
            lines.append(f"  new finding: {finding.kind}: {finding.key}")
        if self.notice_revid:
            lines.append(f"  talk notice posted: revision {self.notice_revid}")
        lines += [f"  no write: {why}" for why in self.skipped_writes]
        return [neutral(line) for line in lines]  # no bidi override or escape sequence


@dataclass(frozen=True)
class OnWikiConfig:
    policy: Policy
    problem: str | None  # set when the page is broken: defaults are used and nothing is written


def policy_from(config: Config) -> Policy:
    return Policy(**asdict(config.policy))


def read_onwiki_config(wiki: WikiPort, title: str, config: Config) -> tuple[Config, OnWikiConfig]:
    """The JSON page maintainers edit: ``{"policy": {...}, "ignore": [...]}``."""
    default = OnWikiConfig(policy_from(config), None)
    try:
        revision = wiki.read_if_exists(title, models=("json", "wikitext", "text"))
    except WikiError as exc:
        return config, replace(default, problem=f"cannot read [[{title}]]: {exc}")
    if revision is None:
        return config, default
    try:
        data = json.loads(revision.text)
        if not isinstance(data, dict):
            raise ConfigError("expected a JSON object")
        unknown = set(data) - {"policy", "ignore", "comment", "_comment"}
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(sorted(unknown))} (known: policy, ignore)"
            )
        given = data.get("policy", {})
        merged = config_from_mapping({"policy": given}, title).policy  # validates, names the key
        ignore = data.get("ignore", [])
        if not isinstance(ignore, list) or not all(isinstance(i, str) for i in ignore):
            raise ConfigError("ignore: expected a list of account keys or links")
    except (json.JSONDecodeError, ConfigError) as exc:
        problem = (
            f"the on-wiki config [[{title}]] is invalid ({exc}); "
            "using the defaults and making no edits this run"
        )
        return config, replace(default, problem=problem)
    # Only the knobs the page sets; the rest stay as the config file has them.
    config = replace(
        config, policy=replace(config.policy, **{k: getattr(merged, k) for k in given})
    )
    return config, OnWikiConfig(replace(policy_from(config), ignore=ignore_keys(ignore)), None)


def inline_ignores(text: str, extraction: Extraction) -> frozenset[str]:
    """Accounts whose line carries ``<!-- wmsocial-bot: ignore -->``."""
    keys = set()
    for account in extraction.accounts:
        start = text.rfind("\n", 0, account.span.start) + 1
        end = text.find("\n", account.span.end)
        if IGNORE_MARKER.search(text[start : end if end >= 0 else len(text)]):
            keys.add(account.key)
    return frozenset(keys)


def run_bot(
    wiki: WikiPort,
    config: Config,
    store: SqliteStore,
    *,
    pages: Sequence[str],
    dry_run: bool,
    echo: Callable[[str], None] = print,
    now: datetime | None = None,
) -> list[PageReport]:
    """One run over ``pages``.  Raises only for problems that stop the run (missing page).

    A page that cannot be done (deleted, unreadable, emptied) does not stop the other pages:
    they are done, their summaries echoed, and then the problem is raised.
    """
    now = now or datetime.now(UTC)
    dry_run = dry_run or wiki.simulate
    bot = wiki.username or "wmsocial-bot"
    config_title = config.wiki.config_page or f"User:{bot}/config.json"
    config, onwiki = read_onwiki_config(wiki, config_title, config)
    blocked: str | None = None
    if onwiki.problem:
        log.error("%s", onwiki.problem)
        blocked = onwiki.problem
    if dry_run:
        blocked = "dry run: nothing is written"
    else:
        allowed, reason = wiki.writes_allowed()
        if not allowed:
            log.warning("no writes this run: %s", reason)
            blocked = blocked or reason
    net = Net(config.network, config.endpoints, contact=config.bot.contact)
    known = store.identities()
    streaks = store.streaks()
    fresh: dict[str, Streak] = {}
    reports = []
    failed: list[UserError] = []
    for page in pages:
        try:
            report = _run_page(
                wiki,
                config,
                store,
                page,
                onwiki.policy,
                net,
                known,
                streaks,
                fresh,
                blocked=blocked,
                dry_run=dry_run,
                echo=echo,
                now=now,
                bot=bot,
                config_title=config_title,
            )
        except UserError as exc:
            if len(pages) == 1:
                raise
            log.error("%s", exc)
            failed.append(exc)
            continue
        reports.append(report)
    if failed:
        for report in reports:
            for line in report.summary_lines():
                echo(line)
        problems = "; ".join(str(exc) for exc in failed)
        error = UserError(f"{problems} (the other {len(reports)} page(s) were done)")
        # Exit 1 (the run failed) only when the wiki failed every time; else the operator's.
        error.exit_code = 1 if all(exc.exit_code == 1 for exc in failed) else 2
        raise error
    return reports


def _run_page(
    wiki: WikiPort,
    config: Config,
    store: SqliteStore,
    page: str,
    policy: Policy,
    net: Net,
    known: Mapping[str, Any],
    streaks: Mapping[str, Streak],
    fresh: dict[str, Streak],
    *,
    blocked: str | None,
    dry_run: bool,
    echo: Callable[[str], None],
    now: datetime,
    bot: str,
    config_title: str,
) -> PageReport:
    report = PageReport(page)
    revision = wiki.read(page)
    page = report.page = revision.title
    extraction = extract_accounts(revision.text)
    if not extraction.accounts:
        raise UserError(f"[[{page}]]: no social-media accounts found")
    policy = replace(policy, ignore=policy.ignore | inline_ignores(revision.text, extraction))
    report.results = check_accounts(
        extraction.accounts, net, inactive_days=config.policy.inactive_days, known=known, now=now
    )
    crash_point("checks")
    # An account listed on two pages is checked twice but counted once per run.
    previous = {**streaks, **fresh}
    applied = store.fixes(page)
    standing, unsure = _standing_fixes(wiki, revision.text, extraction, applied)
    decision = decide(
        report.results,
        extraction,
        previous,
        applied,
        policy,
        now,
        counted=frozenset(fresh),
        standing=standing,
    )
    if decision.fixes:
        # The state store may not know a fix the bot made (a run killed between the edit and
        # its record, a lost or older state file, a moved page): the page history does.
        unknown = [f for f in decision.fixes if f.old_key not in applied]
        try:
            recovered = _fixes_in_history(wiki, page, unknown, now) if unknown else []
        except WikiError as exc:
            report.skipped_writes.append(
                f"page fixes: cannot rule out that a human reverted them ({exc})"
            )
            decision = replace(decision, fixes=())
            recovered = []
        if recovered:
            found = {record.old_key: record for _c, record in recovered}
            applied = {**applied, **found}
            more, more_unsure = _standing_fixes(wiki, revision.text, extraction, found)
            standing, unsure = standing | more, {**unsure, **more_unsure}
            decision = decide(
                report.results,
                extraction,
                previous,
                applied,
                policy,
                now,
                counted=frozenset(fresh),
                standing=standing,
            )
            if not dry_run:
                for comment, record in recovered:
                    store.record_edit(
                        page=page, revid=record.revid, summary=comment, fixes=[record], at=now
                    )
    if unsure:
        # Neither fix again nor report a revert that cannot be told: the next run decides.
        decision = replace(
            decision,
            fixes=tuple(f for f in decision.fixes if f.old_key not in unsure),
            findings=tuple(
                f for f in decision.findings if not (f.kind == "reverted" and f.key in unsure)
            ),
        )
        report.skipped_writes += [
            f"page fixes: {key}: cannot tell whether a human reverted the bot's fix ({why})"
            for key, why in sorted(unsure.items())
        ]
    fresh.update(decision.streaks)
    report.decision = decision
    talk = config.wiki.talk_page or wiki.talk_title(page)
    reported = store.notice_state()
    resolved = _resolved(reported, report.results, extraction)
    if not dry_run:
        store.record_run(
            started=now,
            pages=[page],
            dry_run=dry_run,
            checks=[
                (r.account.key, r.status.value, r.detail, r.new_url)
                for r in report.results
                if r.account.duplicate_of is None
            ],
            streaks=decision.streaks,
            outages=[(o.scope, o.bad, o.total) for o in decision.outages],
            identities=[r.learned for r in report.results if r.learned is not None],
            resolved=resolved,
            reach=reach_rows(report.results),
        )
    reported = {m: r for m, r in reported.items() if m not in resolved}
    _fix_page(
        wiki, store, page, decision, report, blocked=blocked, dry_run=dry_run, echo=echo, now=now
    )
    _post_notice(
        wiki,
        store,
        page,
        talk,
        decision.findings,
        reported,
        report,
        blocked=blocked,
        dry_run=dry_run,
        echo=echo,
        now=now,
        bot=bot,
        config_title=config_title,
    )
    if config.wiki.status_page:
        _update_status_page(
            wiki,
            store,
            config.wiki.status_page,
            page,
            decision,
            report,
            blocked=blocked,
            dry_run=dry_run,
            echo=echo,
            now=now,
        )
    return report


def _standing_fixes(
    wiki: WikiPort, current: str, extraction: Extraction, records: Mapping[str, FixRecord]
) -> tuple[frozenset[str], dict[str, str]]:
    """Old accounts listed again although the bot's fix of them still stands where it was made.

    Such an old link was added again elsewhere (not a revert, see
    :func:`wmsocial_bot.decide.undone_by_human`) and is fixed like any other.  Also returned:
    the accounts whose fix revision cannot be read (key -> why), which are left alone.
    """
    listed = {a.key for a in extraction.accounts}
    standing: set[str] = set()
    unsure: dict[str, str] = {}
    texts: dict[int, tuple[str, str]] = {}
    for key, record in records.items():
        if key not in listed or record.revid is None:
            continue
        try:
            if record.revid not in texts:
                texts[record.revid] = wiki.edit_texts(record.revid)
        except WikiError as exc:
            unsure[key] = str(exc)
            continue
        before, fixed = texts[record.revid]
        if not undone_by_human(before, fixed, current, key):
            standing.add(key)
    return frozenset(standing), unsure


def _fixes_in_history(
    wiki: WikiPort, page: str, fixes: Sequence[Fix], now: datetime
) -> list[tuple[str, FixRecord]]:
    """Fixes of the same old accounts that the bot's own edit summaries on ``page`` record.

    Each fix edit's summary names every change as ``old -> new (reason)`` (see
    :func:`_fix_page`), so an earlier fix of ``old`` is found whatever its successor was.
    """
    edits = wiki.own_edits(page)
    found: list[tuple[str, FixRecord]] = []
    for fix in fixes:
        old = fix.summary.split(" -> ", 1)[0]
        pattern = re.compile(
            r"(?:: |; )" + re.escape(old) + r" -> (?P<new>.+?) \((?:moved|renamed)\)"
        )
        for revid, stamp, comment in edits:  # newest first
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


def _resolved(
    reported: Mapping[str, datetime | None], results: Sequence[CheckResult], extraction: Extraction
) -> list[str]:
    """Reported findings that no longer persist: the account is fine now, or off the page."""
    status = {r.account.key: r.status for r in results}
    listed = {a.key for a in extraction.accounts}
    duplicated = {later.key for _first, later in extraction.duplicates}

    def persists(marker: str) -> bool:
        kind, _, key = marker.partition(":")
        if key not in listed:
            return False
        if kind == "duplicate":
            return key in duplicated
        return status.get(key) != Status.OK

    return [m for m, resolved_at in reported.items() if resolved_at is None and not persists(m)]


def _fix_page(
    wiki: WikiPort,
    store: SqliteStore,
    page: str,
    decision: Decision,
    report: PageReport,
    *,
    blocked: str | None,
    dry_run: bool,
    echo: Callable[[str], None],
    now: datetime,
) -> None:
    if not decision.fixes:
        return
    if dry_run:
        current = wiki.read(page).text
        report.fix_result = apply_fixes(current, decision.fixes)
        if report.fix_result.changed:
            echo(render_dry_run_diff(current, report.fix_result.text, page))
        return
    if blocked:
        report.skipped_writes.append(f"page fixes: {blocked}")
        return
    if _lease_lost(store, report, "page fixes"):
        return

    def change(text: str) -> str | None:
        report.fix_result = apply_fixes(text, decision.fixes)
        return report.fix_result.text if report.fix_result.changed else None

    def summary() -> str:
        text = neutral(report.fix_result.summary) if report.fix_result else ""
        head = "Bot: updating moved or renamed social media accounts: "
        return head + (text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…")

    try:
        outcome = wiki.save(page, change, summary, minor=False)
    except WikiError as exc:  # writes disabled, protected, conflicts, maxlag, read-only, ...
        _not_written(report, "page fixes", exc)
        return
    crash_point("after-edit")
    if outcome.changed and report.fix_result is not None:
        report.edit_revid = outcome.revid
        records = [
            FixRecord(
                page,
                a.fix.old_key,
                f"{a.fix.platform}:{a.fix.new_handle}",
                a.fix.new_url,
                outcome.revid,
                now,
            )
            for a in report.fix_result.applied
        ]
        store.record_edit(page=page, revid=outcome.revid, summary=summary(), fixes=records, at=now)


def _post_notice(
    wiki: WikiPort,
    store: SqliteStore,
    page: str,
    talk: str,
    findings: Sequence[Finding],
    reported: Mapping[str, datetime | None],
    report: PageReport,
    *,
    blocked: str | None,
    dry_run: bool,
    echo: Callable[[str], None],
    now: datetime,
    bot: str,
    config_title: str,
) -> None:
    fresh = [f for f in findings if f.marker not in reported]
    if not fresh:
        return
    # The talk page's own markers, and its archives': a lost state file must not cause a
    # repeat, even of findings a human archived since.
    talk_revision = wiki.read_if_exists(talk)
    on_talk = reported_markers(talk_revision.text) if talk_revision is not None else set()
    if any(f.marker not in on_talk for f in fresh):
        on_talk |= _archived_markers(wiki, talk)
    never_resolved = {f.marker for f in fresh if f.marker in on_talk}
    fresh = [f for f in fresh if f.marker not in on_talk]
    if never_resolved and not dry_run:
        store.record_notice(never_resolved, page=page, talk_page=talk, revid=None, at=now)
    report.new_findings = fresh
    if not fresh:
        return
    heading, body = render_notice(
        fresh, bot=bot, run_date=now.date(), page_title=page, config_page=config_title
    )
    if dry_run:
        echo(f"--- new section on [[{talk}]] ---\n== {heading} ==\n{body}")
        return
    if blocked:
        report.skipped_writes.append(f"talk notice: {blocked}")
        return
    if _lease_lost(store, report, "talk notice"):
        return
    crash_point("before-notice")
    # Read the talk page again right before posting: whoever posted since it was read above
    # (a human, a run on another state store) must not see the same findings posted twice.
    try:
        latest = wiki.read_if_exists(talk)
    except WikiError as exc:
        _not_written(report, "talk notice", exc)
        return
    if latest is not None and (talk_revision is None or latest.revid != talk_revision.revid):
        posted = reported_markers(latest.text)
        meanwhile = {f.marker for f in fresh if f.marker in posted}
        if meanwhile:
            log.warning(
                "%d finding(s) were posted on [[%s]] while this run worked; not posting them again",
                len(meanwhile),
                talk,
            )
            store.record_notice(meanwhile, page=page, talk_page=talk, revid=None, at=now)
            fresh = report.new_findings = [f for f in fresh if f.marker not in meanwhile]
            if not fresh:
                return
            heading, body = render_notice(
                fresh, bot=bot, run_date=now.date(), page_title=page, config_page=config_title
            )
    summary = f"Bot: {len(fresh)} social media account(s) on [[{page}]] need attention"
    try:
        outcome = wiki.add_section(talk, heading, body, summary)
    except WikiError as exc:
        _not_written(report, "talk notice", exc)
        return
    crash_point("after-notice")
    report.notice_revid = outcome.revid
    store.record_notice(
        [f.marker for f in fresh], page=page, talk_page=talk, revid=outcome.revid, at=now
    )


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


def _archived_markers(wiki: WikiPort, talk: str) -> set[str]:
    """Finding markers on the talk page's subpages (``Talk:X/Archive 1`` and the like)."""
    markers: set[str] = set()
    try:
        archives = wiki.subpages(talk)
    except WikiError as exc:
        log.warning("cannot list the archives of [[%s]]: %s", talk, exc)
        return markers
    for title in archives:
        try:
            revision = wiki.read_if_exists(title)
        except WikiError as exc:
            log.warning("cannot read the archive [[%s]]: %s", title, exc)
            continue
        if revision is not None:
            markers |= reported_markers(revision.text)
    return markers


def _update_status_page(
    wiki: WikiPort,
    store: SqliteStore,
    title: str,
    page: str,
    decision: Decision,
    report: PageReport,
    *,
    blocked: str | None,
    dry_run: bool,
    echo: Callable[[str], None],
    now: datetime,
) -> None:
    rows = rows_after_fixes(decision.rows, report.fix_result if report.edit_revid else None)

    def change(current: str) -> str | None:
        new = render_status_page(rows, updated=now.date(), page_title=page)
        stamp = _UPDATED.search(current)
        if stamp:
            same_day = render_status_page(
                rows,
                updated=datetime.fromisoformat(stamp.group(1)).date(),
                page_title=page,
            )
            if same_day == current:
                return None  # only the date would change: no edit
        return None if new == current else new

    if dry_run:
        existing = wiki.read_if_exists(title)
        current = existing.text if existing is not None else ""
        new = change(current)
        if new is not None:
            echo(render_dry_run_diff(current, new, title))
        return
    if blocked:
        report.skipped_writes.append(f"status page: {blocked}")
        return
    if _lease_lost(store, report, "status page"):
        return
    try:
        outcome = wiki.save(
            title,
            change,
            "Bot: updating the status of the listed social media accounts",
            create=True,
        )
    except WikiError as exc:
        _not_written(report, "status page", exc)
        return
    report.status_page_saved = bool(outcome.changed)


def _lease_lost(store: SqliteStore, report: PageReport, what: str) -> bool:
    """True (and the write reported as not made) when this run no longer holds its lease."""
    problem = store.lease_problem()
    if problem is None:
        return False
    log.error("%s not saved: %s", what, problem)
    report.skipped_writes.append(f"{what}: {problem}")
    return True


def _not_written(report: PageReport, what: str, exc: WikiError) -> None:
    """A write the wiki refused: reported, not recorded, tried again by the next run.

    The other writes of the run go ahead: a protected list page must not keep the talk
    notice from being posted.
    """
    if not isinstance(exc, WritesDisabled):
        log.error("%s not saved: %s", what, exc)
    report.skipped_writes.append(f"{what}: {exc}")
