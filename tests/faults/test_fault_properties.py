"""Hostile input, as properties (hypothesis), on top of the unit suite's own.

The unit tests already show that extraction never raises and keeps spans exact
(``unit/test_extract_properties.py``), that fixes change only their spans
(``unit/test_fix.py``) and that notices are inert as mwparserfromhell reads them
(``unit/test_notices.py``).  This file reuses their strategies and adds:

* the whole pipeline on hostile pages: extract -> (any results) -> decide -> notice, status
  page and fixes, and ``run``'s own page readers (inline ignores, resolved findings), never
  raises, and what it renders stays inert;
* inertness judged by MediaWiki itself: the rendered notice and status page, parsed by the
  local MediaWiki with the pre-save transform (``~~~~``, ``subst:``), use no template, make no
  category, image, heading, interwiki or magic link, and link only what the bot links;
* hostile answers from the platforms: random JSON, XML and HTML where an account lookup, a
  feed or a profile page should be; no checker raises or gives up with an internal error.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import mwparserfromhell
import pytest
from faults.support import Figures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit.test_extract_properties import FRAGMENTS
from unit.test_fix import LISTINGS
from unit.test_notices import INJECTIONS, _assert_inert_notice, findings_strategy

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.decide import History, Policy, decide
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.fix import apply_fixes
from wmsocial_bot.model import CheckResult, Finding, Status
from wmsocial_bot.net import Net
from wmsocial_bot.notices import profile_url, render_notice, render_status_page
from wmsocial_bot.plan import resolved_markers
from wmsocial_bot.run import inline_ignores
from wmsocial_testkit.fixtures import BASIC, SCENARIOS
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession

pytestmark = pytest.mark.faults
NOW = datetime(2026, 11, 24, tzinfo=UTC)
SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
hostile_pages = st.lists(
    st.sampled_from(FRAGMENTS)
    | st.sampled_from(LISTINGS)
    | st.sampled_from(INJECTIONS)
    | st.just("<!-- wmsocial-bot: ignore -->")
    | st.text(max_size=8),
    max_size=50,
).map("".join)


def _results(text: str, statuses: list[Status]) -> list[CheckResult]:
    accounts = extract_accounts(text).accounts
    results = []
    for n, account in enumerate(accounts):
        status = statuses[n % len(statuses)] if statuses else Status.OK
        successor: dict[str, Any] = {}
        if status in (Status.MOVED, Status.RENAMED) and account.platform == "mastodon":
            user = account.handle.split("@")[0]
            successor = {
                "new_handle": f"{user}@new.example",
                "new_url": f"https://new.example/@{user}",
            }
        results.append(
            CheckResult(
                account=account, status=status, detail=f"evidence {n} {text[:40]}", **successor
            )
        )
    return results


@SETTINGS
@given(text=hostile_pages, statuses=st.lists(st.sampled_from(list(Status)), max_size=6))
def test_the_pipeline_never_raises_and_renders_inert(
    text: str, statuses: list[Status], figures: Figures
) -> None:
    figures.case("properties: hostile pages through the pipeline")
    extraction = extract_accounts(text)
    results = _results(text, statuses)
    inline_ignores(text, extraction)
    policy = Policy(confirmations=1, confirm_days=0, outage_min_accounts=1000)
    decision = decide(results, extraction, History(), policy, NOW)
    if decision.findings:
        _assert_inert_notice(decision.findings)
    status_page = render_status_page(decision.rows, updated=NOW.date(), page_title="Social media")
    code = mwparserfromhell.parse(status_page)
    assert not code.filter_templates(recursive=True)
    assert not code.filter_headings(recursive=True)
    assert {str(link.title) for link in code.filter_wikilinks(recursive=True)} <= {":Social media"}
    fixed = apply_fixes(text, decision.fixes)
    assert len(extract_accounts(fixed.text).accounts) == len(extraction.accounts)
    markers = {f.marker: None for f in decision.findings}
    resolved_markers(markers, results, extraction)


# ---- inert as MediaWiki renders it ------------------------------------------------------------

SIGNATURE_LINKS = {"User:Admin", "User talk:Admin"}  # the pre-save transform signs as Admin


def mediawiki_parse(human: ApiSession, text: str) -> dict[str, Any]:
    data = human.post(
        action="parse",
        title="Talk:Social media",
        text=text,
        contentmodel="wikitext",
        pst=1,
        disablelimitreport=1,
        prop="text|templates|links|categories|externallinks|images|sections|iwlinks|langlinks|properties",
    )
    return dict(data["parse"])


def assert_inert_on_mediawiki(
    human: ApiSession, text: str, allowed_links: set[str], safe_urls: set[str]
) -> None:
    parsed = mediawiki_parse(human, text)
    assert parsed["templates"] == [], parsed["templates"]
    assert parsed["categories"] == [], parsed["categories"]
    assert parsed["images"] == [], parsed["images"]
    assert parsed["sections"] == [], parsed["sections"]
    assert parsed["iwlinks"] == [] and parsed["langlinks"] == []
    assert not parsed.get("properties"), parsed["properties"]  # no __NOTOC__ and the like
    links = {link["title"] for link in parsed["links"]}
    assert links <= allowed_links | SIGNATURE_LINKS, links - allowed_links - SIGNATURE_LINKS
    assert set(parsed["externallinks"]) <= safe_urls, set(parsed["externallinks"]) - safe_urls
    html = parsed["text"]
    assert not re.search(r"<(script|ref|style|iframe)\b", html, re.I)
    assert html.count("(UTC)") <= 1, "only the bot's own signature is expanded"


@pytest.mark.wiki
@pytest.mark.parametrize(
    "field", ["url", "section", "owner", "evidence", "label", "handle", "key", "kind", "platform"]
)
def test_every_injection_is_inert_on_mediawiki(
    human: ApiSession, figures: Figures, field: str
) -> None:
    base = Finding(
        key="mastodon:a@old.example", kind="deleted", platform="mastodon", handle="a@old.example",
        url="https://old.example/@a", section="S", owner="O", since=date(2026, 11, 1),
        evidence="E", action="A", label="L",
    )  # fmt: skip
    from dataclasses import replace

    findings = [replace(base, **{field: f"x {payload} y"}) for payload in INJECTIONS]
    _heading, body = render_notice(
        findings, bot="WmsocialBot", run_date=NOW.date(), page_title="Social media"
    )
    safe = {profile_url(f.platform, f.handle, f.url) for f in findings} - {None}
    assert_inert_on_mediawiki(human, body, {"Social media", "User:WmsocialBot/config.json"}, safe)
    figures.case("properties: injections rendered by MediaWiki", len(findings))
    figures.fault("markup injection", len(findings))


@pytest.mark.wiki
@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(findings=st.lists(findings_strategy, min_size=1, max_size=4))
def test_any_notice_and_status_page_is_inert_on_mediawiki(
    human: ApiSession, figures: Figures, findings: list[Finding]
) -> None:
    figures.case("properties: random notices rendered by MediaWiki")
    _heading, body = render_notice(
        findings, bot="WmsocialBot", run_date=NOW.date(), page_title="Social media"
    )
    safe = {profile_url(f.platform, f.handle, f.url) for f in findings} - {None}
    assert_inert_on_mediawiki(human, body, {"Social media", "User:WmsocialBot/config.json"}, safe)
    from wmsocial_bot.model import StatusRow

    rows = [
        StatusRow(
            platform=f.platform, handle=f.handle, url=f.url, status=f.kind, last_activity=None,
            since=f.since, verified=None, owner=f.owner, detail=f.evidence,
        )
        for f in findings
    ]  # fmt: skip
    page = render_status_page(rows, updated=NOW.date(), page_title="Social media")
    assert_inert_on_mediawiki(human, page, {"Social media"}, safe)
    assert mediawiki_parse(human, page)["text"].count("<tr") == len(rows) + 1


# ---- hostile answers from the platforms -------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["acct", "username", "id", "moved", "suspended", "limited", "url", "fields",
             "last_status_at", "statuses_count", "pleroma", "deactivated", "kind", "data",
             "is_suspended", "profiles", "did", "handle", "postsCount", "error", "message",
             "links", "software", "name", "feed", "post", "reason", "author", "by", "uri",
             "indexedAt", "$type"]
        ) | st.text(max_size=6),
        children,
        max_size=6,
    ),
    max_leaves=12,
)  # fmt: skip
markup = st.lists(
    st.sampled_from(
        ["<feed>", "</feed>", "<entry>", "<published>", "2024-01-01T00:00:00Z", "</published>",
         "</entry>", '<div class="tgme_page">', '<div class="tgme_page_title">', "</div>",
         '<time datetime="', '">', "<!DOCTYPE x [<!ENTITY a 'b'>]>", "&a;", "<?xml?>", "@x",
         '<link rel="canonical" href="https://www.youtube.com/channel/UC', "\x00", "é"]
    ) | st.text(max_size=10),
    max_size=30,
).map("".join)  # fmt: skip
TARGETS = {
    # link checked, host, path whose answer is replaced
    "mastodon": ("https://social.example/@alice", "social.example", "/api/v1/accounts/lookup"),
    "reddit": ("https://www.reddit.com/user/alice", "www.reddit.com", "/user/alice/about.json"),
    "bluesky": (
        "https://bsky.app/profile/alice.bsky.social",
        "public.api.bsky.app",
        "/xrpc/app.bsky.actor.getProfiles",
    ),
    "bluesky-feed": (  # read as plain JSON, not through atproto's models: each field checked
        "https://bsky.app/profile/alice.bsky.social",
        "public.api.bsky.app",
        "/xrpc/app.bsky.feed.getAuthorFeed",
    ),
    "youtube": (
        "https://www.youtube.com/channel/UClivexxxxxxxxxxxxxxxxxx",
        "www.youtube.com",
        "/feeds/videos.xml",
    ),
    "telegram": ("https://t.me/wikimedia", "t.me", "/wikimedia"),
}


@pytest.mark.simulator
@pytest.mark.parametrize("platform", sorted(TARGETS))
def test_hostile_platform_answers_never_break_a_check(
    basic_sim: Simulator, figures: Figures, platform: str
) -> None:
    link, host, path = TARGETS[platform]
    scenario = (
        BASIC if host in json.loads(BASIC.read_text())["hosts"] else SCENARIOS / "platforms.json"
    )
    base = json.loads(scenario.read_text(encoding="utf-8"))

    @settings(max_examples=40, derandomize=True, deadline=None)
    @given(st.one_of(json_values.map(lambda v: ("json", v)), markup.map(lambda t: ("text", t))))
    def check(answer: tuple[str, Any]) -> None:
        kind, value = answer
        data = json.loads(json.dumps(base))
        data["hosts"][host].setdefault("pages", {})[path] = (
            {"json": value} if kind == "json" else {"body": value}
        )
        basic_sim.load(data)
        net = Net(NetworkConfig(timeout=3.0, retries=0), basic_sim.overrides())
        (found,) = check_accounts(extract_accounts(f"* {link}\n").accounts, net, now=NOW)
        figures.case("properties: hostile platform answers")
        figures.fault("hostile body")
        assert "internal error" not in found.detail, (json.dumps(value)[:200], found.detail)
        assert "\n" not in found.detail

    check()
    assert basic_sim.errors == []
