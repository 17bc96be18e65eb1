"""MediaWiki as the oracle: the extractor finds exactly the accounts MediaWiki shows.

Every fixture page (and pages hypothesis builds from realistic pieces) is parsed by the real
local MediaWiki 1.39 (``action=parse``, ``prop=externallinks|text``).  What MediaWiki shows is
read from its HTML: the target of every external link, and the handles written as text in the
text it displays outside links.  The extractor must find the same accounts, one for one (each
occurrence counts, so a hidden duplicate is a difference too).  The few places where the two
must differ on purpose are documented rules (docs/extraction.md), applied below by name.

The templates the fixtures use are installed as simple wikitext versions of Meta's (see
TEMPLATES), and Translate's rendering of a translatable source page is emulated, because the
test wiki does not have the Translate extension (see :func:`as_translate_renders`).
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wmsocial_bot.extract import (
    CELL_TOKEN,
    extract_accounts,
    handle_in_context,
    labelled_handles,
    platform_named,
)
from wmsocial_bot.identify import identify_url, mastodon
from wmsocial_testkit.testwiki import ApiSession

pytestmark = pytest.mark.wiki

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "extract").glob("*.wiki"))

# Simple wikitext versions of the Meta templates the fixture pages use: they render the same
# links and text as Meta's (Meta's own use Lua modules and TemplateStyles, which the test wiki
# does not have).
TEMPLATES = {
    # Meta: {{URL|example.org}} and {{URL|https://example.org|label}} -> one external link;
    # a URL without a scheme gets https://.
    "URL": (
        '<span class="url">[{{#ifeq:{{padleft:|4|{{{1}}}}}|http|{{{1}}}|'
        "{{#ifeq:{{padleft:|2|{{{1}}}}}|//|{{{1}}}|https://{{{1}}}}}}} {{{2|{{{1}}}}}}]</span>"
    ),
    "Plainlink": (
        '<span class="plainlinks">[{{{url|{{{1}}}}}} {{{name|{{{2|{{{url|{{{1}}}}}}}}}}}}]</span>'
    ),
    "Small": '<span style="font-size:85%">{{{1}}}</span>',
    "Flag": "[[File:Flag of {{{1}}}.svg|20px|border|link=]] {{{1}}}",
    "Official website": '<span class="official-website">[{{{1}}} Official website]</span>',
    "User group": "'''{{{name|}}}''' [[File:{{{logo|Wikimedia-logo.svg}}}|40px]]",
    "Wikimedia social media": (
        '<div class="navbox">[[Social media]] · [[Social media/Policy]]</div>'
    ),
}

_TVAR = re.compile(r'<tvar(?:\s+name\s*=\s*"?[^">]*"?\s*|\|[^>]*)>(.*?)(?:</tvar>|</>)', re.S)
_TRANSLATE = re.compile(r"</?translate(?:\s[^>]*)?>|<languages\s*/>")


def as_translate_renders(text: str) -> str:
    """The source of a translatable page as Translate hands it to the parser.

    Translate (not on the test wiki) removes ``<translate>``, ``</translate>`` and
    ``<languages/>`` and replaces each ``<tvar>`` by its content before the page is parsed
    (MediaWiki-extensions-Translate, src/PageTranslation/TranslatablePageParser.php).
    """
    return _TRANSLATE.sub("", _TVAR.sub(r"\1", text))


@dataclass(eq=False)
class _HtmlCell:
    header: bool
    colspan: int
    rowspan: int
    parts: list[str] = field(default_factory=list)
    link: bool = False
    col: int = 0

    @property
    def shown(self) -> str:
        return " ".join("".join(self.parts).split())


class _Shown(HTMLParser):
    """External link targets, the text shown outside links, and table cells, of MediaWiki's
    HTML: what a reader of the rendered page sees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.depth = 0  # inside <a>
        self.tables: list[list[list[_HtmlCell]]] = []  # open tables: rows of cells
        self.cells: list[_HtmlCell | None] = []  # the open cell of each open table
        self.handles: list[tuple[str, str]] = []  # (platform, handle) from table columns

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a":
            self.depth += 1
            href = attributes.get("href") or ""
            if re.match(r"(?i)(https?:)?//", href):
                self.hrefs.append(href)
            if self.cells and self.cells[-1] is not None:
                self.cells[-1].link = True
        elif tag == "table":
            self.tables.append([])
            self.cells.append(None)
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            if not self.tables[-1]:
                self.tables[-1].append([])
            cell = _HtmlCell(
                tag == "th",
                int(attributes.get("colspan") or 1),
                int(attributes.get("rowspan") or 1),
            )
            self.tables[-1][-1].append(cell)
            self.cells[-1] = cell
        if tag in ("p", "div", "li", "dd", "dt", "td", "th", "tr", "br", "h2", "h3", "h4"):
            self.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.depth = max(0, self.depth - 1)
        elif tag in ("td", "th"):
            self.text.append("\n")
            if self.cells:
                self.cells[-1] = None
        elif tag == "table" and self.tables:
            self._read_table(self.tables.pop())
            self.cells.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data if self.depth == 0 else " [link] ")  # a link is not a handle
        if self.cells and self.cells[-1] is not None and self.depth == 0:
            self.cells[-1].parts.append(data)

    def _read_table(self, rows: list[list[_HtmlCell]]) -> None:
        """Handles written alone in a cell whose column (or row) names their platform."""
        grid = _place_cells(rows)
        headers = _column_headers(rows)
        for r, row in enumerate(rows):
            for cell in row:
                token = CELL_TOKEN.fullmatch(cell.shown)
                if cell.header or cell.link or token is None:
                    continue
                platform = platform_named(headers.get(cell.col, ""))
                if platform is None:
                    platform = _row_platform(grid, r, cell)
                handle = handle_in_context(platform, token["token"]) if platform else None
                if handle is not None:
                    self.handles.append((handle.platform, handle.handle))


Grid = dict[tuple[int, int], _HtmlCell]


def _place_cells(rows: list[list[_HtmlCell]]) -> Grid:
    """Every (row, column) a cell covers, its spans counted; sets each cell's first column."""
    grid: Grid = {}
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in grid:
                c += 1
            cell.col = c
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    grid[(r + dr, c + dc)] = cell
            c += cell.colspan
    return grid


def _column_headers(rows: list[list[_HtmlCell]]) -> dict[int, str]:
    """The text of each column's header, when the first row is all header cells."""
    headers: dict[int, str] = {}
    if rows and rows[0] and all(cell.header for cell in rows[0]):
        for cell in rows[0]:
            for dc in range(cell.colspan):
                headers[cell.col + dc] = cell.shown
    return headers


def _row_platform(grid: Grid, r: int, cell: _HtmlCell) -> str | None:
    """The one platform another short cell of the row names, if exactly one does."""
    named = {
        platform_named(other.shown)
        for (row_index, _), other in grid.items()
        if row_index == r and other is not cell and len(other.shown) <= 30
    } - {None}
    return named.pop() if len(named) == 1 else None


def mediawiki_accounts(wiki: ApiSession, text: str) -> Counter[tuple[str, str]]:
    """The accounts MediaWiki shows for ``text``: its external links and shown text handles."""
    parsed = wiki.post(
        action="parse",
        title="Wmsocial oracle",
        text=as_translate_renders(text),
        contentmodel="wikitext",
        prop="externallinks|text",
        disablelimitreport=1,
    )["parse"]
    shown = _Shown()
    shown.feed(parsed["text"])
    found: Counter[tuple[str, str]] = Counter()
    for href in shown.hrefs:
        account = identify_url(html.unescape(href))
        if account is not None:
            found[(account.platform, account.handle)] += 1
    # The page's external links (a set) hold every link the HTML has, and also an image's
    # link= target, which the HTML shows only when the file exists (the test wiki has none).
    for url in parsed["externallinks"]:
        account = identify_url(url)
        if account is not None and (account.platform, account.handle) not in found:
            found[(account.platform, account.handle)] += 1
    visible = "".join(shown.text)
    for match in mastodon.WRITTEN_HANDLE.finditer(visible):
        found[(mastodon.NAME, mastodon.canonical(match["user"], match["host"]))] += 1
    for labelled in labelled_handles(visible):
        found[(labelled.platform, labelled.handle)] += 1
    found.update(shown.handles)
    return found


def extractor_accounts(text: str) -> Counter[tuple[str, str]]:
    return Counter((a.platform, a.handle) for a in extract_accounts(text).accounts)


@pytest.fixture(scope="module")
def oracle(human: ApiSession) -> ApiSession:
    """The test wiki with the templates the fixture pages use."""
    for name, body in TEMPLATES.items():
        human.edit(f"Template:{name}", body, "template for the extraction oracle")
    return human


def _difference(wiki: ApiSession, text: str) -> dict[str, object]:
    shown = mediawiki_accounts(wiki, text)
    found = extractor_accounts(text)
    return {
        "shown by MediaWiki, missed by the extractor": sorted((shown - found).elements()),
        "found by the extractor, not shown by MediaWiki": sorted((found - shown).elements()),
    }


@pytest.mark.parametrize("page", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_extractor_finds_what_mediawiki_shows(oracle: ApiSession, page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    difference = _difference(oracle, text)
    assert not any(difference.values()), json.dumps(difference, indent=1, ensure_ascii=False)


# Realistic pieces of Meta pages, including the hard cases; {n} makes each account distinct.
PIECES = [
    "* [https://wikis.world/@user{n} Mastodon]",
    "* '''X:''' @user{n}",
    "* X: <span>@span{n}</span> · Bluesky: <b>b{n}.bsky.social</b>",
    "* Bluesky:<b>t{n}.bsky.social</b> (no space: not a label)",
    "* Bluesky: user{n}.bsky.social",
    "* Bluesky : french{n}.bsky.social",
    "<table>\n<tr><th>Group</th><th>Bluesky</th></tr>\n<tr><td>G{n}</td><td>h{n}.bsky.social</td></tr>\n</table>",
    "{{|\n{{|\n|}}\n[https://x.com/nested{n} X]\n|}}",
    "* Twitter: @l{n}, @m{n} and @n{n} · @o{n}",
    "* Fediverse: @a{n}@social.example",
    "[[File:Logo.svg|20px|link=https://x.com/img{n}|X]]",
    "[https://x.com/com<!-- c -->{n} X]",
    "Thanks to @everyone and @jan{n} for the help; mail info{n}@example.org.",
    "<!-- https://x.com/hidden{n} -->",
    "<includeonly>https://x.com/inc{n}</includeonly>",
    "<nowiki>https://x.com/nw{n}</nowiki>",
    '{{| class="wikitable"\n! Chapter !! Bluesky !! X\n|-\n'
    "| Chapter {n} || u{n}.bsky.social || @user{n}\n|}}",
    '{{| class="wikitable"\n! Platform !! Account\n|-\n'
    "| Instagram || @insta{n}\n|-\n| Notes || @note{n}\n|}}",
    "The feed is at://u{n}.bsky.social and a post at://u{n}.bsky.social/app.bsky.feed.post/3k.",
    "* {{{{URL|wikis.world/@t{n}}}}} and {{{{URL|www.facebook.com/page{n}}}}}",
    "[[Social media|https://x.com/label{n}]]",
    "== Section {n} ==",
    "<div>https://t.me/channel{n}",
    "* <span>[https://de.linkedin.com/company/org{n} LinkedIn]",
    "* [https://bücher.social/@leser{n} Mastodon] and @leser{n}@xn--bcher-kva.social",
    "<!-- unclosed: https://x.com/after{n}",
]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(range(len(PIECES))), min_size=1, max_size=10))
def test_generated_pages_agree_with_mediawiki(oracle: ApiSession, picks: list[int]) -> None:
    text = "\n".join(PIECES[p].format(n=i) for i, p in enumerate(picks)) + "\n"
    difference = _difference(oracle, text)
    assert not any(difference.values()), json.dumps(difference, indent=1, ensure_ascii=False)
