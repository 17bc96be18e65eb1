"""The write gate: what came from outside reaches wikitext only through here (pure).

A server's answer and the page itself can be written by anyone, and the bot's edits go out
under its own, bot-flagged name.  So:

* a successor handle must match its platform's handle grammar exactly, user part and host
  part (:func:`fediverse_handle`, :func:`bluesky_handle`); its host must be a syntactically
  valid public DNS name (:func:`public_host`; the address guard in :mod:`wmsocial_bot.net`
  then checks where it resolves);
* the new link is built by the bot from the verified handle (:func:`profile_link`), never
  copied from the ``url`` a server reports about itself;
* before a fix is saved, :func:`prove_only_links_changed` proves that the new page differs
  from the old only in link targets and labels and adds no markup.

Grammars, from the server software itself:

* Mastodon usernames: ``USERNAME_RE = /[a-z0-9_]+([.-]+[a-z0-9_]+)*/i`` (mastodon/mastodon,
  ``app/models/account.rb``, v4.3; v4.2 and earlier: ``[a-z0-9_]+([a-z0-9_.-]+[a-z0-9_]+)?``,
  the same language).  Other fediverse software allows fewer characters locally; a name
  outside this grammar is refused (no fix; the move is reported for a human instead).
* Bluesky handles: the atproto handle syntax, bluesky-social/atproto
  ``packages/syntax/src/handle.ts`` (``ensureValidHandleRegex``: at most 253 characters, two
  or more DNS labels, a last label that starts with a letter), and that file's
  ``DISALLOWED_TLDS``.  Written here rather than imported from the atproto package, so that
  the gate stays free of client libraries and works with every atproto release we allow.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from functools import lru_cache

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Node,
    Tag,
    Template,
    Text,
    Wikilink,
)

from wmsocial_bot.errors import WriteRefused
from wmsocial_bot.urls import ascii_host

MASTODON = "mastodon"
BLUESKY = "bluesky"

# Mastodon's USERNAME_RE (see the module docstring), anchored by fullmatch; 64 characters at
# most, as the extractor reads them.
_FEDI_USER = re.compile(r"(?=[A-Za-z0-9_.\-]{1,64}$)[A-Za-z0-9_]+(?:[.\-]+[A-Za-z0-9_]+)*")
_PLAIN_HANDLE = re.compile(r"@?[A-Za-z0-9_.\-]{1,100}")
# handle.ts's ensureValidHandleRegex, used with fullmatch (so no final newline slips through).
_BSKY_HANDLE = re.compile(
    r"(?=.{1,253}$)(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?"
)
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
# Names that never reach a public server (RFC 6761, RFC 6762, RFC 9476, ICANN's .internal):
# a successor there is refused before any address is looked up.
_SPECIAL_USE = (
    "localhost",
    "local",
    "internal",
    "arpa",
    "invalid",
    "onion",
    "alt",
)
# bluesky-social/atproto packages/syntax/src/handle.ts DISALLOWED_TLDS.
_BSKY_DISALLOWED = frozenset(
    {"local", "arpa", "invalid", "localhost", "internal", "example", "alt", "onion"}
)


def public_host(host: str) -> bool:
    """True when ``host`` is a syntactically valid public DNS name, in lowercase ASCII.

    Two labels or more, each 1-63 letters, digits or inner hyphens, at most 253 characters,
    a top-level label of letters (or an IDNA ``xn--`` label): so no IP literal, no port, no
    user info, no space, no single-label or special-use name.
    """
    if not host or len(host) > 253 or not host.isascii():
        return False
    labels = host.split(".")
    if len(labels) < 2 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        return False
    tld = labels[-1]
    if not (tld.isalpha() or tld.startswith("xn--")):
        return False
    return tld not in _SPECIAL_USE


def fediverse_handle(acct: str, home: str) -> str | None:
    """``user`` or ``user@host`` as a server's ``acct`` gives it -> ``user@host`` (lowercase).

    ``home`` is the host of the server that answered, for a local ``acct``.  None unless the
    user part matches Mastodon's grammar and the host is a public DNS name (an
    internationalised name in punycode, as :func:`wmsocial_bot.urls.ascii_host` spells it).
    """
    user, at, host = acct.partition("@")
    if not at:
        host = home
    host = ascii_host(host) or ""
    if not _FEDI_USER.fullmatch(user) or not public_host(host):
        return None
    return f"{user}@{host}".lower()


def bluesky_handle(handle: str) -> str | None:
    """A Bluesky handle (lowercase) if it is one by the atproto syntax and may be registered."""
    handle = handle.lower()
    if (
        not handle.isascii()
        or handle.strip() != handle
        or not _BSKY_HANDLE.fullmatch(handle)
        or handle.rsplit(".", 1)[-1] in _BSKY_DISALLOWED
    ):
        return None
    return handle


def profile_link(platform: str, handle: str, *, server: str | None = None, user: str = "") -> str:
    """The canonical profile URL the bot writes for a verified ``handle``.

    Fediverse: ``https://<server>/@<user>``, where ``server`` is the host that answered for
    the account (its own host, or the web host its WebFinger named, when that is a subdomain
    of the handle's domain) and ``user`` the user name as the server spells it (same letters,
    maybe other case).  Bluesky: ``https://bsky.app/profile/<handle>``.
    """
    if platform == BLUESKY:
        return f"https://bsky.app/profile/{handle}"
    name, _, host = handle.partition("@")
    shown = user if user.isascii() and user.lower() == name else name  # not "\u212a" for "k"
    return f"https://{_web_host(host, server)}/@{shown}"


def _web_host(host: str, server: str | None) -> str:
    """``server`` when it may show ``host``'s accounts (itself or a subdomain), else ``host``."""
    if server and public_host(server) and (server == host or server.endswith("." + host)):
        return server
    return host


def verified_successor(platform: str, handle: str, url: str) -> tuple[str, str]:
    """(handle, url) of a fix's successor when both pass the gate; else :class:`WriteRefused`.

    The URL must be exactly what :func:`profile_link` builds for the handle (any spelling of
    the user name, a subdomain of the handle's domain for a fediverse web host).
    """
    if platform == MASTODON:
        if fediverse_handle(handle, "") != handle:
            raise WriteRefused(f"the successor {handle!r} is not a fediverse handle")
        name = handle.partition("@")[0]
        match = re.fullmatch(r"https://([^/@:?#]+)/@([^/?#]+)", url)
        if (
            match is None
            or match[2].lower() != name
            or profile_link(platform, handle, server=match[1], user=match[2]) != url
        ):
            raise WriteRefused(f"the new link {url!r} is not the profile of @{handle}")
        return handle, url
    if platform == BLUESKY:
        if bluesky_handle(handle) != handle:
            raise WriteRefused(f"the successor {handle!r} is not a Bluesky handle")
        if url != profile_link(platform, handle):
            raise WriteRefused(f"the new link {url!r} is not the profile of @{handle}")
        return handle, url
    # No checker offers successors on other platforms; a fix given by hand (tests) is held to
    # plain names and plain https links on public hosts.
    match = re.fullmatch(r"https://([^/@:?#]+)/[A-Za-z0-9_.\-/@]*", url)
    if not _PLAIN_HANDLE.fullmatch(handle) or match is None or not public_host(match[1]):
        raise WriteRefused(f"the successor {handle!r} or its link {url!r} is not plain")
    return handle, url


# ----------------------------------------------------------------------------- the proof

# Characters and sequences a link or label change never adds: counted in the whole text.
_MARKUP_CHARS = "{}[]<>|~'&=\n"
_RAW_MARKUP = {
    "signature": re.compile(r"~~~"),
    "behaviour switch": re.compile(r"__[A-Za-z0-9_]+?__"),
    "subst": re.compile(r"subst:", re.IGNORECASE),
    "magic link": re.compile(r"\b(?:ISBN|RFC|PMID)[\s\u00a0]", re.IGNORECASE),
    "free link": re.compile(r"\b(?:mailto|ftp|ftps|irc|news|sftp|ssh|tel|urn):", re.IGNORECASE),
}


def _invisible(char: str) -> bool:
    """Formatting (bidi, zero-width) and control characters, and line or paragraph separators."""
    return unicodedata.category(char) in ("Cf", "Cc", "Zl", "Zp") and char not in "\n\t"


def _node_key(node: Node) -> tuple[str, ...] | None:
    """What a node contributes to the page's structure; None for plain text."""
    if isinstance(node, Text):
        return None
    if isinstance(node, ExternalLink):
        return ("external link", "[]" if node.brackets else "free")
    if isinstance(node, Template):
        params = tuple(str(param.name).strip() for param in node.params)
        return ("template", str(node.name).strip(), *params)
    if isinstance(node, Wikilink):
        return ("wikilink", str(node.title).strip())
    if isinstance(node, Tag):
        return ("tag", str(node.tag).strip().lower(), str(node.wiki_markup or ""))
    if isinstance(node, Comment):
        return ("comment", str(node.contents))
    if isinstance(node, Heading):
        return ("heading", str(node.level))
    if isinstance(node, HTMLEntity):
        return ("entity", str(node.value))
    if isinstance(node, Argument):
        return ("argument", str(node.name).strip())
    return (type(node).__name__,)


@lru_cache(maxsize=4)  # the old page is the same for every fix tried on it
def _structure(text: str) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    """Every markup node in document order, and the external links' targets."""
    code = mwparserfromhell.parse(text)
    keys: list[tuple[str, ...]] = []
    urls: list[str] = []
    for node in code.filter(recursive=True):
        key = _node_key(node)
        if key is not None:
            keys.append(key)
        if isinstance(node, ExternalLink):
            # MediaWiki removes comments before it reads a link (the extractor does too).
            urls.append(re.sub(r"<!--.*?-->", "", str(node.url), flags=re.DOTALL).strip())
    return tuple(keys), tuple(urls)


def _counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter(c for c in text if c in _MARKUP_CHARS)
    for name, pattern in _RAW_MARKUP.items():
        counts[name] = len(pattern.findall(text))
    counts["invisible character"] = sum(1 for c in text if _invisible(c))
    return counts


# Characters that make markup at the start of a line: lists, definitions, headings, <pre>,
# horizontal rules, tables.
_LINE_MARKUP = frozenset("*#:;= \t!-{|+")


def _new_line_markup(old: str, new: str) -> bool:
    """True when a line of ``new`` starts with markup where the same line of ``old`` did not.

    A schemeless link at the start of a line (``old.example/@a``) may change its first letter.
    """
    return any(
        b[:1] != a[:1] and b[:1] in _LINE_MARKUP
        for a, b in zip(old.split("\n"), new.split("\n"), strict=False)
    )


def _image_param_changed(was: str, now: str, intended: Callable[[str], bool]) -> bool:
    """``[[File:x.png|link=URL|alt=...]]``: mwparserfromhell reads the image's later
    parameters into the free link; only the URL before the ``|`` may change."""
    _, bar, was_rest = was.partition("|")
    now_url, _, now_rest = now.partition("|")
    return bool(bar) and was_rest == now_rest and intended(now_url)


def prove_only_links_changed(
    old: str, new: str, intended: Callable[[str], bool], *, limit: int = 3
) -> str | None:
    """None when ``new`` differs from ``old`` only in link targets and labels; else why not.

    Compared, as mwparserfromhell reads the two texts: every template (name and parameter
    names), wikilink and category, tag, comment, heading, entity and argument, in order; the
    external links, whose targets may change only to one that ``intended`` accepts.  Counted
    in the raw text: the markup characters ``{}[]<>|~'&=`` and line breaks, signatures,
    behaviour switches (``__NOTOC__``), ``subst:``, magic links, other URL schemes, invisible
    characters; and the first character of every line (lists, headings, tables).
    """
    before, old_urls = _structure(old)
    after, new_urls = _structure(new)
    problems: list[str] = []
    if before != after:
        added = Counter(after) - Counter(before)
        shown = ", ".join(" ".join(key) for key in list(added)[:limit]) or "a reordering"
        problems.append(f"the page structure would change ({shown})")
    elif len(old_urls) == len(new_urls):
        for was, now in zip(old_urls, new_urls, strict=True):
            if was != now and not intended(now) and not _image_param_changed(was, now, intended):
                problems.append(f"the link {was!r} would become {now!r}")
    old_counts, new_counts = _counts(old), _counts(new)
    for name in sorted(new_counts):
        if new_counts[name] > old_counts[name]:  # a link may lose a query's '=', never gain
            problems.append(f"{name!r}: {old_counts[name]} -> {new_counts[name]}")
    if old.count("\n") != new.count("\n"):
        problems.append("the number of lines would change")
    elif _new_line_markup(old, new):
        problems.append("a line would start with markup")
    if not problems:
        return None
    return "the edit would add markup: " + "; ".join(problems[:limit])
