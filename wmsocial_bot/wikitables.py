"""The layout of wikitables, read line by line as MediaWiki's own table pass does.

mwparserfromhell parses wikitables too, but at about 0.1 ms a cell; a 10,000-row page took
2 s before any other work.  MediaWiki itself builds tables in a simple line-based pass
(``Parser::doTableStuff``), so this module does the same and leaves every cell's *content*
to mwparserfromhell.  It reports only structure and offsets: rows, cells, rowspan/colspan and
the exact character ranges of each cell's content, nested tables included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wmsocial_bot.model import Span

_OPEN = re.compile(r"[ \t]*:*[ \t]*\{\|")
_SPAN_ATTR = re.compile(r"""\b(colspan|rowspan)\s*=\s*["']?\s*(\d+)""", re.IGNORECASE)
# An HTML tag is matched whole, so that a separator inside its attributes is no cut: MediaWiki
# sanitises tags (a "|" in an attribute becomes "&#124;") before it lays out tables
# (includes/parser/Parser.php internalParse: internalRemoveHtmlTags, then handleTables).  A bar
# may be written {{!}}, which the preprocessor turns into "|" before tables are laid out.
_BAR = r"(?:\||\{\{!\}\})"
_SEPARATORS = {"||": _BAR + _BAR, "!!": "!!", "|": _BAR}
_TOKENS = {
    sep: re.compile(rf"(?P<sep>{pattern})|<[A-Za-z][^<>]*>|\[\[|\]\]|\{{\{{|\}}\}}")
    for sep, pattern in _SEPARATORS.items()
}
_MAX_SPAN = 1000  # bigger rowspan/colspan values are typos, not layout


@dataclass(eq=False)
class Cell:
    """One table cell: where its content is, and how far it spans."""

    header: bool
    colspan: int = 1
    rowspan: int = 1
    segments: list[Span] = field(default_factory=list)  # content, split around nested tables


@dataclass(eq=False)
class Table:
    """A wikitable from ``{|`` to ``|}`` (or to the end of the text if never closed)."""

    span: Span
    rows: list[list[Cell]] = field(default_factory=list)
    captions: list[Span] = field(default_factory=list)
    other: list[Span] = field(default_factory=list)  # text in the table but outside any cell
    parent: Cell | None = None
    in_row: bool = False

    def new_cell(self, header: bool) -> Cell:
        if not self.in_row:
            self.rows.append([])
            self.in_row = True
        cell = Cell(header)
        self.rows[-1].append(cell)
        return cell


def _split_outside_markup(line: str, separator: str) -> list[tuple[int, int]]:
    """(start, end) of each ``separator`` in ``line`` outside ``[[..]]``, ``{{..}}`` and the
    attributes of an HTML tag (``{{!}}`` counts as a bar)."""
    if "[[" not in line and "{{" not in line and "<" not in line:
        cuts = []
        i = line.find(separator)
        while i >= 0:
            cuts.append((i, i + len(separator)))
            i = line.find(separator, i + len(separator))
        return cuts
    cuts = []
    depth = 0
    for match in _TOKENS[separator].finditer(line):
        token = match.group()
        if match["sep"] is not None:
            if depth == 0:
                cuts.append((match.start(), match.end()))
        elif token in ("[[", "{{"):
            depth += 1
        elif token in ("]]", "}}"):
            depth = max(0, depth - 1)
    return cuts


def _span_values(attrs: str) -> tuple[int, int]:
    colspan = rowspan = 1
    for name, value in _SPAN_ATTR.findall(attrs):
        number = max(1, min(int(value), _MAX_SPAN))
        if name.lower() == "colspan":
            colspan = number
        else:
            rowspan = number
    return colspan, rowspan


def _looks_like_attributes(text: str) -> bool:
    """``| style="x" | content``: the part before the single bar is attributes, not content."""
    return not any(mark in text for mark in ("[", "{{", "<", "//", "@"))


def scan_tables(text: str, hidden: list[Span]) -> list[Table]:
    """Every wikitable in ``text`` (outer tables before the tables nested in them).

    Lines starting inside ``hidden`` ranges (comments, ``<nowiki>``, ``<pre>``) are never
    table markup.
    """
    tables: list[Table] = []
    stack: list[Table] = []
    cell: Cell | None = None  # the cell whose content the current line continues
    hidden_index = 0
    pos = 0
    length = len(text)
    while pos < length:
        end = text.find("\n", pos)
        end = length if end < 0 else end
        while hidden_index < len(hidden) and hidden[hidden_index].end <= pos:
            hidden_index += 1
        is_hidden = hidden_index < len(hidden) and hidden[hidden_index].start <= pos
        line = text[pos:end]
        stripped = line.lstrip(" \t")
        start = pos + len(line) - len(stripped)
        if is_hidden:
            pass
        elif _OPEN.match(line):
            table = Table(Span(pos, length), parent=cell)
            tables.append(table)
            stack.append(table)
            cell = None
            pos = end + 1
            continue
        elif stack and stripped.startswith("|}"):
            table = stack.pop()
            table.span = Span(table.span.start, min(end + 1, length))
            cell = table.parent
            pos = end + 1
            continue
        elif stack and stripped.startswith("|-"):
            stack[-1].rows.append([])
            stack[-1].in_row = True
            cell = None
            pos = end + 1
            continue
        elif stack and stripped.startswith("|+"):
            stack[-1].captions.append(Span(start + 2, end))
            cell = None
            pos = end + 1
            continue
        elif stack and stripped[:1] in ("|", "!"):
            cell = _read_cells(stack[-1], text, start, end, header=stripped[0] == "!")
            pos = end + 1
            continue
        # A continuation line: more content of the current cell, or text outside tables.
        if stack:
            target = cell.segments if cell is not None else stack[-1].other
            _extend(target, Span(pos, end))
        pos = end + 1
    return tables


def _extend(segments: list[Span], span: Span) -> None:
    """Add ``span``, merging it with the previous segment when only a newline lies between."""
    if segments and segments[-1].end + 1 >= span.start:
        segments[-1] = Span(segments[-1].start, span.end)
    else:
        segments.append(span)


def _read_cells(table: Table, text: str, start: int, end: int, *, header: bool) -> Cell:
    """Split one ``|``/``!`` line into cells; return the last, which later lines continue."""
    body_start = start + 1
    line = text[body_start:end]
    cuts = _split_outside_markup(line, "||")
    if header:
        cuts = sorted(cuts + _split_outside_markup(line, "!!"))
    bounds = []
    prev = 0
    for cut_start, cut_end in cuts:
        if cut_start < prev:
            continue  # "!!" inside a "||" already cut
        bounds.append((prev, cut_start))
        prev = cut_end
    bounds.append((prev, len(line)))
    cell = table.new_cell(header)
    for index, (lo, hi) in enumerate(bounds):
        if index:
            cell = table.new_cell(header)
        piece = line[lo:hi]
        bar = _split_outside_markup(piece, "|")
        content_lo = lo
        if bar and _looks_like_attributes(piece[: bar[0][0]]):
            cell.colspan, cell.rowspan = _span_values(piece[: bar[0][0]])
            content_lo = lo + bar[0][1]
        cell.segments.append(Span(body_start + content_lo, body_start + hi))
    return cell
