"""What one platform record holds, and the normaliser helper most platforms share (pure)."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

from wmsocial_bot.urls import UrlParts


class HandleForm(enum.Enum):
    """How a platform's handles are written, which decides how a fix rewrites them."""

    # ``user@host``: written ``@user@host`` or ``acct:user@host`` in text; a label may show
    # ``user@host``, ``@user`` or the bare ``user`` (the fediverse).
    FEDIVERSE = "fediverse"
    # A domain name (or a DID), which may stand bare in text and sits in place in its links
    # (``bsky.app/profile/<actor>``, ``at://<actor>``): a fix replaces only that part (Bluesky).
    DOMAIN = "domain"
    # A plain name or path: a fix writes the successor's own link (every other platform).
    NAME = "name"


def _never(_handle: str) -> bool:
    return False


def _no_label_handle(_label: str | None) -> str | None:
    return None


@dataclass(frozen=True)
class Platform:
    """Everything the bot knows about a platform without asking it (pure).

    Adding a platform is one such record (listed in :data:`wmsocial_bot.identify.PLATFORMS`),
    plus one module in :mod:`wmsocial_bot.checkers` if it can be asked; a platform that is never
    asked says why in ``unasked``, and every account on it is ``unverifiable`` with that text.
    """

    name: str  # the key prefix of its accounts: ``mastodon:user@host``
    display_name: str  # its own spelling, on notices and the report
    hosts: frozenset[str]  # alias-stripped hosts it owns
    normalise: Callable[[UrlParts], str | None]  # account link -> canonical handle, or None
    host_pattern: re.Pattern[str] | None = None  # hosts it owns beyond ``hosts``
    unasked: str | None = None  # why it is never asked (no checker); None: a checker asks
    # The profile URL (``{}`` = the handle) that a handle written as text stands for: its
    # context (``X: @name``) names the platform, the normaliser reads the URL.
    profile_url: str | None = None
    # How pages name the platform before such a handle (``X: @name``) or in a column header,
    # spelt as they write it (case counts: "BlueSky", not "BLUESKY").
    label_words: tuple[str, ...] = ()
    # The link a notice gives a handle written as text (``@user@host``), or None for none.
    handle_link: Callable[[str], str | None] | None = None
    reports_activity: bool = False  # its check sees activity figures (docs/dashboard.md)
    handle_form: HandleForm = HandleForm.NAME
    shows_at: bool = False  # handles are shown as ``@handle`` on notices and in summaries
    # A handle that is an id a rename cannot break (a Bluesky DID): its links stay as they are.
    is_stable_id: Callable[[str], bool] = _never
    # The handle a link's label shows, where the platform's handles can be told in prose.
    label_handle: Callable[[str | None], str | None] = _no_label_handle
    # A written link or URI with only its handle replaced (``bsky.app/profile/<new>``,
    # ``at://<new>``), or None: then a fix writes the successor's URL in the written form.
    relink: Callable[[str, str], str | None] | None = None
    # A handle written as text (``@user@host``, ``at://name``, ``@name``) read back as a
    # canonical handle, to prove that a rewritten text handle names the successor.
    read_text: Callable[[str], str | None] | None = None

    def shown(self, handle: str) -> str:
        """The handle as people write it: ``@user@host``, ``@name.bsky.social``, else as is."""
        if self.shows_at and not self.is_stable_id(handle) and not handle.startswith("@"):
            return "@" + handle
        return handle

    def owns(self, host: str) -> bool:
        return host in self.hosts or (
            self.host_pattern is not None and self.host_pattern.match(host) is not None
        )


def first_segment_user(
    parts: UrlParts,
    *,
    pattern: str,
    reserved: frozenset[str] = frozenset(),
    allowed_tail: frozenset[str] = frozenset(),
    strip_at: bool = False,
    need_at: bool = False,
) -> str | None:
    """The username in ``/<user>[/<allowed tail>]``, lowercased, or None.

    ``need_at`` demands the ``/@user`` form (TikTok, Threads); ``strip_at`` merely tolerates it.
    Anything after the user that is not an allowed tail (a post, a video) means the link is not
    an account link.
    """
    if not parts.segments:
        return None
    first, rest = parts.segments[0], parts.segments[1:]
    if need_at:
        if not first.startswith("@"):
            return None
        first = first[1:]
    elif strip_at and first.startswith("@"):
        first = first[1:]
    if first.lower() in reserved or not re.fullmatch(pattern, first):
        return None
    if rest and rest[0].lower() not in allowed_tail:
        return None
    return first.lower()
