"""WhatsApp: channels, chat invites and ``wa.me`` numbers; checks are unverifiable."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import Platform
from wmsocial_bot.urls import UrlParts

NAME = "whatsapp"
HOSTS = frozenset({"whatsapp.com", "chat.whatsapp.com", "wa.me"})


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if parts.raw_host.endswith("wa.me"):
        return segs[0] if len(segs) == 1 and re.fullmatch(r"\d{5,16}", segs[0]) else None
    if parts.raw_host.startswith("chat."):
        return f"chat/{segs[0]}" if len(segs) == 1 else None
    if len(segs) == 2 and segs[0] == "channel":
        return f"channel/{segs[1]}"
    return None


# Never asked: no answer WhatsApp gives an anonymous client can tell a live account from
# a missing one (docs/platforms.md).
UNASKED = (
    "not checked: WhatsApp channels, chat invites and numbers can only be checked from inside "
    "the app (no public API), so a request would prove nothing"
)


PLATFORM = Platform(
    name=NAME,
    display_name="WhatsApp",
    hosts=HOSTS,
    normalise=normalise,
    unasked=UNASKED,
)
