"""Verification help over simulated days: ``run`` on an in-memory wiki and store, with the
checks' answers and the linked pages given (``RunOptions(check=..., verify=...)``).

What a maintainer sees: the status page's verification section (each field's verdict and
whose move it is), one talk item when a verification is lost, and how often the bot reads a
linked page (at most every ``[dashboard] verify_days``; never for an account with no
unverified link).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from wmsocial_bot.config import Config, PolicyConfig, WikiConfig, config_from_mapping
from wmsocial_bot.errors import ConfigError
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Account, CheckResult, RelMePage, Status
from wmsocial_bot.notices import reported_markers
from wmsocial_bot.profiles import mastodon_profile
from wmsocial_bot.run import RunOptions, run_bot
from wmsocial_bot.state import SqliteStore
from wmsocial_bot.verify import PAGES_PER_ACCOUNT, pages_wanted, read_page
from wmsocial_testkit.fakewiki import FakeWiki

TITLE = "Social media"
TALK = "Talk:Social media"
STATUS = "Social media/Status"
DAY0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
PAGE = """{| class="wikitable"
! Owner !! Account
|-
| Alice's chapter || https://social.example/@alice
|-
| Bob's group || https://social.example/@bob
|-
| Carol || https://social.example/@carol
|}"""
ALICE = "mastodon:alice@social.example"
# A bare https URL in a field, as Mastodon's API renders it (TextFormatter).
LINK = (
    '<a href="{0}" target="_blank" rel="nofollow noopener me" translate="no">'
    '<span class="invisible">https://</span><span class="">{1}</span>'
    '<span class="invisible"></span></a>'
)


def linked(url: str) -> str:
    return LINK.format(url, url.removeprefix("https://"))


def field_of(name: str, value: str, verified: bool) -> dict[str, object]:
    return {
        "name": name,
        "value": value,
        "verified_at": "2026-10-01T00:00:00Z" if verified else None,
    }


@dataclass
class Profiles:
    """The checks' answers: every account ok, with the profile fields given per user."""

    fields: dict[str, list[dict[str, object]]]

    def __call__(self, accounts: Sequence[Account], now: datetime) -> list[CheckResult]:
        out = []
        for account in accounts:
            user = account.handle.split("@")[0]
            profile = mastodon_profile(
                self.fields.get(user, []),
                "",
                f"https://social.example/@{user}",
                verifies=True,
            )
            out.append(CheckResult(account, Status.OK, "active", profile=profile))
        return out


@dataclass
class Web:
    """The linked pages: (status, HTML) per URL; ``asked`` holds each run's URLs."""

    pages: dict[str, tuple[int, str]]
    asked: list[list[str]] = field(default_factory=list)

    def __call__(self, urls: Sequence[str], now: datetime) -> list[RelMePage]:
        self.asked.append(list(urls))
        return [read_page(lambda u: self.pages.get(u, (404, "")), url, now) for url in urls]


def rel_me_page(href: str | None) -> tuple[int, str]:
    link = f'<a rel="me" href="{href}">Mastodon</a>' if href else "<a href='/'>Home</a>"
    return 200, f"<html><body>{link}</body></html>"


def make() -> tuple[FakeWiki, SqliteStore, Config]:
    wiki = FakeWiki()
    wiki.allow_writes()
    wiki.edit(TITLE, PAGE)
    config = Config(
        wiki=WikiConfig(pages=(TITLE,), status_page=STATUS),
        policy=PolicyConfig(confirmations=1, confirm_days=0),
    )
    return wiki, SqliteStore(":memory:"), config


def run(
    wiki: FakeWiki, store: SqliteStore, config: Config, check: Profiles, web: Web, day: int
) -> None:
    options = RunOptions(
        echo=lambda _line: None, now=DAY0 + timedelta(days=day), check=check, verify=web
    )
    run_bot(wiki, config, store, pages=[TITLE], options=options)


def verification_section(wiki: FakeWiki) -> str:
    text = wiki.text(STATUS)
    start = text.index("Verification of Mastodon profile links")
    return text[start:]


def test_verdicts_on_the_status_page_a_lost_verification_once_and_weekly_reads() -> None:
    wiki, store, config = make()
    web = Web(
        {
            "https://alice.example": rel_me_page(None),
            "https://bob.example/blog": (404, "Not Found"),
        }
    )
    alice_ok = field_of("Website", linked("https://alice.example"), True)
    alice_lost = field_of("Website", linked("https://alice.example"), False)
    bob = [
        field_of("Blog", linked("https://bob.example/blog"), False),
        field_of("Home", "bob.example", False),  # plain text: the profile's side
        field_of("Pronouns", "they/them", False),  # not an address: no verdict at all
    ]
    check = Profiles({"alice": [alice_ok], "bob": bob})
    run(wiki, store, config, check, web, 0)
    section = verification_section(wiki)
    assert "| Website\n| yes" in section
    assert "https&#58;//bob.example/blog answers HTTP 404" in section
    assert "plain text, not a link" in section and "Pronouns" not in section
    assert web.asked == [["https://bob.example/blog"]], "only unverified links are read"
    assert TALK not in wiki.pages

    check.fields["alice"] = [alice_lost]  # day 1: the site dropped its rel=me link
    run(wiki, store, config, check, web, 1)
    assert web.asked[1] == ["https://alice.example"], "bob's page is cached for a week"
    talk = wiki.text(TALK)
    assert reported_markers(talk) == {f"verification-lost:{ALICE}#Website@2026-11-02"}
    assert (
        "https&#58;//alice.example has no rel=me link to https&#58;//social.example/@alice" in talk
    )
    section = verification_section(wiki)
    assert (
        "https&#58;//alice.example has no rel=me link" in section and "the linked site" in section
    )

    for day in (2, 3):  # the same answers: nothing read, nothing posted again
        run(wiki, store, config, check, web, day)
    assert web.asked[2:] == [[], []]
    assert len(wiki.pages[TALK]) == 1, "the lost verification is posted once"

    run(wiki, store, config, check, web, 7)  # a week after bob's reading
    assert web.asked[-1] == ["https://bob.example/blog"]
    run(wiki, store, config, check, web, 8)
    assert web.asked[-1] == ["https://alice.example"]
    assert len(wiki.pages[TALK]) == 1

    # verified again, then lost again: a new loss is reported again
    check.fields["alice"] = [alice_ok]
    run(wiki, store, config, check, web, 10)
    check.fields["alice"] = [alice_lost]
    run(wiki, store, config, check, web, 11)
    assert len(wiki.pages[TALK]) == 2
    store.close()


def test_an_account_without_unverified_links_costs_no_request() -> None:
    wiki, store, config = make()
    web = Web({})
    check = Profiles(
        {
            "alice": [field_of("Website", linked("https://alice.example"), True)],
            "bob": [field_of("Pronouns", "they/them", False)],
        }
    )
    for day in range(3):
        run(wiki, store, config, check, web, day)
    assert web.asked == [[], [], []]
    store.close()


def test_at_most_a_few_pages_per_account_per_run() -> None:
    fields = [field_of(f"F{i}", linked(f"https://site{i}.example"), False) for i in range(10)]
    results = Profiles({"alice": fields})(
        extract_accounts(PAGE).accounts,
        DAY0,
    )
    wanted = pages_wanted(results, {}, DAY0, 7)
    assert len(wanted) == PAGES_PER_ACCOUNT
    later = pages_wanted(
        results, {u: RelMePage(u, DAY0, 200) for u in wanted}, DAY0 + timedelta(days=1), 7
    )
    assert len(later) == PAGES_PER_ACCOUNT and not set(later) & set(wanted), "the next ones"


def test_a_page_that_cannot_be_read_says_so_and_blames_nobody() -> None:
    wiki, store, config = make()

    def refused(urls: Sequence[str], now: datetime) -> list[RelMePage]:
        return [RelMePage(u, now, None, problem="refused: a private address") for u in urls]

    check = Profiles({"alice": [field_of("Website", linked("https://alice.example"), False)]})
    options = RunOptions(echo=lambda _line: None, now=DAY0, check=check, verify=refused)
    run_bot(wiki, config, store, pages=[TITLE], options=options)
    section = verification_section(wiki)
    assert "could not be read (refused&#58; a private address), so the bot cannot tell" in section
    store.close()


def test_field_names_and_addresses_from_a_profile_stay_inert_on_the_status_page() -> None:
    wiki, store, config = make()
    hostile = "Web|}\n{{Spam}} [[Category:Spam]] ~~~~ __NOTOC__"
    check = Profiles(
        {
            "alice": [field_of(hostile, "[[Category:Spam]] evil.example", False)],
            "bob": [field_of("Site", linked("https://bob.example/'''x'''"), False)],
        }
    )
    run(wiki, store, config, check, Web({}), 0)
    section = verification_section(wiki)
    for live in ("{{", "[[", "~~~~", "__NOTOC__", "'''", "\n|}\n{{"):
        assert live not in section, live
    assert section.count("\n|}") == 1, "the table is closed once, by the bot"
    store.close()


def test_verify_days_is_a_config_key_with_bounds() -> None:
    assert config_from_mapping({"dashboard": {"verify_days": 30}}).dashboard.verify_days == 30
    assert Config().dashboard.verify_days == 7
    with pytest.raises(ConfigError, match=r"dashboard\.verify_days"):
        config_from_mapping({"dashboard": {"verify_days": 0}})
