"""The movement's own servers on the status page and in the talk notice (issue 17, part 5).

``run`` on the in-memory wiki with the real state store in memory; the servers' answers are
given (``RunOptions(read_servers=...)``) as :func:`wmsocial_bot.servers.facts_from` reads them
from Mastodon's JSON.  The simulator and the real MediaWiki: tests/integration/
test_status_page_runs.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from wmsocial_bot.config import Config, PolicyConfig, ServersConfig, WikiConfig, config_from_mapping
from wmsocial_bot.errors import ConfigError
from wmsocial_bot.model import Account, CheckResult, Status
from wmsocial_bot.notices import reported_markers
from wmsocial_bot.run import PageReport, RunOptions, run_bot
from wmsocial_bot.servers import (
    KNOWN_SECURITY_RELEASES,
    Reading,
    SecurityRelease,
    default_hosts,
    facts_from,
    is_mastodon,
    status_section,
    with_operator_knowledge,
)
from wmsocial_bot.state import SqliteStore
from wmsocial_testkit.fakewiki import BOT, FakeWiki

TITLE = "Social media"
STATUS = TITLE + "/Status"
TALK = "Talk:" + TITLE
DAY0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
PAGE = """* https://wikis.example/@a
* https://wikis.example/@b
* https://other.example/@c
* https://x.com/someone"""


def instance(version: str = "4.3.0", rules: int = 0, contact: str | None = None) -> dict[str, Any]:
    """``/api/v2/instance`` as mastodon/mastodon ``instance_serializer.rb`` writes it."""
    return {
        "version": version,
        "rules": [{"id": str(n), "text": f"rule {n}", "hint": ""} for n in range(rules)],
        "contact": {"email": "admin@x", "account": {"acct": contact} if contact else None},
        "registrations": {"enabled": False, "approval_required": False},
    }


DEFAULT_POLICY = {"updated_at": "2022-10-07T00:00:00.000Z", "content": "<p>template</p>"}


@dataclass
class Servers:
    """What each host answers; every host asked is logged."""

    answers: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def __call__(self, hosts: Sequence[str]) -> list[Reading]:
        self.asked += hosts
        out = []
        for host in hosts:
            data, policy = self.answers.get(host, (None, None))
            if data is None:
                out.append(Reading(host, None, "not a Mastodon server (no /api/v2/instance)"))
            else:
                out.append(Reading(host, facts_from(host, data, policy)))
        return out


def checks(accounts: Sequence[Account], now: datetime) -> list[CheckResult]:
    return [CheckResult(a, Status.OK, "fine") for a in accounts]


def make(servers: ServersConfig | None = None) -> tuple[FakeWiki, Config, SqliteStore]:
    wiki = FakeWiki()
    wiki.allow_writes()
    wiki.edit(TITLE, PAGE)
    config = Config(
        wiki=WikiConfig(pages=(TITLE,), status_page=STATUS),
        policy=PolicyConfig(confirmations=1, confirm_days=0),
        servers=servers or ServersConfig(),
    )
    return wiki, config, SqliteStore(":memory:")


def run(wiki: FakeWiki, config: Config, store: SqliteStore, read: Servers, day: int) -> PageReport:
    options = RunOptions(
        now=DAY0 + timedelta(days=day), check=checks, read_servers=read, echo=lambda _l: None
    )
    (report,) = run_bot(wiki, config, store, pages=[TITLE], options=options)
    return report


def test_by_default_the_servers_of_the_pages_mastodon_accounts_most_first() -> None:
    assert default_hosts(["a@wikis.example", "c@other.example", "b@wikis.example"], 3) == [
        "wikis.example",
        "other.example",
    ]
    assert default_hosts(["a@one.example", "b@two.example"], 1) == ["one.example"]
    wiki, config, store = make()
    read = Servers({"wikis.example": (instance("4.2.9"), DEFAULT_POLICY)})
    run(wiki, config, store, read, 0)
    assert read.asked == ["wikis.example", "other.example"]
    page = wiki.text(STATUS)
    servers = page.split("== The movement&#39;s own servers ==", 1)[1]
    (row,) = [line for line in servers.splitlines() if line.startswith("| wikis.example ||")]
    assert "Mastodon 4.2.9 || 0 || none || closed || Mastodon's default ||" in row
    assert "has no server rules" in row and "names no contact account" in row
    assert "4.2.10 fixed security issues (2024-07-04" in row
    (other,) = [line for line in servers.splitlines() if line.startswith("| other.example ||")]
    assert "not a Mastodon server" in other
    assert "The bot's knowledge of Mastodon security releases is from 2024-07-04" in servers


def test_an_empty_host_list_turns_the_servers_off() -> None:
    wiki, config, store = make(ServersConfig(hosts=()))
    read = Servers()
    run(wiki, config, store, read, 0)
    assert read.asked == [] and "own servers" not in wiki.text(STATUS)


def test_a_change_is_one_talk_item_posted_once_and_kept_while_the_wiki_takes_no_notice() -> None:
    wiki, config, store = make(ServersConfig(hosts=("wikis.example",)))
    read = Servers({"wikis.example": (instance(rules=0), DEFAULT_POLICY)})
    first = run(wiki, config, store, read, 0)
    assert first.new_findings == [] and TALK not in wiki.pages, "a first reading is no change"
    read.answers["wikis.example"] = (instance(rules=3, contact="admin"), DEFAULT_POLICY)
    wiki.edit(f"User:{BOT}/Run", "no")  # writes off: the notice cannot be posted
    blocked = run(wiki, config, store, read, 1)
    assert [f.kind for f in blocked.new_findings] == ["server-changed"]
    assert TALK not in wiki.pages
    wiki.edit(f"User:{BOT}/Run", "yes")
    posted = run(wiki, config, store, read, 2)  # the change was kept, not lost
    assert [f.kind for f in posted.new_findings] == ["server-changed"]
    talk = wiki.text(TALK)
    assert (
        "number of rules&#58; 0 -&gt; 3" in talk
        and "contact account&#58; not shown -&gt; admin" in talk
    )
    (marker,) = reported_markers(talk)
    assert marker.startswith("server-changed:server:wikis.example#")
    again = run(wiki, config, store, read, 3)
    assert again.new_findings == [] and len(wiki.pages[TALK]) == 1, "posted once"
    read.answers["wikis.example"] = (instance(rules=4, contact="admin"), DEFAULT_POLICY)
    later = run(wiki, config, store, read, 4)  # a later change of the same server: news again
    assert [f.evidence for f in later.new_findings] == ["number of rules: 3 -> 4"]
    assert len(reported_markers(wiki.text(TALK))) == 2


def test_an_ignored_server_is_shown_but_never_announced() -> None:
    wiki, config, store = make(ServersConfig(hosts=("wikis.example",)))
    wiki.edit(f"User:{BOT}/config.json", '{"ignore": ["server:wikis.example"]}')
    read = Servers({"wikis.example": (instance(rules=0), None)})
    run(wiki, config, store, read, 0)
    read.answers["wikis.example"] = (instance(rules=2), None)
    report = run(wiki, config, store, read, 1)
    assert report.new_findings == [] and TALK not in wiki.pages
    assert "| wikis.example || Mastodon 4.3.0 || 2 ||" in wiki.text(STATUS)


def test_other_software_is_not_mastodon() -> None:
    assert is_mastodon({"version": "4.2.10+hometown-1.1.1"})
    assert not is_mastodon({"version": "2.7.2 (compatible; Pleroma 2.7.0)"})
    assert not is_mastodon({"version": "0.17.3 git-6fd4c4f"})  # GoToSocial
    assert not is_mastodon({"version": "0.17.3"})
    assert not is_mastodon(["not", "an", "object"])


def test_every_value_from_a_server_is_inert() -> None:
    facts = facts_from(
        "evil.example", {"version": "4.3.0", "contact": {"account": {"acct": "[[x]] {{y}}"}}}
    )
    text = status_section([Reading("evil.example", facts)], {}, KNOWN_SECURITY_RELEASES)
    assert "[[x]]" not in text and "{{y}}" not in text and "&#91;&#91;x&#93;&#93;" in text


def test_the_operator_adds_newer_security_knowledge() -> None:
    newer = SecurityRelease((4, 3), (4, 3, 5), date(2025, 3, 13), "https://example/advisory")
    known = with_operator_knowledge([newer])
    assert known[0] == newer and len(known) == len(KNOWN_SECURITY_RELEASES) + 1
    config = config_from_mapping(
        {
            "servers": {
                "hosts": ["Wikis.World"],
                "max_hosts": 2,
                "security_releases": [
                    {
                        "line": "4.3",
                        "fixed": "4.3.5",
                        "published": date(2025, 3, 13),
                        "source": "https://example/advisory",
                    }
                ],
            }
        }
    )
    assert config.servers.hosts == ("wikis.world",)
    assert config.servers.security_releases == (newer,)


@pytest.mark.parametrize(
    ("servers", "key"),
    [
        ({"hosts": "wikis.world"}, "servers.hosts"),
        ({"hosts": ["not a host"]}, "servers.hosts"),
        ({"max_hosts": 100}, "servers.max_hosts"),
        ({"security_releases": [{"line": "4.3"}]}, "servers.security_releases[1]"),
        (
            {
                "security_releases": [
                    {"line": "4.3", "fixed": "4.2.5", "published": "2025-03-13", "source": "x"}
                ]
            },
            "servers.security_releases[1].fixed",
        ),
        ({"colour": "red"}, "servers.colour"),
    ],
)
def test_bad_servers_config_names_the_key(servers: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        config_from_mapping({"servers": servers})
