"""Pins what each status means, so that changing a meaning is a deliberate act."""

from __future__ import annotations

from wmsocial_bot.model import Status

S = Status


def members(meaning: str) -> set[Status]:
    return {status for status in Status if getattr(status, meaning)}


def test_stale_statuses_are_about_the_account_itself() -> None:
    assert members("stale") == set(Status) - {S.OK, S.UNREACHABLE, S.UNVERIFIABLE}


def test_explicit_statuses_are_stated_outright_by_the_platform() -> None:
    assert members("explicit") == {
        S.SUSPENDED,
        S.DEACTIVATED,
        S.MOVED,
        S.RENAMED,
        S.LIMITED,
        S.INVALID,
    }


def test_outage_worthy_statuses_may_be_the_server_at_fault() -> None:
    assert members("outage_worthy") == {S.DELETED, S.SUSPENDED, S.DEACTIVATED, S.UNREACHABLE}


def test_account_answers_are_a_servers_word_on_one_account() -> None:
    assert members("account_answer") == {S.DELETED, S.SUSPENDED, S.DEACTIVATED}


def test_reported_statuses_can_reach_a_talk_notice() -> None:
    assert members("reported") == set(Status) - {S.OK, S.UNVERIFIABLE, S.LIMITED}


def test_order_puts_the_gone_account_first_and_ok_last() -> None:
    assert sorted(Status, key=lambda status: status.order) == [
        S.DELETED,
        S.SUSPENDED,
        S.DEACTIVATED,
        S.LIMITED,
        S.UNREACHABLE,
        S.INVALID,
        S.MOVED,
        S.RENAMED,
        S.INACTIVE,
        S.UNVERIFIABLE,
        S.OK,
    ]
    assert len({status.order for status in Status}) == len(Status)


def test_colours() -> None:
    by_colour: dict[str, set[Status]] = {}
    for status in Status:
        by_colour.setdefault(status.colour, set()).add(status)
    assert by_colour == {
        "green": {S.OK},
        "yellow": {S.INACTIVE, S.MOVED, S.RENAMED, S.LIMITED},
        "red": {S.DELETED, S.SUSPENDED, S.DEACTIVATED, S.INVALID},
        "grey": {S.UNREACHABLE, S.UNVERIFIABLE},
    }


def test_model_loads_no_io_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, wmsocial_bot.model; "
        "print(sorted(m for m in ('requests', 'httpx', 'sqlite3', 'pywikibot', 'mastodon', "
        "'atproto', 'tenacity') if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"
