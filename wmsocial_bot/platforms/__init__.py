"""The platform registry: which module knows which host.

Each platform is one module with ``NAME``, ``HOSTS``, a pure ``normalise(parts)`` that turns an
account link into the canonical handle (or None for posts, shares and other non-account links)
and, where the platform can be checked, a checker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType

from wmsocial_bot.platforms import (
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
from wmsocial_bot.urls import UrlParts, parse_url

MODULES: tuple[ModuleType, ...] = (
    mastodon,
    bluesky,
    x,
    threads,
    instagram,
    facebook,
    youtube,
    linkedin,
    tiktok,
    telegram,
    reddit,
    pinterest,
    flickr,
    tumblr,
    vk,
    weibo,
    whatsapp,
)
_BY_HOST: dict[str, ModuleType] = {host: mod for mod in MODULES for host in mod.HOSTS}
_BY_PATTERN: tuple[tuple[re.Pattern[str], ModuleType], ...] = tuple(
    (mod.HOST_PATTERN, mod) for mod in MODULES if hasattr(mod, "HOST_PATTERN")
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


def module_for_host(host: str) -> ModuleType | None:
    """The platform module that owns ``host`` (already alias-stripped), if it is a known one."""
    mod = _BY_HOST.get(host)
    if mod is not None:
        return mod
    for pattern, candidate in _BY_PATTERN:
        if pattern.match(host):
            return candidate
    return None


def identify_parts(parts: UrlParts) -> Identified | None:
    """Known platforms first; then any non-wiki host with a fediverse profile path."""
    if _WIKI_HOST.search(parts.host):
        return None
    mod = module_for_host(parts.host) or module_for_host(parts.raw_host)
    if mod is None:
        if not mastodon.is_fediverse_candidate_host(parts.host):
            return None
        mod = mastodon
    handle = mod.normalise(parts)
    return Identified(mod.NAME, handle) if handle else None


def identify_url(url: str) -> Identified | None:
    """The account a URL names, or None if it names none (a post, a wiki page, a share link)."""
    if url.startswith("at://"):
        handle = bluesky.normalise_at_uri(url)
        return Identified(bluesky.NAME, handle) if handle else None
    parts = parse_url(url)
    return identify_parts(parts) if parts else None
