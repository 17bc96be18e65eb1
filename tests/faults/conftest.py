"""Fixtures of the fault suite (tests/faults; see docs/faults.md).

The wiki tests here run the bot as a subprocess (``python -m wmsocial_bot run``), so this
directory has its own throwaway MediaWiki (``fault_wiki``) and never imports Pywikibot in the
test process: the integration tests' in-process Pywikibot stays pointed at their own wiki.
As there, the wiki tests are skipped with the reason when MediaWiki or PHP is missing, except
under ``CI=true``, where they fail.

``sim``/``basic_sim`` are the simulator fixtures of ``tests/simulator_fixtures.py``.  The
figures (cases, injected faults, false verdicts, duplicates) are printed at the end of the
session.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from faults.support import FIGURES, Figures
from simulator_fixtures import basic_sim, sim  # noqa: F401  (re-exported fixtures)

from wmsocial_bot.devtools.testwiki import ApiSession, LocalWiki, LocalWikiError


@pytest.fixture(scope="session")
def fault_wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWiki]:
    """A throwaway MediaWiki for subprocess runs of the bot (nothing in-process uses it)."""
    wiki = LocalWiki(tmp_path_factory.mktemp("faultwiki"))
    try:
        wiki.start()
    except LocalWikiError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the local MediaWiki did not start (CI=true, so this fails): {exc}")
        pytest.skip(f"the local MediaWiki cannot start: {exc}")
    try:
        yield wiki
    finally:
        wiki.stop()


@pytest.fixture(scope="session")
def human(fault_wiki: LocalWiki) -> ApiSession:
    """The other user (Admin, a sysop), through the raw API."""
    return fault_wiki.human_session()


@pytest.fixture
def writes_on(fault_wiki: LocalWiki, human: ApiSession) -> str:
    title = f"User:{fault_wiki.bot.name}/Run"
    human.edit(title, "yes", "allow the bot to edit")
    return title


@pytest.fixture
def title(request: pytest.FixtureRequest) -> str:
    """A page title unique to the test."""
    name = re.sub(r"[^A-Za-z0-9 -]+", " ", request.node.name).strip()
    return f"Fault test/{name}"[:200]


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = FIGURES.lines()
    if lines:
        terminalreporter.section("fault suite figures")
        for line in lines:
            terminalreporter.write_line(line)
