"""Links that run into a comment: fixed as MediaWiki reads them, the comment kept."""

from __future__ import annotations

from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.fix import apply_fixes
from wmsocial_bot.model import Fix

FIX = Fix(
    "mastodon:a@old.example",
    "mastodon",
    "a@old.example",
    "a@new.example",
    "https://new.example/@a",
    "moved",
)


def test_a_link_ending_in_a_translation_marker_is_fixed_and_the_marker_kept() -> None:
    text = "* https://old.example/@a<!--T:7-->\n* [https://old.example/@a<!--T:8--> Mastodon]\n"
    spans = [a.span for a in extract_accounts(text).accounts]
    assert [text[s.start : s.end] for s in spans] == ["https://old.example/@a"] * 2
    result = apply_fixes(text, [FIX])
    assert result.text == text.replace("old.example", "new.example")
    assert not result.skipped


def test_a_comment_inside_a_link_is_read_as_mediawiki_reads_it_and_never_lost() -> None:
    text = "* https://old.example/@<!-- hidden -->a\n"
    (account,) = extract_accounts(text).accounts
    assert account.handle == "a@old.example"
    result = apply_fixes(text, [FIX])
    assert result.text == text, "the fix would drop the comment: it is refused, not made"
    assert result.skipped


def test_only_comments_that_end_the_link_are_cut_off_its_span() -> None:
    text = "https://old.example/@a<!--T:1-->@a@old.example<!--T:1-->"
    # MediaWiki reads https://old.example/@a@a@old.example: no account.
    assert extract_accounts(text).accounts == ()
