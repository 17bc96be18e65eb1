"""The comms dashboard: activity and reach per account and per owner, from the state store only.

Pure computations over the :class:`~wmsocial_bot.state.ReachRecord` history that ``run`` keeps
(one row per account per run, from what the checks received anyway), and their renderings for
``wmsocial-bot report``.  Nothing here makes a request.  A figure the history cannot prove is
shown as a lower bound (``≥5``) or as unknown, never guessed; see docs/dashboard.md.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any

from wmsocial_bot.decide import owner_of
from wmsocial_bot.identify import NAMES, PLATFORMS, shown_handle
from wmsocial_bot.model import Account, CheckResult, Fix, Identity, Reach, ReachRecord
from wmsocial_bot.notices import inert, platform_name

# The platforms whose checks see activity figures (docs/dashboard.md says which, and where from).
SHOWS_FIGURES = frozenset(p.name for p in PLATFORMS if p.reports_activity)
WEEKS = 12
BLOCKS = "▁▂▃▄▅▆▇█"  # U+2581..U+2588: a week with no posts is the lowest block
UNKNOWN_WEEK = "·"  # a week the history does not cover
# A run this close to a window's edge counts as taken at the edge (daily runs drift by minutes).
SLACK = timedelta(days=2)
NO_OWNER = "(no owner)"


def reach_rows(results: Iterable[CheckResult]) -> list[tuple[str, str, Reach]]:
    """(account key, platform, figures) once per account whose check saw any, for the store."""
    rows: dict[str, tuple[str, str, Reach]] = {}
    for found in results:
        if found.reach is not None and found.account.duplicate_of is None:
            rows.setdefault(
                found.account.key, (found.account.key, found.account.platform, found.reach)
            )
    return list(rows.values())


@dataclass(frozen=True)
class Tally:
    """A number of posts; ``complete`` False when the history only proves "at least"."""

    count: int
    complete: bool

    def __str__(self) -> str:
        return str(self.count) if self.complete else f"≥{self.count}"


@dataclass(frozen=True)
class Activity:
    """One account's activity and reach, computed from its history at ``now``."""

    key: str
    platform: str
    runs: int  # how many runs recorded it
    last_post: date | None
    posts_7d: Tally | None
    posts_30d: Tally | None
    followers: int | None
    followers_change: int | None  # since ``change_since``
    change_since: date | None  # the run nearest 30 days back, or the first run
    weekly: tuple[int | None, ...]  # WEEKS weeks of posts, oldest first; None: not covered

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "last_post": self.last_post.isoformat() if self.last_post else None,
            "posts_7d": _tally_json(self.posts_7d),
            "posts_30d": _tally_json(self.posts_30d),
            "followers": self.followers,
            "followers_change": self.followers_change,
            "change_since": self.change_since.isoformat() if self.change_since else None,
            "weekly": list(self.weekly),
            "sparkline": sparkline(self.weekly),
        }


def _tally_json(tally: Tally | None) -> dict[str, Any] | None:
    return None if tally is None else {"count": tally.count, "complete": tally.complete}


def activity(history: Sequence[ReachRecord], now: datetime) -> Activity | None:
    """The account's figures at ``now`` from its records (oldest first); None without any."""
    past = [record for record in history if record.checked_at <= now]
    if not past:
        return None
    first = past[0]
    prepared = _Prepared.of(past)
    weekly = []
    for week in range(WEEKS - 1, -1, -1):
        end = now - timedelta(days=7 * week)
        tally = prepared.posts_between(end - timedelta(days=7), end)
        weekly.append(tally.count if tally is not None and tally.complete else None)
    followers, change, since = follower_trend(past, now)
    dates = [d for record in past for d in record.reach.post_dates]
    dates += [record.reach.last_post for record in past if record.reach.last_post is not None]
    return Activity(
        key=first.key,
        platform=first.platform,
        runs=len(past),
        last_post=max(dates, default=None),
        posts_7d=prepared.posts_between(now - timedelta(days=7), now),
        posts_30d=prepared.posts_between(now - timedelta(days=30), now),
        followers=followers,
        followers_change=change,
        change_since=since,
        weekly=tuple(weekly),
    )


def posts_between(history: Sequence[ReachRecord], start: datetime, end: datetime) -> Tally | None:
    """Posts made in ``(start, end]``: from post-count deltas and/or the post dates seen.

    A count delta is exact when runs were taken at both edges (within :data:`SLACK`) and the
    total did not fall (a deletion hides posts); dates are exact when a feed seen at the end
    reaches back past the start.  Otherwise the larger lower bound, marked incomplete.
    """
    return _Prepared.of(history).posts_between(start, end)


@dataclass(frozen=True)
class _Prepared:
    """One account's history indexed once, so that the 14 windows of :func:`activity` are
    binary searches, not scans (a year of daily runs for 1,000 accounts: see dashboard.md)."""

    counted_at: list[datetime]  # runs with a post total, oldest first
    totals: list[int]
    days: list[date]  # every day a post was seen, ascending
    running: list[int]  # posts up to and including days[i]
    seen_at: list[datetime]  # runs whose feed showed dates, oldest first
    oldest_from: list[date]  # the oldest date any feed from seen_at[i] on reached

    @classmethod
    def of(cls, history: Sequence[ReachRecord]) -> _Prepared:
        counted = [r for r in history if r.reach.posts_total is not None]
        daily: Counter[date] = Counter()
        snapshots = [r for r in history if r.reach.post_dates]
        for record in snapshots:  # feeds of successive runs overlap: the most any one run saw
            for day, count in Counter(record.reach.post_dates).items():
                daily[day] = max(daily[day], count)
        days = sorted(daily)
        running = list(accumulate(daily[day] for day in days))
        oldest = [min(r.reach.post_dates) for r in snapshots]
        oldest_from = list(accumulate(reversed(oldest), min))[::-1]
        return cls(
            counted_at=[r.checked_at for r in counted],
            totals=[r.reach.posts_total for r in counted if r.reach.posts_total is not None],
            days=days,
            running=running,
            seen_at=[r.checked_at for r in snapshots],
            oldest_from=oldest_from,
        )

    def posts_between(self, start: datetime, end: datetime) -> Tally | None:
        counted, dated = self._by_counts(start, end), self._by_dates(start, end)
        for tally in (counted, dated):
            if tally is not None and tally.complete:
                return tally
        bounds = [tally.count for tally in (counted, dated) if tally is not None]
        return Tally(max(bounds), False) if bounds else None

    def _by_counts(self, start: datetime, end: datetime) -> Tally | None:
        last = bisect_right(self.counted_at, end) - 1  # the newest run up to the end
        if last < 0 or self.counted_at[last] <= start:
            return None
        before = bisect_right(self.counted_at, start) - 1  # the newest run up to the start
        if before >= 0 and start - self.counted_at[before] <= SLACK:
            base, exact_start = before, True
        else:
            base, exact_start = before + 1, False  # the first run inside the window
        if base == last:
            return None
        delta = self.totals[last] - self.totals[base]
        if delta < 0:
            return None  # posts were deleted: the delta proves nothing
        return Tally(delta, exact_start and end - self.counted_at[last] <= SLACK)

    def _by_dates(self, start: datetime, end: datetime) -> Tally | None:
        if not self.seen_at:
            return None
        first_day, last_day = start.date(), end.date()
        upto = bisect_right(self.days, last_day) - 1
        before = bisect_right(self.days, first_day) - 1
        count = (self.running[upto] if upto >= 0 else 0) - (
            self.running[before] if before >= 0 else 0
        )
        late = bisect_left(self.seen_at, end - SLACK)  # feeds read at the end of the window
        complete = late < len(self.seen_at) and self.oldest_from[late] <= first_day
        return Tally(count, complete)


def follower_trend(
    history: Sequence[ReachRecord], now: datetime
) -> tuple[int | None, int | None, date | None]:
    """(followers now, change since the run nearest 30 days back or the first run, its date).

    None when the newest run saw no count (hidden since): an old count is not "now".
    """
    past = [r for r in history if r.checked_at <= now]
    known = [r for r in past if r.reach.followers is not None]
    if not known or known[-1] is not past[-1]:
        return None, None, None
    last = known[-1]
    assert last.reach.followers is not None
    before = [r for r in known if r.checked_at <= now - timedelta(days=30)]
    base = before[-1] if before else known[0]
    if base is last:
        return last.reach.followers, None, None
    assert base.reach.followers is not None
    return last.reach.followers, last.reach.followers - base.reach.followers, base.checked_at.date()


def sparkline(weekly: Sequence[int | None]) -> str:
    """Weekly posts as Unicode blocks, scaled to the busiest week; ``·`` a week not covered."""
    top = max((n for n in weekly if n is not None), default=0)
    out = []
    for n in weekly:
        if n is None:
            out.append(UNKNOWN_WEEK)
        elif n == 0 or top == 0:
            out.append(BLOCKS[0])
        else:
            out.append(BLOCKS[max(1, round(n / top * (len(BLOCKS) - 1)))])
    return "".join(out)


# -- the per-owner report ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One listed account in the report: its activity, or why there is none."""

    platform: str
    handle: str
    activity: Activity | None
    moved_from: str | None = None  # the handle this run's fix replaced, for a moved account

    @property
    def note(self) -> str | None:
        """Why there are no figures: the platform shows none, or no run recorded any yet."""
        if self.activity is not None:
            return None
        if self.moved_from is not None:
            old = shown_handle(self.platform, self.moved_from)
            return f"the page links it since this run (moved from {old}); figures start next run"
        if self.platform not in SHOWS_FIGURES:
            return f"{platform_name(self.platform)} shows no activity to anonymous callers"
        return "no figures recorded yet (run records them at each check)"

    def text(self) -> str:
        """The cell in one line: last post, posts in 30 days, followers and the sparkline."""
        shown = shown_handle(self.platform, self.handle)
        if self.activity is None:
            return f"{shown}: {self.note}"
        a = self.activity
        parts = [f"last {a.last_post.isoformat() if a.last_post else '?'}"]
        parts.append(f"30d {a.posts_30d if a.posts_30d is not None else '?'}")
        if a.followers is not None:
            change = "" if a.followers_change is None else f" ({a.followers_change:+,})"
            parts.append(f"{a.followers:,} followers{change}")
        parts.append(sparkline(a.weekly))
        return f"{shown}: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"handle": self.handle, "note": self.note}
        data.update(self.activity.to_json() if self.activity is not None else {})
        return data


@dataclass(frozen=True)
class OwnerRow:
    owner: str
    cells: tuple[Cell, ...]


def owner_rows(
    accounts: Sequence[Account], history: Mapping[str, Sequence[ReachRecord]], now: datetime
) -> list[OwnerRow]:
    """One row per owner (the table row's owner cell, else its section), in page order."""
    rows: dict[str, dict[str, Cell]] = {}
    for account in accounts:
        if account.duplicate_of is not None:
            continue
        owner = owner_of(account) or account.section or NO_OWNER
        cell = Cell(account.platform, account.handle, activity(history.get(account.key, ()), now))
        rows.setdefault(owner.strip() or NO_OWNER, {}).setdefault(account.key, cell)
    return [OwnerRow(owner, tuple(cells.values())) for owner, cells in rows.items()]


def owners_after_fixes(rows: Sequence[OwnerRow], fixes: Iterable[Fix]) -> list[OwnerRow]:
    """The activity rows as the page reads after this run's fixes, not one run behind them.

    A renamed account is the same account under its new handle, figures and all.  A moved one
    is a new account (docs/dashboard.md): its successor's handle is shown, with no figures
    until a run records them.  Where the row lists the successor already, the old cell goes.
    """
    by_old = {(fix.platform, fix.old_handle): fix for fix in fixes}
    if not by_old:
        return list(rows)
    out = []
    for row in rows:
        listed = {(cell.platform, cell.handle) for cell in row.cells}
        cells = []
        for cell in row.cells:
            fix = by_old.get((cell.platform, cell.handle))
            if fix is None:
                cells.append(cell)
            elif (fix.platform, fix.new_handle) in listed:
                continue
            elif fix.reason == "renamed":
                cells.append(replace(cell, handle=fix.new_handle))
            else:
                cells.append(Cell(cell.platform, fix.new_handle, None, moved_from=cell.handle))
        out.append(OwnerRow(row.owner, tuple(cells)))
    return out


def platforms_of(rows: Sequence[OwnerRow]) -> list[str]:
    """The platforms the report has columns for, in the project's usual order."""
    present = {cell.platform for row in rows for cell in row.cells}
    return [p for p in NAMES if p in present]


def summary_lines(rows: Sequence[OwnerRow]) -> list[str]:
    """One line per platform: its accounts, their posts in 30 days and followers, summed."""
    lines = []
    for platform in platforms_of(rows):
        cells = [c for row in rows for c in row.cells if c.platform == platform]
        name = platform_name(platform)
        head = f"{name}: {len(cells)} account{'s' if len(cells) != 1 else ''}"
        if platform not in SHOWS_FIGURES:
            lines.append(f"{head}; {name} shows no activity to anonymous callers")
            continue
        found = [c.activity for c in cells if c.activity is not None]
        if not found:
            lines.append(f"{head}; no figures recorded yet")
            continue
        parts = [f"{head} ({len(found)} with figures)"]
        tallies = [a.posts_30d for a in found if a.posts_30d is not None]
        if tallies:
            total = Tally(sum(t.count for t in tallies), all(t.complete for t in tallies))
            unknown = len(found) - len(tallies)
            parts.append(f"{total} posts in 30 days" + (f" ({unknown} unknown)" if unknown else ""))
            quiet = sum(1 for t in tallies if t.complete and t.count == 0)
            if quiet:
                parts.append(f"{quiet} without a post in 30 days")
        counts = [a.followers for a in found if a.followers is not None]
        if counts:
            parts.append(f"{sum(counts):,} followers ({len(counts)} with a count)")
        lines.append(", ".join(parts))
    return lines


def as_json(rows: Sequence[OwnerRow]) -> list[dict[str, Any]]:
    return [
        {
            "owner": row.owner,
            "platforms": {
                platform: [c.to_json() for c in row.cells if c.platform == platform]
                for platform in platforms_of([row])
            },
        }
        for row in rows
    ]


def as_table_rows(rows: Sequence[OwnerRow]) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, columns) for :func:`wmsocial_bot.output.table`: owner, then one per platform."""
    platforms = platforms_of(rows)
    out = []
    for row in rows:
        line: dict[str, Any] = {"owner": row.owner}
        for platform in platforms:
            line[platform] = "; ".join(c.text() for c in row.cells if c.platform == platform)
        out.append(line)
    return out, ["owner", *platforms]


def sort_value(cells: Sequence[Cell]) -> int | None:
    """What a platform cell sorts by: the owner's posts there in 30 days (a lower bound counts
    as its number), -1 when none of them has a figure; None for no account (an empty cell)."""
    if not cells:
        return None
    counts = [
        c.activity.posts_30d.count
        for c in cells
        if c.activity is not None and c.activity.posts_30d is not None
    ]
    return sum(counts) if counts else -1


def as_wikitext(rows: Sequence[OwnerRow], *, now: datetime) -> str:
    """A sortable wiki table; every text from the page or a server is made inert.

    A platform column sorts by posts in 30 days (``data-sort-value``: the shown text starts
    with the handle, which would sort by name).  MediaWiki's tablesorter reads the attribute
    before the text and skips empty cells when it guesses a column's type
    (``resources/src/jquery.tablesorter/jquery.tablesorter.js``, ``getElementSortKey`` and
    ``detectParserForColumn``, MediaWiki 1.39), so an owner with no account there stays empty.
    """
    platforms = platforms_of(rows)
    lines = [
        f"Activity and reach per owner, from the bot's checks up to {now.date().isoformat()} "
        f"(sparkline: posts per week, the last {WEEKS} weeks; {UNKNOWN_WEEK} not covered). "
        "A platform column sorts by posts in 30 days.",
        '{| class="wikitable sortable"',
        "! Owner !! " + " !! ".join(platform_name(p) for p in platforms),
    ]
    for row in rows:
        lines.append("|-")
        cells = [inert(row.owner)]
        for platform in platforms:
            mine = [c for c in row.cells if c.platform == platform]
            text = "<br />".join(inert(c.text()) for c in mine)
            value = sort_value(mine)
            cells.append(text if value is None else f'data-sort-value="{value}" | {text}')
        lines.append("| " + " || ".join(cells))
    lines.append("|}")
    lines += [f"* {inert(line)}" for line in summary_lines(rows)]
    return "\n".join(lines)


def status_section(rows: Sequence[OwnerRow], *, now: datetime) -> str:
    """The status page's activity section: the table, or one line while no run has figures."""
    if not any(cell.activity is not None for row in rows for cell in row.cells):
        lines = [
            "No figures recorded yet: each run records what the checks show of every account's "
            "posts and followers, and this table fills from them."
        ]
        return "\n".join(lines + [f"* {inert(line)}" for line in summary_lines(rows)])
    return as_wikitext(rows, now=now)


def rename_aliases(keys: Iterable[str], identities: Mapping[str, Identity]) -> dict[str, list[str]]:
    """Other account keys the store knows for the same Bluesky DID as each of ``keys``.

    A Bluesky rename keeps the DID, so the account's history under its old handle is still
    its history.  Only DIDs: a Mastodon account id is per server, and a move is a new account
    whose figures are its own.
    """
    by_did: dict[str, list[str]] = {}
    for key, identity in identities.items():
        if identity.platform == "bluesky" and identity.ident.startswith("did:"):
            by_did.setdefault(identity.ident, []).append(key)
    aliases = {}
    for key in keys:
        known = identities.get(key)
        if known is None or known.platform != "bluesky":
            continue
        others = [k for k in by_did.get(known.ident, ()) if k != key]
        if others:
            aliases[key] = others
    return aliases


def with_aliases(
    history: Mapping[str, Sequence[ReachRecord]], aliases: Mapping[str, Iterable[str]]
) -> dict[str, list[ReachRecord]]:
    """Each key's records with those of its aliases (:func:`rename_aliases`), oldest first;
    where both have a record of one run, the key's own is kept."""
    merged = {key: list(records) for key, records in history.items()}
    for key, others in aliases.items():
        own = merged.get(key, [])
        taken = {record.checked_at for record in own}
        extra = [
            replace(record, key=key)
            for other in others
            for record in history.get(other, ())
            if record.checked_at not in taken
        ]
        if extra:
            merged[key] = sorted(own + extra, key=lambda record: record.checked_at)
    return merged


def with_this_run(
    history: Mapping[str, Sequence[ReachRecord]],
    rows: Iterable[tuple[str, str, Reach]],
    at: datetime,
) -> dict[str, list[ReachRecord]]:
    """The stored history plus this run's figures (which the run records, or in a dry run
    does not), so that the status page shows the figures of the run that writes it."""
    merged = {key: [r for r in records if r.checked_at < at] for key, records in history.items()}
    for key, platform, figures in rows:
        merged.setdefault(key, []).append(ReachRecord(key, platform, at, figures))
    return merged
