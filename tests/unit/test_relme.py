"""Verification help: what keeps a Mastodon profile link from being verified, and whose move it is.

Each case is Mastodon's own rule (wmsocial_bot/relme.py cites field.rb and verify_link_service.rb).
"""

from __future__ import annotations

import pytest

from wmsocial_bot.relme import NONE, PROFILE, SITE, FieldLink, explain, field_url, rel_me_links

PROFILE_URL = "https://wikimedia.social/@wikimediafoundation"
# How Mastodon renders a bare https URL in a profile field (TextFormatter, API `fields[].value`).
LINKED = (
    '<a href="https://foundation.wikimedia.org" target="_blank" rel="nofollow noopener me" '
    'translate="no"><span class="invisible">https://</span><span class="">foundation.wikimedia.org'
    '</span><span class="invisible"></span></a>'
)
BACK = f'<html><head><link rel="me" href="{PROFILE_URL}"></head><body>hi</body></html>'


def field(value: str, verified: bool = False) -> FieldLink:
    return FieldLink("Website", value, verified)


CASES = [
    # (field value HTML, page (status, html) or None, side, words the message must hold)
    (
        LINKED,
        (200, "<html><body><a href='/about'>About</a></body></html>"),
        SITE,
        f"https://foundation.wikimedia.org has no rel=me link to {PROFILE_URL}",
    ),
    ("foundation.wikimedia.org", None, PROFILE, "plain text, not a link"),
    (
        '<a href="http://foundation.wikimedia.org">http://foundation.wikimedia.org</a>',
        None,
        PROFILE,
        "only https://",
    ),
    (
        '<a href="https://foundation.wikimedia.org">our site</a>',
        None,
        PROFILE,
        "text is not its address",
    ),
    (f"see {LINKED}", None, PROFILE, "text around the link"),
    (LINKED, (404, "gone"), SITE, "answers HTTP 404"),
    (LINKED, (200, BACK), PROFILE, "save the profile once more"),
    (
        LINKED,
        (200, BACK.replace("@wikimediafoundation", "@WikimediaFoundation")),
        PROFILE,
        "save the profile",
    ),  # Mastodon compares without case
    (
        LINKED,
        (
            200,
            '<a rel="me" href="https://mastodon.social/@someone">x</a>'
            f'<a rel="me" href="{PROFILE_URL}/">y</a>',
        ),
        SITE,
        "the first goes to https://mastodon.social/@someone",
    ),
    (LINKED, (200, f'<a rel="nofollow" href="{PROFILE_URL}">me</a>'), SITE, "no rel=me link"),
    (LINKED, None, NONE, "could not be read"),
    (
        '<a href="https://user:pw@example.org">https://user:pw@example.org</a>',
        None,
        PROFILE,
        "password",
    ),
]


@pytest.mark.parametrize(("value", "page", "side", "words"), CASES)
def test_explains_what_is_missing_and_on_which_side(
    value: str, page: tuple[int, str] | None, side: str, words: str
) -> None:
    verdict = explain(field(value), PROFILE_URL, page)
    assert verdict.side == side
    assert words in verdict.message


def test_a_verified_field_needs_nothing() -> None:
    assert explain(field(LINKED, verified=True), PROFILE_URL, None).side == NONE


def test_reads_the_bare_url_mastodon_would_fetch() -> None:
    assert field_url(LINKED) == ("https://foundation.wikimedia.org", "")


def test_rel_me_is_a_token_of_rel_on_a_and_link_only() -> None:
    html = (
        '<a rel="nofollow me" href="https://a.example/@x">1</a>'
        '<link rel="me" href="https://b.example/@x">'
        '<div rel="me" href="https://c.example/@x"></div>'
        '<a rel="mention" href="https://d.example/@x">2</a>'
    )
    assert rel_me_links(html) == ["https://a.example/@x", "https://b.example/@x"]
