"""Properties of extraction that must hold for any input, however broken."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wmsocial_bot.extract import _Walker, extract_accounts, parse_page

# Pieces of real Meta markup, shuffled into pages that are often broken on purpose.
FRAGMENTS = [
    "{|",
    "|}",
    "|-",
    "\n| ",
    " || ",
    "\n! ",
    " !! ",
    'class="wikitable"',
    "colspan=2 |",
    'rowspan="3" |',
    "\n* ",
    "\n; ",
    "\n: ",
    "[",
    "]",
    "[[",
    "]]",
    "{{",
    "}}",
    "|",
    "<translate>",
    "</translate>",
    "<!--T:1-->",
    "<!--",
    "-->",
    "<nowiki>",
    "</nowiki>",
    '<tvar name="x">',
    "</tvar>",
    "<tvar|x>",
    "</>",
    "<languages/>",
    "== H ==",
    "\n=== Sub ===\n",
    "@a@b.example",
    "https://x.com/someone",
    "https://wikis.world/@user",
    "https://bsky.app/profile/a.bsky.social",
    "https://www.youtube.com/@chan",
    " label",
    "\n",
    "<div>",
    "</div>",
    "<span>",
    "'''",
    "''",
    "{{URL|wikis.world/@t}}",
    "https://t.me/s/chan",
    "ü",
    "\u200e",
    "\ue000",
    "&amp;",
]
wikitext = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=60).map("".join)


def _check_invariants(text: str) -> None:
    extraction = extract_accounts(text)
    for account in extraction.accounts:
        assert 0 <= account.span.start < account.span.end <= len(text)
        written = text[account.span.start : account.span.end]
        if account.url is not None:
            assert written == account.url
        if account.label_span is not None:
            assert text[account.label_span.start : account.label_span.end] == account.label


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(wikitext)
def test_extraction_never_raises_and_spans_match(text: str) -> None:
    _check_invariants(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    _check_invariants(text)


@settings(max_examples=300, deadline=None)
@given(wikitext | st.text())
def test_parsing_round_trips_byte_for_byte(text: str) -> None:
    tree = parse_page(text)
    assert str(tree) == text.replace("\x00", "\ufffd")
    _Walker(text).walk(tree, 0)  # the walk rewrites the tree for a moment: nothing may leak
    assert str(tree) == text.replace("\x00", "\ufffd")
