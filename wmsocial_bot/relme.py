"""Why a Mastodon profile link is not verified: the rules Mastodon applies, read as data.

Pure: the caller fetches the profile (``fields``) and the linked page; this module says what
is missing and on which side.  Every rule is Mastodon's own (v4.3 line, read at commits
66f536a and ec299df of mastodon/mastodon):

- ``app/models/account/field.rb``: a field is verifiable only if its value is one bare
  ``https`` URL (for a remote account, HTML that is a single ``<a>`` whose text is its href),
  with no user or password, and a host already in its normalised (ASCII, lower-case) form.
- ``app/services/verify_link_service.rb``: Mastodon GETs that URL with ``Accept: text/html``,
  needs HTTP 200, and looks for ``<a>`` or ``<link>`` elements whose ``rel`` has the token
  ``me``.  One whose href equals the profile's URL (``https://<domain>/@<username>``, compared
  without case) verifies the field.  Otherwise only the *first* rel=me link is tried: a HEAD
  request to it, not following redirects, must answer with exactly the profile URL as
  ``Location``.
- Mastodon re-checks a field only when the profile is saved (``UpdateAccountService`` queues
  ``VerifyAccountLinksWorker``), so a page fixed later still needs the profile saved again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

# Sides of a problem: who has to act.
PROFILE = "profile"  # the account's owner, in the profile's settings
SITE = "site"  # whoever edits the linked page
NONE = "none"  # nothing is missing that the bot can see


@dataclass(frozen=True)
class FieldLink:
    """One profile field as the API shows it (``fields[]``: name, value HTML, verified_at)."""

    name: str
    value_html: str
    verified: bool


@dataclass(frozen=True)
class Verdict:
    """What keeps one field from being verified, in a sentence a comms maintainer can act on."""

    field: str
    side: str  # PROFILE | SITE | NONE
    message: str
    url: str | None = None  # the bare URL Mastodon would fetch, when there is one


class _Links(HTMLParser):
    """Anchors of a fragment (href and text) and rel=me links of a page, as Nokogiri reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[str | None, list[str]]] = []
        self.rel_me: list[str | None] = []
        self.text_outside: list[str] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("a", "link") and "me" in (attributes.get("rel") or "").split():
            self.rel_me.append(attributes.get("href"))
        if tag == "a":
            self._open = []
            self.anchors.append((attributes.get("href"), self._open))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._open = None

    def handle_data(self, data: str) -> None:
        (self._open if self._open is not None else self.text_outside).append(data)


def _read(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser


def field_url(value_html: str) -> tuple[str | None, str]:
    """The URL Mastodon would verify for a field, or None and why not (field.rb)."""
    links = _read(value_html)
    outside = "".join(links.text_outside).strip()
    if not links.anchors:
        return (
            None,
            "is plain text, not a link (Mastodon links only text that starts with https://)",
        )
    if len(links.anchors) > 1 or outside:
        return (
            None,
            "holds more than one link or text around the link; Mastodon verifies a bare URL only",
        )
    href, text = links.anchors[0]
    if not href or href != "".join(text).strip():
        return None, "shows a link whose text is not its address; Mastodon verifies a bare URL only"
    return href, ""


def url_problem(url: str) -> str | None:
    """Why Mastodon would not try ``url`` at all (``Account::Field#verifiable?``), or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "is not a valid address"
    if parts.scheme != "https":
        return f"links {parts.scheme or 'no'}:// but Mastodon verifies only https:// links"
    if parts.username is not None or parts.password is not None:
        return "has a user name or password in the link"
    if not host:
        return "has no host"
    if not host.isascii() or (parts.netloc.rpartition("@")[2].split(":")[0] != host):
        return "has a host that is not in normalised form (lower-case ASCII, punycode for IDN)"
    return None


def rel_me_links(page_html: str) -> list[str | None]:
    """The hrefs of the page's ``<a rel="me">`` and ``<link rel="me">`` elements, in order."""
    return _read(page_html).rel_me


def explain(field: FieldLink, profile_url: str, page: tuple[int, str] | None) -> Verdict:
    """What is missing for ``field`` to be verified against ``profile_url``, and on which side.

    ``page`` is (HTTP status, HTML) of the field's URL, or None when it could not be fetched
    (the caller says why in its own words: the guard refused it, the site timed out).
    """
    return explain_seen(
        field, profile_url, None if page is None else (page[0], rel_me_links(page[1]))
    )


def explain_seen(
    field: FieldLink, profile_url: str, seen: tuple[int, Sequence[str | None]] | None
) -> Verdict:
    """:func:`explain` from what was kept of the page: (HTTP status, its rel=me hrefs in order).

    What the state store caches between runs (the page itself is not kept).
    """
    if field.verified:
        return Verdict(field.name, NONE, "verified")
    url, why = field_url(field.value_html)
    if url is None:
        return Verdict(field.name, PROFILE, f"the profile's {field.name!r} field {why}")
    problem = url_problem(url)
    if problem is not None:
        return Verdict(field.name, PROFILE, f"the profile's {field.name!r} field {problem}", url)
    host = urlsplit(url).hostname
    if seen is None:
        return Verdict(field.name, NONE, f"{host} could not be read, so the bot cannot tell", url)
    status, links = seen
    if status != 200:
        return Verdict(
            field.name, SITE, f"{url} answers HTTP {status}; Mastodon needs 200 to verify", url
        )
    if any(href and href.lower() == profile_url.lower() for href in links):
        return Verdict(
            field.name,
            PROFILE,
            f"{host} links back with rel=me; Mastodon checks again only when the profile is "
            "saved: save the profile once more",
            url,
        )
    if not links:
        return Verdict(field.name, SITE, f"{url} has no rel=me link to {profile_url}", url)
    return Verdict(
        field.name,
        SITE,
        f"{url} has rel=me links, but the first goes to {links[0] or '(no address)'}, not "
        f"{profile_url}; Mastodon follows only the first, and only one redirect straight to "
        "the profile",
        url,
    )
