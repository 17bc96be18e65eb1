"""Verification help and missing-account suggestions over simulated days: the real checks
(Mastodon.py, atproto) and the real page reads (``net``) against the platform simulator
(tests/scenarios/verification.json), the real state store; the wiki is the in-memory fake for
the days, and the real local MediaWiki for one end-to-end run.

The test sets each run's clock; between runs it changes the simulated profiles.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import Config, NetworkConfig, PolicyConfig, StateConfig, WikiConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Status
from wmsocial_bot.net import Net
from wmsocial_bot.notices import reported_markers
from wmsocial_bot.run import RunOptions, run_bot
from wmsocial_bot.state import SqliteStore
from wmsocial_bot.wiki import Wiki
from wmsocial_testkit.fakewiki import BOT, FakeWiki
from wmsocial_testkit.fixtures import scenario_fixtures
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession

pytestmark = pytest.mark.simulator
SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "verification.json"
TITLE = "Social media"
TALK = "Talk:Social media"
STATUS = "Social media/Status"
DAY0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
ALICE = "mastodon:alice@social.example"
PAGE = """{| class="wikitable"
! Owner !! Mastodon !! Bluesky
|-
| Alice's chapter || https://social.example/@alice || https://bsky.app/profile/dan.example.com
|-
| Bob's group || https://social.example/@bob ||
|-
| Carol || https://social.example/@carol ||
|}"""
LOST_FIELD = [
    {"name": "Website", "value": "https://alice.example"},  # no verified_at any more
    {"name": "Pronouns", "value": "they/them"},
]


verification_sim, vsim = scenario_fixtures(SCENARIO, "vsim", "verification_sim")


def make_config(sim: Simulator, tmp_path: Path, **wiki: object) -> Config:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return Config(
        wiki=WikiConfig(pages=(TITLE,), status_page=STATUS, **wiki),  # type: ignore[arg-type]
        policy=PolicyConfig(confirmations=1, confirm_days=0),
        state=StateConfig(path=str(tmp_path / "state.sqlite3")),
        endpoints=sim.overrides(),
    )


def run_day(wiki: FakeWiki | Wiki, config: Config, day: int) -> None:
    store = SqliteStore(config.state.path)
    try:
        options = RunOptions(echo=lambda _line: None, now=DAY0 + timedelta(days=day))
        run_bot(wiki, config, store, pages=[TITLE], options=options)
    finally:
        store.close()


def requests_to(sim: Simulator, *hosts: str) -> list[str]:
    return [f"{r.host}{r.path}" for r in sim.log if r.host in hosts]


def fake_wiki(config_json: dict[str, object] | None = None) -> FakeWiki:
    wiki = FakeWiki()
    wiki.allow_writes()
    wiki.edit(TITLE, PAGE)
    if config_json is not None:
        wiki.edit(f"User:{BOT}/config.json", json.dumps(config_json))
    return wiki


def test_days_of_verification_verdicts_a_lost_link_and_one_suggestion(
    vsim: Simulator, tmp_path: Path
) -> None:
    wiki, config = fake_wiki(), make_config(vsim, tmp_path)
    run_day(wiki, config, 0)
    status = wiki.text(STATUS)
    verification = status[status.index("Verification of Mastodon profile links") :]
    # alice's Website is verified: her page is not read.  bob's three fields, each its verdict.
    assert "| Website\n| yes" in verification
    assert "https&#58;//bob.example/blog answers HTTP 404; Mastodon needs 200" in verification
    assert (
        "bob.example links back with rel=me; Mastodon checks again only when the profile is saved"
        in verification
    )
    assert "the profile&#39;s &#39;Shop&#39; field is plain text, not a link" in verification
    assert "Pronouns" not in verification
    # a link to a private address is refused by the network policy, and blames nobody
    assert "https&#58;//127.0.0.1/admin could not be read (refused&#58;" in verification
    assert sorted(requests_to(vsim, "alice.example", "bob.example")) == [
        "bob.example/",
        "bob.example/blog",
    ]
    # One suggestion, though two profiles link it (alice's bio, dan's description); the
    # listed accounts they also link are not suggested.
    talk = wiki.text(TALK)
    assert reported_markers(talk) == {"suggested:x:alice_chapter"}
    assert "linked from @alice@social.example&#39;s bio, @dan.example.com&#39;s description" in talk
    assert "owner: Alice&#39;s chapter" in talk

    vsim.reset_log()
    vsim.update_account("social.example", "alice", fields=LOST_FIELD)  # day 1: lost
    run_day(wiki, config, 1)
    assert requests_to(vsim, "alice.example", "bob.example") == ["alice.example/"]
    talk = wiki.text(TALK)
    assert reported_markers(talk) == {
        "suggested:x:alice_chapter",
        f"verification-lost:{ALICE}#Website@2026-11-02",
    }
    assert (
        "https&#58;//alice.example has no rel=me link to https&#58;//social.example/@alice" in talk
    )

    vsim.reset_log()
    for day in (2, 3, 4):  # nothing new: nothing read again within the week, nothing posted
        run_day(wiki, config, day)
    assert requests_to(vsim, "alice.example", "bob.example") == []
    assert len(wiki.pages[TALK]) == 2, "one section a day with something new, none after"
    run_day(wiki, config, 7)  # a week after day 0: bob's pages are read again, alice's not yet
    assert sorted(requests_to(vsim, "alice.example", "bob.example")) == [
        "bob.example/",
        "bob.example/blog",
    ]


def test_requests_per_account_without_unverified_links_are_unchanged(
    vsim: Simulator, tmp_path: Path
) -> None:
    """carol (no fields) and alice (verified): one request each (the lookup), as before the
    verification help; only bob's unverified links cost a request each."""
    wiki, config = fake_wiki(), make_config(vsim, tmp_path)
    run_day(wiki, config, 0)
    for user in ("carol", "alice"):
        asked = [r for r in vsim.log if user in r.path or user in r.query]
        assert len(asked) == 1, [f"{r.host}{r.path}?{r.query}" for r in asked]
    assert requests_to(vsim, "alice.example") == []
    assert sorted(requests_to(vsim, "bob.example")) == ["bob.example/", "bob.example/blog"]


def test_an_ignored_suggestion_is_not_posted(vsim: Simulator, tmp_path: Path) -> None:
    plain = fake_wiki()
    run_day(plain, make_config(vsim, tmp_path / "plain"), 0)
    assert reported_markers(plain.text(TALK)) == {"suggested:x:alice_chapter"}
    for ignore in (
        {"ignore": ["https://x.com/alice_chapter"]},  # the suggested account
        {"ignore": [ALICE, "bluesky:dan.example.com"]},  # the profiles that link it
    ):
        wiki = fake_wiki(ignore)
        run_day(wiki, make_config(vsim, tmp_path / str(len(ignore["ignore"]))), 0)
        assert TALK not in wiki.pages, ignore


def test_a_misskey_profile_gives_its_links_from_plain_text(vsim: Simulator) -> None:
    """Misskey's fields and description are plain text (users/show); their URLs are links."""
    vsim.update_host(
        "misskey.example",
        software="misskey",
        accounts={
            "mika": {
                "note": "Wikimedia on Misskey. Also https://x.com/mika_wm.",
                "fields": [{"name": "Bluesky", "value": "https://bsky.app/profile/mika.example"}],
                "last_status_at": "2026-11-01",
                "statuses_count": 3,
            }
        },
    )
    net = Net(NetworkConfig(timeout=3.0), vsim.overrides())
    (account,) = extract_accounts("* https://misskey.example/@mika").accounts
    (result,) = check_accounts([account], net, now=DAY0)
    assert result.status == Status.OK, result.detail
    assert result.profile is not None and result.profile.fields == ()
    assert [(link.url, link.where) for link in result.profile.links] == [
        ("https://bsky.app/profile/mika.example", "field “Bluesky”"),
        ("https://x.com/mika_wm", "bio"),
    ]


@pytest.mark.wiki
def test_end_to_end_on_the_real_wiki(
    bot_wiki: Wiki,
    human: ApiSession,
    vsim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
) -> None:
    human.edit(title, PAGE)
    config = make_config(vsim, tmp_path)
    config = Config(
        wiki=WikiConfig(pages=(title,), status_page=title + "/Status"),
        policy=config.policy,
        state=config.state,
        endpoints=config.endpoints,
    )
    store = SqliteStore(config.state.path)
    try:
        options = RunOptions(echo=lambda _line: None, now=DAY0)
        run_bot(bot_wiki, config, store, pages=[title], options=options)
    finally:
        store.close()
    talk, _ = human.revision("Talk:" + title)
    assert reported_markers(talk) == {"suggested:x:alice_chapter"}
    status = human.get(action="parse", page=title + "/Status", prop="text")["parse"]["text"]
    assert "Verification of Mastodon profile links" in status
    assert "answers HTTP 404; Mastodon needs 200" in status
