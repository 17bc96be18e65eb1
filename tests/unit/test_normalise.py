"""Every URL form the platforms use maps to one canonical handle, or to no account at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from wmsocial_bot.identify import identify_url

CASES = [
    line.split("\t")
    for line in (Path(__file__).parent.parent / "fixtures" / "urls.tsv").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]


@pytest.mark.parametrize(("url", "platform", "handle"), CASES, ids=[c[0] for c in CASES])
def test_identify_url(url: str, platform: str, handle: str) -> None:
    found = identify_url(url)
    if platform == "-":
        assert found is None, f"{url} must not be listed as an account"
    else:
        assert found is not None, f"{url} is a {platform} account"
        assert (found.platform, found.handle) == (platform, handle)
