"""The audience a t.me page shows: an exact figure only, never a rounded one read as exact."""

from __future__ import annotations

import pytest

from wmsocial_bot.checkers.telegram import audience

PAGE = '<div class="tgme_page_title"><span>W</span></div><div class="tgme_page_extra">{}</div>'


@pytest.mark.parametrize(
    ("extra", "figure"),
    [
        ("12 345 subscribers", 12345),
        ("1\u00a0234\u00a0567 subscribers", 1234567),
        ("875 subscribers", 875),
        ("2 041 members, 37 online", 2041),
        ("1.2K subscribers", None),  # rounded: no figure
        ("12M subscribers", None),
        ("@wikibot", None),  # a bot or a user shows no audience
        ("subscribers", None),
    ],
)
def test_reads_only_an_exact_audience(extra: str, figure: int | None) -> None:
    assert audience(PAGE.format(extra)) == figure
