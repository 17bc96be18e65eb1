"""The comms dashboard: activity and reach per account and per owner, from the state store only.

Pure computations over the :class:`~wmsocial_bot.state.ReachRecord` history that ``run`` keeps
(one row per account per run, from what the checks received anyway), and their renderings for
``wmsocial-bot report``.  Nothing here makes a request.  A figure the history cannot prove is
shown as a lower bound (``≥5``) or as unknown, never guessed; see docs/dashboard.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from wmsocial_bot.decide import owner_of
from wmsocial_bot.model import PLATFORMS, Account, CheckResult, Reach
from wmsocial_bot.notices import inert, platform_name, shown_handle
from wmsocial_bot.state import ReachRecord

# The platforms whose checks see activity figures (docs/dashboard.md says which, and where from).
SHOWS_FIGURES = frozenset({"mastodon", "bluesky", "youtube", "telegram"})
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
    weekly = []
    for week in range(WEEKS - 1, -1, -1):
        end = now - timedelta(days=7 * week)
        tally = posts_between(past, end - timedelta(days=7), end)
        weekly.append(tally.count if tally is not None and tally.complete else None)
    followers, change, since = follower_trend(past, now)
    dates = [d for record in past for d in record.reach.post_dates]
    dates += [record.reach.last_post for record in past if record.reach.last_post is not None]
    return Activity(
        key=first.key,
        platform=first.platform,
        runs=len(past),
        last_post=max(dates, default=None),
        posts_7d=posts_between(past, now - timedelta(days=7), now),
        posts_30d=posts_between(past, now - timedelta(days=30), now),
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
    counted = _by_counts(history, start, end)
    dated = _by_dates(history, start, end)
    for tally in (counted, dated):
        if tally is not None and tally.complete:
            return tally
    bounds = [tally.count for tally in (counted, dated) if tally is not None]
    return Tally(max(bounds), False) if bounds else None


def _by_counts(history: Sequence[ReachRecord], start: datetime, end: datetime) -> Tally | None:
    counted = [r for r in history if r.reach.posts_total is not None and r.checked_at <= end]
    if not counted:
        return None
    last = counted[-1]
    before = [r for r in counted if r.checked_at <= start]
    inside = [r for r in counted if r.checked_at > start]
    if before and start - before[-1].checked_at <= SLACK:
        base, exact_start = before[-1], True
    elif inside:
        base, exact_start = inside[0], False
    else:
        return None
    if base is last or last.checked_at <= start:
        return None
    assert base.reach.posts_total is not None and last.reach.posts_total is not None
    delta = last.reach.posts_total - base.reach.posts_total
    if delta < 0:
        return None  # posts were deleted: the delta proves nothing
    return Tally(delta, exact_start and end - last.checked_at <= SLACK)


def _by_dates(history: Sequence[ReachRecord], start: datetime, end: datetime) -> Tally | None:
    snapshots = [r for r in history if r.reach.post_dates]
    if not snapshots:
        return None
    daily: Counter[date] = Counter()
    for record in snapshots:  # feeds of successive runs overlap: the most any one run saw
        for day, count in Counter(record.reach.post_dates).items():
            daily[day] = max(daily[day], count)
    first_day, last_day = start.date(), end.date()
    count = sum(n for day, n in daily.items() if first_day < day <= last_day)
    complete = any(
        r.checked_at >= end - SLACK and min(r.reach.post_dates) <= first_day for r in snapshots
    )
    return Tally(count, complete)


def follower_trend(
    history: Sequence[ReachRecord], now: datetime
) -> tuple[int | None, int | None, date | None]:
    """(followers now, change since the run nearest 30 days back or the first run, its date)."""
    known = [r for r in history if r.reach.followers is not None and r.checked_at <= now]
    if not known:
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

    @property
    def note(self) -> str | None:
        """Why there are no figures: the platform shows none, or no run recorded any yet."""
        if self.activity is not None:
            return None
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


def platforms_of(rows: Sequence[OwnerRow]) -> list[str]:
    """The platforms the report has columns for, in the project's usual order."""
    present = {cell.platform for row in rows for cell in row.cells}
    return [p for p in PLATFORMS if p in present]


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


def as_wikitext(rows: Sequence[OwnerRow], *, now: datetime) -> str:
    """A sortable wiki table; every text from the page or a server is made inert."""
    platforms = platforms_of(rows)
    lines = [
        f"Activity and reach per owner, from the bot's checks up to {now.date().isoformat()} "
        f"(sparkline: posts per week, the last {WEEKS} weeks; {UNKNOWN_WEEK} not covered).",
        '{| class="wikitable sortable"',
        "! Owner !! " + " !! ".join(platform_name(p) for p in platforms),
    ]
    for row in rows:
        lines.append("|-")
        cells = [inert(row.owner)]
        for platform in platforms:
            texts = [inert(c.text()) for c in row.cells if c.platform == platform]
            cells.append("<br />".join(texts))
        lines.append("| " + " || ".join(cells))
    lines.append("|}")
    return "\n".join(lines)
