"""The identify layer: which platform a link or handle names, and how its handles are written.

Pure: one frozen :class:`Platform` record per platform (its hosts, its normaliser, how a handle
is shown and how a fix rewrites it) and the registry below.  Nothing here asks a server; the
:mod:`wmsocial_bot.checkers` do.  Adding a platform is one record in its own module here, listed
in :data:`PLATFORMS`, plus one checker module if the platform can be asked (docs/platforms.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from wmsocial_bot.identify import (
    bluesky,
    facebook,
    flickr,
    instagram,
    linkedin,
    mastodon,
    pinterest,
    reddit,
    telegram,
    threads,
    tiktok,
    tumblr,
    vk,
    weibo,
    whatsapp,
    x,
    youtube,
)
from wmsocial_bot.identify.record import HandleForm, Platform
from wmsocial_bot.urls import UrlParts, parse_url

__all__ = ["BY_NAME", "NAMES", "PLATFORMS", "HandleForm", "Identified", "Platform"]

# In the project's usual order: the report's columns follow it.
PLATFORMS: tuple[Platform, ...] = (
    mastodon.PLATFORM,
    bluesky.PLATFORM,
    x.PLATFORM,
    threads.PLATFORM,
    instagram.PLATFORM,
    facebook.PLATFORM,
    youtube.PLATFORM,
    linkedin.PLATFORM,
    tiktok.PLATFORM,
    telegram.PLATFORM,
    reddit.PLATFORM,
    pinterest.PLATFORM,
    flickr.PLATFORM,
    tumblr.PLATFORM,
    vk.PLATFORM,
    weibo.PLATFORM,
    whatsapp.PLATFORM,
)
NAMES: tuple[str, ...] = tuple(platform.name for platform in PLATFORMS)
BY_NAME: Mapping[str, Platform] = {platform.name: platform for platform in PLATFORMS}
_BY_HOST: dict[str, Platform] = {host: p for p in PLATFORMS for host in p.hosts}
_BY_PATTERN: tuple[tuple[re.Pattern[str], Platform], ...] = tuple(
    (p.host_pattern, p) for p in PLATFORMS if p.host_pattern is not None
)
# Wikimedia's own sites are never social-media accounts.
_WIKI_HOST = re.compile(
    r"(^|\.)(wikipedia|wikimedia|wikidata|wikibooks|wikinews|wikiquote|wikisource|wikiversity|"
    r"wikivoyage|wiktionary|mediawiki|wikimediafoundation|wmflabs|toolforge|wmcloud)\.org$"
)


@dataclass(frozen=True)
class Identified:
    """A link or text that names an account on a platform."""

    platform: str
    handle: str


def shown_handle(platform: str, handle: str) -> str:
    """``@user@host`` and ``@handle.bsky.social`` as people write them; other handles as is."""
    record = BY_NAME.get(platform)
    return record.shown(handle) if record is not None else handle


def platform_for_host(host: str) -> Platform | None:
    """The platform that owns ``host`` (already alias-stripped), if it is a known one."""
    found = _BY_HOST.get(host)
    if found is not None:
        return found
    for pattern, candidate in _BY_PATTERN:
        if pattern.match(host):
            return candidate
    return None


def identify_parts(parts: UrlParts) -> Identified | None:
    """Known platforms first; then any non-wiki host with a fediverse profile path."""
    if _WIKI_HOST.search(parts.host):
        return None
    found = platform_for_host(parts.host) or platform_for_host(parts.raw_host)
    if found is None:
        if not mastodon.is_fediverse_candidate_host(parts.host):
            return None
        found = mastodon.PLATFORM
    handle = found.normalise(parts)
    return Identified(found.name, handle) if handle else None


def identify_url(url: str) -> Identified | None:
    """The account a URL names, or None if it names none (a post, a wiki page, a share link)."""
    if url.startswith("at://"):
        handle = bluesky.normalise_at_uri(url)
        return Identified(bluesky.NAME, handle) if handle else None
    parts = parse_url(url)
    return identify_parts(parts) if parts else None
