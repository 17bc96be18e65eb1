"""The decide stage: confirmation before action, outages, reverts, ignore list (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wmsocial_bot.decide import History, Policy, decide, next_streak, undone_by_human
from wmsocial_bot.extract import Extraction, extract_accounts
from wmsocial_bot.model import CheckResult, Status
from wmsocial_bot.state import FixRecord, Streak

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)
PAGE = (
    "".join(f"* https://host.example/@u{i}\n" for i in range(10))
    + "* https://bsky.app/profile/a.bsky.social\n"
)


def results(
    extraction: Extraction, status: dict[str, Status], **extra: object
) -> list[CheckResult]:
    return [
        CheckResult(a, status.get(a.handle, Status.OK), "evidence", **extra)  # type: ignore[arg-type]
        for a in extraction.accounts
    ]


def run_days(statuses: list[dict[str, Status]], policy: Policy, days: int = 1) -> list:
    extraction = extract_accounts(PAGE)
    streaks: dict[str, Streak] = {}
    decisions = []
    for n, status in enumerate(statuses):
        now = DAY0 + timedelta(days=n * days)
        decision = decide(results(extraction, status), extraction, History(streaks), policy, now)
        streaks = {**streaks, **decision.streaks}
        decisions.append(decision)
    return decisions


def kinds(decision: object) -> set[str]:
    return {f.marker for f in decision.findings}  # type: ignore[attr-defined]


def test_deleted_needs_three_sightings_over_seven_days() -> None:
    gone = {"u1@host.example": Status.DELETED}
    decisions = run_days([gone] * 4, Policy(), days=4)  # days 0, 4, 8: the third spans 8
    assert [bool(kinds(d)) for d in decisions] == [False, False, True, True]
    assert decisions[0].waiting[0][0] == "mastodon:u1@host.example"


def test_three_sightings_in_one_day_are_not_enough() -> None:
    gone = {"u1@host.example": Status.DELETED}
    decisions = run_days([gone] * 5, Policy(), days=0)
    assert not any(kinds(d) for d in decisions)


def test_a_good_check_resets_the_count() -> None:
    gone = {"u1@host.example": Status.DELETED}
    decisions = run_days([gone, gone, {}, gone, gone], Policy(), days=3)
    assert not any(kinds(d) for d in decisions)


def test_explicit_statements_confirm_sooner() -> None:
    suspended = {"u1@host.example": Status.SUSPENDED}
    decisions = run_days([suspended] * 2, Policy(), days=1)
    assert [bool(kinds(d)) for d in decisions] == [False, True]


def test_one_confirmation_over_zero_days_acts_at_once() -> None:
    (decision,) = run_days(
        [{"u1@host.example": Status.DELETED}], Policy(confirmations=1, confirm_days=0)
    )
    assert kinds(decision) == {"deleted:mastodon:u1@host.example"}
    assert decision.findings[0].since == DAY0.date()


def test_unverifiable_is_no_evidence_either_way() -> None:
    previous = Streak("deleted", DAY0, DAY0, 2)
    assert next_streak(previous, Status.UNVERIFIABLE, DAY0 + timedelta(days=1)) == previous


def test_outage_when_half_of_a_host_goes_bad_at_once() -> None:
    down = {f"u{i}@host.example": Status.UNREACHABLE for i in range(6)}
    (decision,) = run_days([down], Policy(confirmations=1, confirm_days=0))
    assert [(o.scope, o.bad, o.total) for o in decision.outages] == [("host:host.example", 6, 10)]
    assert not kinds(decision), "an outage is never acted on"
    assert "mastodon:u0@host.example" not in decision.streaks, "and not counted either"


def test_accounts_known_dead_and_answers_of_a_live_server_make_no_outage() -> None:
    extraction = extract_accounts("".join(f"* https://h.example/@u{i}\n" for i in range(4)))
    found = results(
        extraction,
        {
            "u0@h.example": Status.DELETED,
            "u1@h.example": Status.DELETED,
            "u2@h.example": Status.DELETED,
        },
    )
    earlier = DAY0 - timedelta(days=30)
    known = {f"mastodon:u{i}@h.example": Streak("deleted", earlier, earlier, 3) for i in (0, 1)}
    policy = Policy(confirmations=1, confirm_days=0, outage_min_accounts=4)
    decision = decide(found, extraction, History(known), policy, DAY0)
    assert decision.outages == ()
    assert "deleted:mastodon:u2@h.example" in kinds(decision)


def test_a_server_that_answers_no_account_fine_can_still_be_an_outage() -> None:
    extraction = extract_accounts("".join(f"* https://h.example/@u{i}\n" for i in range(4)))
    found = results(extraction, {f"u{i}@h.example": Status.DELETED for i in range(4)})
    policy = Policy(confirmations=1, confirm_days=0, outage_min_accounts=4)
    decision = decide(found, extraction, History(), policy, DAY0)
    assert [(o.scope, o.bad) for o in decision.outages] == [("host:h.example", 4)]
    assert not kinds(decision)


def test_small_hosts_never_look_like_outages() -> None:
    extraction = extract_accounts("* https://tiny.example/@a\n* https://tiny.example/@b\n")
    decision = decide(
        results(extraction, {"a@tiny.example": Status.DELETED}),
        extraction,
        History(),
        Policy(confirmations=1, confirm_days=0),
        DAY0,
    )
    assert decision.outages == () and kinds(decision) == {"deleted:mastodon:a@tiny.example"}


def test_moved_with_successor_is_a_fix_and_without_one_a_finding() -> None:
    extraction = extract_accounts("* https://old.example/@a\n* https://old.example/@b\n")
    found = [
        CheckResult(
            extraction.accounts[0],
            Status.MOVED,
            "moved",
            new_url="https://new.example/@a",
            new_handle="a@new.example",
        ),
        CheckResult(extraction.accounts[1], Status.MOVED, "moved in a loop"),
    ]
    decision = decide(found, extraction, History(), Policy(confirmations=1, confirm_days=0), DAY0)
    assert [f.summary for f in decision.fixes] == ["@a@old.example -> @a@new.example (moved)"]
    assert kinds(decision) == {"moved:mastodon:b@old.example"}


def test_a_reverted_fix_becomes_a_finding() -> None:
    extraction = extract_accounts("* https://old.example/@a\n")
    found = [
        CheckResult(
            extraction.accounts[0],
            Status.MOVED,
            "moved",
            new_url="https://new.example/@a",
            new_handle="a@new.example",
        )
    ]
    applied = {
        "mastodon:a@old.example": FixRecord(
            "P",
            "mastodon:a@old.example",
            "mastodon:a@new.example",
            "https://new.example/@a",
            5,
            DAY0,
        )
    }
    decision = decide(
        found, extraction, History(fixes=applied), Policy(confirmations=1, confirm_days=0), DAY0
    )
    assert decision.fixes == () and kinds(decision) == {"reverted:mastodon:a@old.example"}


BEFORE = "Intro\n* [https://old.example/@a A]\n* https://b.example/@b\n"
FIXED = BEFORE.replace("https://old.example/@a", "https://new.example/@a")


def test_the_old_link_on_a_new_line_is_no_revert() -> None:
    current = "New intro\n" + FIXED + "* Again: https://old.example/@a\n"
    assert not undone_by_human(BEFORE, FIXED, current, "mastodon:a@old.example")


def test_the_fixed_line_changed_back_is_a_revert() -> None:
    assert undone_by_human(BEFORE, FIXED, BEFORE, "mastodon:a@old.example")
    by_hand = "New intro\n" + BEFORE.replace("[https://old.example/@a A]", "https://old.example/@a")
    assert undone_by_human(BEFORE, FIXED, by_hand, "mastodon:a@old.example")


def test_a_standing_fix_with_the_old_link_back_is_fixed_again() -> None:
    extraction = extract_accounts(FIXED + "* https://old.example/@a\n")
    found = [
        CheckResult(
            a,
            Status.MOVED if a.key == "mastodon:a@old.example" else Status.OK,
            "moved",
            new_url="https://new.example/@a",
            new_handle="a@new.example",
        )
        for a in extraction.accounts
    ]
    record = FixRecord(
        "P", "mastodon:a@old.example", "mastodon:a@new.example", "https://new.example/@a", 5, DAY0
    )
    decision = decide(
        found,
        extraction,
        History(fixes={record.old_key: record}, standing=frozenset({record.old_key})),
        Policy(confirmations=1, confirm_days=0),
        DAY0,
    )
    assert [f.summary for f in decision.fixes] == ["@a@old.example -> @a@new.example (moved)"]
    assert not kinds(decision)


def test_ignore_list_and_fix_cap() -> None:
    extraction = extract_accounts("".join(f"* https://old.example/@a{i}\n" for i in range(3)))
    found = [
        CheckResult(
            a,
            Status.MOVED,
            "moved",
            new_url=f"https://new.example/@{a.handle[:2]}",
            new_handle=f"{a.handle[:2]}@new.example",
        )
        for a in extraction.accounts
    ]
    policy = Policy(
        confirmations=1,
        confirm_days=0,
        max_fixes_per_run=1,
        ignore=frozenset({"mastodon:a0@old.example"}),
    )
    decision = decide(found, extraction, History(), policy, DAY0)
    assert len(decision.fixes) == 1 and decision.capped == 1
    assert decision.ignored == ("mastodon:a0@old.example",)


def test_owner_is_never_the_platform_or_language_column() -> None:
    from wmsocial_bot.decide import owner_of

    table = (
        "{|\n! Platform !! Language !! Account !! Run by\n"
        "|-\n| Mastodon || en || @a@b.example || WMDE\n|}\n"
    )
    (account,) = extract_accounts(table).accounts
    assert owner_of(account) == "WMDE"
    plain = "{|\n! Platform !! Chapter !! Account\n|-\n| Mastodon || WMUK || @a@b.example\n|}\n"
    (account,) = extract_accounts(plain).accounts
    assert owner_of(account) == "WMUK"
