"""The shared pytest fixtures of the bot's tests, written once (a pytest plugin).

``tests/conftest.py`` loads this module with ``pytest_plugins``, so every test directory sees:

* ``local_wiki`` (session): a throwaway MediaWiki with the in-process Pywikibot pointed at it
  (``PYWIKIBOT_DIR`` is set *before* Pywikibot is first imported: it reads its configuration
  once, at import); ``bot_wiki`` is the bot's :class:`wmsocial_bot.wiki.Wiki` on it.
* ``fault_wiki`` (session): a second throwaway MediaWiki for the fault suite, which runs the bot
  only as a subprocess, so that nothing it does reaches the in-process Pywikibot's wiki.
* ``suite_wiki``: the wiki that ``human``, ``writes_on`` and ``title`` work on, ``local_wiki``
  unless a directory's conftest binds it to another (tests/faults binds ``fault_wiki``); likewise
  ``title_prefix``.
* ``basic_sim`` (module) serves ``tests/scenarios/basic.json``; ``sim`` hands it out with the
  scenario reloaded and the log cleared, and fails the test if the simulator logged an error.

A service that cannot start (no php or mediawiki here) skips its tests with the reason, except
under ``CI=true``, where they fail: :func:`skip_or_fail`.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from wmsocial_bot.net import OFFLINE
from wmsocial_bot.wiki import Wiki  # does not import pywikibot yet
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki, LocalWikiError

if TYPE_CHECKING:  # the clients load slowly; only the tests that use them pay for it
    from atproto import Client
    from mastodon import Mastodon

# The test kit is used from the repository (an editable install or pytest's pythonpath), so the
# scenarios are the repository's.
SCENARIOS = Path(__file__).resolve().parents[2] / "tests" / "scenarios"
BASIC = SCENARIOS / "basic.json"


def pytest_configure(config: pytest.Config) -> None:
    """No test reaches the internet: every request must go to an endpoint override (the bot
    refuses any other host while ``$WMSOCIAL_BOT_OFFLINE`` is set; subprocesses inherit it),
    and none writes the user's own state."""
    del config
    os.environ[OFFLINE] = "1"
    # Nor does a test touch the bot's real state (a `check` or `run` without a [state] path):
    # the default state file and Pywikibot's files follow $XDG_STATE_HOME.
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="wmsocial-test-state-")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip a test whose service is missing here, with the reason; under ``CI=true``, fail it.

    CI installs every service, so there a missing one is a broken set-up, not a reason to skip.
    """
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true, so this fails)")
    pytest.skip(reason)


# ---- the local MediaWiki --------------------------------------------------------------------


@contextmanager
def _running_wiki(directory: Path) -> Iterator[LocalWiki]:
    wiki = LocalWiki(directory)
    try:
        wiki.start()
    except LocalWikiError as exc:
        skip_or_fail(f"the local MediaWiki cannot start: {exc}")
    try:
        yield wiki
    finally:
        wiki.stop()


@contextmanager
def _pywikibot_pointed_at(wiki: LocalWiki) -> Iterator[None]:
    """Point the in-process Pywikibot at ``wiki`` for the session, then restore the environment."""
    if "pywikibot" in sys.modules:
        base_dir = Path(sys.modules["pywikibot"].config.base_dir).resolve()
        if base_dir != wiki.pywikibot_dir.resolve():
            pytest.fail(
                f"Pywikibot was imported before the test wiki started (base dir {base_dir}); "
                "its configuration cannot change any more. Run the wiki tests in their own "
                "pytest process or make sure nothing imports pywikibot earlier."
            )
    saved = {key: os.environ.get(key) for key in wiki.env()}
    os.environ.update(wiki.env())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def local_wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWiki]:
    """The throwaway MediaWiki of the in-process Pywikibot (``bot_wiki``)."""
    with _running_wiki(tmp_path_factory.mktemp("testwiki")) as wiki, _pywikibot_pointed_at(wiki):
        yield wiki


@pytest.fixture(scope="session")
def fault_wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWiki]:
    """A throwaway MediaWiki for subprocess runs of the bot (nothing in-process uses it)."""
    with _running_wiki(tmp_path_factory.mktemp("faultwiki")) as wiki:
        yield wiki


@pytest.fixture(scope="session")
def suite_wiki(local_wiki: LocalWiki) -> LocalWiki:
    """The wiki ``human``, ``writes_on`` and ``title`` work on; a conftest may bind another."""
    return local_wiki


@pytest.fixture(scope="session")
def bot_wiki(local_wiki: LocalWiki) -> Wiki:
    """The bot's Wiki adapter, logged in with its bot password (Pywikibot, in-process)."""
    wiki, rest = Wiki.from_args([])
    assert rest == []
    assert wiki.username == local_wiki.bot.name
    return wiki


# Module scope, not session: ``suite_wiki`` differs between directories, and pytest would hand
# a session-wide value made on one directory's wiki to the next directory's tests.
@pytest.fixture(scope="module")
def human(suite_wiki: LocalWiki) -> ApiSession:
    """The other user (Admin: sysop), editing through the raw API with requests."""
    return suite_wiki.human_session()


@pytest.fixture
def writes_on(suite_wiki: LocalWiki, human: ApiSession) -> str:
    """Set the bot's run page to 'yes'; return its title."""
    title = f"User:{suite_wiki.bot.name}/Run"
    human.edit(title, "yes", "allow the bot to edit")
    return title


@pytest.fixture(scope="session")
def title_prefix() -> str:
    """The root page under which ``title`` puts each test's page; a conftest may bind another."""
    return "Wmsocial test"


@pytest.fixture
def title(request: pytest.FixtureRequest, title_prefix: str) -> str:
    """A page title unique to the test (cut to 200 characters; MediaWiki allows 255 bytes)."""
    name = re.sub(r"[^A-Za-z0-9 -]+", " ", request.node.name).strip()
    return f"{title_prefix}/{name}"[:200]


# ---- the platform simulator -----------------------------------------------------------------


def mastodon_for(sim: Simulator, host: str, timeout: float = 5.0) -> Mastodon:
    """A token-less Mastodon.py client for a simulated host, set up as platforms.md says."""
    from mastodon import Mastodon

    return Mastodon(
        api_base_url=sim.url_for(host),
        request_timeout=timeout,
        ratelimit_method="throw",
        version_check_mode="none",
    )


def bluesky_client(
    sim: Simulator, host: str = "public.api.bsky.app", timeout: float = 5.0
) -> Client:
    """An atproto Client on the simulated AppView (``/xrpc`` is appended by the library)."""
    from atproto import Client
    from atproto_client.request import Request

    return Client(base_url=sim.url_for(host), request=Request(timeout=timeout))


@contextmanager
def fresh(simulator: Simulator, scenario: Path) -> Iterator[Simulator]:
    """``simulator`` with ``scenario`` reloaded and the log cleared; on exit, no logged errors.

    For a module-scoped simulator handed to each test from the same state.
    """
    simulator.load(scenario)
    simulator.reset_log()
    yield simulator
    assert simulator.errors == [], "\n".join(simulator.errors)


def scenario_fixtures(scenario: Path, name: str, server: str) -> tuple[Any, Any]:
    """Two fixtures for a scenario: ``server`` (one simulator per module) and ``name`` (that
    simulator handed to each test freshly loaded).  Assign both in the test module:
    ``platforms_sim, psim = scenario_fixtures(SCENARIO, "psim", "platforms_sim")``.
    """

    @pytest.fixture(scope="module", name=server)
    def module_simulator() -> Iterator[Simulator]:
        with Simulator(scenario) as simulator:
            yield simulator

    @pytest.fixture(name=name)
    def test_simulator(request: pytest.FixtureRequest) -> Iterator[Simulator]:
        with fresh(request.getfixturevalue(server), scenario) as simulator:
            yield simulator

    return module_simulator, test_simulator


basic_sim, sim = scenario_fixtures(BASIC, "sim", "basic_sim")
