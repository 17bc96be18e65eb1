"""LinkedIn: ``company/``, ``in/``, ``school/`` and ``showcase/`` pages; always unverifiable."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform
from wmsocial_bot.urls import UrlParts

NAME = "linkedin"
HOSTS = frozenset({"linkedin.com"})
# Country hosts (``de.linkedin.com``, ``uk.linkedin.com``) serve the same pages as www.
HOST_PATTERN = re.compile(r"^[a-z]{2}\.linkedin\.com$")
_KINDS = frozenset({"company", "in", "school", "showcase"})
_TAILS = frozenset({"about", "posts", "people", "jobs", "life", "recent-activity", "mycompany"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if len(segs) < 2 or segs[0] not in _KINDS:
        return None
    if len(segs) > 2 and segs[2] not in _TAILS:
        return None
    return f"{segs[0]}/{segs[1].lower()}"


# Never asked: no answer LinkedIn gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).
UNASKED = (
    "not checked: LinkedIn answers anonymous requests with HTTP 999, an /authwall redirect or a"
    " login page whether or not the page exists, and has no free API, so a request would prove "
    "nothing"
)


PLATFORM = Platform(
    name=NAME,
    display_name="LinkedIn",
    hosts=HOSTS,
    normalise=normalise,
    host_pattern=HOST_PATTERN,
    unasked=UNASKED,
)
