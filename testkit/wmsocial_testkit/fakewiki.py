"""An in-memory wiki for the unit tests of ``run``.

:class:`FakeWiki` implements :class:`wmsocial_bot.runner.WikiPort` as the real adapter
(:class:`wmsocial_bot.wiki.Wiki`) behaves on the local MediaWiki: pages with revisions and
authors, the run page (only ``yes`` allows writes), ``{{nobots}}`` and protected pages (refused
writes), edit conflicts (``save`` reads the latest text and applies the change again),
``section=new``, the bot's own edit summaries and the texts around a revision.  Every write is
logged, so a test can say that nothing was written.  The state store needs no fake:
``SqliteStore(":memory:")`` is the real store, in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wmsocial_bot.errors import WikiError, WritesDisabled
from wmsocial_bot.wiki import PageRevision, SaveOutcome

BOT = "Socialbot"


@dataclass(frozen=True)
class Revision:
    revid: int
    title: str
    text: str
    user: str
    summary: str
    timestamp: str


@dataclass
class FakeWiki:
    """Pages in memory; the bot is ``BOT`` and writes only while ``User:BOT/Run`` says yes."""

    username: str | None = BOT
    simulate: bool = False
    pages: dict[str, list[Revision]] = field(default_factory=dict)
    writes: list[tuple[str, str]] = field(default_factory=list)  # (kind, title) of bot writes
    reads: list[str] = field(default_factory=list)
    # Called with a title right after ``save`` read it and before it saves: a human may edit.
    before_save: Callable[[str], None] | None = None
    protected: set[str] = field(default_factory=set)  # titles the bot may not edit
    _next_revid: int = 1

    # ---- the test's side ------------------------------------------------------------

    def edit(self, title: str, text: str, *, user: str = "Human", summary: str = "") -> int:
        """A revision by anyone (a human by default); returns its id."""
        revid = self._next_revid
        self._next_revid += 1
        stamp = f"2026-11-{min(revid, 28):02d}T00:00:00Z"
        self.pages.setdefault(title, []).append(Revision(revid, title, text, user, summary, stamp))
        return revid

    def text(self, title: str) -> str:
        return self.pages[title][-1].text if title in self.pages else ""

    def bot_edits(self, title: str) -> list[Revision]:
        return [r for r in self.pages.get(title, []) if r.user == self.username]

    def allow_writes(self) -> None:
        self.edit(f"User:{BOT}/Run", "yes")

    # ---- WikiPort ---------------------------------------------------------------------

    def read(self, title: str, *, models: tuple[str, ...] = ("wikitext",)) -> PageRevision:
        revision = self.read_if_exists(title, models=models)
        if revision is None:
            raise WikiError(f"[[{title}]] does not exist")
        return revision

    def read_if_exists(
        self, title: str, *, models: tuple[str, ...] = ("wikitext",)
    ) -> PageRevision | None:
        self.reads.append(title)
        if title not in self.pages:
            return None
        last = self.pages[title][-1]
        return PageRevision(title, last.text, last.revid, last.timestamp)

    def writes_allowed(self) -> tuple[bool, str]:
        title = f"User:{BOT}/Run"
        if self.text(title).strip() != "yes":
            return False, f"the run page [[{title}]] does not say yes"
        return True, ""

    def talk_title(self, title: str) -> str:
        return "Talk:" + title

    def save(
        self,
        title: str,
        change: Callable[[str], str | None],
        summary: str | Callable[[], str],
        *,
        minor: bool = True,
        create: bool = False,
    ) -> SaveOutcome:
        if title not in self.pages and not create:
            raise WikiError(f"[[{title}]] does not exist")
        self._refuse_protected(title)
        for attempt in range(1, 4):
            base = self.pages[title][-1].revid if title in self.pages else None
            current = self.text(title)
            if "{{nobots}}" in current:
                raise WritesDisabled(f"[[{title}]] has {{{{nobots}}}}")
            new = change(current)
            if self.before_save is not None:
                self.before_save(title)
            latest = self.pages[title][-1].revid if title in self.pages else None
            if latest != base:
                continue  # an edit conflict: read again, apply the change again
            if new is None or new == current:
                return SaveOutcome(title, None, attempt, False, False, attempt - 1, base)
            text = summary() if callable(summary) else summary
            revid = self.edit(title, new, user=str(self.username), summary=text)
            self.writes.append(("edit", title))
            return SaveOutcome(title, revid, attempt, True, False, attempt - 1, base)
        raise WikiError(f"[[{title}]]: edit conflict, 3 attempts")

    def add_section(self, title: str, heading: str, text: str, summary: str) -> SaveOutcome:
        self._refuse_protected(title)
        current = self.text(title)
        new = (current + "\n\n" if current else "") + f"== {heading} ==\n{text}"
        revid = self.edit(title, new, user=str(self.username), summary=summary)
        self.writes.append(("section", title))
        return SaveOutcome(title, revid, 1, True, False, 0)

    def _refuse_protected(self, title: str) -> None:
        if title in self.protected:
            raise WikiError(f"cannot save [[{title}]]: protectedpage: This page has been protected")

    def own_edits(self, title: str) -> list[tuple[int, str, str]]:
        return [(r.revid, r.timestamp, r.summary) for r in reversed(self.bot_edits(title))]

    def subpages(self, title: str) -> list[str]:
        return sorted(t for t in self.pages if t.startswith(title + "/"))

    def edit_texts(self, revid: int) -> tuple[str, str]:
        for revisions in self.pages.values():
            for n, revision in enumerate(revisions):
                if revision.revid == revid:
                    return (revisions[n - 1].text if n else ""), revision.text
        raise WikiError(f"cannot read revision {revid}")
