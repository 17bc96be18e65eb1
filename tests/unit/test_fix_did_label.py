"""A DID link whose label shows an old handle: the fix changes the label alone (pure part)."""

from __future__ import annotations

from wmsocial_bot.fix import apply_fixes
from wmsocial_bot.identify.bluesky import label_handle
from wmsocial_bot.model import Fix

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
FIX = Fix(
    f"bluesky:{DID}",
    "bluesky",
    DID,
    "new.bsky.social",
    "https://bsky.app/profile/new.bsky.social",
    "renamed",
)


def test_only_the_handle_in_the_label_changes_and_the_did_link_stays() -> None:
    text = (
        f"* [https://bsky.app/profile/{DID} @old.bsky.social] <!-- keep -->\n"
        f"* [https://bsky.app/profile/{DID} Our Bluesky (@Old.bsky.social)]\n"
        f"* [https://bsky.app/profile/{DID} Our Bluesky]\n"
    )
    result = apply_fixes(text, [FIX])
    assert result.text == text.replace("@old.bsky.social", "@new.bsky.social").replace(
        "@Old.bsky.social", "@new.bsky.social"
    )
    assert not result.skipped


def test_a_did_link_whose_label_shows_no_handle_is_left_alone() -> None:
    text = f"* [https://bsky.app/profile/{DID} Our Bluesky]\n"
    result = apply_fixes(text, [FIX])
    assert result.text == text
    assert [reason for _, reason in result.skipped] == ["nothing to change"]


def test_the_handle_a_label_shows() -> None:
    assert label_handle("@Old.bsky.social") == "old.bsky.social"
    assert label_handle("wikimedia.de") == "wikimedia.de"
    assert label_handle("Bluesky (@a.bsky.social)") == "a.bsky.social"
    assert label_handle("Bluesky") is None
    assert label_handle("@a.bsky.social or @b.bsky.social") is None
    assert label_handle(DID) is None
