"""Listed accounts' own profiles: their links read as hostile input, and the missing-account
suggestions they give (pure: decide and plan on fakes, no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wmsocial_bot.decide import History, Policy, decide
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Identity, Profile, ProfileLink, Status
from wmsocial_bot.notices import render_notice, reported_markers
from wmsocial_bot.plan import AddTalkSection, PageFacts, RecordRun, TalkState, plan_page
from wmsocial_bot.profiles import (
    MAX_FIELDS,
    MAX_LINKS,
    bluesky_profile,
    mastodon_profile,
    public_link,
)

NOW = datetime(2026, 11, 2, 6, tzinfo=UTC)
PAGE = """{| class="wikitable"
! Owner !! Mastodon !! Bluesky
|-
| Wikimedia Foundation || https://wikimedia.social/@wikimediafoundation || https://bsky.app/profile/wikimediafoundation.org
|-
| Wikimedia Deutschland || https://social.wikimedia.de/@wmde ||
|}
"""
WMF = "mastodon:wikimediafoundation@wikimedia.social"
WMF_BSKY = "bluesky:wikimediafoundation.org"
WMDE = "mastodon:wmde@social.wikimedia.de"
# How Mastodon renders a link in a field or the bio (TextFormatter; the API's `value`/`note`).
LINK = (
    '<a href="{url}" target="_blank" rel="nofollow noopener me" translate="no">'
    '<span class="invisible">https://</span><span class="">{shown}</span>'
    '<span class="invisible"></span></a>'
)


def linked(url: str) -> str:
    return LINK.format(url=url, shown=url.removeprefix("https://"))


def profile_of(*links: tuple[str, str]) -> Profile:
    return Profile(links=tuple(ProfileLink(url, where) for url, where in links))


def checked(profiles: dict[str, Profile], status: Status = Status.OK) -> list[CheckResult]:
    extraction = extract_accounts(PAGE)
    return [
        CheckResult(a, status, "evidence", profile=profiles.get(a.key)) for a in extraction.accounts
    ]


def suggested(results: list[CheckResult], policy: Policy | None = None) -> list[tuple[str, str]]:
    policy = policy or Policy()
    decision = decide(results, extract_accounts(PAGE), History(), policy, NOW)
    return [(f.key, f.evidence) for f in decision.findings if f.kind == "suggested"]


# ---- hostile input ---------------------------------------------------------------------------


def test_only_links_to_public_host_names_are_kept() -> None:
    assert public_link("https://x.com/wikimedia") == "https://x.com/wikimedia"
    assert public_link("https://bücher.social/@a") == "https://bücher.social/@a", "IDN"
    for bad in (
        "javascript:alert(1)",
        "https://127.0.0.1/@a",
        "https://[::1]/@a",
        "http://localhost/@a",
        "https://printer.local/@a",
        "https://intranet/@a",
        "https://user:pw@x.com/a",
        "https://exa mple.com/a",
        "ftp://x.com/a",
        "https://" + "a" * 2001 + ".com",
        "https://bad_host.example/@a",
        "https://x.com:port/a",
    ):
        assert public_link(bad) is None, bad


def test_a_mastodon_profile_is_bounded_and_typed() -> None:
    fields = [{"name": f"F{i}", "value": linked(f"https://x.com/n{i}")} for i in range(40)]
    fields += ["not a field", {"name": 5, "value": None}]
    note = "".join(linked(f"https://site{i}.example/") for i in range(40))
    profile = mastodon_profile(fields, note, "https://a.example/@a", verifies=True)
    assert len(profile.fields) == MAX_FIELDS
    assert len(profile.links) == MAX_LINKS
    assert profile.links[0] == ProfileLink("https://x.com/n0", "field “F0”")
    assert mastodon_profile("junk", 42, None, verifies=True) == Profile()
    huge = [{"name": "N" * 10_000, "value": "<a href='https://x.com/y'>" * 50_000}]
    (field,) = mastodon_profile(huge, None, None, verifies=True).fields
    assert len(field.name) == 255 and len(field.value_html) == 10_000


def test_a_server_that_never_verifies_gives_no_fields_to_explain() -> None:
    """Pleroma and Akkoma do not verify links: "not verified" would be a claim never made."""
    fields = [{"name": "Web", "value": linked("https://wikimedia.org"), "verified_at": None}]
    profile = mastodon_profile(fields, None, None, verifies=False)
    assert profile.fields == () and [link.url for link in profile.links] == [
        "https://wikimedia.org"
    ]


def test_bluesky_description_urls_and_mentions() -> None:
    profile = bluesky_profile(
        "Official. Also https://wikimedia.social/@wikimediafoundation, and @wikipedia.org! "
        "mail: press@wikimedia.org http://10.0.0.1/@x"
    )
    assert [link.url for link in profile.links] == [
        "https://wikimedia.social/@wikimediafoundation",
        "https://bsky.app/profile/wikipedia.org",
    ]
    assert bluesky_profile(None) == Profile()


# ---- suggestions -----------------------------------------------------------------------------


def test_an_unlisted_account_linked_from_a_profile_is_suggested_once_with_who_and_where() -> None:
    results = checked(
        {
            WMF: profile_of(
                ("https://x.com/Wikimedia", "field “X”"),
                ("https://wikimedia.social/@wikimediafoundation", "bio"),  # itself
                ("https://bsky.app/profile/wikimediafoundation.org", "bio"),  # listed
                ("https://x.com/Wikimedia/status/123", "bio"),  # a post
                ("https://wikimediafoundation.org/about/", "bio"),  # no account
            ),
            WMF_BSKY: profile_of(("https://twitter.com/wikimedia", "description")),
        }
    )
    decision = decide(results, extract_accounts(PAGE), History(), Policy(), NOW)
    (finding,) = [f for f in decision.findings if f.kind == "suggested"]
    assert finding.key == "x:wikimedia" and finding.marker == "suggested:x:wikimedia"
    assert finding.owner == "Wikimedia Foundation", "the row it would belong to"
    assert finding.evidence.startswith(
        "linked from @wikimediafoundation@wikimedia.social's field “X”, "
        "@wikimediafoundation.org's description"
    )
    _heading, body = render_notice([finding], bot="Bot", run_date=NOW.date(), page_title="P")
    assert "* '''X''' [https://x.com/wikimedia wikimedia] (owner: Wikimedia Foundation)" in body
    assert reported_markers(body) == {"suggested:x:wikimedia"}


def test_the_account_itself_under_another_form_is_not_suggested() -> None:
    results = checked(
        {
            WMF: profile_of(
                ("https://wikimedia.social/users/wikimediafoundation", "bio"),
                ("https://wikimedia.social/@WikimediaFoundation", "field “Me”"),
                ("https://other.example/@wikimediafoundation@wikimedia.social", "bio"),
            ),
            # the Bluesky account by its DID, which the check learned
            WMF_BSKY: profile_of(("https://bsky.app/profile/did:plc:wmf", "description")),
        }
    )
    results = [
        r
        if r.account.key != WMF_BSKY
        else CheckResult(
            r.account,
            r.status,
            r.detail,
            profile=r.profile,
            learned=Identity(WMF_BSKY, "bluesky", "did:plc:wmf", "wikimediafoundation.org"),
        )
        for r in results
    ]
    assert suggested(results) == []


def test_cross_linked_profiles_give_exactly_one_suggestion() -> None:
    link = ("https://bsky.app/profile/wmde.de", "bio")
    results = checked(
        {WMDE: profile_of(link), WMF: profile_of(("https://bsky.app/profile/WMDE.de", "bio"))}
    )
    (only,) = suggested(results)
    assert only[0] == "bluesky:wmde.de"
    assert "@wikimediafoundation@wikimedia.social's bio" in only[1]
    assert "@wmde@social.wikimedia.de's bio" in only[1]


def test_the_ignore_list_silences_a_suggestion_and_an_ignored_accounts_profile() -> None:
    results = checked(
        {
            WMF: profile_of(("https://x.com/wikimedia", "bio")),
            WMDE: profile_of(("https://x.com/wmde", "bio")),
        }
    )
    assert [k for k, _ in suggested(results)] == ["x:wikimedia", "x:wmde"]
    policy = Policy(ignore=frozenset({"x:wikimedia", WMDE}))  # WMDE: e.g. its inline marker
    assert suggested(results, policy) == []


def _facts(results: list[CheckResult], reported: dict, now: datetime) -> PageFacts:
    extraction = extract_accounts(PAGE)
    decision = decide(results, extraction, History(), Policy(), now)
    return PageFacts(
        page="Social media",
        results=tuple(results),
        extraction=extraction,
        decision=decision,
        recovered=(),
        reported=reported,
        talk=TalkState("Talk:Social media", frozenset(), None),
        now=now,
        bot="Bot",
        config_page="User:Bot/config.json",
        status_page=None,
    )


def test_a_suggestion_is_posted_once_even_when_the_linking_check_fails_later() -> None:
    with_link = checked({WMF: profile_of(("https://x.com/wikimedia", "bio"))})
    plan = plan_page(_facts(with_link, {}, NOW))
    (section,) = [a for a in plan if isinstance(a, AddTalkSection)]
    assert section.markers == {"suggested:x:wikimedia"}
    reported = {"suggested:x:wikimedia": None}
    # next day the profile could not be read: the suggestion is not resolved by that ...
    failed = checked({}, Status.UNREACHABLE)
    later = plan_page(_facts(failed, reported, NOW + timedelta(days=1)))
    run = later[0]
    assert isinstance(run, RecordRun) and tuple(run.record.resolved) == ()
    # ... and the day after, with the link back, nothing is posted again
    again = plan_page(_facts(with_link, reported, NOW + timedelta(days=2)))
    assert not any(isinstance(a, AddTalkSection) for a in again)


def test_a_suggestion_is_resolved_once_the_page_lists_the_account() -> None:
    from wmsocial_bot.plan import resolved_markers

    page = PAGE.replace("|}", "|-\n| WMF on X || https://x.com/wikimedia ||\n|}")
    extraction = extract_accounts(page)
    results = [CheckResult(a, Status.OK, "") for a in extraction.accounts]
    assert resolved_markers({"suggested:x:wikimedia": None}, results, extraction) == [
        "suggested:x:wikimedia"
    ]
