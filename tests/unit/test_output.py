"""Output formats: colour only on a terminal, JSON, a safe wikitable, progress."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import mwparserfromhell
import pytest

from wmsocial_bot import output
from wmsocial_bot.cli import main

FIXTURE = Path(__file__).parent.parent / "fixtures" / "extract" / "meta_social_media.wiki"
ROWS = [
    {
        "platform": "mastodon",
        "handle": "a@b.example",
        "url": "https://b.example/@a",
        "section": "[[Category:X]]",
        "cells": {"Owner": "{{evil}} ~~~~"},
        "status": "deleted",
        "last_activity": None,
        "verified": True,
        "detail": "gone | really",
    },
]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert output.use_colour(Tty()) and not output.use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not output.use_colour(Tty())
    coloured = output.table(ROWS, ("handle", "status"), colour=True)
    assert "\033[31mdeleted\033[0m" in coloured
    assert "\033[" not in output.table(ROWS, ("handle", "status"))


def test_wikitable_keeps_page_text_inert() -> None:
    text = output.wikitable(ROWS, checked=True)
    code = mwparserfromhell.parse(text)
    assert not code.filter_templates() and not code.filter_wikilinks()
    assert "~~~~" not in text
    assert [str(link.url) for link in code.filter_external_links()] == ["https://b.example/@a"]
    assert text.startswith('{| class="wikitable sortable"') and text.endswith("|}")


def test_list_formats_agree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--wikitext", str(FIXTURE), "--format", "json", "-q"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert main(["list", "--wikitext", str(FIXTURE), "--format", "wikitext", "-q"]) == 0
    wikitext = capsys.readouterr().out
    assert wikitext.count("\n|-\n") == len(rows)


def test_progress_logs_lines_when_not_on_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    progress = output.Progress(3, io.StringIO(), every=0.0)
    with caplog.at_level(logging.INFO, logger="wmsocial_bot"):
        for _ in range(3):
            progress()
    assert "checked 3 of 3 accounts" in caplog.text


def test_progress_draws_a_bar_on_a_terminal() -> None:
    stream = Tty()
    progress = output.Progress(2, stream)
    progress()
    progress()
    assert stream.getvalue().endswith("] 2/2 accounts\n")


def test_check_table_shows_the_whole_evidence_on_a_wide_terminal() -> None:
    """Issue 18: the evidence was cut at 70 characters whatever the terminal's width."""
    evidence = "no such account: the server says 404, and WebFinger answers 404 " * 3
    rows = [{"handle": "a@b.example", "status": "deleted", "detail": evidence.strip()}]
    columns = ("handle", "status", "detail")
    wide = output.table(rows, columns, width=250, shrink="detail")
    assert evidence.strip() in wide
    narrow = output.table(rows, columns, width=100, shrink="detail")
    assert max(len(line) for line in narrow.splitlines()) <= 100
    assert narrow.splitlines()[1].endswith("…")
    assert evidence.strip() in output.table(rows, columns), "a pipe gets everything"


def test_terminal_width_is_read_from_the_terminal() -> None:
    import fcntl
    import os
    import struct
    import termios

    leader, follower = os.openpty()
    try:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 230, 0, 0))
        with os.fdopen(follower, "w", closefd=False) as stream:
            assert output.terminal_width(stream) == 230
        assert output.terminal_width(io.StringIO()) is None
    finally:
        os.close(leader)
        os.close(follower)
