"""Data-driven extraction tests: each ``fixtures/extract/*.wiki`` page has its expected JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wmsocial_bot.extract import extract_accounts, handle_in_context
from wmsocial_bot.identify import bluesky, mastodon

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "extract").glob("*.wiki"))


def _as_expected(text: str) -> list[dict[str, object]]:
    extraction = extract_accounts(text)
    line_of = {a.span: a.line for a in extraction.accounts}
    rows = []
    for account in extraction.accounts:
        row = account.to_json()
        del row["span"]
        if account.duplicate_of is not None:
            row["duplicate_of"] = line_of[account.duplicate_of]
        rows.append(row)
    return rows


@pytest.mark.parametrize("page", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_page_gives_expected_accounts(page: Path) -> None:
    expected = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    assert _as_expected(page.read_text(encoding="utf-8")) == expected


@pytest.mark.parametrize("page", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_spans_point_at_the_written_link(page: Path) -> None:
    """A later fix edits exactly ``text[span]``: it must be the URL or handle as written."""
    text = page.read_text(encoding="utf-8")
    for account in extract_accounts(text).accounts:
        written = text[account.span.start : account.span.end]
        if account.url is not None:
            assert written == account.url
        elif account.source == "context":  # a handle whose platform its context gives
            if written.startswith("at://"):
                assert bluesky.normalise_at_uri(written) == account.handle
            else:
                found = handle_in_context(account.platform, written)
                assert found is not None and found.handle == account.handle
        else:
            user, _, host = written.lstrip("@").removeprefix("acct:").partition("@")
            assert mastodon.canonical(user, host) == account.handle
        if account.label is not None:
            assert account.label_span is not None
            assert text[account.label_span.start : account.label_span.end] == account.label


def test_large_page_covers_every_platform() -> None:
    from wmsocial_bot.identify import NAMES as PLATFORMS

    text = (FIXTURES[0].parent / "meta_social_media.wiki").read_text(encoding="utf-8")
    assert {a.platform for a in extract_accounts(text).accounts} == set(PLATFORMS)


def test_comments_and_nowiki_are_never_listed() -> None:
    text = (
        "<!-- https://x.com/in_comment -->\n<nowiki>https://x.com/in_nowiki @a@b.example</nowiki>\n"
        "<pre>https://x.com/in_pre</pre>\n* https://x.com/visible\n"
    )
    assert [a.handle for a in extract_accounts(text).accounts] == ["visible"]


def test_duplicate_points_at_first_place() -> None:
    text = "* https://twitter.com/Same\n* [https://x.com/same/ again]\n"
    first, second = extract_accounts(text).accounts
    assert first.duplicate_of is None
    assert second.duplicate_of == first.span
    assert extract_accounts(text).duplicates == ((first, second),)


def test_rowspan_and_colspan_fill_the_row_cells() -> None:
    text = (
        '{| class="wikitable"\n! Owner !! Platform !! Account\n|-\n'
        '| rowspan="2" | WMDE || Mastodon || https://social.wikimedia.de/@wmde\n|-\n'
        "| Bluesky || https://bsky.app/profile/wikimedia.de\n|-\n"
        '| colspan="2" | Everyone || https://x.com/everyone\n|}\n'
    )
    cells = [dict(a.cells) for a in extract_accounts(text).accounts]
    assert cells == [
        {"Owner": "WMDE", "Platform": "Mastodon"},
        {"Owner": "WMDE", "Platform": "Bluesky"},
        {"Owner": "Everyone"},
    ]


def test_a_tvar_link_label_showing_the_handle_is_not_a_second_account() -> None:
    for text in (
        "* [<tvar|x>https://chapters.example/@wp</> @wp@chapters.example]\n",
        '* [<tvar name="x">https://chapters.example/@wp</tvar> @wp@chapters.example]\n',
    ):
        (account,) = extract_accounts(text).accounts
        assert account.label == "@wp@chapters.example"


def test_realistic_page_read_by_hand_is_found_exactly() -> None:
    """Recall and no spurious account on a page written, and read, independently of the code.

    ``chapters_and_user_groups.expected.tsv`` lists what a careful reader sees on the page,
    one line per place, in page order; it was written before the extractor ran on the page.
    """
    folder = FIXTURES[0].parent
    text = (folder / "chapters_and_user_groups.wiki").read_text(encoding="utf-8")
    lines = (folder / "chapters_and_user_groups.expected.tsv").read_text(encoding="utf-8")
    expected = [
        tuple(line.split("\t")) for line in lines.splitlines() if line and line[0] != "#"
    ]
    found = [(a.platform, a.handle) for a in extract_accounts(text).accounts]
    assert found == expected


def test_what_nowiki_shows_stays_in_labels_and_cells_and_includeonly_is_hidden() -> None:
    text = (
        '{| class="wikitable"\n! Owner !! Account\n|-\n'
        "| <nowiki>[[Owner]]</nowiki> || [https://x.com/a <nowiki>[[x]]</nowiki>]\n|}\n"
        "<includeonly>https://x.com/hidden</includeonly>\n"
    )
    (account,) = extract_accounts(text).accounts
    assert account.label == "<nowiki>[[x]]</nowiki>"
    assert dict(account.cells) == {"Owner": "[[Owner]]"}


def test_a_table_opened_inside_a_table_before_its_rows_lists_nothing_twice() -> None:
    text = "{|\n{|\n\n|}\n[https://x.com/once X]\n"
    assert [a.handle for a in extract_accounts(text).accounts] == ["once"]


def test_a_handle_alone_in_an_html_table_column_is_read_by_its_header() -> None:
    text = (
        "<table>\n<tr><th>Chapter</th><th>Bluesky</th></tr>\n"
        '<tr><td>WMDE</td><td title="old.bsky.social">wikimedia.de</td></tr>\n</table>\n'
    )
    (account,) = extract_accounts(text).accounts
    found = (account.platform, account.handle, account.source)
    assert found == ("bluesky", "wikimedia.de", "context")
    assert text[account.span.start : account.span.end] == "wikimedia.de"
