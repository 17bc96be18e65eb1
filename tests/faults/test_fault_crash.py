"""Crashes: a run killed with SIGKILL at any point, then the next run.

Each case runs ``wmsocial-bot run`` as a subprocess against the fault suite's own MediaWiki and
the simulator, and kills it: at a named point (the ``WMSOCIAL_BOT_CRASH_AT`` hook: after the
checks, inside each state transaction just before its COMMIT, between the page edit and its
record, before and after the talk post), or at random moments while the checks are in flight
(seeded; the simulator's request log says when).  Then the bot runs again, and once more.
Compared with an uninterrupted run on its own page:

* the state store is consistent (``support.state_problems``) and opens;
* no duplicate: one fix edit on the page, one talk section, each finding's marker once;
* no lost finding: every finding is on the talk page and in the state store, and every fix is
  recorded, so that a later revert is still recognised;
* the run after that writes nothing to the page or the talk page (the status page may change
  once: the fixed account's row is new), and the status page ends as the control's does.
"""

from __future__ import annotations

import difflib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from faults.support import (
    PLAIN_RUN,
    CliRun,
    Figures,
    RunOptions,
    Stage,
    SuiteConfig,
    run_cli,
    state_problems,
    state_rows,
    write_config,
)

from wmsocial_bot.notices import MARKER_PREFIX, reported_markers
from wmsocial_bot.plan import ACTIVITY_HEADING
from wmsocial_bot.state import SqliteStore
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki

pytestmark = [pytest.mark.wiki, pytest.mark.simulator, pytest.mark.faults]

PAGE = """== Mastodon ==
{| class="wikitable"
! Owner !! Account
|-
| Alice's chapter || [https://social.example/@alice @alice@social.example]
|-
| Bob's group || [https://social.example/@bob @bob@social.example]
|-
| Nobody || [https://social.example/@nobody Nobody]
|-
| Carol || https://social.example/@carol
|}
== Bluesky ==
* [https://bsky.app/profile/dan.bsky.social Dan]
* [https://bsky.app/profile/alice.bsky.social Alice]
* Alice again: https://social.example/@alice"""
HEADING = "Social media accounts that need attention"
POINTS = [
    "checks",
    "state-commit#1",  # opening the store (the schema migration's transaction)
    "state-commit#2",  # the run's results, before anything is written to the wiki
    "state-commit#3",  # the page edit and its fixes
    "state-commit#4",  # the talk notice
    "after-edit",
    "before-notice",
    "after-notice",
]
RANDOM_KILLS = 3
SEED = 8


@dataclass(frozen=True)
class Outcome:
    """What a page, its talk page, its status page and the state store hold after the runs."""

    page: str
    page_edits_by_bot: int
    talk: str
    sections: int
    markers: dict[str, int]  # marker -> how often it is on the talk page
    status: str
    notices: frozenset[str]
    fixes: frozenset[str]
    summaries: tuple[str, ...]  # of the bot's edits of the page: the record the wiki keeps
    problems: tuple[str, ...]


def bot_revisions(human: ApiSession, title: str, bot: str) -> list[dict[str, Any]]:
    data = human.get(
        action="query", prop="revisions", titles=title, rvprop="ids|user|comment", rvlimit="max"
    )
    page = data["query"]["pages"][0]
    return [r for r in page.get("revisions", []) if r["user"] == bot]


def outcome(human: ApiSession, wiki: LocalWiki, title: str, state: Path) -> Outcome:
    edits = bot_revisions(human, title, wiki.bot.name)
    talk = (human.page("Talk:" + title) or ("", 0))[0]
    markers = sorted(reported_markers(talk))
    status = (human.page(title + "/Status") or ("", 0))[0]
    return Outcome(
        page=human.revision(title)[0],
        page_edits_by_bot=len(edits),
        talk=talk,
        sections=talk.count(f"== {HEADING}"),
        markers={m: talk.count(f"{MARKER_PREFIX}{m}") for m in markers},
        status=status.replace(title, "TITLE"),
        notices=frozenset(m for (m,) in state_rows(state, "SELECT marker FROM notices")),
        fixes=frozenset(
            f"{o}>{n}" for o, n in state_rows(state, "SELECT old_key, new_key FROM fixes")
        ),
        summaries=tuple(str(r.get("comment", "")) for r in edits),
        problems=tuple(state_problems(state)),
    )


def revisions_now(human: ApiSession, title: str) -> tuple[int, ...]:
    return tuple((human.page(t) or ("", 0))[1] for t in (title, "Talk:" + title))


class Scene:
    """One page, its config and state file; runs of the bot on them."""

    def __init__(self, stage: Stage) -> None:
        self.wiki, self.human, self.title = stage.wiki, stage.human, stage.title
        self.state = stage.tmp / "state.sqlite3"
        self.config = write_config(
            stage.tmp / "config.toml",
            SuiteConfig(
                pages=[self.title],
                state=self.state,
                endpoints=stage.sim.overrides(),
                status_page=self.title + "/Status",
            ),
        )
        self.human.edit(self.title, PAGE)

    def run(self, options: RunOptions = PLAIN_RUN) -> CliRun:
        return run_cli(
            self.wiki.pywikibot_dir, "run", "--config", str(self.config), options=options
        )

    def outcome(self) -> Outcome:
        return outcome(self.human, self.wiki, self.title, self.state)


@pytest.fixture(scope="module")
def control(
    fault_wiki: LocalWiki, human: ApiSession, basic_sim: Simulator, tmp_path_factory: Any
) -> Outcome:
    """An uninterrupted run: what every crashed-and-resumed run must end with."""
    human.edit(f"User:{fault_wiki.bot.name}/Run", "yes")
    basic_sim.load(basic_sim.scenario_data)
    directory = tmp_path_factory.mktemp("c")
    scene = Scene(Stage(fault_wiki, human, basic_sim, "Fault test/crash control", directory))
    for _ in range(2):  # as many runs as a resumed case makes after its kill
        done = scene.run()
        assert done.returncode == 0, done
    result = scene.outcome()
    assert result.page_edits_by_bot == 1 and result.sections == 1
    assert "deleted:mastodon:nobody@social.example" in result.markers
    assert result.fixes == {"mastodon:bob@social.example>mastodon:bob@new.example"}
    assert "bob@new.example" in result.status and "| moved" not in result.status
    assert not result.problems
    return result


def verdicts_part(status: str) -> str:
    """The status page without its activity section (figures that count the recorded runs)."""
    head, found, tail = status.partition(f"== {ACTIVITY_HEADING} ==")
    if not found:
        return status
    rest = tail.split("\n== ", 1)
    return head + ("\n== " + rest[1] if len(rest) > 1 else "")


def check_against(figures: Figures, got: Outcome, want: Outcome, case: str) -> list[str]:
    """What differs from the uninterrupted run ``want`` (duplicates also go to ``figures``)."""
    count_duplicates(figures, got, want, case)
    return [
        *(f"state: {p}" for p in got.problems),
        *writes_problems(got, want),
        *fix_record_problems(got, want),
        *status_problems(got, want),
    ]


def count_duplicates(figures: Figures, got: Outcome, want: Outcome, case: str) -> None:
    """Every write done more than once, for the suite's figures."""
    if got.page_edits_by_bot > want.page_edits_by_bot:
        figures.duplicate(f"{case}: {got.page_edits_by_bot} bot edits of the page")
    if got.sections > 1:
        figures.duplicate(f"{case}: {got.sections} talk sections")
    for marker, count in got.markers.items():
        if count > 1:
            figures.duplicate(f"{case}: {marker} on the talk page {count} times")


def writes_problems(got: Outcome, want: Outcome) -> list[str]:
    """The page, the talk page and the state's notices against the uninterrupted run's."""
    problems = []
    if got.page != want.page:
        problems.append("the page differs from an uninterrupted run's")
    if got.page_edits_by_bot != want.page_edits_by_bot or got.sections != 1:
        problems.append(f"{got.page_edits_by_bot} page edits, {got.sections} talk sections")
    if set(got.markers) != set(want.markers) or any(n != 1 for n in got.markers.values()):
        problems.append(f"talk markers {got.markers}, want each of {sorted(want.markers)} once")
    if got.notices != want.notices:
        problems.append(f"state notices lack {sorted(want.notices - got.notices)}")
    return problems


def fix_record_problems(got: Outcome, want: Outcome) -> list[str]:
    """Every fix is on record, in the state store or else in the summary of the bot's edit,
    where the next run that needs it (a human reverted the fix) reads it."""
    problems = []
    for fix in want.fixes - got.fixes:
        old, new = (key.split(":", 1)[1] for key in fix.split(">"))
        if not any(f"@{old} -> @{new} (moved)" in summary for summary in got.summaries):
            problems.append(f"the fix {fix} is on record nowhere")
    if not got.fixes <= want.fixes:
        problems.append(f"state fixes {sorted(got.fixes)}, want {sorted(want.fixes)}")
    return problems


def status_problems(got: Outcome, want: Outcome) -> list[str]:
    """The status page's verdicts against the uninterrupted run's.

    The activity figures count the runs that recorded them, and a killed run records none (by
    design), so only the verdicts part of the status page must match.
    """
    got_status, want_status = (verdicts_part(o.status) for o in (got, want))
    if got_status == want_status:
        return []
    diff = difflib.unified_diff(want_status.splitlines(), got_status.splitlines(), lineterm="")
    return ["the status page differs from an uninterrupted run's:\n" + "\n".join(diff)]


def resume_and_check(scene: Scene, figures: Figures, control: Outcome, case: str) -> None:
    problems = [f"after the kill: {p}" for p in state_problems(scene.state)]
    if scene.state.exists():
        SqliteStore(scene.state).close()  # it opens (and a hot journal is rolled back)
    again = scene.run()
    assert again.returncode == 0, again
    before = revisions_now(scene.human, scene.title)
    third = scene.run()
    assert third.returncode == 0, third
    if revisions_now(scene.human, scene.title) != before:
        figures.duplicate(f"{case}: the run after the recovery wrote again")
        problems.append("the run after the recovery wrote again")
    if Path(f"{scene.state}-journal").exists():
        problems.append("a rollback journal is left after two clean runs")
    problems += check_against(figures, scene.outcome(), control, case)
    assert not problems, f"{case}:\n" + "\n".join(problems)


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_a_named_point(
    fault_wiki: LocalWiki,
    human: ApiSession,
    sim: Simulator,
    writes_on: str,
    control: Outcome,
    title: str,
    tmp_path: Path,
    figures: Figures,
    point: str,
) -> None:
    scene = Scene(Stage(fault_wiki, human, sim, title, tmp_path))
    first = scene.run(RunOptions(crash_at=point))
    assert first.killed, f"the run was not killed at {point}: {first}"
    figures.fault(f"SIGKILL at {point.split('#')[0]}")
    figures.case("crash: killed and resumed")
    resume_and_check(scene, figures, control, point)


@pytest.mark.parametrize("nth", range(RANDOM_KILLS))
def test_killed_at_a_random_moment_during_the_checks(
    fault_wiki: LocalWiki,
    human: ApiSession,
    sim: Simulator,
    writes_on: str,
    control: Outcome,
    title: str,
    tmp_path: Path,
    figures: Figures,
    nth: int,
) -> None:
    sim.update_host("social.example", latency_ms=60)
    sim.update_host("public.api.bsky.app", latency_ms=60)
    scene = Scene(Stage(fault_wiki, human, sim, title, tmp_path))
    after = random.Random(SEED * 100 + nth).randint(1, 7)  # requests the simulator has seen
    first = scene.run(RunOptions(kill_when=lambda: len(sim.log) >= after))
    assert first.killed, first
    figures.fault("SIGKILL during the checks")
    figures.case("crash: killed and resumed")
    sim.update_host("social.example", latency_ms=None)
    sim.update_host("public.api.bsky.app", latency_ms=None)
    resume_and_check(scene, figures, control, f"during the checks, after {after} requests")


@pytest.mark.parametrize("loss", ["killed after the edit", "state file lost"])
def test_a_reverted_fix_is_never_repeated_even_when_the_state_forgot_it(
    fault_wiki: LocalWiki,
    human: ApiSession,
    sim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
    figures: Figures,
    loss: str,
) -> None:
    """The fix record is lost; a human reverts the fix; the bot must report, not redo it."""
    scene = Scene(Stage(fault_wiki, human, sim, title, tmp_path))
    if loss == "killed after the edit":
        assert scene.run(RunOptions(crash_at="after-edit")).killed
    else:
        assert scene.run().returncode == 0
        scene.state.unlink()
    figures.fault(loss)
    figures.case("crash: revert after a lost record")
    human.edit(title, PAGE, "revert the bot")
    done = scene.run()
    assert done.returncode == 0, done
    edits = bot_revisions(human, title, fault_wiki.bot.name)
    if len(edits) > 1:
        figures.duplicate(f"{loss}: the reverted fix was made again")
    assert len(edits) == 1, "the bot made its reverted fix again"
    assert human.revision(title)[0] == PAGE
    talk = human.revision("Talk:" + title)[0]
    assert "reverted:mastodon:bob@social.example" in reported_markers(talk)
    assert "mastodon:bob@social.example>mastodon:bob@new.example" in scene.outcome().fixes
