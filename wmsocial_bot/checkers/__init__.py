"""The checkers layer: one module per platform that really asks something, behind one protocol.

Each module here knows its platform's API or pages and nothing of wikis; what a platform is and
how its links read is in :mod:`wmsocial_bot.identify`.  Platforms that are never asked have no
module here: :mod:`wmsocial_bot.checks` gives their accounts the reason from their record.
"""

from __future__ import annotations

from collections.abc import Mapping

from wmsocial_bot.checkers import (
    bluesky,
    flickr,
    instagram,
    mastodon,
    pinterest,
    reddit,
    telegram,
    tiktok,
    tumblr,
    youtube,
)
from wmsocial_bot.checkers.common import CheckContext, Checker

__all__ = ["CHECKERS", "CheckContext", "Checker"]

CHECKERS: Mapping[str, Checker] = {
    checker.name: checker
    for checker in (
        mastodon.CHECKER,
        bluesky.CHECKER,
        youtube.CHECKER,
        telegram.CHECKER,
        reddit.CHECKER,
        tiktok.CHECKER,
        instagram.CHECKER,
        flickr.CHECKER,
        pinterest.CHECKER,
        tumblr.CHECKER,
    )
}
