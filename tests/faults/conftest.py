"""Fixtures of the fault suite (tests/faults; see docs/faults.md).

The wiki tests here run the bot as a subprocess (``python -m wmsocial_bot run``) on the test
kit's ``fault_wiki``, a throwaway MediaWiki of their own, and never import Pywikibot in the test
process: the integration tests' in-process Pywikibot stays pointed at their own wiki.  So this
directory binds the test kit's ``suite_wiki`` (what ``human``, ``writes_on`` and ``title`` work
on) to ``fault_wiki``, and ``stage`` hands a test those fixtures as one record
(``support.Stage``).  Every other fixture is the test kit's (wmsocial_testkit.fixtures).  The
figures (cases, injected faults, false verdicts, duplicates) are printed at the end of the
session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults.support import FIGURES, Figures, Stage

from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki


@pytest.fixture(scope="session")
def suite_wiki(fault_wiki: LocalWiki) -> LocalWiki:
    return fault_wiki


@pytest.fixture(scope="session")
def title_prefix() -> str:
    return "Fault test"


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


@pytest.fixture
def stage(
    fault_wiki: LocalWiki,
    human: ApiSession,
    sim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
) -> Stage:
    """A test's page title and directory on the fault wiki, with the bot allowed to write."""
    del writes_on  # asked for its effect: the run page says yes
    return Stage(fault_wiki, human, sim, title, tmp_path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = FIGURES.lines()
    if lines:
        terminalreporter.section("fault suite figures")
        for line in lines:
            terminalreporter.write_line(line)
