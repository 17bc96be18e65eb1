"""The line-based table layout agrees with how MediaWiki draws the table."""

from __future__ import annotations

from wmsocial_bot.extract import extract_accounts, hidden_ranges
from wmsocial_bot.wikitables import scan_tables


def _cells(text: str) -> list[list[str]]:
    (table, *_rest) = scan_tables(text, hidden_ranges(text))
    return [
        ["".join(text[s.start : s.end] for s in cell.segments).strip() for cell in row]
        for row in table.rows
    ]


def test_bars_inside_links_and_templates_do_not_split_cells() -> None:
    text = '{|\n|-\n| [[a|b]] || {{URL|x.com/a}} || style="x" | c\n|}\n'
    assert _cells(text) == [["[[a|b]]", "{{URL|x.com/a}}", "c"]]


def test_one_cell_per_line_and_multiline_cells() -> None:
    text = "{|\n! A\n! B\n|-\n| one\n| two\nmore of two\n|}\n"
    assert _cells(text) == [["A", "B"], ["one", "two\nmore of two"]]


def test_nested_table_belongs_to_its_cell() -> None:
    text = "{|\n|-\n| outer\n|\n{|\n|-\n| inner\n|}\n| after\n|}\n"
    outer, inner = scan_tables(text, [])
    assert inner.parent is outer.rows[0][1]
    assert [len(row) for row in outer.rows] == [3]


def test_table_markup_in_comments_is_ignored() -> None:
    text = "<!--\n{|\n| https://x.com/hidden\n|}\n-->\n* https://x.com/shown\n"
    assert scan_tables(text, hidden_ranges(text)) == []
    assert [a.handle for a in extract_accounts(text).accounts] == ["shown"]


def test_header_and_data_cells_with_attributes() -> None:
    text = '{|\n! scope="col" | Owner !! Account\n|-\n| colspan=2 rowspan="3" | x\n|}\n'
    (table,) = scan_tables(text, [])
    assert [(c.header, c.colspan, c.rowspan) for c in table.rows[1]] == [(False, 2, 3)]
    assert _cells(text)[0] == ["Owner", "Account"]


def test_bars_inside_html_attributes_do_not_split_cells() -> None:
    # MediaWiki sanitises tags ("|" in an attribute becomes &#124;) before laying out tables.
    text = '{|\n|-\n| <span title="a||b">x</span> || <span style="c|d">y</span>\n|}\n'
    assert _cells(text) == [['<span title="a||b">x</span>', '<span style="c|d">y</span>']]


def test_the_bar_magic_word_is_a_bar() -> None:
    # {{!}} becomes "|" in the preprocessor, before tables are laid out.
    text = '{|\n|-\n| style="x" {{!}} a {{!}}{{!}} b || {{small|c{{!}}d}}\n|}\n'
    assert _cells(text) == [["a", "b", "{{small|c{{!}}d}}"]]
