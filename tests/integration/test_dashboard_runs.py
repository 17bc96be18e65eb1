"""The dashboard over a month of simulated daily runs: real Mastodon.py and atproto clients
against the platform simulator, the real SQLite store, then ``wmsocial-bot report``.

Statuses and followers change between runs; the test sets each run's clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.dashboard import Tally, activity, owner_rows, reach_rows, sparkline
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Status
from wmsocial_bot.net import Net
from wmsocial_bot.state import RunRecord, SqliteStore
from wmsocial_testkit.simulator import Simulator

pytestmark = pytest.mark.simulator
START = datetime(2026, 10, 25, 6, 0, tzinfo=UTC)
DAYS = 30
FRANK = "did:plc:frankaaaaaaaaaaaaaaaaaaa"
PAGE = """{| class="wikitable"
! Name !! Mastodon !! Bluesky !! X
|-
| Alice || https://social.example/@alice || https://bsky.app/profile/frank.example.com
| https://x.com/alice
|}
"""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_days(sim: Simulator, store: SqliteStore, start: datetime = START) -> datetime:
    """One check per simulated day, recorded as ``run`` records it; returns the last run's time.

    Every day Alice posts three statuses on Mastodon and gains two followers; the Bluesky
    account posts once and gains one follower.
    """
    net = Net(NetworkConfig(timeout=3.0), sim.overrides())
    accounts = extract_accounts(PAGE).accounts
    posts: list[str] = []
    now = start
    for n in range(DAYS + 1):
        now = start + timedelta(days=n)
        posts.insert(0, _stamp(now - timedelta(hours=1)))
        sim.update_account(
            "social.example",
            "alice",
            statuses_count=100 + 3 * n,
            followers_count=10 + 2 * n,
            last_status_at=now.date().isoformat(),
            statuses=None,
        )
        sim.update_bluesky(FRANK, posts=list(posts), posts_count=len(posts), followers_count=n)
        results = check_accounts(accounts, net, now=now, known=store.identities())
        assert [r.status for r in results[:2]] == [Status.OK, Status.OK], results
        store.record_run(
            RunRecord(
                started=now,
                pages=["Social media"],
                identities=[r.learned for r in results if r.learned is not None],
                reach=reach_rows(results),
            )
        )
        sim.advance(86400)
    return now


def test_a_month_of_daily_runs_gives_posts_followers_and_the_weekly_sparkline(
    sim: Simulator, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3")
    try:
        now = run_days(sim, store)
        history = store.reach_history()
    finally:
        store.close()
    assert set(history) == {"mastodon:alice@social.example", "bluesky:frank.example.com"}
    alice = activity(history["mastodon:alice@social.example"], now)
    assert alice is not None and alice.runs == DAYS + 1
    assert alice.posts_30d == Tally(90, True) and alice.posts_7d == Tally(21, True)
    assert (alice.followers, alice.followers_change) == (70, 60)
    assert alice.last_post == now.date()
    assert alice.weekly == (None,) * 8 + (21,) * 4  # the store remembers 30 days
    assert sparkline(alice.weekly) == "········████"
    frank = activity(history["bluesky:frank.example.com"], now)
    assert frank is not None
    assert frank.posts_30d == Tally(30, True) and frank.posts_7d == Tally(7, True)
    assert (frank.followers, frank.followers_change) == (DAYS, DAYS)
    assert frank.last_post == now.date()
    (row,) = owner_rows(extract_accounts(PAGE).accounts, history, now)
    assert row.owner == "Alice"
    x = next(cell for cell in row.cells if cell.platform == "x")
    assert x.activity is None and x.note == "X shows no activity to anonymous callers"


def test_report_command_reads_only_the_state_store(sim: Simulator, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3")
    try:  # the command's clock is the real one: the last run was five minutes ago
        run_days(sim, store, datetime.now(UTC) - timedelta(days=DAYS, minutes=5))
    finally:
        store.close()
    sim.reset_log()
    page = tmp_path / "page.wiki"
    page.write_text(PAGE, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[state]\npath = "{tmp_path / "state.sqlite3"}"\n', encoding="utf-8")
    command = [sys.executable, "-m", "wmsocial_bot", "report", "--wikitext", str(page)]
    command += ["--config", str(config)]
    proc = subprocess.run(
        [*command, "--format", "json"], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["owner"] == "Alice"
    (mastodon,) = row["platforms"]["mastodon"]
    assert mastodon["followers"] == 70 and mastodon["runs"] == DAYS + 1
    assert row["platforms"]["x"][0]["note"] == "X shows no activity to anonymous callers"
    table = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert table.returncode == 0, table.stderr
    assert "OWNER" in table.stdout and "70 followers (+60)" in table.stdout
    assert "Mastodon: 1 account (1 with figures), 90 posts in 30 days" in table.stdout
    wikitext = subprocess.run(
        [*command, "--format", "wikitext"], capture_output=True, text=True, check=False, timeout=120
    )
    assert '{| class="wikitable sortable"' in wikitext.stdout
    assert sim.log == [], "report made a platform request"


def test_report_on_an_unusable_state_file_is_one_line(tmp_path: Path) -> None:
    page = tmp_path / "page.wiki"
    page.write_text(PAGE, encoding="utf-8")
    bad = tmp_path / "state.sqlite3"
    bad.write_text("not a database\n" * 100, encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[state]\npath = "{bad}"\n', encoding="utf-8")
    command = [sys.executable, "-m", "wmsocial_bot", "report", "--wikitext", str(page)]
    proc = subprocess.run(
        [*command, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "state.path" in proc.stderr


def test_a_hidden_follower_count_is_no_figure(sim: Simulator) -> None:
    """Mastodon answers ``followers_count: -1`` when the owner or the server hides it
    (``app/serializers/rest/account_serializer.rb``): no count, and never -1 followers."""
    sim.update_account("social.example", "alice", followers_count=-1)
    net = Net(NetworkConfig(timeout=3.0), sim.overrides())
    accounts = extract_accounts("* https://social.example/@alice\n").accounts
    (found,) = check_accounts(accounts, net, now=START)
    assert found.reach is not None
    assert found.reach.posts_total == 42 and found.reach.followers is None
