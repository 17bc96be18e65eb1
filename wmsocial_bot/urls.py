"""URL parsing shared by the platform normalisers (pure, no network)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

import idna

# Subdomains that name the same site as the bare domain.
_ALIAS_PREFIXES = ("www.", "m.", "mobile.", "old.", "new.", "np.", "music.")
_TRACKING = re.compile(
    r"^(utm_.*|s|t|ref|ref_src|ref_url|fbclid|gclid|igshid|igsh|si|mibextid|feature)$"
)


@dataclass(frozen=True)
class UrlParts:
    """A link split into the pieces a platform rule looks at."""

    scheme: str
    host: str  # lowercase, without port, www./m./mobile. stripped
    raw_host: str  # lowercase, without port, prefixes kept
    port: int | None
    segments: tuple[str, ...]  # non-empty path segments, percent-decoded
    query: tuple[tuple[str, str], ...]  # without tracking parameters
    fragment: str = ""  # percent-decoded; only Twitter's old "#!/name" links need it

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


def strip_alias(host: str) -> str:
    """``www.x.com`` -> ``x.com``: hosts that serve the same accounts."""
    changed = True
    while changed:
        changed = False
        for prefix in _ALIAS_PREFIXES:
            if host.startswith(prefix) and host.count(".") >= 2:
                host = host[len(prefix) :]
                changed = True
    return host


def ascii_host(host: str) -> str | None:
    """``host`` as DNS spells it: lowercase, internationalised labels in punycode.

    ``bücher.social`` and ``xn--bcher-kva.social`` are one server, and its accounts must get
    one handle.  Mastodon itself stores remote domains this way (mastodon/mastodon
    app/lib/tag_manager.rb ``normalize_domain``: Addressable's ``normalized_host``, which is
    IDNA ToASCII).  None when the name is not a valid IDNA host name.
    """
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


def parse_url(url: str) -> UrlParts | None:
    """Split ``url``; None when it is not an http(s) or protocol-relative URL with a host."""
    text = url.strip()
    if text.startswith("//"):
        text = "https:" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return None
    hostname = parts.hostname or ""
    raw_host = ascii_host(unquote(hostname) if "%" in hostname else hostname) or ""
    if not raw_host or not re.fullmatch(r"[a-z0-9.\-\[\]:]+", raw_host):
        return None
    segments = tuple(unquote(s) for s in parts.path.split("/") if s)
    query = tuple(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    )
    fragment = unquote(parts.fragment)
    return UrlParts(scheme, strip_alias(raw_host), raw_host, port, segments, query, fragment)
