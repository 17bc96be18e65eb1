"""LinkedIn: ``company/``, ``in/``, ``school/`` and ``showcase/`` pages; always unverifiable."""

from __future__ import annotations

from wmsocial_bot.urls import UrlParts

NAME = "linkedin"
HOSTS = frozenset({"linkedin.com"})
_KINDS = frozenset({"company", "in", "school", "showcase"})
_TAILS = frozenset({"about", "posts", "people", "jobs", "life", "recent-activity", "mycompany"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if len(segs) < 2 or segs[0] not in _KINDS:
        return None
    if len(segs) > 2 and segs[2] not in _TAILS:
        return None
    return f"{segs[0]}/{segs[1].lower()}"
