"""Talk-page notices and the status page, as wikitext (pure).

Everything that comes from a wiki page (URLs, labels, owners, sections) or from a remote
server (evidence) can be written by anyone, so it goes through :func:`inert` before it
reaches wikitext: it then renders as the same characters and can run no template, make no
link, category, tag, comment, heading, list, table, signature or magic word.  Only the
markup this module writes itself is live.  Invisible formatting (bidi overrides, zero-width
characters) is removed first by :func:`neutral`, which edit summaries and console lines use
too: a U+202E from the page must not reverse the bot's own text.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date
from urllib.parse import quote, unquote

from wmsocial_bot.identify import BY_NAME, shown_handle
from wmsocial_bot.model import FieldCheck, Finding, Status, StatusRow

MARKER_PREFIX = "wmsocial-bot:"

# Characters that start or end markup anywhere in a line, as numeric/named entities.  ``:``
# is escaped because it is what every free external link (``https:``, ``mailto:``) needs.
_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
    "[": "&#91;",
    "]": "&#93;",
    "{": "&#123;",
    "}": "&#125;",
    "|": "&#124;",
    "~": "&#126;",
    ":": "&#58;",
}
_ESCAPE = re.compile("[" + re.escape("".join(_ENTITIES)) + "]")
# Markup that counts only at the start of a line: lists, headings, tables, rules, <pre>.
_LINE_START = frozenset("*#;=!-+ ")
_DOUBLE_UNDERSCORE = re.compile(r"_(?=_)")  # __NOTOC__ and the other behaviour switches
_MAGIC_LINK = re.compile(r"\b(ISBN|RFC|PMID) ")  # magic links, where a wiki enables them
_MAX_FIELD = 500
# A URL rendered as a live link: http(s), nothing that ends a link or starts markup, no
# signature or behaviour switch that the save would expand.
_SAFE_URL = re.compile(
    r"https?://[A-Za-z0-9][A-Za-z0-9.\-]*(?::[0-9]+)?(?:[/?#][A-Za-z0-9\-._~:/?#@!$&*+,;=%()]*)?"
)
_UNSAFE_IN_URL = re.compile(r"~~|__|''|&#|&[A-Za-z]+;")
_TITLE_BAD = re.compile(r"[\[\]{}|<>~\n\r\t]|^[\s:]*$|''|__")
_MARKER_SAFE = "-._:@/+=!$*,;()"
_MARKER = re.compile(r"<!--\s*" + re.escape(MARKER_PREFIX) + r"([^\s<>]+)\s*-->")

# Finding kinds about the page rather than an account's status: the page is untidy, so they
# come after the broken links and before the merely quiet accounts (see Status.order).
PAGE_KINDS = ("duplicate", "reverted")
_STATUS_VALUES = {status.value: status for status in Status}
KIND_WORDS = {
    "deleted": "deleted",
    "suspended": "suspended by the platform",
    "deactivated": "deactivated by its owner",
    "limited": "limited by its server",
    "unreachable": "unreachable",
    "invalid": "a broken link",
    "moved": "moved to a new account",
    "renamed": "renamed",
    "duplicate": "listed more than once",
    "reverted": "the bot's fix was undone",
    "inactive": "inactive",
    "verification-lost": "a profile link lost its verification",
    "suggested": "linked from a listed account's profile, not listed on the page",
    "server-changed": "a server of the movement changed what it shows about itself",
}
# Kinds about the accounts' profiles (wmsocial_bot.profiles): after every kind above, since
# nothing is broken; a suggestion last of all.
PROFILE_KINDS = ("verification-lost", "suggested")


def neutral(text: str) -> str:
    """``text`` with nothing invisible that could change how the text around it reads.

    Formatting characters (Unicode category Cf: the bidi embeddings, overrides and isolates
    U+202A-202E and U+2066-2069, the marks U+200E/U+200F and U+061C, zero-width characters,
    soft hyphens, U+FEFF) are removed; control characters (Cc) and line or paragraph
    separators (Zl, Zp) become spaces.
    """
    if text.isascii() and text.isprintable():
        return text  # no ASCII character that prints is Cf, Cc, Zl or Zp: most texts, at once
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cf":
            continue
        out.append(" " if category in ("Cc", "Zl", "Zp") else char)
    return "".join(out)


def inert(text: str) -> str:
    """``text`` as wikitext that shows the same characters and does nothing else.

    One line (whitespace runs become one space), markup characters as HTML entities, line-
    start markup and ``__SWITCHES__`` broken.  Entities rather than ``<nowiki>``: they need
    no closing tag that the content could forge, and they survive being put in a table cell.
    """
    text = " ".join(neutral(text).split())
    text = _ESCAPE.sub(lambda m: _ENTITIES[m.group(0)], text)
    text = _DOUBLE_UNDERSCORE.sub("&#95;", text)
    text = _MAGIC_LINK.sub(r"\1&#32;", text)
    if text and text[0] in _LINE_START:
        text = f"&#{ord(text[0])};{text[1:]}"
    return text


def _short(text: str, limit: int = _MAX_FIELD) -> str:
    """At most ``limit`` characters, cut before escaping so that no entity is split."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sentence(text: str) -> str:
    """Inert ``text`` ending in a full stop (unless it already ends in punctuation)."""
    text = inert(_short(text))
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def is_safe_url(url: str) -> bool:
    """True when ``url`` can be written as a live external link without any other effect."""
    return bool(_SAFE_URL.fullmatch(url)) and not _UNSAFE_IN_URL.search(url)


def link(url: str | None, label: str) -> str:
    """``[url label]`` for a safe URL, else the URL (or the label) as inert text."""
    if url is not None and is_safe_url(url):
        return f"[{url} {inert(_short(label, 200)) or inert(url)}]"
    return inert(_short(url if url else label, 300))


def profile_url(platform: str, handle: str, url: str | None) -> str | None:
    """The account's link for a notice: its URL as written, else one built from the handle.

    A text handle (``@user@host``) or a schemeless URL still gets a live link, so that a
    reader can check a reported account with one click; a URL written but unsafe stays text.
    """
    if url is not None:
        if is_safe_url(url):
            return url
        absolute = "https://" + url.removeprefix("//")
        return absolute if "://" not in url and is_safe_url(absolute) else None
    record = BY_NAME.get(platform)
    build = record.handle_link if record is not None else None
    built = build(handle) if build is not None else None
    return built if built is not None and is_safe_url(built) else None


def wikilink(title: str) -> str:
    """``[[:title]]`` for a trusted title (config); the colon keeps a category a link."""
    if _TITLE_BAD.search(title):
        raise ValueError(f"not a usable page title: {title!r}")
    return f"[[:{title.strip().lstrip(':')}]]"


def platform_name(platform: str) -> str:
    """The platform's own spelling; an unknown one as inert text (never empty)."""
    record = BY_NAME.get(platform)
    if record is not None:
        return record.display_name
    return inert(_short(platform, 50).title()) or "Other"


def marker_comment(marker: str) -> str:
    """``<!-- wmsocial-bot:<marker> -->``, percent-encoded so that it cannot close the comment.

    ``~`` and doubled ``_`` are encoded too: no signature or behaviour switch, even hidden.
    """
    encoded = quote(marker, safe=_MARKER_SAFE).replace("~", "%7E")
    return f"<!-- {MARKER_PREFIX}{_DOUBLE_UNDERSCORE.sub('%5F', encoded)} -->"


def reported_markers(talk_text: str) -> set[str]:
    """Every marker a talk page holds, so that a lost state file still causes no repeat."""
    return {unquote(match.group(1)) for match in _MARKER.finditer(talk_text)}


def _kind_rank(kind: str) -> tuple[int, int]:
    """Status.order, with the page kinds just before inactive and unknown kinds just after."""
    if kind in PAGE_KINDS:
        return Status.INACTIVE.order, PAGE_KINDS.index(kind)
    if kind in PROFILE_KINDS:
        return Status.UNVERIFIABLE.order, PROFILE_KINDS.index(kind)
    status = _STATUS_VALUES.get(kind)
    if status is None:
        return Status.INACTIVE.order, len(PAGE_KINDS) + 1
    return status.order, len(PAGE_KINDS)


def order_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most urgent kind first; within a kind, the order given (page order)."""
    return sorted(findings, key=lambda finding: _kind_rank(finding.kind))


def notice_heading(run_date: date) -> str:
    """The section title, plain text: Pywikibot sends it as ``sectiontitle``."""
    return f"Social media accounts that need attention ({run_date.isoformat()})"


def render_notice(
    findings: Sequence[Finding],
    *,
    bot: str,
    run_date: date,
    page_title: str,
    config_page: str | None = None,
) -> tuple[str, str]:
    """(heading, body) of a new talk-page section reporting ``findings``.

    One bullet per finding, most urgent first, each ending in a hidden marker so that later
    runs (and :func:`reported_markers`) know it was reported.  Raises ValueError for no
    findings: an empty notice is never worth posting.
    """
    if not findings:
        raise ValueError("no findings to report")
    config_page = config_page or f"User:{bot}/config.json"
    config_link = wikilink(config_page).replace("[[:", "[[", 1)
    count = len(findings)
    ordered = order_findings(findings)
    example = '{"ignore": ["' + ordered[0].key + '"]}'
    lines = [
        f"The bot checked the social media accounts listed on {wikilink(page_title)} on "
        f"{run_date.isoformat()}. {count} "
        f"{'account needs' if count == 1 else 'accounts need'} attention:",
        "",
    ]
    lines += [_item(finding) for finding in ordered]
    lines += [
        "",
        "If an item is a false positive, add its key (shown in code after it) to the "
        f'"ignore" list on {config_link} (a JSON page; create it if it does not exist), '
        f"for example <code>{inert(_short(example, 400))}</code>, or put "
        f"<code>{inert('<!-- wmsocial-bot: ignore -->')}</code> on the account's line of "
        f"{wikilink(page_title)}; it will not be reported again. ~~~~",
    ]
    return notice_heading(run_date), "\n".join(lines)


def _item(finding: Finding) -> str:
    shown = shown_handle(finding.platform, finding.handle)
    words = KIND_WORDS.get(finding.kind) or inert(_short(finding.kind, 50))
    where = []
    if finding.label and finding.label.strip() not in (shown, finding.handle, finding.url):
        where.append(f"shown as “{inert(_short(finding.label, 100))}”")
    if finding.section:
        where.append(f"section “{inert(_short(finding.section, 200))}”")
    if finding.owner:
        where.append(f"owner: {inert(_short(finding.owner, 200))}")
    place = f" ({'; '.join(where)})" if where else ""
    target = profile_url(finding.platform, finding.handle, finding.url)
    if finding.kind in PROFILE_KINDS:
        target = _built_link(finding.platform, finding.handle) or target
    parts = [
        f"* '''{platform_name(finding.platform)}''' "
        f"{link(target, shown) if target else link(finding.url, shown)}{place}: {words}; "
        + _when(finding),
    ]
    if finding.evidence.strip():
        parts.append(f"Evidence: {_sentence(finding.evidence)}")
    if finding.action.strip():
        parts.append(f"Suggested action: {_sentence(finding.action)}")
    parts.append(f"<code>{inert(_short(finding.key, 300))}</code>")
    return " ".join(parts) + " " + marker_comment(finding.marker)


def _built_link(platform: str, handle: str) -> str | None:
    """The bot's own link to an account (its platform's profile URL), never a profile's text."""
    record = BY_NAME.get(platform)
    built = profile_url(platform, handle, None)
    if built is None and record is not None and record.profile_url:
        built = record.profile_url.format(handle)
    return built if built is not None and is_safe_url(built) else None


def _when(finding: Finding) -> str:
    """What "since" means: the platform's own date where it has one, else the bot's sighting."""
    if finding.kind == "inactive" and finding.last_activity is not None:
        return f"last activity on {finding.last_activity.isoformat()} (the platform's date)."
    return f"first found by the bot on {finding.since.isoformat()}."


def render_status_page(
    rows: Sequence[StatusRow],
    *,
    updated: date,
    page_title: str,
    sections: Sequence[tuple[str, str]] = (),
) -> str:
    """The dashboard: one table row per account, the same text for the same input.

    ``sections``: (heading, wikitext body) written after the accounts table, in the order
    given (the plan's: activity per owner, verification, the movement's servers).  The body
    is the caller's own markup; whatever in it came from a page or a server must already be
    inert.

    Accounts that need a look come first (most urgent first, as in notices), then the ones
    that cannot be checked, then the good ones; page order within each.  A detail shared by
    several rows (X's "not checked: ..." paragraph) is written once, as a note under the table.
    Only the date goes in (no time of day), so an unchanged dashboard renders identically and
    the caller can skip the save.
    """
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.detail] = counts.get(row.detail, 0) + 1
    notes: list[str] = []
    lines = [
        f"Social media accounts listed on {wikilink(page_title)}, as checked by a bot. "
        f"Last updated: {updated.isoformat()}. The bot rewrites this page: edit "
        f"{wikilink(page_title)} instead. ''Last activity'' is the platform's own date (the "
        "newest post); ''First seen'' is the day the bot first found the account in its "
        "current status.",
        "",
        '{| class="wikitable sortable"',
        "! Platform !! Account !! Status !! Last activity !! First seen !! Verified !! Owner "
        "!! Detail",
    ]
    for row in sorted(rows, key=_row_rank):
        verified = "" if row.verified is None else ("yes" if row.verified else "no")
        detail = inert(_short(row.detail))
        if counts[row.detail] > 1 and len(row.detail) > 60:
            if detail not in notes:
                notes.append(detail)
            detail = f"see note {notes.index(detail) + 1} below"
        target = profile_url(row.platform, row.handle, row.url)
        shown = shown_handle(row.platform, row.handle)
        cells = [
            platform_name(row.platform),
            link(target, shown) if target else link(row.url, shown),
            inert(_short(row.status, 50)),
            row.last_activity.isoformat() if row.last_activity else "",
            row.since.isoformat() if row.since else "",
            verified,
            inert(_short(row.owner or "", 200)),
            detail,
        ]
        lines.append("|-")
        lines += [f"| {cell}".rstrip() for cell in cells]
    lines.append("|}")
    if notes:
        lines.append("")
        lines += [f"Note {i}: {_sentence_inert(note)}" for i, note in enumerate(notes, 1)]
    for heading, body in sections:
        lines += ["", f"== {inert(heading)} ==", body.rstrip("\n")]
    return "\n".join(lines) + "\n"


VERIFICATION_HEADING = "Verification of Mastodon profile links"
_SIDES = {"profile": "the profile's owner", "site": "the linked site", "none": ""}


def render_verification(checks: Sequence[FieldCheck]) -> str:
    """The status page's verification section: each Mastodon profile field and its verdict.

    The verdicts are :mod:`wmsocial_bot.relme`'s sentences; field names, addresses and owners
    come from profiles and the page, so every cell is inert.
    """
    lines = [
        "Mastodon shows a profile link as verified when the linked page links back to the "
        'profile with <code>rel="me"</code>, checked when the profile is saved. For each field '
        "that is not verified the bot reads the linked page (at most weekly) and says what is "
        "missing and whose move it is.",
        "",
        '{| class="wikitable sortable"',
        "! Account !! Owner !! Field !! Verified !! What is missing !! Whose move",
    ]
    for check in checks:
        verdict = check.verdict
        target = profile_url(check.platform, check.handle, check.url)
        shown = shown_handle(check.platform, check.handle)
        verified = verdict.message == "verified" and verdict.side == "none"
        cells = [
            link(target, shown) if target else link(check.url, shown),
            inert(_short(check.owner or "", 200)),
            inert(_short(verdict.field, 100)),
            "yes" if verified else "no",
            "" if verified else inert(_short(verdict.message)),
            _SIDES.get(verdict.side, ""),
        ]
        lines.append("|-")
        lines += [f"| {cell}".rstrip() for cell in cells]
    lines.append("|}")
    return "\n".join(lines)


def _row_rank(row: StatusRow) -> tuple[int, int]:
    return _kind_rank(row.status)


def _sentence_inert(text: str) -> str:
    """Already inert ``text`` ending in a full stop."""
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def render_dry_run_diff(old: str, new: str, title: str) -> str:
    """A unified diff of a proposed edit, for dry runs; empty when nothing changes."""
    diff = difflib.unified_diff(
        old.splitlines(),
        new.splitlines(),
        fromfile=f"{title} (current)",
        tofile=f"{title} (proposed)",
        lineterm="",
    )
    text = "\n".join(diff)
    return text + "\n" if text else ""
