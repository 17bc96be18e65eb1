"""An image's link= target is fixed like any link, whatever parameters follow it."""

from __future__ import annotations

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


def test_image_link_targets_are_fixed_and_nothing_else_changes() -> None:
    text = (
        "* [[File:M.svg|16px|link=https://old.example/@a]] and "
        "[[File:M.svg|link= https://old.example/@a|alt=Mastodon]]\n"
    )
    result = apply_fixes(text, [FIX])
    assert not result.skipped
    assert result.text == text.replace("old.example", "new.example")


def test_an_image_parameter_that_would_change_is_still_refused() -> None:
    from wmsocial_bot.gate import prove_only_links_changed

    old = "[[File:M.svg|link=https://old.example/@a|alt=x]]"
    new = "[[File:M.svg|link=https://new.example/@a|alt=y]]"
    intended = "https://new.example/@a".__eq__
    assert prove_only_links_changed(old, new, intended) is not None
    assert prove_only_links_changed(old, new.replace("alt=y", "alt=x"), intended) is None
