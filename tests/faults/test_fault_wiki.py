"""Wiki-side faults: conflicts, protection, deletion, moves, archives, maxlag, read-only, login.

The bot runs as a subprocess against the fault suite's MediaWiki.  Where the fault has to
happen at a precise moment, or is one the test wiki cannot produce (maxlag, read-only), the
bot talks to the wiki through :class:`faults.support.WikiProxy`, which holds the bot's edit
request while a human edits the same page (a real edit conflict), or answers it with the API
error Wikimedia's servers send.  Every case ends with a normal run and checks: no duplicate
edit or notice, no lost finding, a consistent state store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faults.support import (
    ApiCall,
    CliRun,
    Figures,
    Stage,
    SuiteConfig,
    WikiProxy,
    api_error,
    pywikibot_dir_via,
    run_cli,
    state_problems,
    state_rows,
    write_config,
)

from wmsocial_bot.notices import MARKER_PREFIX, reported_markers
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki

pytestmark = [pytest.mark.wiki, pytest.mark.simulator, pytest.mark.faults]

PAGE = """== Mastodon ==
* [https://social.example/@alice @alice@social.example]
* [https://social.example/@bob @bob@social.example]
* [https://social.example/@nobody Nobody]
* https://social.example/@carol"""
FIXED = PAGE.replace(
    "[https://social.example/@bob @bob@social.example]",
    "[https://new.example/@bob @bob@new.example]",
)
MARKERS = {
    "deleted:mastodon:nobody@social.example",
    "suspended:mastodon:carol@social.example",
}
HEADING = "== Social media accounts that need attention"


class Scene:
    """A page with its talk and status pages, a config, a state file; bot runs on them."""

    def __init__(
        self, stage: Stage, *, proxy: WikiProxy | None = None, pages: list[str] | None = None
    ) -> None:
        self.wiki, self.human = stage.wiki, stage.human
        self.title, self.tmp = stage.title, stage.tmp
        self.talk, self.status = "Talk:" + self.title, self.title + "/Status"
        self.state = self.tmp / "state.sqlite3"
        self.pwb = (
            pywikibot_dir_via(self.wiki.pywikibot_dir, self.tmp / "pwb", port=proxy.port)
            if proxy is not None
            else self.wiki.pywikibot_dir
        )
        self.config = write_config(
            self.tmp / "config.toml",
            SuiteConfig(
                pages=pages or [self.title],
                state=self.state,
                endpoints=stage.sim.overrides(),
                status_page=self.status,
            ),
        )
        self.human.edit(self.title, PAGE)

    def run(self, *args: str) -> CliRun:
        return run_cli(self.pwb, "run", "--config", str(self.config), *args)

    def text(self, title: str) -> str:
        return (self.human.page(title) or ("", 0))[0]

    def bot_edits(self, title: str) -> int:
        data = self.human.get(
            action="query", prop="revisions", titles=title, rvprop="user", rvlimit="max"
        )
        revisions = data["query"]["pages"][0].get("revisions", [])
        return sum(1 for r in revisions if r["user"] == self.wiki.bot.name)

    def check_final(self, figures: Figures, case: str, *, fixed: bool = True) -> None:
        """After the fault and one clean run: everything done once, nothing lost."""
        problems = list(state_problems(self.state))
        talk = self.text(self.talk)
        markers = reported_markers(talk)
        for marker in MARKERS:
            count = talk.count(f"{MARKER_PREFIX}{marker}")
            if count > 1:
                figures.duplicate(f"{case}: {marker} posted {count} times")
            if count != 1:
                problems.append(f"{marker} is on the talk page {count} times")
        if talk.count(HEADING) > 1:
            figures.duplicate(f"{case}: {talk.count(HEADING)} talk sections")
        if self.bot_edits(self.title) > 1:
            figures.duplicate(f"{case}: {self.bot_edits(self.title)} bot edits of the page")
        if fixed and self.bot_edits(self.title) != 1:
            problems.append(f"{self.bot_edits(self.title)} bot edits of the page, want 1")
        if fixed and "[https://new.example/@bob @bob@new.example]" not in self.text(self.title):
            problems.append("the fix is not on the page")
        notices = {m for (m,) in state_rows(self.state, "SELECT marker FROM notices")}
        if not (notices >= MARKERS and markers >= MARKERS):
            problems.append(f"findings lost: state {sorted(notices)}, talk {sorted(markers)}")
        assert not problems, f"{case}:\n" + "\n".join(problems)


@pytest.fixture
def proxy(fault_wiki: LocalWiki) -> Iterator[WikiProxy]:
    with WikiProxy(fault_wiki.url) as running:
        yield running


@pytest.fixture
def scene(stage: Stage, proxy: WikiProxy) -> Scene:
    return Scene(stage, proxy=proxy)


def human_edits_first(
    human: ApiSession, titles: set[str], *, times: int = 1
) -> Callable[[ApiCall, WikiProxy], None]:
    """A proxy rule: before the bot's edit of one of ``titles`` goes through, a human saves
    the same page (appending a line; creating it if it does not exist)."""
    done: dict[str, int] = {}

    def rule(call: ApiCall, proxy: WikiProxy) -> None:
        title = call.params.get("title", "")
        if call.action != "edit" or title not in titles or done.get(title, 0) >= times:
            return None
        done[title] = done.get(title, 0) + 1
        current = (human.page(title) or ("", 0))[0]
        human.edit(title, current + f"\n\nA human was here ({done[title]}).", "meanwhile")
        return None

    rule.done = done  # type: ignore[attr-defined]
    return rule  # type: ignore[return-value]


# ---- edit conflicts ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["page", "talk", "status", "all"])
def test_an_edit_conflict_at_every_write_point(
    scene: Scene, proxy: WikiProxy, human: ApiSession, figures: Figures, where: str
) -> None:
    titles = {"page": {scene.title}, "talk": {scene.talk}, "status": {scene.status}}.get(
        where, {scene.title, scene.talk, scene.status}
    )
    rule = human_edits_first(human, titles)
    proxy.rules.append(rule)  # type: ignore[arg-type]
    done = scene.run()
    assert done.returncode == 0, done
    assert rule.done == dict.fromkeys(titles, 1), "every write point met a human edit"  # type: ignore[attr-defined]
    figures.fault("edit conflict", len(titles))
    figures.case("wiki: edit conflicts")
    for title in titles - {scene.status}:
        assert "A human was here (1)." in scene.text(title), f"the human's edit of {title} is lost"
    if scene.status in titles:  # the bot's own page, rewritten whole (it says so on the page),
        # but from the human's revision: the conflict was seen, not overwritten blindly
        history = scene.human.get(
            action="query",
            prop="revisions",
            titles=scene.status,
            rvprop="user|ids",
            rvlimit="max",
            rvdir="newer",
        )["query"]["pages"][0]["revisions"]
        assert [r["user"] for r in history] == [scene.human.user, scene.wiki.bot.name]
        assert history[1]["parentid"] == history[0]["revid"]
    assert "new.example/@bob" in scene.text(scene.status), "the status page was written"
    assert scene.run().returncode == 0
    scene.check_final(figures, f"conflict on {where}")


def test_a_page_that_others_keep_editing(
    scene: Scene, proxy: WikiProxy, human: ApiSession, figures: Figures
) -> None:
    """A conflict on every attempt: the fix waits, everything else is done, nothing is lost."""
    rule = human_edits_first(human, {scene.title}, times=10)
    proxy.rules.append(rule)  # type: ignore[arg-type]
    done = scene.run()
    figures.fault("edit conflict", rule.done[scene.title])  # type: ignore[attr-defined]
    figures.case("wiki: edit conflicts")
    assert done.returncode == 0, done
    assert "edit conflict" in done.stdout, done
    assert reported_markers(scene.text(scene.talk)) >= MARKERS, "the notice went out anyway"
    assert "@bob@new.example" not in scene.text(scene.title)
    proxy.rules.clear()
    assert scene.run().returncode == 0
    scene.check_final(figures, "conflict on every attempt")


# ---- protection, deletion, moves ---------------------------------------------------------------


@pytest.mark.parametrize("which", ["page", "talk"])
def test_a_page_that_becomes_protected(
    scene: Scene, human: ApiSession, figures: Figures, which: str
) -> None:
    protected = scene.title if which == "page" else scene.talk
    if which == "talk":
        human.edit(scene.talk, "Talk about the list.")
    human.protect(protected)
    try:
        done = scene.run()
        figures.fault(f"protected {which}")
        figures.case("wiki: protection")
        assert done.returncode == 0, done
        assert "protected" in done.stdout, done
        if which == "page":
            assert scene.text(scene.title) == PAGE
            assert reported_markers(scene.text(scene.talk)) >= MARKERS, "the notice went out"
        else:
            assert "@bob@new.example" in scene.text(scene.title), "the fix was made"
            assert not reported_markers(scene.text(scene.talk))
            assert not state_rows(scene.state, "SELECT marker FROM notices")
    finally:
        human.protect(protected, level="")
    assert scene.run().returncode == 0
    scene.check_final(figures, f"protected {which}")


def test_a_page_deleted_between_runs(
    fault_wiki: LocalWiki,
    human: ApiSession,
    sim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
    figures: Figures,
) -> None:
    other = title + " (still there)"
    human.edit(other, PAGE.replace("@nobody", "@nobody2"))
    scene = Scene(Stage(fault_wiki, human, sim, title, tmp_path), pages=[title, other])
    assert scene.run().returncode == 0
    talk_before = human.revision(scene.talk)[1]
    other_talk = human.page("Talk:" + other)
    human.delete(title)
    done = scene.run()
    figures.fault("page deleted")
    figures.case("wiki: deleted page")
    assert done.returncode == 2, done
    assert f"[[{title}]] does not exist" in done.stderr and "Traceback" not in done.stderr, done
    assert human.revision(scene.talk)[1] == talk_before, "nothing was posted about it"
    assert human.page("Talk:" + other) == other_talk, "the other page was checked, unchanged"
    assert f"[[{other}]]" in done.stdout, "and its summary printed"
    assert not state_problems(scene.state)


def test_a_page_moved_between_runs(scene: Scene, human: ApiSession, figures: Figures) -> None:
    """Moved (with its talk page), and the bot's fix reverted on the way: no repeat, no repost."""
    assert scene.run().returncode == 0
    new = scene.title + " (moved)"
    human.write(action="move", reason="test", movetalk=1, **{"from": scene.title, "to": new})
    human.edit(new, PAGE, "revert the bot")
    done = scene.run()  # the config still names the old title: a redirect now
    figures.fault("page moved, fix reverted")
    figures.case("wiki: moved page")
    assert done.returncode == 0, done
    assert scene.text(new) == PAGE, "the reverted fix was not made again"
    talk = scene.text("Talk:" + new)
    assert "reverted:mastodon:bob@social.example" in reported_markers(talk)
    for marker in MARKERS:
        assert talk.count(f"{MARKER_PREFIX}{marker}") == 1, "no finding posted twice"
    assert not state_problems(scene.state)


@pytest.mark.parametrize("state", ["kept", "lost"])
def test_the_talk_page_archived_between_runs(
    scene: Scene, human: ApiSession, figures: Figures, state: str
) -> None:
    assert scene.run().returncode == 0
    talk = scene.text(scene.talk)
    human.edit(scene.talk + "/Archive 1", talk, "archiving")
    human.edit(scene.talk, "{{Archives}}\nNothing new.", "archived to /Archive 1")
    if state == "lost":
        scene.state.unlink()
    done = scene.run()
    figures.fault(f"talk archived, state {state}")
    figures.case("wiki: archived talk")
    assert done.returncode == 0, done
    if scene.text(scene.talk).count(HEADING):
        figures.duplicate(f"archived talk, state {state}: findings posted again")
    assert scene.text(scene.talk) == "{{Archives}}\nNothing new.", "no re-post of archived findings"


# ---- maxlag, read-only, login ------------------------------------------------------------------


def answer_edits_with(
    code: str, info: str, *, times: int, **extra: Any
) -> Callable[[ApiCall, WikiProxy], tuple[str, dict[str, Any]] | None]:
    left = [times]

    def rule(call: ApiCall, proxy: WikiProxy) -> tuple[str, dict[str, Any]] | None:
        if call.action != "edit" or left[0] <= 0:
            return None
        left[0] -= 1
        return code, api_error(code, info, **extra)

    return rule


MAXLAG = {"info": "Waiting for db1234: 1 seconds lagged.", "lag": 1, "host": "db1234", "type": "db"}


@pytest.mark.parametrize(
    ("code", "times"), [("maxlag", 2), ("readonly", 2), ("maxlag", 99), ("readonly", 99)]
)
def test_maxlag_and_readonly(
    scene: Scene, proxy: WikiProxy, figures: Figures, code: str, times: int
) -> None:
    extra = (
        dict(MAXLAG)
        if code == "maxlag"
        else {
            "info": "The wiki is currently in read-only mode.",
            "readonlyreason": "Database maintenance",
        }
    )
    info = extra.pop("info")
    proxy.rules.append(answer_edits_with(code, info, times=times, **extra))
    started = time.monotonic()
    done = scene.run()
    seconds = time.monotonic() - started
    injected = proxy.count(injected=code)
    figures.fault(code, injected)
    figures.case("wiki: maxlag and read-only")
    assert done.returncode == 0, done
    assert seconds < 60, f"the run took {seconds:.0f} s"
    if times < 99:  # a short spell: Pywikibot waits and retries; everything is done
        assert "@bob@new.example" in scene.text(scene.title)
        assert reported_markers(scene.text(scene.talk)) >= MARKERS
    else:  # it lasts: no write, each with its reason; nothing recorded as done
        assert "no write" in done.stdout, done
        assert scene.text(scene.title) == PAGE and not scene.text(scene.talk)
        assert not state_rows(scene.state, "SELECT marker FROM notices")
    proxy.rules.clear()
    assert scene.run().returncode == 0
    scene.check_final(figures, f"{code} x{times}")


def test_login_failure_is_one_clear_message_and_no_retry_loop(
    fault_wiki: LocalWiki,
    sim: Simulator,
    title: str,
    tmp_path: Path,
    figures: Figures,
    proxy: WikiProxy,
) -> None:
    pwb = pywikibot_dir_via(
        fault_wiki.pywikibot_dir, tmp_path / "pwb", port=proxy.port, password="not-the-password"
    )
    config = write_config(
        tmp_path / "config.toml",
        SuiteConfig(pages=[title], state=tmp_path / "s.sqlite3", endpoints=sim.overrides()),
    )
    started = time.monotonic()
    done = run_cli(pwb, "run", "--config", str(config))
    seconds = time.monotonic() - started
    logins = proxy.count(action="login")
    figures.fault("wrong bot password")
    figures.case("wiki: login failure")
    assert done.returncode == 2, done
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("wmsocial-bot: error: login") and "failed" in last, done
    assert "Traceback" not in done.stderr
    assert logins <= 2, f"{logins} login attempts"
    assert seconds < 30
    assert sim.log == [], "nothing was checked without a login"
