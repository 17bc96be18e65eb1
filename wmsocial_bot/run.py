"""``wmsocial-bot run``: read, check, decide once, plan, act -- the bot's job on the wiki.

For each page:

1. *gather*: the page text and its accounts, the check results (network: the one stage that
   asks the platforms), the state store's streaks and fix records, the fixes the bot's own
   edit summaries record (read when an account may be fixed that the store has no record of),
   and whether each earlier fix still stands where it was made;
2. :func:`~wmsocial_bot.decide.decide`, once, with all of that history: what the history
   cannot vouch for is held back there;
3. the talk page's markers (and its archives'), read only when a finding is new to the store;
4. :func:`~wmsocial_bot.plan.plan_page` (pure): the records and wiki writes that carry the
   decision out;
5. :class:`~wmsocial_bot.runner.Runner`: executes the plan -- never in a dry run (``--dry-run``
   or ``-simulate``: the plan is shown), never while the run page says no or the on-wiki
   configuration is broken, never after the lease is lost.  The wiki adapter re-reads and
   re-applies on an edit conflict and obeys ``{{nobots}}``.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

from wmsocial_bot.checkers.instance import read_servers
from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import Config, config_from_mapping
from wmsocial_bot.dashboard import rename_aliases, with_aliases
from wmsocial_bot.decide import (
    History,
    Policy,
    decide,
    ignore_keys,
    owner_of,
    undone_by_human,
)
from wmsocial_bot.errors import ConfigError, UserError, WikiError
from wmsocial_bot.extract import Extraction, extract_accounts
from wmsocial_bot.model import Account, CheckResult, Finding, RelMePage
from wmsocial_bot.net import Net
from wmsocial_bot.notices import reported_markers
from wmsocial_bot.plan import (
    PageFacts,
    ServersSeen,
    TalkState,
    fix_candidates,
    new_findings,
    plan_page,
    recover_fixes,
    resolved_markers,
)
from wmsocial_bot.runner import Observer, PageReport, Runner, WikiPort, announce
from wmsocial_bot.servers import (
    Reading,
    SecurityRelease,
    ServerFacts,
    default_hosts,
    facts_from_json,
    with_operator_knowledge,
)
from wmsocial_bot.state import FixRecord, ReachRecord, RunStore, Streak
from wmsocial_bot.verify import Fetcher, fetch_pages, field_checks, pages_wanted
from wmsocial_bot.wiki import PageRevision

__all__ = ["PageReport", "RunOptions", "WikiPort", "read_onwiki_config", "run_bot"]

log = logging.getLogger(__name__)
IGNORE_MARKER = re.compile(r"<!--\s*wmsocial-bot\s*:\s*ignore\s*-->", re.I)
# What checks a page's accounts: (accounts, now) -> one result per account.
Checker = Callable[[Sequence[Account], datetime], list[CheckResult]]
# What reads the movement's servers: hosts -> one reading each (docs/dashboard.md).
ServerReader = Callable[[Sequence[str]], list[Reading]]


@dataclass(frozen=True)
class RunOptions:
    """How a run goes, besides what the config says."""

    dry_run: bool = False
    echo: Callable[[str], None] = print
    now: datetime | None = None
    check: Checker | None = None  # None: the real checks, over the network
    # What reads the pages profile fields link to: (urls, now) -> pages; None: over the network.
    verify: Fetcher | None = None
    # None: over the network, unless ``check`` is given (a scripted run reads no server)
    read_servers: ServerReader | None = None
    observe: Observer = announce  # told of each step that matters for recovery


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
    store: RunStore,
    *,
    pages: Sequence[str],
    options: RunOptions = RunOptions(),
) -> list[PageReport]:
    """One run over ``pages``.  Raises only for problems that stop the run (missing page).

    A page that cannot be done (deleted, unreadable, emptied) does not stop the other pages:
    they are done, their summaries echoed, and then the problem is raised.
    """
    run = _start(wiki, config, store, options)
    fresh: dict[str, Streak] = {}  # streaks this run counted (an account on two pages: once)
    reports = []
    failed: list[UserError] = []
    for page in pages:
        try:
            reports.append(_run_page(run, page, fresh))
        except UserError as exc:
            if len(pages) == 1:
                raise
            log.error("%s", exc)
            failed.append(exc)
    if not run.runner.dry_run and store.lease_problem() is None:
        forgotten = store.prune(run.now - timedelta(days=run.config.state.keep_days))
        if forgotten:
            log.info("forgot %d runs older than %d days", forgotten, run.config.state.keep_days)
    if failed:
        for report in reports:
            for line in report.summary_lines():
                options.echo(line)
        problems = "; ".join(str(exc) for exc in failed)
        error = UserError(f"{problems} (the other {len(reports)} page(s) were done)")
        # Exit 1 (the run failed) only when the wiki failed every time; else the operator's.
        error.exit_code = 1 if all(exc.exit_code == 1 for exc in failed) else 2
        raise error
    return reports


@dataclass(frozen=True)
class _Run:
    """One run's fixed inputs, shared by its pages."""

    wiki: WikiPort
    store: RunStore
    config: Config
    policy: Policy
    runner: Runner
    check: Checker
    verify: Fetcher
    now: datetime
    bot: str
    config_title: str
    streaks: Mapping[str, Streak]  # the store's, as this run found them
    read_servers: ServerReader | None
    servers_before: Mapping[str, tuple[ServerFacts, datetime]]  # the store's, as found
    security: tuple[SecurityRelease, ...]
    servers_read: dict[str, Reading]  # this run's readings: each server once per run


def _start(wiki: WikiPort, config: Config, store: RunStore, options: RunOptions) -> _Run:
    """The on-wiki config, the write permission, the checker: what every page of a run shares."""
    now = options.now or datetime.now(UTC)
    dry_run = options.dry_run or wiki.simulate
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
    reader = options.read_servers
    if reader is None and options.check is None:
        reader = functools.partial(read_servers, net)
    before = {}
    for host, (text, at) in store.server_facts().items():
        facts = facts_from_json(text)
        if facts is not None:
            before[host] = (facts, at)
    return _Run(
        wiki=wiki,
        store=store,
        config=config,
        policy=onwiki.policy,
        runner=Runner(wiki, store, blocked, dry_run, options.echo, options.observe),
        check=options.check or _network_checker(config, store, net),
        verify=options.verify or _network_verifier(config),
        now=now,
        bot=bot,
        config_title=config_title,
        streaks=store.streaks(),
        read_servers=reader,
        servers_before=before,
        security=with_operator_knowledge(config.servers.security_releases),
        servers_read={},
    )


def _network_checker(config: Config, store: RunStore, net: Net) -> Checker:
    known = store.identities()

    def check(accounts: Sequence[Account], now: datetime) -> list[CheckResult]:
        return check_accounts(
            accounts, net, inactive_days=config.policy.inactive_days, known=known, now=now
        )

    return check


def _network_verifier(config: Config) -> Fetcher:
    """Reads linked pages through a network policy of its own, made only when needed."""
    made: list[Net] = []

    def verify(urls: Sequence[str], now: datetime) -> list[RelMePage]:
        if not urls:
            return []
        if not made:
            made.append(Net(config.network, config.endpoints, contact=config.bot.contact))
        return fetch_pages(made[0], urls, now)

    return verify


@dataclass(frozen=True)
class FixHistory:
    """The bot's earlier fixes of a page's accounts, from the store and from the page history."""

    known: Mapping[str, FixRecord]  # by old account: the store's records and the recovered
    recovered: tuple[tuple[str, FixRecord], ...]  # (edit summary, fix) the store had lost
    standing: frozenset[str]  # old accounts listed again although the bot's fix still stands
    unsure: Mapping[str, str]  # old account -> why its fix revision cannot be read
    error: str | None  # why the page history could not be read

    def for_decide(self, streaks: Mapping[str, Streak], fresh: Mapping[str, Streak]) -> History:
        """With the streaks: the store's, and this run's of accounts on an earlier page."""
        return History(
            streaks={**streaks, **fresh},
            fixes=self.known,
            counted=frozenset(fresh),
            standing=self.standing,
            unsure=self.unsure,
            unreadable=self.error,
        )


def _run_page(run: _Run, page: str, fresh: dict[str, Streak]) -> PageReport:
    """Gather, decide once, plan, execute."""
    wiki = run.wiki
    revision = wiki.read(page)
    report = PageReport(revision.title)
    page = revision.title
    extraction = extract_accounts(revision.text)
    if not extraction.accounts:
        raise UserError(f"[[{page}]]: no social-media accounts found")
    policy = replace(
        run.policy, ignore=run.policy.ignore | inline_ignores(revision.text, extraction)
    )
    report.results = run.check(extraction.accounts, run.now)
    run.runner.observe("checks")
    history = gather_fixes(
        wiki, run.store.fixes(page), revision, extraction, report.results, run.now
    )
    cached = run.store.relme_pages()
    fetched = run.verify(
        pages_wanted(report.results, cached, run.now, run.config.dashboard.verify_days), run.now
    )
    verification = field_checks(report.results, {**cached, **{p.url: p for p in fetched}}, owner_of)
    known = replace(
        history.for_decide(run.streaks, fresh),
        verified_before=run.store.verified_fields(),
        verdicts={(c.key, c.verdict.field): c.verdict for c in verification},
    )
    decision = decide(report.results, extraction, known, policy, run.now)
    report.skipped_writes += decision.held
    fresh.update(decision.streaks)
    report.decision = decision
    reported = run.store.notice_state()
    talk_title = run.config.wiki.talk_page or wiki.talk_title(page)
    resolved = set(resolved_markers(reported, report.results, extraction))
    servers = gather_servers(run, extraction, policy.ignore)
    found = [*decision.findings, *(servers.findings(run.now.date()) if servers else [])]
    facts = PageFacts(
        page=page,
        results=tuple(report.results),
        extraction=extraction,
        decision=decision,
        recovered=history.recovered,
        reported=reported,
        talk=talk_state(wiki, talk_title, new_findings(found, reported, resolved)),
        now=run.now,
        bot=run.bot,
        config_page=run.config_title,
        status_page=run.config.wiki.status_page or None,
        reach_history=gather_reach(run.store, extraction) if run.config.wiki.status_page else {},
        relme_pages=tuple(fetched),
        verification=tuple(verification),
        servers=servers,
    )
    run.runner.execute(plan_page(facts), report)
    return report


def gather_reach(store: RunStore, extraction: Extraction) -> dict[str, list[ReachRecord]]:
    """The stored figures of the page's accounts, with those recorded under an account's
    earlier handle (a Bluesky rename keeps the DID: ``dashboard.rename_aliases``)."""
    keys = {a.key for a in extraction.accounts}
    aliases = rename_aliases(keys, store.identities())
    wanted = keys | {other for others in aliases.values() for other in others}
    return with_aliases(store.reach_history(wanted), aliases)


def gather_servers(run: _Run, extraction: Extraction, ignore: frozenset[str]) -> ServersSeen | None:
    """The movement's servers for the page's status page, each read at most once per run.

    ``[servers] hosts``, else the servers of the page's Mastodon accounts (most accounts
    first, at most ``max_hosts``).  None when there is no status page or nothing to read.
    """
    if not run.config.wiki.status_page or run.read_servers is None:
        return None
    hosts = run.config.servers.hosts
    if hosts is None:
        handles = [
            a.handle
            for a in extraction.accounts
            if a.platform == "mastodon" and a.duplicate_of is None
        ]
        hosts = tuple(default_hosts(handles, run.config.servers.max_hosts))
    if not hosts:
        return None
    new = [host for host in hosts if host not in run.servers_read]
    if new:
        for reading in run.read_servers(new):
            run.servers_read[reading.host] = reading
    readings = tuple(
        run.servers_read.get(host, Reading(host, None, "could not be read this run"))
        for host in hosts
    )
    return ServersSeen(readings, run.servers_before, frozenset(new), run.security, ignore)


def gather_fixes(
    wiki: WikiPort,
    recorded: Mapping[str, FixRecord],
    revision: PageRevision,
    extraction: Extraction,
    results: Sequence[CheckResult],
    now: datetime,
) -> FixHistory:
    """The bot's earlier fixes on the page, and whether each still stands, before deciding.

    The state store may not know a fix the bot made (a run killed between the edit and its
    record, a lost or older state file, a moved page): the page history does.  It is read only
    when an account may be fixed that the store has no fix record of.
    """
    candidates = fix_candidates(results, recorded)
    recovered: list[tuple[str, FixRecord]] = []
    error = None
    if candidates:
        try:
            edits = wiki.own_edits(revision.title)
        except WikiError as exc:
            error = str(exc)
        else:
            recovered = recover_fixes(revision.title, edits, candidates, now)
    known = {**recorded, **{record.old_key: record for _summary, record in recovered}}
    standing, unsure = _standing_fixes(wiki, revision.text, extraction, known)
    return FixHistory(known, tuple(recovered), standing, unsure, error)


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


def talk_state(wiki: WikiPort, title: str, fresh: Sequence[Finding]) -> TalkState | None:
    """What the talk page and its archives already report; None (nothing read) if no ``fresh``.

    Its archives are read too when a finding is not on the talk page itself: a lost state
    file must not cause a repeat, even of findings a human archived since.
    """
    if not fresh:
        return None
    revision = wiki.read_if_exists(title)
    markers = reported_markers(revision.text) if revision is not None else set()
    if any(f.marker not in markers for f in fresh):
        markers |= _archived_markers(wiki, title)
    return TalkState(title, frozenset(markers), revision.revid if revision is not None else None)


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
