"""The status page over several simulated days (issue 17, parts 2 and 5): the real local
MediaWiki through real Pywikibot, the platform simulator through the real Mastodon.py and
atproto clients, the real SQLite store; each run's clock is set by the test.

Between runs the accounts post and gain followers, and the movement's server changes its
rules, contact account and privacy policy: the status page shows the per-owner table with each
run's own figures and the servers section; the change is one talk item, posted once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wmsocial_bot.config import Config, PolicyConfig, StateConfig, WikiConfig
from wmsocial_bot.notices import reported_markers
from wmsocial_bot.run import PageReport, RunOptions, run_bot
from wmsocial_bot.state import SqliteStore
from wmsocial_bot.wiki import Wiki
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession

pytestmark = [pytest.mark.wiki, pytest.mark.simulator]

DAY0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
FRANK = "did:plc:frankaaaaaaaaaaaaaaaaaaa"
PAGE = """{| class="wikitable"
! Owner !! Mastodon !! Bluesky !! X
|-
| Wikimedia Example || https://social.example/@alice || https://bsky.app/profile/frank.example.com
| https://x.com/wmexample
|-
| Pleroma folk || https://pleroma.example/@pat || ||
|-
| Gus || https://gts.example/@gus || ||
|}"""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_day(bot_wiki: Wiki, config: Config, sim: Simulator, day: int) -> PageReport:
    """One daily run: @alice has posted 3 times a day and gained 2 followers a day since day 0;
    the Bluesky account posts once a day."""
    now = DAY0 + timedelta(days=day)
    sim.update_account(
        "social.example",
        "alice",
        statuses_count=100 + 3 * day,
        followers_count=10 + 2 * day,
        last_status_at=now.date().isoformat(),
        statuses=None,
    )
    posts = [_stamp(now - timedelta(days=n, hours=1)) for n in range(day + 1)]
    sim.update_bluesky(FRANK, posts=posts, posts_count=len(posts), followers_count=5 + day)
    store = SqliteStore(config.state.path)
    try:
        (report,) = run_bot(
            bot_wiki,
            config,
            store,
            pages=config.wiki.pages,
            options=RunOptions(now=now, echo=lambda _line: None),
        )
    finally:
        store.close()
    return report


def test_status_page_per_owner_table_and_servers_over_simulated_days(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    status = title + "/Status"
    talk = "Talk:" + title
    human.edit(title, PAGE)
    # The movement's server: a version behind a security release, no rules, no contact
    # account, Mastodon's default privacy policy.
    sim.update_host("social.example", version="4.2.9", rules=[], privacy_policy=None)
    config = Config(
        wiki=WikiConfig(pages=(title,), status_page=status),
        policy=PolicyConfig(confirmations=1, confirm_days=0, outage_min_accounts=10),
        state=StateConfig(path=str(tmp_path / "state.sqlite3")),
        endpoints=sim.overrides(),
    )

    for day in range(0, 8):
        run_day(bot_wiki, config, sim, day)
    page, _ = human.revision(status)
    activity = page.split("== Activity and reach per owner ==", 1)[1]
    (row,) = [line for line in activity.splitlines() if line.startswith("| Wikimedia Example ||")]
    # Day 7's own figures: 21 posts in the last 7 days counted from statuses_count, 24 followers.
    assert 'data-sort-value="21" | @alice@social.example&#58; last 2026-11-09, 30d ≥21' in row
    assert "24 followers (+14)" in row
    assert "@frank.example.com&#58; last 2026-11-09" in row and "12 followers (+7)" in row
    assert 'data-sort-value="-1" | wmexample&#58; X shows no activity' in row
    assert "* Mastodon&#58; 3 accounts" in activity

    servers = page.split("== The movement&#39;s own servers ==", 1)[1]
    (social,) = [line for line in servers.splitlines() if line.startswith("| social.example ||")]
    assert "Mastodon 4.2.9" in social and "|| 0 ||" in social and "|| none ||" in social
    assert "4.2.10 fixed security issues (2024-07-04" in social
    assert "has no server rules" in social and "names no contact account" in social
    assert "Mastodon&#39;s default" in social
    (pleroma,) = [line for line in servers.splitlines() if line.startswith("| pleroma.example")]
    assert "not a Mastodon server" in pleroma and "fixed security" not in pleroma
    (gts,) = [line for line in servers.splitlines() if line.startswith("| gts.example")]
    assert "not a Mastodon server" in gts
    before = human.page(talk)
    talk_before = before[1] if before is not None else None

    # The server is set up properly from day 8 on: one talk item says what changed.
    sim.update_host(
        "social.example",
        rules=["Be kind", "No spam"],
        contact_account="alice",
        privacy_policy="Ours.",
    )
    sim.reset_log()
    report = run_day(bot_wiki, config, sim, 8)
    instance_reads = [r for r in sim.log if r.path.rstrip("/") == "/api/v2/instance"]
    assert sorted(r.host for r in instance_reads) == [
        "gts.example",
        "pleroma.example",
        "social.example",
    ], "each server read once per run"
    assert [f.kind for f in report.new_findings] == ["server-changed"]
    text, talk_rev = human.revision(talk)
    assert talk_rev != talk_before
    changed = [m for m in reported_markers(text) if m.startswith("server-changed:")]
    assert len(changed) == 1 and changed[0].startswith("server-changed:server:social.example#")
    assert (
        "number of rules&#58; 0 -&gt; 2" in text
        and "contact account&#58; not shown -&gt; alice" in text
    )
    assert "privacy policy&#58; default -&gt; own" in text
    page, _ = human.revision(status)
    (social,) = [line for line in page.splitlines() if line.startswith("| social.example ||")]
    assert "|| 2 ||" in social and "@alice" in social and "its own (updated 2025-03-01)" in social
    assert "has no server rules" not in social and "4.2.10 fixed security issues" in social

    # Nothing changed since: no second item, no new section.
    again = run_day(bot_wiki, config, sim, 9)
    assert again.new_findings == [] and again.notice_revid is None
    assert human.revision(talk)[1] == talk_rev
