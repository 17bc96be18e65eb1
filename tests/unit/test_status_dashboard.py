"""The per-owner dashboard on the status page (issue 17, part 2), over several runs.

``run`` on the in-memory wiki (:class:`wmsocial_testkit.fakewiki.FakeWiki`) and the real state
store in memory; the checks are a script whose figures change from day to day, as an account
posts and gains followers.  What is looked at is the status page a maintainer reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wmsocial_bot.config import Config, PolicyConfig, WikiConfig
from wmsocial_bot.model import Account, CheckResult, Identity, Reach, Status
from wmsocial_bot.run import RunOptions, run_bot
from wmsocial_bot.state import SqliteStore
from wmsocial_testkit.fakewiki import FakeWiki

TITLE = "Social media"
STATUS = TITLE + "/Status"
DAY0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
PAGE = """{| class="wikitable"
! Owner !! Mastodon !! Bluesky !! X
|-
| Wikimedia Example || https://social.example/@wmex || https://bsky.app/profile/wmex.bsky.social || https://x.com/wmex
|-
| {{Evil}} [[Category:Owned]] || https://social.example/@evil || ||
|}"""


@dataclass
class Growing:
    """Each day @wmex posts 3 times and gains 2 followers; Bluesky posts once a day."""

    figures: bool = True

    def __call__(self, accounts: Sequence[Account], now: datetime) -> list[CheckResult]:
        day = (now - DAY0).days
        out = []
        for account in accounts:
            reach = None
            if self.figures and account.handle == "wmex@social.example":
                reach = Reach(posts_total=100 + 3 * day, followers=50 + 2 * day)
            elif self.figures and account.platform == "bluesky":
                reach = Reach(
                    posts_total=10 + day,
                    followers=7,
                    post_dates=tuple((now - timedelta(days=n)).date() for n in range(day + 1)),
                )
            out.append(CheckResult(account, Status.OK, "fine", reach=reach))
        return out


def run_days(
    days: Sequence[int], check: Growing, *, dry_run: bool = False, echo: list[str] | None = None
) -> FakeWiki:
    wiki = FakeWiki()
    wiki.allow_writes()
    wiki.edit(TITLE, PAGE)
    config = Config(
        wiki=WikiConfig(pages=(TITLE,), status_page=STATUS),
        policy=PolicyConfig(confirmations=1, confirm_days=0),
    )
    store = SqliteStore(":memory:")
    try:
        for day in days:
            options = RunOptions(
                now=DAY0 + timedelta(days=day),
                check=check,
                echo=(echo if echo is not None else []).append,
                dry_run=dry_run,
            )
            run_bot(wiki, config, store, pages=[TITLE], options=options)
    finally:
        store.close()
    return wiki


def owner_line(text: str, owner: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(f"| {owner} ||")]
    return line


def test_the_status_page_compares_owners_with_this_runs_figures() -> None:
    wiki = run_days(range(0, 31, 3), Growing())  # a run every third day for 30 days
    text = wiki.text(STATUS)
    assert "== Activity and reach per owner ==" in text
    table = text.split("== Activity and reach per owner ==", 1)[1]
    assert '{| class="wikitable sortable"' in table
    assert "! Owner !! Mastodon !! Bluesky !! X" in table
    row = owner_line(table, "Wikimedia Example")
    # The last run's own figures (day 30), not the run before's: 110 followers, +60 in 30 days.
    assert "110 followers (+60)" in row
    assert 'data-sort-value="90" | @wmex@social.example&#58; last ?, 30d 90' in row
    assert 'data-sort-value="30" | @wmex.bsky.social&#58; last 2026-12-02, 30d 30' in row
    assert 'data-sort-value="-1" | wmex&#58; X shows no activity' in row
    assert "▁" in row or "█" in row, "the 12-week sparkline"
    # The owner cell as text, inert: no category link (the template is not the owner's name).
    evil = owner_line(table, "Category&#58;Owned")
    assert "[[" not in evil and "{{" not in evil
    assert 'data-sort-value="-1" | @evil@social.example&#58; no figures recorded yet' in evil
    assert evil.endswith(" ||  || "), "no account there: an empty cell, which does not sort"
    assert "* Mastodon&#58; 2 accounts (1 with figures), 90 posts in 30 days, 110 followers" in text
    assert "* X&#58; 1 account; X shows no activity to anonymous callers" in text


def test_without_any_figures_the_section_says_so_in_one_line() -> None:
    wiki = run_days([0], Growing(figures=False))
    section = wiki.text(STATUS).split("== Activity and reach per owner ==", 1)[1]
    assert "No figures recorded yet" in section
    assert "wikitable" not in section
    assert "* Mastodon&#58; 2 accounts; no figures recorded yet" in section


def test_a_dry_run_shows_its_own_figures_and_records_nothing() -> None:
    shown: list[str] = []
    wiki = run_days([0], Growing(), dry_run=True, echo=shown)
    assert STATUS not in wiki.pages, "a dry run writes nothing"
    diff = "\n".join(shown)
    assert "+| Wikimedia Example || " in diff and "50 followers" in diff


def test_an_unchanged_dashboard_is_not_saved_again_the_same_day() -> None:
    wiki = run_days([0, 0], Growing())
    assert len(wiki.pages[STATUS]) == 1


def test_a_renamed_bluesky_account_keeps_its_history_on_the_status_page() -> None:
    """A Bluesky rename keeps the DID: the figures recorded under the old handle are the
    account's history under the new one (here the page was edited to the new handle)."""
    did = "did:plc:renamedaaaaaaaaaaaaaaaaa"

    def check(accounts: Sequence[Account], now: datetime) -> list[CheckResult]:
        day = (now - DAY0).days
        out = []
        for account in accounts:
            learned = reach = None
            if account.platform == "bluesky":
                learned = Identity(account.key, "bluesky", did, account.handle)
                reach = Reach(posts_total=10 + day, followers=100 + 10 * day)
            out.append(CheckResult(account, Status.OK, "fine", reach=reach, learned=learned))
        return out

    wiki = FakeWiki()
    wiki.allow_writes()
    wiki.edit(TITLE, "* Owner A: https://bsky.app/profile/old.bsky.social")
    config = Config(
        wiki=WikiConfig(pages=(TITLE,), status_page=STATUS),
        policy=PolicyConfig(confirmations=1, confirm_days=0),
    )
    store = SqliteStore(":memory:")
    try:
        for day in range(0, 31, 5):
            if day == 15:
                wiki.edit(TITLE, "* Owner A: https://bsky.app/profile/new.bsky.social")
            options = RunOptions(now=DAY0 + timedelta(days=day), check=check, echo=[].append)
            run_bot(wiki, config, store, pages=[TITLE], options=options)
    finally:
        store.close()
    section = wiki.text(STATUS).split("== Activity and reach per owner ==", 1)[1]
    assert "@new.bsky.social&#58; last ?, 30d 30, 400 followers (+300)" in section


FIXED = """{| class="wikitable"
! Owner !! Mastodon !! Bluesky
|-
| Owner A || https://social.example/@old || https://bsky.app/profile/old.bsky.social
|}"""


def fixing_check(accounts: Sequence[Account], now: datetime) -> list[CheckResult]:
    """@old@social.example moved to @new@moved.example; old.bsky.social is now new.bsky.social
    (the same DID); both show figures."""
    out = []
    for account in accounts:
        if account.platform == "bluesky":
            learned = Identity(account.key, "bluesky", "did:plc:fixedaaaaaaaaaaaaaaaaaaa", "x")
            reach = Reach(posts_total=12, followers=340)
            if account.handle == "old.bsky.social":
                new = ("new.bsky.social", "https://bsky.app/profile/new.bsky.social")
                out.append(
                    CheckResult(
                        account, Status.RENAMED, "renamed", new_handle=new[0], new_url=new[1],
                        reach=reach, learned=learned,
                    )
                )
            else:
                out.append(CheckResult(account, Status.OK, "fine", reach=reach, learned=learned))
        elif account.handle == "old@social.example":
            new = ("new@moved.example", "https://moved.example/@new")
            out.append(
                CheckResult(
                    account, Status.MOVED, "moved", new_handle=new[0], new_url=new[1],
                    reach=Reach(posts_total=900, followers=77),
                )
            )
        else:
            reach = Reach(posts_total=5, followers=3)
            out.append(CheckResult(account, Status.OK, "fine", reach=reach))
    return out


def run_fixing(*, protected: bool = False) -> FakeWiki:
    wiki = FakeWiki()
    wiki.allow_writes()
    wiki.edit(TITLE, FIXED)
    if protected:
        wiki.protected.add(TITLE)
    config = Config(
        wiki=WikiConfig(pages=(TITLE,), status_page=STATUS),
        policy=PolicyConfig(confirmations=1, confirm_days=0),
    )
    store = SqliteStore(":memory:")
    try:
        options = RunOptions(now=DAY0, check=fixing_check, echo=[].append)
        run_bot(wiki, config, store, pages=[TITLE], options=options)
    finally:
        store.close()
    return wiki


def test_the_activity_table_shows_the_accounts_the_page_links_after_this_runs_fixes() -> None:
    wiki = run_fixing()
    assert "https://moved.example/@new" in wiki.text(TITLE), "the fixes were saved"
    section = wiki.text(STATUS).split("== Activity and reach per owner ==", 1)[1]
    row = owner_line(section, "Owner A")
    # A rename is the same account: its figures, under the handle the page now shows.
    assert "@new.bsky.social&#58; last ?, 30d ?, 340 followers" in row
    # A move is a new account: its handle, and no figures of the old one under it.
    assert (
        "@new@moved.example&#58; the page links it since this run (moved from "
        "@old@social.example); figures start next run"
    ) in row
    assert "old.bsky.social" not in row and "77 followers" not in row


def test_when_the_fixes_are_not_saved_the_activity_table_keeps_the_old_accounts() -> None:
    wiki = run_fixing(protected=True)
    assert wiki.text(TITLE) == FIXED
    row = owner_line(wiki.text(STATUS).split("== Activity and reach per owner ==", 1)[1], "Owner A")
    assert "@old.bsky.social&#58; last ?, 30d ?, 340 followers" in row
    assert "@old@social.example&#58; last ?, 30d ?, 77 followers" in row
    assert "moved.example" not in row
