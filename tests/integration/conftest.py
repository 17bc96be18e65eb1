"""Fixtures for the local MediaWiki (wmsocial_bot.devtools.testwiki) and the simulator.

``local_wiki`` (session) installs and serves a throwaway MediaWiki and points Pywikibot at it
through ``PYWIKIBOT_DIR`` *before* Pywikibot is first imported (its configuration is read once,
at import).  ``bot_wiki`` is the bot's :class:`wmsocial_bot.wiki.Wiki` on it, ``human`` a
raw-API session of the other user (Admin), ``writes_on`` sets the bot's run page to ``yes``.

If the wiki cannot start (no php or mediawiki), the tests are skipped with the reason, unless
``CI=true``: then they fail.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from simulator_fixtures import basic_sim, sim  # noqa: F401  (fixtures for every integration test)

from wmsocial_bot.devtools.testwiki import ApiSession, LocalWiki, LocalWikiError
from wmsocial_bot.wiki import Wiki  # does not import pywikibot yet


@pytest.fixture(scope="session")
def local_wiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWiki]:
    wiki = LocalWiki(tmp_path_factory.mktemp("testwiki"))
    try:
        wiki.start()
    except LocalWikiError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the local MediaWiki did not start (CI=true, so this fails): {exc}")
        pytest.skip(f"the local MediaWiki cannot start: {exc}")
    saved = {key: os.environ.get(key) for key in wiki.env()}
    os.environ.update(wiki.env())
    if "pywikibot" in sys.modules:
        base_dir = Path(sys.modules["pywikibot"].config.base_dir).resolve()
        if base_dir != wiki.pywikibot_dir.resolve():
            wiki.stop()
            pytest.fail(
                f"Pywikibot was imported before the test wiki started (base dir {base_dir}); "
                "its configuration cannot change any more. Run the wiki tests in their own "
                "pytest process or make sure nothing imports pywikibot earlier."
            )
    try:
        yield wiki
    finally:
        wiki.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def bot_wiki(local_wiki: LocalWiki) -> Wiki:
    """The bot's Wiki adapter, logged in with its bot password (Pywikibot, in-process)."""
    wiki, rest = Wiki.from_args([])
    assert rest == []
    assert wiki.username == local_wiki.bot.name
    return wiki


@pytest.fixture(scope="session")
def human(local_wiki: LocalWiki) -> ApiSession:
    """The other user (Admin: sysop), editing through the raw API with requests."""
    return local_wiki.human_session()


@pytest.fixture
def writes_on(local_wiki: LocalWiki, human: ApiSession) -> str:
    """Set the bot's run page to 'yes'; return its title."""
    title = f"User:{local_wiki.bot.name}/Run"
    human.edit(title, "yes", "allow the bot to edit")
    return title


@pytest.fixture
def title(request: pytest.FixtureRequest) -> str:
    """A page title unique to the test."""
    name = re.sub(r"[^A-Za-z0-9 -]+", " ", request.node.name).strip()
    return f"Wmsocial test/{name}"
