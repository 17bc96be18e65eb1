"""The identify records: how a handle is shown and linked, one record per platform (pure)."""

from __future__ import annotations

import pytest

from wmsocial_bot.identify import BY_NAME, shown_handle
from wmsocial_bot.notices import profile_url


@pytest.mark.parametrize(
    ("platform", "handle", "shown"),
    [
        ("mastodon", "alice@wikis.world", "@alice@wikis.world"),
        ("bluesky", "alice.bsky.social", "@alice.bsky.social"),
        ("bluesky", "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"),
        ("x", "wikimedia", "wikimedia"),
        ("unknown", "whatever", "whatever"),
    ],
)
def test_a_handle_is_shown_as_people_write_it(platform: str, handle: str, shown: str) -> None:
    assert shown_handle(platform, handle) == shown


@pytest.mark.parametrize(
    ("platform", "handle", "link"),
    [
        ("mastodon", "alice@wikis.world", "https://wikis.world/@alice"),
        ("bluesky", "alice.bsky.social", "https://bsky.app/profile/alice.bsky.social"),
        ("x", "wikimedia", None),  # a notice links an X handle only through its written URL
        # Never a link built from text that is no handle ("@0" once gave https://0/@).
        ("mastodon", "@0", None),
        ("mastodon", "a@b@c.example", None),
    ],
)
def test_a_notice_links_a_text_handle_only_when_it_is_one(
    platform: str, handle: str, link: str | None
) -> None:
    assert profile_url(platform, handle, None) == link


def test_never_asked_platforms_say_why() -> None:
    assert BY_NAME["x"].unasked is not None and BY_NAME["x"].unasked.startswith("not checked: ")
    assert BY_NAME["mastodon"].unasked is None
