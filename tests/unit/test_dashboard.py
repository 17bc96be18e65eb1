"""The dashboard's computations (pure, a fake clock) and the reach table of the state store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from wmsocial_bot.dashboard import (
    Cell,
    Tally,
    activity,
    as_json,
    as_wikitext,
    owner_rows,
    posts_between,
    sparkline,
    summary_lines,
)
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Reach
from wmsocial_bot.state import ReachRecord, RunRecord, SqliteStore

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def day(n: int) -> datetime:
    """The run ``n`` days before NOW."""
    return NOW - timedelta(days=n)


def counted(key: str, *runs: tuple[int, int | None, int | None]) -> list[ReachRecord]:
    """Daily runs as (days ago, posts total, followers), oldest first."""
    return [
        ReachRecord(key, key.split(":")[0], day(n), Reach(posts_total=posts, followers=followers))
        for n, posts, followers in runs
    ]


def test_posts_in_7_and_30_days_from_count_deltas_between_runs() -> None:
    history = counted(
        "mastodon:a@x.example", (31, 100, 10), (30, 102, 10), (7, 140, 15), (0, 147, 20)
    )
    found = activity(history, NOW)
    assert found is not None
    assert found.posts_30d == Tally(45, True)  # 147 - 102: the run 30 days back
    assert found.posts_7d == Tally(7, True)
    assert found.followers == 20 and found.followers_change == 10  # since the run 30 days back
    assert found.change_since == day(30).date()


def test_a_history_shorter_than_the_window_is_a_lower_bound_never_a_guess() -> None:
    history = counted("mastodon:a@x.example", (3, 50, 5), (0, 53, 5))
    found = activity(history, NOW)
    assert found is not None
    assert found.posts_30d == Tally(3, False)
    assert str(found.posts_30d) == "≥3"
    assert found.posts_7d == Tally(3, False)
    # One run alone proves nothing about a period.
    assert posts_between(history[:1], day(7), NOW) is None


def test_deleted_posts_make_the_count_delta_unusable() -> None:
    history = counted("mastodon:a@x.example", (7, 50, 5), (0, 45, 5))
    assert posts_between(history, day(7), NOW) is None


def test_post_dates_seen_in_overlapping_feeds_are_counted_once() -> None:
    feed_then = (date(2026, 11, 25), date(2026, 11, 20), date(2026, 10, 1))
    feed_now = (date(2026, 11, 29), date(2026, 11, 29), date(2026, 11, 25), date(2026, 11, 20))
    history = [
        ReachRecord("youtube:chan", "youtube", day(4), Reach(post_dates=feed_then)),
        ReachRecord("youtube:chan", "youtube", day(0), Reach(post_dates=feed_now)),
    ]
    found = activity(history, NOW)
    assert found is not None
    # The newest feed reaches back only to 11-20: 30 days is "at least"; the older feed
    # (reaching 10-01) was taken too early to vouch for the last days.
    assert found.posts_30d == Tally(4, False)
    assert found.posts_7d == Tally(3, True)  # 11-25 and twice 11-29; the feed reaches 11-20
    assert found.last_post == date(2026, 11, 29)
    assert found.followers is None  # the feed shows none


def test_weekly_sparkline_covers_12_weeks_and_marks_weeks_not_covered() -> None:
    runs = [(7 * w, 1000 - 10 * w * w, None) for w in range(6, -1, -1)]  # weekly runs, 6 weeks
    found = activity(counted("bluesky:a.bsky.social", *runs), NOW)
    assert found is not None
    assert len(found.weekly) == 12
    assert found.weekly[:6] == (None,) * 6
    assert found.weekly[6:] == (110, 90, 70, 50, 30, 10)
    assert sparkline(found.weekly) == "······█▇▅▄▃▂"  # a week with posts is never the lowest block
    assert sparkline([0, 0, None]) == "▁▁·"


def test_figures_after_the_clock_are_ignored() -> None:
    history = counted("mastodon:a@x.example", (14, 10, 1), (7, 20, 2), (-1, 99, 99))
    found = activity(history, NOW)
    assert found is not None and found.runs == 2 and found.followers == 2


PAGE = """== Chapters ==
{| class="wikitable"
! Name !! Mastodon !! X !! Bluesky
|-
| WM Example || https://x.example/@a || https://x.com/wmex || https://bsky.app/profile/a.bsky.social
|-
| Wikimedia Other || https://x.example/@b || ||
|}
"""


def test_one_row_per_owner_and_a_cell_that_says_the_platform_shows_nothing() -> None:
    accounts = extract_accounts(PAGE).accounts
    history = {"mastodon:a@x.example": counted("mastodon:a@x.example", (7, 10, 3), (0, 12, 4))}
    rows = owner_rows(accounts, history, NOW)
    assert [row.owner for row in rows] == ["WM Example", "Wikimedia Other"]
    cells = {cell.platform: cell for cell in rows[0].cells}
    assert cells["x"].activity is None
    assert cells["x"].note == "X shows no activity to anonymous callers"
    assert cells["bluesky"].note is not None and "no figures recorded yet" in cells["bluesky"].note
    assert (
        cells["mastodon"].text() == "@a@x.example: last ?, 30d ≥2, 4 followers (+1), ···········█"
    )
    data = as_json(rows)
    assert data[0]["platforms"]["mastodon"][0]["followers"] == 4
    assert data[1]["platforms"] == {"mastodon": [Cell("mastodon", "b@x.example", None).to_json()]}
    wikitext = as_wikitext(rows, now=NOW)
    assert '{| class="wikitable sortable"' in wikitext
    assert "! Owner !! Mastodon !! Bluesky !! X" in wikitext


def test_the_store_keeps_one_reach_row_per_account_per_run(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3")
    figures = Reach(posts_total=5, followers=7, post_dates=(date(2026, 11, 1),), last_post=None)
    for n in (2, 1):
        store.record_run(
            RunRecord(
                started=day(n),
                pages=["P"],
                identities=[],
                reach=[("mastodon:a@x.example", "mastodon", figures)],
            )
        )
    store.close()
    history = SqliteStore(tmp_path / "state.sqlite3").reach_history()
    assert [(r.checked_at, r.reach) for r in history["mastodon:a@x.example"]] == [
        (day(2), figures),
        (day(1), figures),
    ]


def test_a_summary_line_per_platform() -> None:
    accounts = extract_accounts(PAGE).accounts
    history = {
        "mastodon:a@x.example": counted("mastodon:a@x.example", (30, 10, 3), (0, 12, 4)),
        "mastodon:b@x.example": counted("mastodon:b@x.example", (30, 5, 100), (0, 5, None)),
    }
    assert summary_lines(owner_rows(accounts, history, NOW)) == [
        "Mastodon: 2 accounts (2 with figures), 2 posts in 30 days, "
        "1 without a post in 30 days, 4 followers (1 with a count)",  # b's is hidden now
        "Bluesky: 1 account; no figures recorded yet",
        "X: 1 account; X shows no activity to anonymous callers",
    ]
