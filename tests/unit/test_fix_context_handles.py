"""A renamed Bluesky account written as a handle whose platform its context gives."""

from __future__ import annotations

from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.fix import apply_fixes
from wmsocial_bot.model import Fix

FIX = Fix(
    "bluesky:wmde.bsky.social",
    "bluesky",
    "wmde.bsky.social",
    "wikimedia.de",
    "https://bsky.app/profile/wikimedia.de",
    "renamed",
)
PAGE = (
    "* Bluesky: wmde.bsky.social\n"
    "* '''Bluesky:''' @wmde.bsky.social <!-- keep -->\n"
    "* The feed: at://wmde.bsky.social\n"
    '{| class="wikitable"\n! Chapter !! Bluesky\n|-\n| WMDE || wmde.bsky.social\n|}\n'
)


def test_each_context_handle_becomes_the_new_handle_written_the_same_way() -> None:
    result = apply_fixes(PAGE, [FIX])
    assert result.text == PAGE.replace("wmde.bsky.social", "wikimedia.de")
    assert not result.skipped
    assert {a.key for a in extract_accounts(result.text).accounts} == {"bluesky:wikimedia.de"}
