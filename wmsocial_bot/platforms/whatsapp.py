"""WhatsApp: channels, chat invites and ``wa.me`` numbers; checks are unverifiable."""

from __future__ import annotations

import re

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
