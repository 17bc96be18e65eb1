"""A Bluesky link by DID whose label shows an old handle, through check, decide and fix.

The link still works (it names the DID), but the page shows a name the account no longer
has: that is ``renamed``, and the fix changes the label alone, byte for byte.  The real local
MediaWiki, real Pywikibot and atproto against the platform simulator.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import Config, NetworkConfig, PolicyConfig, StateConfig, WikiConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Status
from wmsocial_bot.net import Net
from wmsocial_bot.run import RunOptions, run_bot
from wmsocial_bot.state import SqliteStore
from wmsocial_bot.wiki import Wiki
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession

ALICE = "did:plc:aliceaaaaaaaaaaaaaaaaaaa"  # alice.bsky.social in tests/scenarios/basic.json
PAGE = (
    "== Bluesky ==\n"
    f"* [https://bsky.app/profile/{ALICE} @alice-old.bsky.social] <!-- keep me -->\n"
    f"* [https://bsky.app/profile/{ALICE} Our chapter on Bluesky]"
)


@pytest.mark.simulator
def test_a_did_link_labelled_with_an_old_handle_is_renamed(sim: Simulator) -> None:
    net = Net(NetworkConfig(timeout=3.0), sim.overrides())

    def check(page: str) -> CheckResult:
        (account,) = extract_accounts(page).unique
        (found,) = check_accounts([account], net, now=datetime(2026, 7, 1), inactive_days=365)
        return found

    labelled = check(PAGE)
    assert labelled.status == Status.RENAMED, labelled.detail
    assert labelled.new_handle == "alice.bsky.social"
    assert "@alice-old.bsky.social" in labelled.detail
    # Whichever place comes first: the place whose label shows a handle is the one checked.
    plain_first = "\n".join(reversed(PAGE.splitlines()[1:]))
    results = check_accounts(
        extract_accounts(plain_first).accounts, net, now=datetime(2026, 7, 1), inactive_days=365
    )
    assert [r.status for r in results] == [Status.RENAMED, Status.RENAMED]
    for label in ("Our chapter on Bluesky", "@alice.bsky.social", "@Alice.bsky.social"):
        found = check(f"* [https://bsky.app/profile/{ALICE} {label}]\n")
        assert found.status == Status.OK, f"{label!r}: {found.detail}"


@pytest.mark.wiki
@pytest.mark.simulator
def test_run_updates_only_the_label_of_a_did_link(
    bot_wiki: Wiki, human: ApiSession, sim: Simulator, writes_on: str, title: str, tmp_path: Path
) -> None:
    human.edit(title, PAGE)
    config = Config(
        wiki=WikiConfig(pages=(title,)),
        policy=PolicyConfig(confirmations=1, confirm_days=0, outage_min_accounts=10),
        state=StateConfig(path=str(tmp_path / "state.sqlite3")),
        endpoints=sim.overrides(),
    )
    store = SqliteStore(config.state.path)
    try:
        (report,) = run_bot(
            bot_wiki,
            config,
            store,
            pages=(title,),
            options=RunOptions(echo=lambda _line: None),
        )
    finally:
        store.close()
    new_text, revid = human.revision(title)
    assert new_text == PAGE.replace("@alice-old.bsky.social", "@alice.bsky.social")
    assert report.edit_revid == revid
