"""How results are shown: aligned tables (coloured on a terminal), JSON, wiki tables, progress.

Presentation only; nothing here decides anything.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, TextIO

from wmsocial_bot.identify import shown_handle
from wmsocial_bot.model import Status
from wmsocial_bot.notices import inert, link, platform_name

log = logging.getLogger("wmsocial_bot")

# ANSI codes of Status.colour.
_ANSI = {"green": "32", "yellow": "33", "red": "31", "grey": "90"}
_STATUS_VALUES = {status.value: status for status in Status}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def terminal_width(stream: TextIO) -> int | None:
    """The terminal's width in columns, or None when ``stream`` is not a terminal."""
    if not stream.isatty():
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        return None


def table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    colour: bool = False,
    width: int | None = None,
    shrink: str | None = None,
) -> str:
    """A plain, aligned text table; the status column coloured when ``colour``.

    With ``width`` (a terminal's), the ``shrink`` column is cut to what the other columns
    leave of it (at least 30 characters): a wide terminal shows all of it, a narrow one does
    not wrap.  Without ``width`` (a pipe, a file), nothing is cut.
    """
    cells = [["" if row.get(c) is None else str(row[c]) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    if width is not None and shrink is not None and shrink in columns:
        index = list(columns).index(shrink)
        others = sum(w for i, w in enumerate(widths) if i != index) + 2 * (len(columns) - 1)
        room = max(30, width - others - 1)
        if widths[index] > room:
            for row in cells:
                if len(row[index]) > room:
                    row[index] = row[index][: room - 1] + "…"
            widths[index] = room
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in cells:
        shown = []
        for column, value, width_ in zip(columns, row, widths, strict=True):
            padded = value.ljust(width_)
            if colour and column == "status" and value in _STATUS_VALUES:
                code = _ANSI[_STATUS_VALUES[value].colour]
                padded = f"\033[{code}m{value}\033[0m" + " " * (width_ - len(value))
            shown.append(padded)
        lines.append("  ".join(shown).rstrip())
    return "\n".join(lines)


def as_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), ensure_ascii=False, indent=2)


def wikitable(rows: Sequence[dict[str, Any]], *, checked: bool) -> str:
    """A sortable wikitable to paste on a wiki; page-derived text is made inert."""
    header = ["Platform", "Account", "Section", "Owner"]
    if checked:
        header += ["Status", "Last activity", "Verified", "Detail"]
    lines = ['{| class="wikitable sortable"', "! " + " !! ".join(header)]
    for row in rows:
        cells = dict(row.get("cells") or {})
        owner = next((v for k, v in cells.items() if "owner" in k.lower()), None)
        owner = owner or next(iter(cells.values()), "")
        values = [
            platform_name(row["platform"]),
            link(row.get("url"), shown_handle(row["platform"], row["handle"])),
            inert(row.get("section") or ""),
            inert(owner or ""),
        ]
        if checked:
            verified = row.get("verified")
            values += [
                inert(row["status"]),
                row.get("last_activity") or "",
                "" if verified is None else ("yes" if verified else "no"),
                inert(row.get("detail") or ""),
            ]
        lines.append("|-")
        lines += [f"| {value}".rstrip() for value in values]
    lines.append("|}")
    return "\n".join(lines)


class Progress:
    """Progress of a long check: a bar on a terminal, a log line now and then otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, *, every: float = 10.0) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty()
        self.every = every
        self.done = 0
        self._lock = threading.Lock()
        self._last = 0.0
        self._started = time.monotonic()

    def __call__(self) -> None:
        """One more account checked (called from many threads)."""
        with self._lock:
            self.done += 1
            now = time.monotonic()
            final = self.done >= self.total
            if self.bar:
                if final or now - self._last >= 0.1:
                    self._last = now
                    width = 30
                    filled = int(width * self.done / max(self.total, 1))
                    bar = "#" * filled + " " * (width - filled)
                    self.stream.write(f"\r[{bar}] {self.done}/{self.total} accounts")
                    if final:
                        self.stream.write("\n")
                    self.stream.flush()
            elif final or now - self._last >= self.every:
                self._last = now
                log.info(
                    "checked %d of %d accounts (%.0f s)", self.done, self.total, now - self._started
                )
