"""Bluesky accounts: ``bsky.app/profile/<handle|did>`` and ``at://`` URIs."""

from __future__ import annotations

import re

from wmsocial_bot.urls import UrlParts

NAME = "bluesky"
HOSTS = frozenset({"bsky.app", "staging.bsky.app", "main.bsky.dev"})
_DID = re.compile(r"did:(plc:[a-z2-7]{24}|web:[A-Za-z0-9.\-%:]+)")
_HANDLE = re.compile(
    r"(?=.{3,253}$)([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]*[a-z0-9]"
)


def normalise_actor(actor: str) -> str | None:
    """A handle lowercase without ``@``, or a DID exactly as written; None if neither."""
    actor = actor.strip()
    if actor.startswith("did:"):
        return actor if _DID.fullmatch(actor) else None
    handle = actor.lstrip("@").lower()
    return handle if _HANDLE.fullmatch(handle) else None


def normalise(parts: UrlParts) -> str | None:
    segs = parts.segments
    if len(segs) < 2 or segs[0] != "profile":
        return None
    if len(segs) > 2 and segs[2] not in ("feed", "lists", "follows", "followers"):
        return None  # a post, a starter pack
    if len(segs) > 3:
        return None
    return normalise_actor(segs[1])


def normalise_at_uri(uri: str) -> str | None:
    """``at://<actor>`` names an account; ``at://<actor>/<collection>/...`` a record."""
    rest = uri[len("at://") :] if uri.startswith("at://") else None
    if not rest or "/" in rest.rstrip("/"):
        return None
    return normalise_actor(rest.rstrip("/"))


def is_did(handle: str) -> bool:
    return handle.startswith("did:")
