"""``run`` on an in-memory wiki and an in-memory state store, with check results given.

No network and no MediaWiki: the test kit's :class:`~wmsocial_testkit.fakewiki.FakeWiki`
stands for the wiki adapter and the checks are a script (``RunOptions(check=...)``); the state
store is the real one, in memory.
Each test is a few runs over days, as the bot runs on Toolforge, and looks at what a user sees:
the page, the talk page, the edit summaries, the state store and the run's report.  The real
MediaWiki is for tests/integration/test_run.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from wmsocial_bot.config import Config, PolicyConfig, StateConfig, WikiConfig
from wmsocial_bot.identify import BY_NAME
from wmsocial_bot.model import Account, CheckResult, Reach, RunRecord, Span, Status
from wmsocial_bot.net import SHARE_SPENT_PREFIX
from wmsocial_bot.notices import reported_markers
from wmsocial_bot.plan import AddTalkSection, EditPage, RecordRun, UpdateStatusPage
from wmsocial_bot.run import PageReport, RunOptions, run_bot
from wmsocial_bot.state import SqliteStore
from wmsocial_testkit.fakewiki import BOT, FakeWiki

TITLE = "Social media"
TALK = "Talk:" + TITLE
DAY0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
PAGE = """== Mastodon ==
{| class="wikitable"
! Owner !! Account
|-
| Alice's chapter || [https://social.example/@alice @alice@social.example]
|-
| Bob's group || [https://social.example/@bob @bob@social.example] <!-- keep -->
|-
| Carol || https://social.example/@carol
|}"""
BOB = "mastodon:bob@social.example"
CAROL = "mastodon:carol@social.example"
MOVED = {"bob@social.example": (Status.MOVED, "bob@new.example", "https://new.example/@bob")}
GONE = {"carol@social.example": (Status.DELETED, None, None)}
AT_ONCE = PolicyConfig(confirmations=1, confirm_days=0)


@dataclass
class Script:
    """The checks' answers, per handle (the rest is ok); what each run was asked."""

    answers: Mapping[str, tuple[Status, str | None, str | None]] = field(default_factory=dict)
    asked: list[int] = field(default_factory=list)

    def __call__(self, accounts: Sequence[Account], now: datetime) -> list[CheckResult]:
        self.asked.append(len(accounts))
        out = []
        for account in accounts:
            status, new_handle, new_url = self.answers.get(account.handle, (Status.OK, None, None))
            detail = f"the server says {status.value}"
            out.append(CheckResult(account, status, detail, new_url=new_url, new_handle=new_handle))
        return out


@dataclass
class Bot:
    """The bot's runs on one wiki with one state store (kept between runs, as on Toolforge)."""

    wiki: FakeWiki
    store: SqliteStore
    config: Config
    echoed: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def run(self, script: Script, day: int = 0, *, dry_run: bool = False) -> PageReport:
        options = RunOptions(
            dry_run=dry_run,
            echo=self.echoed.append,
            now=DAY0 + timedelta(days=day),
            check=script,
            observe=self.events.append,
        )
        (report,) = run_bot(self.wiki, self.config, self.store, pages=[TITLE], options=options)
        return report


def make_bot(policy: PolicyConfig = AT_ONCE, *, page: str = PAGE, **wiki: object) -> Bot:
    fake = FakeWiki()
    fake.allow_writes()
    fake.edit(TITLE, page)
    config = Config(wiki=WikiConfig(pages=(TITLE,), **wiki), policy=policy)  # type: ignore[arg-type]
    return Bot(fake, SqliteStore(":memory:"), config)


@pytest.fixture
def bot() -> Iterator[Bot]:
    made = make_bot()
    yield made
    made.store.close()


def changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[:1] in "+-"]


# ---- confirmation over runs ---------------------------------------------------------------


def test_no_notice_before_the_policys_confirmation() -> None:
    """Three sightings over seven days (the default policy): days 0 and 4 wait, day 8 reports."""
    bot = make_bot(PolicyConfig())
    script = Script(GONE)
    first = bot.run(script, day=0)
    second = bot.run(script, day=4)
    assert TALK not in bot.wiki.pages, "a notice before the finding was confirmed"
    assert [key for key, _why in first.decision.waiting] == [CAROL]  # type: ignore[union-attr]
    assert "seen 2 of 3 times over 4 of 7 days" in dict(second.decision.waiting)[CAROL]  # type: ignore[union-attr]
    assert any("waiting for confirmation" in line for line in second.summary_lines())
    third = bot.run(script, day=8)
    assert reported_markers(bot.wiki.text(TALK)) == {f"deleted:{CAROL}"}
    assert third.notice_revid == bot.wiki.pages[TALK][-1].revid


def test_a_good_check_between_sightings_starts_the_count_again() -> None:
    bot = make_bot(PolicyConfig())
    for day, answers in enumerate([GONE, GONE, {}, GONE, GONE]):
        bot.run(Script(answers), day=day * 3)
    assert TALK not in bot.wiki.pages


def test_a_move_is_not_fixed_before_it_is_confirmed() -> None:
    bot = make_bot(PolicyConfig(confirmations=2, confirm_days=1))
    bot.run(Script(MOVED), day=0)
    assert not bot.wiki.bot_edits(TITLE), "fixed on the first sighting"
    bot.run(Script(MOVED), day=1)
    assert [r.summary for r in bot.wiki.bot_edits(TITLE)] == [
        "Bot: updating moved or renamed social media accounts: "
        "@bob@social.example -> @bob@new.example (moved)"
    ]


# ---- fixes ------------------------------------------------------------------------------------


def test_a_moved_account_is_fixed_byte_minimally_and_recorded(bot: Bot) -> None:
    report = bot.run(Script(MOVED))
    new = bot.wiki.text(TITLE)
    assert changed_lines(PAGE, new) == [
        "- | Bob's group || [https://social.example/@bob @bob@social.example] <!-- keep -->",
        "+ | Bob's group || [https://new.example/@bob @bob@new.example] <!-- keep -->",
    ]
    (edit,) = bot.wiki.bot_edits(TITLE)
    assert report.edit_revid == edit.revid
    record = bot.store.fixes(TITLE)[BOB]
    assert (record.new_key, record.new_url, record.revid) == (
        "mastodon:bob@new.example",
        "https://new.example/@bob",
        edit.revid,
    )
    assert "  fix: @bob@social.example -> @bob@new.example (moved)" in report.summary_lines()


def test_a_fix_after_an_edit_conflict_keeps_the_humans_edit(bot: Bot) -> None:
    humans: list[str] = []

    def human_first(title: str) -> None:
        if title == TITLE and not humans:
            humans.append(title)
            bot.wiki.edit(TITLE, bot.wiki.text(TITLE) + "\nA human was here.")

    bot.wiki.before_save = human_first
    bot.run(Script(MOVED))
    text = bot.wiki.text(TITLE)
    assert "A human was here." in text and "@bob@new.example" in text
    assert bot.wiki.pages[TITLE][-1].user == BOT


def test_a_second_run_changes_nothing(bot: Bot) -> None:
    bot.run(Script(MOVED))
    after_first = {title: len(revisions) for title, revisions in bot.wiki.pages.items()}
    moved_on = Script({"bob@new.example": (Status.OK, None, None)})
    bot.run(moved_on, day=1)
    assert {t: len(r) for t, r in bot.wiki.pages.items()} == after_first


# ---- reverts ----------------------------------------------------------------------------------


def test_a_fix_a_human_reverted_is_reported_not_redone(bot: Bot) -> None:
    bot.run(Script(MOVED))
    bot.wiki.edit(TITLE, PAGE, summary="revert the bot")
    report = bot.run(Script(MOVED), day=1)
    assert len(bot.wiki.bot_edits(TITLE)) == 1, "the reverted fix was made again"
    assert bot.wiki.text(TITLE) == PAGE
    assert f"reverted:{BOB}" in reported_markers(bot.wiki.text(TALK))
    assert [f.kind for f in report.new_findings] == ["reverted"]


def test_a_reverted_fix_the_store_forgot_is_read_from_the_edit_summaries(bot: Bot) -> None:
    bot.run(Script(MOVED))
    bot.wiki.edit(TITLE, PAGE, summary="revert the bot")
    bot.store.close()
    bot.store = SqliteStore(":memory:")  # the state file is lost
    report = bot.run(Script(MOVED), day=1)
    assert len(bot.wiki.bot_edits(TITLE)) == 1, "the reverted fix was made again"
    assert f"reverted:{BOB}" in reported_markers(bot.wiki.text(TALK))
    assert report.decision is not None and not report.decision.fixes
    assert bot.store.fixes(TITLE)[BOB].new_key == "mastodon:bob@new.example", "recovered"


def test_an_old_link_added_again_elsewhere_is_fixed_again(bot: Bot) -> None:
    bot.run(Script(MOVED))
    again = bot.wiki.text(TITLE) + "\n* Bob elsewhere: https://social.example/@bob"
    bot.wiki.edit(TITLE, again)
    bot.run(Script(MOVED), day=1)
    assert len(bot.wiki.bot_edits(TITLE)) == 2
    assert "social.example/@bob" not in bot.wiki.text(TITLE)
    assert TALK not in bot.wiki.pages, "not reported as a revert"


# ---- notices ----------------------------------------------------------------------------------


def test_one_notice_section_with_its_markers_and_never_twice(bot: Bot) -> None:
    first = bot.run(Script(GONE))
    talk = bot.wiki.text(TALK)
    assert talk.count("\n== ") + talk.startswith("== ") == 1
    assert reported_markers(talk) == {f"deleted:{CAROL}"}
    assert [f.key for f in first.new_findings] == [CAROL]
    assert bot.store.notice_state() == {f"deleted:{CAROL}": None}
    second = bot.run(Script(GONE), day=1)
    assert bot.wiki.text(TALK) == talk, "posted twice"
    assert second.notice_revid is None and not second.new_findings


def test_a_finding_already_on_the_talk_page_is_not_posted_again() -> None:
    """A lost state file: the talk page's own markers (here in an archive) still count."""
    bot = make_bot()
    bot.run(Script(GONE))
    archived = bot.wiki.text(TALK)
    bot.wiki.edit(TALK + "/Archive 1", archived)
    bot.wiki.edit(TALK, "Archived.")
    bot.store.close()
    bot.store = SqliteStore(":memory:")
    report = bot.run(Script(GONE), day=1)
    assert bot.wiki.text(TALK) == "Archived."
    assert not report.new_findings
    assert f"deleted:{CAROL}" in bot.store.notice_state()


def test_a_finding_posted_while_the_run_worked_is_not_posted_twice(bot: Bot) -> None:
    """Another run (another state store) posts the same finding between plan and post."""
    other = make_bot()
    other.run(Script(GONE))
    posted = other.wiki.text(TALK)

    def meanwhile(event: str) -> None:
        if event == "before-notice":
            bot.wiki.edit(TALK, posted, user="Someone")

    bot.events = []
    options = RunOptions(echo=bot.echoed.append, now=DAY0, check=Script(GONE), observe=meanwhile)
    (report,) = run_bot(bot.wiki, bot.config, bot.store, pages=[TITLE], options=options)
    assert bot.wiki.text(TALK) == posted
    assert report.notice_revid is None and not report.new_findings
    assert f"deleted:{CAROL}" in bot.store.notice_state()


# ---- dry runs, the run page, nobots ------------------------------------------------------------


def test_a_dry_run_writes_nothing_and_shows_the_plan() -> None:
    bot = make_bot(status_page=TITLE + "/Status")
    answers = {**MOVED, **GONE}
    report = bot.run(Script(answers), dry_run=True)
    assert bot.wiki.writes == []
    assert bot.store.notice_state() == {} and bot.store.streaks() == {}
    assert [type(a) for a in report.plan] == [RecordRun, EditPage, AddTalkSection, UpdateStatusPage]
    shown = "\n".join(bot.echoed)
    assert "+| Bob's group || [https://new.example/@bob @bob@new.example] <!-- keep -->" in shown
    assert f"--- new section on [[{TALK}]] ---" in shown
    assert f"{TITLE}/Status (proposed)" in shown
    bot.run(Script(answers), day=1)  # the real run after it does what the dry run showed
    assert "@bob@new.example" in bot.wiki.text(TITLE)
    assert f"deleted:{CAROL}" in reported_markers(bot.wiki.text(TALK))


def test_no_write_while_the_run_page_says_no(bot: Bot) -> None:
    bot.wiki.edit(f"User:{BOT}/Run", "no")
    report = bot.run(Script({**MOVED, **GONE}))
    assert bot.wiki.writes == []
    assert [why.split(":")[0] for why in report.skipped_writes] == ["page fixes", "talk notice"]
    assert bot.store.streaks(), "the checks are recorded all the same"
    bot.wiki.edit(f"User:{BOT}/Run", "yes")
    bot.run(Script({**MOVED, **GONE}), day=1)
    assert len(bot.wiki.bot_edits(TITLE)) == 1 and TALK in bot.wiki.pages


def test_nobots_on_the_page_stops_the_fix_not_the_notice() -> None:
    bot = make_bot(page=PAGE + "\n{{nobots}}")
    report = bot.run(Script({**MOVED, **GONE}))
    assert not bot.wiki.bot_edits(TITLE)
    assert any(why.startswith("page fixes:") for why in report.skipped_writes)
    assert BOB not in bot.store.fixes(TITLE)
    assert f"deleted:{CAROL}" in reported_markers(bot.wiki.text(TALK))


def test_a_run_that_lost_its_lease_writes_nothing_more(bot: Bot) -> None:
    bot.store.acquire_lease(60)
    with bot.store.transaction() as db:  # another run took the store over
        db.execute("UPDATE lease SET owner = 'another run'")
    report = bot.run(Script({**MOVED, **GONE}))
    assert bot.wiki.writes == []
    assert all("lost its lease" in why for why in report.skipped_writes)
    assert len(report.skipped_writes) == 2


def test_the_observer_hears_each_step_in_order(bot: Bot) -> None:
    bot.run(Script({**MOVED, **GONE}))
    assert bot.events == ["checks", "after-edit", "before-notice", "after-notice"]


def test_a_notice_a_human_removed_is_not_posted_again_while_the_finding_persists(bot: Bot) -> None:
    bot.run(Script(GONE))
    bot.wiki.edit(TALK, "Handled, thanks.")  # the section removed, no archive
    report = bot.run(Script(GONE), day=1)
    assert bot.wiki.text(TALK) == "Handled, thanks.", "the store's record did not count"
    assert not report.new_findings


def test_an_account_on_two_pages_is_counted_once_per_run() -> None:
    """Listed on two pages, seen in one run: one sighting, not two, toward confirmation."""
    bot = make_bot(PolicyConfig(confirmations=2, confirm_days=0))
    other = "Other list"
    bot.wiki.edit(other, "* https://social.example/@carol")
    options = RunOptions(echo=bot.echoed.append, now=DAY0, check=Script(GONE))
    reports = run_bot(bot.wiki, bot.config, bot.store, pages=[TITLE, other], options=options)
    assert bot.store.streaks()[CAROL].count == 1
    assert TALK not in bot.wiki.pages and "Talk:" + other not in bot.wiki.pages
    assert [key for r in reports for key, _why in r.decision.waiting] == [CAROL, CAROL]  # type: ignore[union-attr]


def test_a_protected_page_is_reported_not_recorded_and_the_notice_still_goes_out() -> None:
    bot = make_bot(status_page=TITLE + "/Status")
    bot.wiki.protected.add(TITLE)
    report = bot.run(Script({**MOVED, **GONE}))
    assert not bot.wiki.bot_edits(TITLE)
    assert [why for why in report.skipped_writes if why.startswith("page fixes:")] == [
        f"page fixes: cannot save [[{TITLE}]]: protectedpage: This page has been protected"
    ]
    assert BOB not in bot.store.fixes(TITLE), "a fix that was not saved is not recorded"
    assert f"deleted:{CAROL}" in reported_markers(bot.wiki.text(TALK))
    assert "@bob@social.example" in bot.wiki.text(TITLE + "/Status"), "the page as it is"
    bot.wiki.protected.clear()
    bot.run(Script({**MOVED, **GONE}), day=1)
    assert len(bot.wiki.bot_edits(TITLE)) == 1, "the next run makes the fix"


def test_pywikibots_simulate_is_a_dry_run() -> None:
    bot = make_bot()
    bot.wiki.simulate = True
    report = bot.run(Script({**MOVED, **GONE}))
    assert bot.wiki.writes == [] and bot.store.streaks() == {}
    assert [type(a) for a in report.plan] == [RecordRun, EditPage, AddTalkSection]
    assert any(f"--- new section on [[{TALK}]] ---" in line for line in bot.echoed)


def test_never_asked_accounts_are_not_reported_as_left_for_the_next_run() -> None:
    # X's own sentence starts "not checked: " too; only a spent host share leaves accounts
    # for the next run (the summary said "1 accounts are left for the next run" for X).
    x = Account("x", "wikimedia", "https://x.com/wikimedia", None, Span(0, 1), 1)
    masto = Account("mastodon", "a@busy.example", None, None, Span(2, 3), 2)
    report = PageReport("P")
    report.results = [
        CheckResult(x, Status.UNVERIFIABLE, BY_NAME["x"].unasked or ""),
        CheckResult(masto, Status.UNVERIFIABLE, f"{SHARE_SPENT_PREFIX}busy.example's rate limit"),
    ]
    waiting = [line for line in report.summary_lines() if "left for the next run" in line]
    assert len(waiting) == 1 and "1 accounts" in waiting[0]


# ---- history kept [state] keep_days --------------------------------------------------------


def test_a_run_forgets_history_older_than_keep_days_and_a_dry_run_forgets_nothing() -> None:
    made = make_bot()
    made.config = replace(made.config, state=StateConfig(keep_days=90))
    old = DAY0 - timedelta(days=200)
    made.store.record_run(
        RunRecord(
            started=old,
            pages=[TITLE],
            checks=[(BOB, "ok", "old check", None)],
            reach=[(BOB, "mastodon", Reach(posts_total=3, followers=9))],
        )
    )
    made.run(Script(), dry_run=True)
    assert [r.checked_at for r in made.store.reach_history()[BOB]] == [old]
    made.run(Script())
    assert BOB not in made.store.reach_history()  # 200 days old: forgotten (this run's had none)
    assert made.store.streaks()  # the bot's memory stays
    made.store.close()
