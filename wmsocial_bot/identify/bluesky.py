"""Bluesky accounts: ``bsky.app/profile/<handle|did>`` and ``at://`` URIs."""

from __future__ import annotations

import re

from wmsocial_bot.identify.record import HandleForm, Platform
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


_LABEL_HANDLE = re.compile(
    r"(?<![\w@/.:\-])@(?P<handle>[A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z][A-Za-z0-9\-]*)"
)


def label_handle(label: str | None) -> str | None:
    """The handle a link's label shows (``@name.bsky.social``, ``name.bsky.social`` alone, or
    one ``@handle`` among other words), lowercase; None when it shows none or several."""
    if not label:
        return None
    whole = label.strip().strip("'").strip().removeprefix("@")
    if "." in whole and not is_did(whole) and _HANDLE.fullmatch(whole.lower()):
        return whole.lower()
    shown = {m["handle"].lower() for m in _LABEL_HANDLE.finditer(label)}
    shown = {h for h in shown if _HANDLE.fullmatch(h)}
    return shown.pop() if len(shown) == 1 else None


# A profile URL or an ``at://`` URI as written, split around the actor it names.
_PROFILE_LINK = re.compile(
    r"(?P<pre>(?:[A-Za-z]+:)?(?://)?[^/?#\s]+/profile/)(?P<at>@?)(?P<actor>[^/?#\s]+)(?P<rest>.*)",
    re.DOTALL,
)
_AT_URI = re.compile(r"(?P<pre>at://)(?P<at>@?)(?P<actor>[^/?#\s]+)(?P<rest>.*)", re.DOTALL)


def relink(written: str, handle: str) -> str | None:
    """The written ``at://`` URI or profile URL naming ``handle`` instead; None if neither."""
    match = _AT_URI.fullmatch(written) or _PROFILE_LINK.fullmatch(written)
    return match["pre"] + match["at"] + handle + match["rest"] if match else None


def read_text(text: str) -> str | None:
    """A handle written as text (``@name.bsky.social``, ``at://name``) -> the handle, or None."""
    return normalise_at_uri(text) if text.startswith("at://") else normalise_actor(text)


PLATFORM = Platform(
    name=NAME,
    display_name="Bluesky",
    hosts=HOSTS,
    normalise=normalise,
    profile_url="https://bsky.app/profile/{}",
    label_words=("Bluesky", "BlueSky"),
    handle_link="https://bsky.app/profile/{}".format,
    reports_activity=True,
    handle_form=HandleForm.DOMAIN,
    shows_at=True,
    is_stable_id=is_did,
    label_handle=label_handle,
    relink=relink,
    read_text=read_text,
)
