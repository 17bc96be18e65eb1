"""The pure parts of ``run``: the plan made from a decision, the fixes read back from the bot's
edit summaries, and what the history cannot vouch for (no wiki, no store)."""

from __future__ import annotations

from datetime import UTC, datetime

from wmsocial_bot.decide import History, Policy, decide
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Fix, Status
from wmsocial_bot.notices import reported_markers
from wmsocial_bot.plan import (
    AddTalkSection,
    EditPage,
    PageFacts,
    RecordNotices,
    RecordRecoveredFixes,
    RecordRun,
    TalkState,
    UpdateStatusPage,
    plan_page,
    recover_fixes,
)
from wmsocial_bot.state import FixRecord

NOW = datetime(2026, 11, 2, tzinfo=UTC)
PAGE = (
    "* https://social.example/@bob\n* https://social.example/@carol\n* https://social.example/@dan"
)
BOB, CAROL, DAN = (f"mastodon:{n}@social.example" for n in ("bob", "carol", "dan"))
AT_ONCE = Policy(confirmations=1, confirm_days=0)


def facts(**given: object) -> PageFacts:
    extraction = extract_accounts(PAGE)
    results = [
        CheckResult(
            a,
            {"bob": Status.MOVED, "carol": Status.DELETED, "dan": Status.SUSPENDED}[a.handle[:-15]],
            "evidence",
            new_url="https://new.example/@bob" if a.handle.startswith("bob") else None,
            new_handle="bob@new.example" if a.handle.startswith("bob") else None,
        )
        for a in extraction.accounts
    ]
    decision = decide(results, extraction, History(), AT_ONCE, NOW)
    base: dict[str, object] = {
        "page": "Social media",
        "results": tuple(results),
        "extraction": extraction,
        "decision": decision,
        "recovered": (),
        "reported": {},
        "talk": TalkState("Talk:Social media", frozenset(), None),
        "now": NOW,
        "bot": "Socialbot",
        "config_page": "User:Socialbot/config.json",
        "status_page": "Social media/Status",
    }
    return PageFacts(**{**base, **given})  # type: ignore[arg-type]


def test_the_plan_records_first_then_edits_the_page_then_posts_then_the_status_page() -> None:
    plan = plan_page(facts())
    assert [type(a) for a in plan] == [RecordRun, EditPage, AddTalkSection, UpdateStatusPage]
    edit = plan[1]
    assert isinstance(edit, EditPage)
    assert [f.old_key for f in edit.fixes] == [BOB]
    section = plan[2]
    assert isinstance(section, AddTalkSection)
    assert section.markers == {f"deleted:{CAROL}", f"suspended:{DAN}"}


def test_findings_the_store_or_the_talk_page_knows_are_not_posted_again() -> None:
    talk = TalkState("Talk:Social media", frozenset({f"suspended:{DAN}"}), 7)
    plan = plan_page(facts(reported={f"deleted:{CAROL}": None}, talk=talk))
    notices = [a for a in plan if isinstance(a, RecordNotices)]
    sections = [a for a in plan if isinstance(a, AddTalkSection)]
    assert [n.markers for n in notices] == [{f"suspended:{DAN}"}], "recorded, not posted"
    assert sections == [], "nothing new to post"


def test_no_status_page_action_without_a_status_page() -> None:
    assert not any(isinstance(a, UpdateStatusPage) for a in plan_page(facts(status_page=None)))


def test_recovered_fixes_are_recorded_before_the_run() -> None:
    record = FixRecord("Social media", BOB, "mastodon:bob@new.example", "@bob@new.example", 5, NOW)
    plan = plan_page(facts(recovered=(("summary", record),)))
    assert isinstance(plan[0], RecordRecoveredFixes) and plan[0].found == (("summary", record),)


def test_a_section_without_the_markers_posted_meanwhile() -> None:
    section = next(a for a in plan_page(facts()) if isinstance(a, AddTalkSection))
    rest = section.without(frozenset({f"deleted:{CAROL}"}))
    assert rest is not None and rest.markers == {f"suspended:{DAN}"}
    assert reported_markers(rest.section[1]) == {f"suspended:{DAN}"}
    assert section.without(section.markers) is None


def test_fixes_are_read_back_from_the_newest_summary_that_names_them() -> None:
    fix = Fix(
        BOB, "mastodon", "bob@social.example", "bob@x.example", "https://x.example/@bob", "moved"
    )
    edits = [
        (
            9,
            "2026-10-09T00:00:00Z",
            "Bot: updating ...: @bob@social.example -> @bob@two.example (moved)",
        ),
        (
            4,
            "2026-10-04T00:00:00Z",
            "Bot: updating ...: @bob@social.example -> @bob@one.example (moved)",
        ),
        (2, "2026-10-02T00:00:00Z", "human: @bob@social.example -> @bob@fake.example (moved)"),
    ]
    ((summary, record),) = recover_fixes("Social media", edits, [fix], NOW)
    assert (record.old_key, record.new_key, record.revid) == (BOB, "mastodon:bob@two.example", 9)
    assert record.made_at == datetime(2026, 10, 9, tzinfo=UTC)
    assert summary == edits[0][2]
    other = Fix(
        CAROL, "mastodon", "carol@social.example", "c@x.example", "https://x.example/@c", "moved"
    )
    assert recover_fixes("Social media", edits, [other], NOW) == []


def test_without_a_readable_history_no_fix_new_to_the_bot_is_made() -> None:
    plain = decide(list(facts().results), facts().extraction, History(), AT_ONCE, NOW)
    held = decide(
        list(facts().results), facts().extraction, History(unreadable="timeout"), AT_ONCE, NOW
    )
    assert plain.fixes and held.fixes == () and held.findings == plain.findings
    assert held.held == ("page fixes: cannot rule out that a human reverted them (timeout)",)
    record = FixRecord("Social media", BOB, "mastodon:bob@new.example", "u", 3, NOW)
    known = History(fixes={BOB: record}, standing=frozenset({BOB}), unreadable="timeout")
    kept = decide(list(facts().results), facts().extraction, known, AT_ONCE, NOW)
    assert kept.fixes and kept.held == ()


def test_an_account_whose_fix_revision_cannot_be_read_is_held_back() -> None:
    record = FixRecord("Social media", BOB, "mastodon:bob@new.example", "u", 3, NOW)
    history = History(fixes={BOB: record}, unsure={BOB: "revision gone"})
    decision = decide(list(facts().results), facts().extraction, history, AT_ONCE, NOW)
    assert decision.fixes == () and not any(f.kind == "reverted" for f in decision.findings)
    assert decision.held == (
        f"page fixes: {BOB}: cannot tell whether a human reverted the bot's fix (revision gone)",
    )
    plain = decide(
        list(facts().results), facts().extraction, History(fixes={BOB: record}), AT_ONCE, NOW
    )
    assert [f.kind for f in plain.findings if f.key == BOB] == ["reverted"]
