"""Wikitext -> accounts: every social-media account a page lists, with its exact source span.

Pure: a function of a string.  mwparserfromhell does the parsing; this module walks the tree
and keeps absolute character offsets, so that a later fix can change exactly the characters of
one link and leave the rest of the page byte-identical.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import mwparserfromhell
from mwparserfromhell.nodes import Comment, ExternalLink, Node, Tag, Template, Text, Wikilink
from mwparserfromhell.wikicode import Wikicode

from wmsocial_bot.identify import BY_NAME, PLATFORMS, HandleForm, bluesky, identify_url, mastodon
from wmsocial_bot.model import Account, Span
from wmsocial_bot.urls import ascii_host
from wmsocial_bot.wikitables import Table, scan_tables

# Tags whose contents MediaWiki does not render as links.
_INERT_TAGS = frozenset(
    {
        "nowiki",
        "pre",
        "syntaxhighlight",
        "source",
        "math",
        "chem",
        "score",
        "templatedata",
        "graph",
        "timeline",
        "mapframe",
        "maplink",
    }
)
_MARKUP = re.compile(r"[\[{<'&@]|//")  # anything mwparserfromhell must read
_CELL_TAGS = frozenset({"td", "th"})
_URL_TEMPLATES = frozenset({"url", "url2", "plainlink", "plain link"})
_MAX_SPAN = 1000  # rowspan/colspan bigger than this are treated as typos, not as layout
# A bare link written as a bracketed one with <tvar> markup around the URL:
#   [<tvar name="x">URL</tvar> label]   or the old   [<tvar|x>URL</> label]
# What MediaWiki never shows on the page itself.  Its preprocessor (MediaWiki 1.39,
# includes/parser/Preprocessor_Hash.php, buildDomTreeArrayFromText) runs an unclosed comment
# and an unclosed <includeonly> to the end of the page; an unclosed <nowiki>, <pre> or
# extension tag is literal text and the rest of the page is read as usual.  <includeonly>
# content is shown only where the page is transcluded, never on the page.
_HIDDEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<includeonly(?:\s[^>]*)?(?<!/)>.*?(?:</includeonly\s*>|\Z)|"
    r"<(" + "|".join(sorted(_INERT_TAGS)) + r")(?:\s[^>]*)?(?<!/)>.*?</\1\s*>",
    re.DOTALL | re.IGNORECASE,
)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_URL_END_ENTITY = re.compile(r"&(?:nbsp|#160|#x0*a0|lt|gt);", re.IGNORECASE)
_TRAILING_COMMENTS = re.compile(r"(?:<!--(?:(?!-->).)*-->)+\Z", re.DOTALL)
# Image links: [[File:x.png|...|link=URL|caption]] (Meta's content language is English, so
# File: and its alias Image:).  A leading colon makes an ordinary link to the file page.
_IMAGE_TITLE = re.compile(r"\s*(?:file|image)\s*:", re.IGNORECASE)
_HEADING = re.compile(r"^(={1,6})(.+?)\1[ \t]*(?:<!--.*?-->[ \t]*)*$", re.MULTILINE)
_TVAR_BEFORE = re.compile(r"\[<tvar(?:\s+name\s*=\s*\"?[^\">]*\"?\s*|\|[^>]*)>$")
_TVAR_AFTER = re.compile(r"(?:</tvar>|</>)([ \t]+)([^\]\n]*)\]")


# --------------------------------------------------------------------------- handles by context
#
# A handle written as text names a platform only through its context: a label before it
# (``X: @name``, a bold ``Bluesky:`` before ``name.bsky.social``) or the table column it stands
# in (a ``Bluesky`` column holding ``name.bsky.social``).  An ``@word`` with no such context is
# prose and never an account.  The handle is checked by the platform's own normaliser, through
# the profile URL it stands for, so a context handle and a link to the same account compare
# equal.  ``at://`` URIs are text to MediaWiki (not in $wgUrlProtocols), but name an account.

_PLATFORM_WORDS: dict[str, str] = {
    word.lower(): platform.name for platform in PLATFORMS for word in platform.label_words
}
_LABEL_NAMES = "|".join(re.escape(word) for p in PLATFORMS for word in p.label_words)
_TOKEN = r"@?[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?|did:plc:[a-z2-7]{24}"
_LABELLED = re.compile(
    rf"(?<![\w@.\-])(?P<label>{_LABEL_NAMES})(?:\s*\([^()\n]{{0,30}}\))?'{{0,5}}[ \t\u00a0]*"
    rf"(?P<colon>:[ \t\u00a0]*'{{0,5}}[ \t\u00a0]*)(?P<token>{_TOKEN})(?![\w@\-/]|\.[A-Za-z0-9])"
)
# MediaWiki shows "Bluesky : x" with a no-break space before the colon (French spacing:
# includes/parser/Sanitizer.php armorFrenchSpaces), so a label may be followed by one.
# A label that ends its text node: the handle may follow after inline tags (X: <b>@name</b>).
_LABEL_AT_END = re.compile(
    rf"(?<![\w@.\-])(?P<label>{_LABEL_NAMES})(?:\s*\([^()\n]{{0,30}}\))?'{{0,5}}[ \t\u00a0]*"
    rf"(?P<colon>:[ \t\u00a0]*'{{0,5}}[ \t\u00a0]*)\Z"
)
# The handle in brackets after the platform's name: "follow us on X (@name)".
_BRACKETED = re.compile(
    rf"(?<![\w@.\-])(?P<label>{_LABEL_NAMES})[ \t\u00a0]*\([ \t]*"
    r"(?P<token>@[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?)[ \t]*\)"
)
# More handles after a labelled one: "X: @wmde, @wmde_presse and @wmde_events".
_MORE_HANDLES = re.compile(
    r"[ \t\u00a0]*(?:,|/|&|\band\b|\bor\b)[ \t\u00a0]*"
    r"(?P<token>@[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?)(?![\w@\-/]|\.[A-Za-z0-9])"
)
_LEADING_TOKEN = re.compile(rf"[ \t\u00a0]*(?P<token>{_TOKEN})(?![\w@\-/]|\.[A-Za-z0-9])")
_ONLY_TAGS = re.compile(r"(?:[ \t]|<[A-Za-z][^<>]*>|'{2,5})*")
CELL_TOKEN = re.compile(rf"\s*'{{0,5}}(?P<token>{_TOKEN})'{{0,5}}\s*")  # bold or italic too
_AT_URI = re.compile(r"(?<![\w/.:])at://[^\s\[\]<>\"{}|]+")


@dataclass(frozen=True)
class TextHandle:
    """A handle found in text by its context: where it is written and what it names."""

    start: int
    end: int
    platform: str
    handle: str


def handle_in_context(platform: str, token: str) -> TextHandle | None:
    """``token`` read as a ``platform`` handle, or None when that platform has no such name.

    Only domain handles (and DIDs: Bluesky) may go without ``@``; any other bare word is not
    a handle.  The platform record's ``profile_url`` says which URL the handle stands for.
    """
    name = token.removeprefix("@")
    record = BY_NAME[platform]
    bare = record.handle_form is HandleForm.DOMAIN and ("." in name or ":" in name)
    if (not token.startswith("@") and not bare) or record.profile_url is None:
        return None
    found = identify_url(record.profile_url.format(name))
    if found is None or found.platform != platform:
        return None
    return TextHandle(0, len(token), platform, found.handle)


def _handle_like(text: str) -> bool:
    """Cheap test before the cell rules: only ``@name``, a domain or a DID can be a handle."""
    return "@" in text or "." in text or "did:" in text


def platform_named(text: str) -> str | None:
    """The one platform a column header or cell names (``Bluesky``, ``X (Twitter)``)."""
    words = {_PLATFORM_WORDS.get(w.lower()) for w in re.findall(r"[A-Za-z]+", text)} - {None}
    return words.pop() if len(words) == 1 else None


def _more_handles(text: str, pos: int, platform: str) -> list[TextHandle]:
    """The ``, @name`` list that may follow a labelled handle, all on the same platform."""
    more = []
    while (match := _MORE_HANDLES.match(text, pos)) is not None:
        handle = handle_in_context(platform, match["token"])
        if handle is None:
            break
        more.append(replace(handle, start=match.start("token"), end=match.end("token")))
        pos = match.end()
    return more


def labelled_handles(text: str) -> list[TextHandle]:
    """``X: @name``-style handles and ``at://`` account URIs in ``text``."""
    found = []
    if ":" in text:
        for match in _LABELLED.finditer(text):
            if match["colon"] == ":" and not match["token"].startswith("@"):
                continue  # "Bluesky:logo.svg" is a page title, not a label and a handle
            platform = _PLATFORM_WORDS[match["label"].lower()]
            handle = handle_in_context(platform, match["token"])
            if handle is not None:
                found.append(replace(handle, start=match.start("token"), end=match.end("token")))
                found.extend(_more_handles(text, match.end(), platform))
    if "(@" in text or "( @" in text:
        for match in _BRACKETED.finditer(text):
            platform = _PLATFORM_WORDS[match["label"].lower()]
            handle = handle_in_context(platform, match["token"])
            if handle is not None:
                found.append(replace(handle, start=match.start("token"), end=match.end("token")))
        found.sort(key=lambda handle: handle.start)
    if "at://" in text:
        for match in _AT_URI.finditer(text):
            uri = match.group().rstrip(".,;:!?)'")
            actor = bluesky.normalise_at_uri(uri)
            if actor is not None:
                end = match.start() + len(uri)
                found.append(TextHandle(match.start(), end, bluesky.NAME, actor))
    return found


@dataclass(frozen=True)
class Extraction:
    """The result of reading one page."""

    accounts: tuple[Account, ...]

    @property
    def unique(self) -> tuple[Account, ...]:
        """One entry per account: the first place that lists it."""
        return tuple(a for a in self.accounts if a.duplicate_of is None)

    @property
    def duplicates(self) -> tuple[tuple[Account, Account], ...]:
        """(first place, later place) for every account listed more than once."""
        first = {a.span: a for a in self.accounts if a.duplicate_of is None}
        return tuple(
            (first[a.duplicate_of], a) for a in self.accounts if a.duplicate_of is not None
        )


def extract_accounts(text: str) -> Extraction:
    """Every account listed in ``text``, in page order; never raises on odd markup.

    Wikitables are laid out by :mod:`wmsocial_bot.wikitables` (line-based, as MediaWiki does)
    and everything else, cell contents included, is parsed by mwparserfromhell.
    """
    text = text.replace("\x00", "\ufffd")  # see parse_page
    hidden = hidden_ranges(text)
    # What MediaWiki never shows and mwparserfromhell would read (an unclosed comment, which
    # runs to the end, and <includeonly>) is blanked, offsets kept.  Closed comments and
    # <nowiki>-like tags are read by mwparserfromhell itself: a link may run across a comment,
    # and a <nowiki> tag's text is shown (a cell's or label's text keeps it).
    text = _blank(text, [span for span in hidden if _never_shown(text, span)])
    tables = scan_tables(text, hidden)
    walker = _Walker(text)
    walker.walk(parse_page(_blank(text, [t.span for t in tables if t.parent is None])), 0)
    for table in tables:
        walker.walk_table(table)
    return Extraction(_mark_duplicates(walker.finish(hidden)))


def hidden_ranges(text: str) -> list[Span]:
    """Comments (to the end, if unclosed) and closed ``<nowiki>``-like tags, in order."""
    return [Span(m.start(), m.end()) for m in _HIDDEN.finditer(text)]


def _never_shown(text: str, span: Span) -> bool:
    """An unclosed comment or an ``<includeonly>`` part (see ``_HIDDEN``)."""
    if text.startswith("<!--", span.start):
        return not text.endswith("-->", span.start, span.end)
    return text[span.start : span.start + 12].lower() == "<includeonly"


def _blank(text: str, spans: list[Span]) -> str:
    """``text`` with each span turned to spaces (newlines kept): offsets stay the same."""
    if not spans:
        return text
    pieces = []
    prev = 0
    for span in sorted(spans):
        if span.end <= prev:
            continue  # inside a span already blanked (a table nested in another)
        start = max(span.start, prev)
        pieces.append(text[prev:start])
        pieces.append(re.sub(r"[^\n]", " ", text[start : span.end]))
        prev = span.end
    pieces.append(text[prev:])
    return "".join(pieces)


def parse_page(text: str) -> Wikicode:
    """Parse ``text`` so that ``str(result)`` has exactly the length and offsets of ``text``.

    mwparserfromhell drops NUL characters; MediaWiki never stores them, but a file might hold
    one.  Each is read as U+FFFD, so offsets still match the input character for character.
    """
    return mwparserfromhell.parse(text.replace("\x00", "\ufffd"), skip_style_tags=True)


def _mark_duplicates(accounts: list[Account]) -> tuple[Account, ...]:
    first_seen: dict[str, Span] = {}
    out = []
    for account in accounts:
        seen = first_seen.setdefault(account.key, account.span)
        out.append(account if seen == account.span else replace(account, duplicate_of=seen))
    return tuple(out)


def _clean(text: str) -> str:
    return " ".join(text.split())


def _plain(code: Wikicode) -> str:
    """Readable text of a cell or heading: markup, comments and translation tags removed."""
    return _clean(str(code.strip_code(normalize=True, collapse=True)))


@dataclass(eq=False)
class _Cell:
    text: str
    header: bool
    colspan: int
    rowspan: int
    col: int = -1


@dataclass(eq=False)
class _Table:
    rows: list[list[_Cell]] = field(default_factory=list)
    pending: list[tuple[dict[str, object], int, _Cell]] = field(default_factory=list)
    in_row: bool = False
    # Cells that hold nothing but a handle: (row, cell, where it is written, the handle).
    candidates: list[tuple[int, _Cell, Span, str]] = field(default_factory=list)
    headers: dict[int, str] = field(default_factory=dict)
    by_row: dict[int, list[_Cell]] = field(default_factory=dict)  # every cell a row spans

    def platform_of(self, row: int, cell: _Cell) -> str | None:
        """The platform a cell's column header names, else the one another cell of its row
        names on its own (a ``Platform`` column holding ``Bluesky``)."""
        header = self.headers.get(cell.col)
        if header and platform_named(header):
            return platform_named(header)
        named = {
            platform_named(other.text)
            for other in self.by_row.get(row, ())
            if other is not cell and len(other.text) <= 30
        } - {None}
        return named.pop() if len(named) == 1 else None

    def new_row(self) -> None:
        self.rows.append([])
        self.in_row = True

    def add_cell(self, cell: _Cell) -> int:
        if not self.in_row:
            self.new_row()
        self.rows[-1].append(cell)
        return len(self.rows) - 1

    def add_row(self, cells: list[_Cell]) -> None:
        self.rows.append(cells)
        self.in_row = True

    def resolve(self) -> None:
        """Lay cells out on a grid (rowspan, colspan) and give each account its row's cells."""
        occupied = self._layout()
        self.headers = headers = self._header_names()
        self.by_row = {}
        for (r, _col), cell in occupied.items():
            self.by_row.setdefault(r, []).append(cell)
        width = max((col for (_, col) in occupied), default=-1) + 1
        for record, r, own in self.pending:
            cells: list[tuple[str, str]] = []
            seen: set[int] = {id(own)}
            for col in range(width):
                other = occupied.get((r, col))
                if other is None or id(other) in seen or not other.text:
                    continue
                seen.add(id(other))
                name = headers.get(col) or f"column {col + 1}"
                if other.header and headers.get(col) == other.text:
                    continue  # the header row itself
                cells.append((name, other.text))
            record["cells"] = tuple(cells)

    def _layout(self) -> dict[tuple[int, int], _Cell]:
        """Which cell covers each (row, column), as MediaWiki draws rowspan and colspan."""
        occupied: dict[tuple[int, int], _Cell] = {}
        n_rows = len(self.rows)
        for r, row in enumerate(self.rows):
            c = 0
            for cell in row:
                while (r, c) in occupied:
                    c += 1
                cell.col = c
                for dr in range(min(cell.rowspan, n_rows - r)):
                    for dc in range(cell.colspan):
                        occupied[(r + dr, c + dc)] = cell
                c += cell.colspan
        return occupied

    def _header_names(self) -> dict[int, str]:
        """Column names from the first row made only of header cells (after :meth:`_layout`)."""
        headers: dict[int, str] = {}
        for row in self.rows:
            if row and all(cell.header for cell in row):
                for cell in row:
                    for dc in range(cell.colspan):
                        headers.setdefault(cell.col + dc, cell.text)
                break
        return headers


def _headings(text: str) -> list[tuple[int, str | None]]:
    """(offset, title) of every heading line.

    Read from the text rather than the tree because mwparserfromhell does not see a heading
    followed by a translation marker (``== Contact == <!--T:20-->``), which MediaWiki does.
    """
    found: list[tuple[int, str | None]] = []
    for match in _HEADING.finditer(text):
        title = _plain(mwparserfromhell.parse(match.group(2)))
        found.append((match.start(), title or None))
    return found


_URL_TEMPLATE = re.compile(r"\{\{\s*(?:url2?|plain ?link)\s*\|", re.IGNORECASE)


def _inert(markup: str) -> bool:
    """True when ``markup`` cannot hold an account: no URL, no ``@``, no ``{{URL|...}}`` (whose
    URL needs no scheme) and no platform label.  Saves walking it."""
    if "//" in markup or "@" in markup:
        return False
    if "{{" in markup and _URL_TEMPLATE.search(markup):
        return False
    return not (":" in markup and _LABELLED.search(markup))


def _skeleton(node: Node) -> tuple[str, list[tuple[Wikicode, int, int]]]:
    """Serialise ``node`` with each child replaced by a short placeholder.

    Returns the skeleton and, per child, where its placeholder starts and how long it is.
    Offsets then cost the node's own markup, not its whole subtree, which keeps a 10,000-row
    table linear.  A child that does not appear in the skeleton is left out.
    """
    children = list(node.__children__())
    saved = [child.nodes for child in children]
    placeholders = [f"\ue000{i}\ue001" for i in range(len(children))]
    for child, placeholder in zip(children, placeholders, strict=True):
        child.nodes = [Text(placeholder)]
    try:
        skeleton = str(node)
    finally:
        for child, nodes in zip(children, saved, strict=True):
            child.nodes = nodes
    placed = []
    cursor = 0
    for child, placeholder in zip(children, placeholders, strict=True):
        rel = skeleton.find(placeholder, cursor)
        if rel >= 0:
            cursor = rel + len(placeholder)
            placed.append((child, rel, len(placeholder)))
    return skeleton, placed


def _split_params(text: str) -> list[tuple[int, str]]:
    """``a|b|c`` -> [(offset, piece)], not splitting inside ``{{...}}`` or ``[[...]]``."""
    pieces = []
    depth = 0
    begin = 0
    i = 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in ("{{", "[["):
            depth += 1
            i += 2
            continue
        if pair in ("}}", "]]") and depth:
            depth -= 1
            i += 2
            continue
        if text[i] == "|" and not depth:
            pieces.append((begin, text[begin:i]))
            begin = i + 1
        i += 1
    pieces.append((begin, text[begin:]))
    return pieces


def _int_attr(tag: Tag, name: str) -> int:
    if not tag.has(name):
        return 1
    match = re.match(r"\s*\"?'?\s*(\d+)", str(tag.get(name).value))
    return max(1, min(int(match.group(1)), _MAX_SPAN)) if match else 1


class _Walker:
    """Walks the parse tree keeping absolute offsets of every node."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.records: list[dict[str, object]] = []
        self.tables: list[_Table] = []
        self.cell: tuple[_Table, int, _Cell] | None = None
        self.template_depth = 0
        self.labels: list[Span] = []  # labels of <tvar> links, which are plain text to the parser
        self.pending_label: tuple[str, int, bool] | None = None  # platform, end, spaced colon
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    # -- traversal -------------------------------------------------------------------------

    def walk(self, code: Wikicode, start: int) -> int:
        """Visit every node of ``code`` (which starts at ``start``); return its length."""
        pos = start
        for node in code.nodes:
            pos += self.visit(node, pos)
        return pos - start

    def visit(self, node: Node, start: int) -> int:
        if isinstance(node, Text):
            self.scan_text(node.value, start)
            return len(node.value)
        if isinstance(node, Comment) or (
            isinstance(node, Tag) and str(node.tag).strip().lower() in _INERT_TAGS
        ):
            return len(str(node))
        if isinstance(node, ExternalLink):
            return self.visit_link(node, start)
        if isinstance(node, Wikilink):
            return self.visit_wikilink(node, start)
        if isinstance(node, Tag):
            return self.visit_tag(node, start)
        if _inert(str(node)):
            return len(str(node))
        if isinstance(node, Template):
            return self.visit_template(node, start)
        return self.visit_children(node, start, lambda _child: True)

    def walk_table(self, table: Table) -> None:
        """Walk a wikitable's cells, each parsed on its own, and give accounts their row."""
        grid = _Table()
        saved_cell = self.cell
        for span in table.captions + table.other:
            self.cell = None
            self.walk_segment(span)
        candidates: list[tuple[int, _Cell, Span, str]] = []
        for row in table.rows:
            cells = []
            for layout in row:
                cell = _Cell("", layout.header, layout.colspan, layout.rowspan)
                cells.append(cell)
                self.cell = (grid, len(grid.rows), cell)
                found = len(self.records)
                cell.text = " ".join(filter(None, (self.walk_segment(s) for s in layout.segments)))
                cell.text = cell.text[:300]
                candidate = self._cell_handle(cell, found, layout.segments)
                if candidate is not None:
                    candidates.append((len(grid.rows), cell, *candidate))
            grid.add_row(cells)
        grid.candidates = candidates
        self.resolve_table(grid)
        self.cell = saved_cell

    def resolve_table(self, grid: _Table) -> None:
        """Lay the table out; then a handle alone in a cell is read by its column or row."""
        grid.resolve()
        if not grid.candidates:
            return
        saved_cell = self.cell
        for row_index, cell, span, written in grid.candidates:
            platform = grid.platform_of(row_index, cell)
            in_column = handle_in_context(platform, written) if platform else None
            if in_column is not None:
                self.cell = (grid, row_index, cell)
                self.add(platform or "", in_column.handle, span, "context")
        self.cell = saved_cell
        grid.resolve()

    def _cell_handle(
        self, cell: _Cell, found: int, segments: list[Span]
    ) -> tuple[Span, str] | None:
        """(where, handle) when a data cell shows nothing but a handle and no account was found
        in it (records beyond ``found``); its column or row decides the platform later."""
        if cell.header or len(self.records) != found or not _handle_like(cell.text):
            return None
        shown = CELL_TOKEN.fullmatch(cell.text)
        where = self._written(shown["token"], segments) if shown else None
        return (where, shown["token"]) if shown and where else None

    def _written(self, token: str, segments: list[Span]) -> Span | None:
        """Where ``token`` is written in a cell's source, if it is there as it is shown."""
        for segment in segments:
            at = self.text.find(token, segment.start, segment.end)
            if at >= 0:
                return Span(at, at + len(token))
        return None

    def walk_segment(self, span: Span) -> str:
        """Parse and walk ``text[span]``; return its readable text."""
        raw = self.text[span.start : span.end]
        if not _MARKUP.search(raw):
            if ":" in raw:
                self.scan_text(raw, span.start)  # "Bluesky: name.bsky.social"
            return _clean(raw)
        code = mwparserfromhell.parse(raw, skip_style_tags=True)
        if not _inert(raw):
            self.walk(code, span.start)
        return _plain(code)

    def visit_children(self, node: Node, start: int, wanted: Callable[[Wikicode], bool]) -> int:
        """Walk the children of ``node`` that ``wanted(child)`` selects; return node length."""
        skeleton, placed = _skeleton(node)
        shift = 0
        for child, rel, placeholder in placed:
            length = self.walk(child, start + rel + shift) if wanted(child) else len(str(child))
            shift += length - placeholder
        return len(skeleton) + shift

    def visit_tag(self, tag: Tag, start: int) -> int:
        name = str(tag.tag).strip().lower()
        contents_only = lambda child: child is tag.contents  # noqa: E731 - attributes stay inert
        if name == "table":
            table = _Table()
            self.tables.append(table)
            saved_cell, self.cell = self.cell, None
            length = self.visit_children(tag, start, contents_only)
            self.cell = saved_cell
            self.tables.pop()
            self.resolve_table(table)
            return length
        if self.tables and name == "tr":
            self.tables[-1].new_row()
            return self.visit_children(tag, start, contents_only)
        # mwparserfromhell reads a "|+ caption" line as a cell whose text starts with "+".
        is_caption = name == "caption" or (
            tag.wiki_markup == "|" and str(tag.contents).startswith("+")
        )
        if self.tables and name in _CELL_TAGS and not tag.self_closing and not is_caption:
            table = self.tables[-1]
            cell = _Cell(
                _plain(tag.contents)[:300],
                name == "th",
                _int_attr(tag, "colspan"),
                _int_attr(tag, "rowspan"),
            )
            row = table.add_cell(cell)
            found = len(self.records)
            if _inert(str(tag.contents)):
                length = len(str(tag))
            else:
                saved_cell, self.cell = self.cell, (table, row, cell)
                length = self.visit_children(tag, start, contents_only)
                self.cell = saved_cell
            opened = self.text.find(">", start, start + length) + 1  # after <td ...>
            candidate = self._cell_handle(cell, found, [Span(opened or start, start + length)])
            if candidate is not None:
                table.candidates.append((row, cell, *candidate))
            return length
        if _inert(str(tag)) and self.pending_label is None:
            return len(str(tag))
        return self.visit_children(tag, start, contents_only)

    def visit_template(self, template: Template, start: int) -> int:
        name = _clean(str(template.name)).lower()
        self.template_depth += 1
        try:
            if name in _URL_TEMPLATES and template.has("1"):
                value = template.get("1").value
                raw = str(value)
                if "://" not in raw and not raw.strip().startswith("//"):
                    return self.visit_schemeless_url(template, value, start)
            return self.visit_children(template, start, lambda child: True)
        finally:
            self.template_depth -= 1

    def visit_schemeless_url(self, template: Template, value: Wikicode, start: int) -> int:
        """``{{URL|wikis.world/@foo}}``: the template adds the scheme, so the page need not."""

        def on_child(child: Wikicode) -> bool:
            return child is not value

        length = self.visit_children(template, start, on_child)
        raw = str(value)
        offset = str(template).find("|" + raw)
        if offset >= 0:
            stripped = raw.strip()
            url_start = start + offset + 1 + raw.index(stripped) if stripped else 0
            if stripped:
                span = Span(url_start, url_start + len(stripped))
                self.add_url(stripped, "https://" + stripped, span, "template")
        return length

    def visit_wikilink(self, link: Wikilink, start: int) -> int:
        """``[[Page|label]]`` shows no account: MediaWiki does not turn a URL in a link label
        into a link (includes/parser/Parser.php ``armorLinks``).  An image is different:
        its ``link=`` parameter is an external link when it is a URL, and its caption is
        ordinary text (Parser.php ``makeImage`` and ``parseLinkParameter``).
        """
        if link.text is None or not _IMAGE_TITLE.match(str(link.title)):
            return len(str(link))
        skeleton, placed = _skeleton(link)
        shift = 0
        for child, rel, placeholder in placed:
            if child is link.text:
                self.visit_image_params(str(child), start + rel + shift)
            shift += len(str(child)) - placeholder
        return len(skeleton) + shift

    def visit_image_params(self, params: str, start: int) -> None:
        for offset, param in _split_params(params):
            stripped = param.strip()
            at = start + offset + param.index(stripped) if stripped else start
            if stripped.startswith("link="):
                raw_value = stripped[len("link=") :]
                value = raw_value.lstrip()  # MediaWiki trims it ("link= https://...")
                if re.match(r"(?i)(?:https?:)?//", value):
                    value_at = at + len("link=") + len(raw_value) - len(value)
                    span = Span(value_at, value_at + len(value))
                    self.add_url(value, value, span, "image")
            elif not stripped.startswith("alt=") and not _inert(stripped):
                self.walk(mwparserfromhell.parse(param, skip_style_tags=True), start + offset)

    def visit_link(self, link: ExternalLink, start: int) -> int:
        """A ``[url label]`` or bare link; its text is not scanned for handles."""
        skeleton, placed = _skeleton(link)
        positions: dict[int, int] = {}
        shift = 0
        for child, rel, placeholder in placed:
            positions[id(child)] = start + rel + shift
            shift += len(str(child)) - placeholder
        url = str(link.url)
        url_start = positions[id(link.url)]
        # mwparserfromhell keeps a comment that ends the URL in it; MediaWiki removes it.  The
        # span stops before it, so that a fix of the link keeps the comment.
        url = _TRAILING_COMMENTS.sub("", url)
        if not link.brackets and "&" in url:
            # A free link ends where a no-break space or an escaped < or > starts, as MediaWiki
            # reads it (mwparserfromhell keeps "&nbsp;more" in the URL).
            url = _URL_END_ENTITY.split(url, maxsplit=1)[0]
        span = Span(url_start, url_start + len(url))
        label: str | None = None
        label_span: Span | None = None
        if link.brackets and link.title is not None and id(link.title) in positions:
            label = str(link.title)
            label_start = positions[id(link.title)]
            label_span = Span(label_start, label_start + len(label))
        elif not link.brackets:
            label, label_span = self._tvar_label(span)
        if self.template_depth:
            source = "template"
        else:
            source = "link" if link.brackets or label is not None else "bare"
        self.add_url(url, url, span, source, (label, label_span))
        return len(skeleton) + shift

    def _tvar_label(self, span: Span) -> tuple[str | None, Span | None]:
        before = self.text[max(0, span.start - 80) : span.start]
        if not _TVAR_BEFORE.search(before):
            return None, None
        match = _TVAR_AFTER.match(self.text, span.end)
        if not match:
            return None, None
        label = Span(match.start(2), match.end(2))
        self.labels.append(label)  # its text is the link's label, not another account
        return match.group(2), label

    def scan_text(self, value: str, start: int) -> None:
        if self.pending_label is not None:
            self.label_across_tags(value, start)
        if ":" in value:
            ending = _LABEL_AT_END.search(value)
            if ending is not None:
                platform = _PLATFORM_WORDS[ending["label"].lower()]
                self.pending_label = (platform, start + len(value), ending["colon"] != ":")
        for labelled in labelled_handles(value):
            span = Span(start + labelled.start, start + labelled.end)
            self.add(labelled.platform, labelled.handle, span, "context")
        if "@" not in value:
            return
        for match in mastodon.WRITTEN_HANDLE.finditer(value):
            if ascii_host(match.group("host")) is None:
                continue  # not a valid server name (IDNA), so no account MediaWiki could link
            handle = mastodon.canonical(match.group("user"), match.group("host"))
            span = Span(start + match.start(), start + match.end())
            if any(label.start <= span.start < label.end for label in self.labels[-4:]):
                continue
            self.add(mastodon.NAME, handle, span, "text")

    def label_across_tags(self, value: str, start: int) -> None:
        """``X: <span>@name</span>``: a label ended the text before, only inline tags between."""
        assert self.pending_label is not None
        platform, end, spaced = self.pending_label
        self.pending_label = None
        if start < end or not _ONLY_TAGS.fullmatch(self.text, end, start):
            return
        match = _LEADING_TOKEN.match(value)
        if match is None:
            return
        token = match["token"]
        shown = re.sub(r"<[^<>]*>|'", "", self.text[end:start])
        if not token.startswith("@") and not (spaced or shown.strip(" \t") != shown):
            return  # a bare handle needs a space after the colon, as in labelled_handles
        handle = handle_in_context(platform, token)
        if handle is not None:
            span = Span(start + match.start("token"), start + match.end("token"))
            self.add(platform, handle.handle, span, "context")

    # -- recording -------------------------------------------------------------------------

    def add_url(
        self,
        written: str,
        url: str,
        span: Span,
        source: str,
        label: tuple[str | None, Span | None] = (None, None),
    ) -> None:
        """Record the account ``url`` names, if any; ``written`` is the URL as on the page."""
        found = identify_url((_COMMENT.sub("", url) if "<!--" in url else url).strip())
        if found is not None:
            self.add(found.platform, found.handle, span, source, written, label)

    def add(
        self,
        platform: str,
        handle: str,
        span: Span,
        source: str,
        url: str | None = None,
        label: tuple[str | None, Span | None] = (None, None),
    ) -> None:
        """Record one account; ``label`` is the link's label and where it is written."""
        record: dict[str, object] = {
            "platform": platform,
            "handle": handle,
            "url": url,
            "section": None,
            "span": span,
            "line": bisect.bisect_left(self._newlines, span.start) + 1,
            "source": source,
            "label": label[0],
            "label_span": label[1],
            "cells": (),
        }
        self.records.append(record)
        if self.cell is not None:
            table, row, cell = self.cell
            table.pending.append((record, row, cell))

    def finish(self, hidden: list[Span]) -> list[Account]:
        """Freeze the records in page order, each with the nearest heading above it."""
        hidden_starts = [span.start for span in hidden]

        def is_hidden(pos: int) -> bool:
            index = bisect.bisect_right(hidden_starts, pos) - 1
            return index >= 0 and pos < hidden[index].end

        headings = [h for h in _headings(self.text) if not is_hidden(h[0])]
        starts = [pos for pos, _title in headings]
        accounts = []
        self.records.sort(key=lambda record: record["span"])  # type: ignore[arg-type,return-value]
        for record in self.records:
            span = record["span"]
            assert isinstance(span, Span)
            index = bisect.bisect_right(starts, span.start) - 1
            record["section"] = headings[index][1] if index >= 0 else None
            accounts.append(Account(**record))  # type: ignore[arg-type]
        return accounts
