"""Talk-page notices and the status page: page-derived text is inert, output is stable.

Inertness is checked on the parse tree: the rendered wikitext, parsed by mwparserfromhell, must
have exactly the structure (templates, links, tags, headings, comments) of the same notice
rendered from harmless text.  Whatever the input, only the renderer's own markup is live.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

import mwparserfromhell
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mwparserfromhell.nodes import (
    Comment,
    HTMLEntity,
    Tag,
    Text,
    Wikilink,
)

from wmsocial_bot.model import Finding, StatusRow
from wmsocial_bot.notices import (
    MARKER_PREFIX,
    inert,
    is_safe_url,
    marker_comment,
    profile_url,
    render_dry_run_diff,
    render_notice,
    render_status_page,
    reported_markers,
)

RUN = date(2026, 11, 24)
INJECTIONS = [
    "}}",
    "{{subst:Delete}}",
    "{{#invoke:Module|f}}",
    "[[Category:X]]",
    "[[File:X.png|thumb]]",
    "[https://evil.example click]",
    "https://evil.example/free-link",
    "mailto:a@b.example",
    "~~~~",
    "~~~",
    "~~~~~",
    "<script>alert(1)</script>",
    "</nowiki>[[Category:X]]<nowiki>",
    "<nowiki>",
    "-->",
    "<!-- x",
    "|}",
    "{|",
    "|-",
    "||",
    "!!",
    "==Heading==",
    "\n== Heading ==\n",
    "__NOTOC__",
    "__FORCETOC__ __INDEX__",
    "\n* item",
    "\n# item",
    "\n: indent",
    "\n; term",
    "\n----",
    "\n pre",
    "''italic'' '''bold'''",
    "<ref>x</ref>",
    "{{{1}}}",
    "-{zh-hans:x}-",
    "ISBN 9780306406157",
    "RFC 2616",
    "&lt;script&gt;",
    "&#123;&#123;x&#125;&#125;",
    "\x00\x7f\u2028\u2029\r\n\t",
    "* start",
    "= start",
    "'''",
]


def finding(**changes: object) -> Finding:
    base = Finding(
        key="mastodon:alice@old.example",
        kind="deleted",
        platform="mastodon",
        handle="alice@old.example",
        url="https://old.example/@alice",
        section="Chapters",
        owner="Wikimedia Examplia",
        since=date(2026, 11, 1),
        evidence="the server answered 404 and WebFinger 410",
        action="Remove the account from the page.",
        label="Our Mastodon",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _harmless(item: Finding) -> Finding:
    """The same finding with harmless text in every page-derived field."""
    live = profile_url(item.platform, item.handle, item.url) is not None
    url = "https://example.org/@x" if live else None
    return replace(
        item,
        key="k",
        kind=item.kind if item.kind in ("deleted", "inactive") else "x",
        platform="x",
        handle="h",
        url=url,
        section="s" if item.section else None,
        owner="o" if item.owner else None,
        evidence="e" if item.evidence.strip() else "",
        action="a" if item.action.strip() else "",
        label="l",
    )


def _structure(wikitext: str) -> Counter[tuple[str, str]]:
    """What in ``wikitext`` is live markup: every node but text and entities."""
    found: Counter[tuple[str, str]] = Counter()
    for node in mwparserfromhell.parse(wikitext).filter(recursive=True):
        if isinstance(node, Text | HTMLEntity):
            continue
        name = type(node).__name__
        if isinstance(node, Tag):
            found[(name, str(node.tag))] += 1
        elif isinstance(node, Wikilink):
            found[(name, str(node.title))] += 1
        elif isinstance(node, Comment):
            found[
                (name, "marker" if str(node.contents).strip().startswith(MARKER_PREFIX) else "")
            ] += 1
        else:
            found[(name, "")] += 1
    return found


def _line_starts(wikitext: str) -> list[str]:
    return [line[:2].rstrip() for line in wikitext.split("\n")]


def _assert_inert_notice(findings: Sequence[Finding]) -> None:
    heading, body = render_notice(
        findings, bot="ExampleBot", run_date=RUN, page_title="Social media"
    )
    _, harmless = render_notice(
        [_harmless(f) for f in findings], bot="ExampleBot", run_date=RUN, page_title="Social media"
    )
    assert heading == "Social media accounts that need attention (2026-11-24)"
    assert _structure(body) == _structure(harmless)
    assert _line_starts(body) == _line_starts(harmless)
    assert body.endswith(" ~~~~")
    assert "~~" not in body[: -len("~~~~")]  # a URL may hold one "~" (/~user), never more
    assert "__" not in body
    code = mwparserfromhell.parse(body)
    assert not code.filter_templates(recursive=True)
    assert not code.filter_headings(recursive=True)
    assert {str(link.title) for link in code.filter_wikilinks(recursive=True)} == {
        ":Social media",
        "User:ExampleBot/config.json",
    }
    # A live external link only ever carries a finding's own, safe URL.
    safe = {profile_url(f.platform, f.handle, f.url) for f in findings} - {None}
    for link in code.filter_external_links(recursive=True):
        assert str(link.url) in safe
    for comment in code.filter_comments(recursive=True):
        assert str(comment.contents).strip().startswith(MARKER_PREFIX)
    assert reported_markers(body) == {f.marker for f in findings}


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize(
    "field", ["url", "section", "owner", "evidence", "action", "label", "handle", "key", "kind"]
)
def test_injection_in_any_field_stays_inert(field: str, payload: str) -> None:
    value = payload if field in ("key", "kind") else f"x {payload} y"
    _assert_inert_notice([finding(**{field: value}), finding(kind="inactive")])


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_at_the_very_start_of_a_field(payload: str) -> None:
    _assert_inert_notice([finding(evidence=payload, owner=payload, section=payload, url=payload)])


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/@a]] [[Category:X",
        "https://evil.example/@a [[Category:X]]",
        'https://evil.example/@a"onmouseover=x',
        "https://evil.example/@a'",
        "https://evil.example/@a/~~~~",
        "https://evil.example/__NOTOC__",
        "https://evil.example/@a{{x}}",
        "https://evil.example/@a|x",
        "https://evil.example/@a<b>",
        "https://evil.example/&#91;&#91;x",
        "javascript:alert(1)",
    ],
)
def test_unsafe_urls_are_text_not_links(url: str) -> None:
    assert not is_safe_url(url)
    _, body = render_notice([finding(url=url)], bot="B", run_date=RUN, page_title="P")
    assert not mwparserfromhell.parse(body).filter_external_links(recursive=True)
    _assert_inert_notice([finding(url=url)])


def test_schemeless_links_and_text_handles_become_links() -> None:
    """Issue 18: a reported account is one click away, however the page wrote it."""
    for url, expected in [
        ("//old.example/@alice", "[https://old.example/@alice @alice@old.example]"),
        ("old.example/@alice", "[https://old.example/@alice @alice@old.example]"),
        (None, "[https://old.example/@alice @alice@old.example]"),
    ]:
        _, body = render_notice([finding(url=url)], bot="B", run_date=RUN, page_title="P")
        assert expected in body
    bluesky = finding(platform="bluesky", handle="a.bsky.social", url=None, key="bluesky:a")
    _, body = render_notice([bluesky], bot="B", run_date=RUN, page_title="P")
    assert "[https://bsky.app/profile/a.bsky.social @a.bsky.social]" in body


def test_a_plain_url_is_a_link() -> None:
    _, body = render_notice([finding()], bot="B", run_date=RUN, page_title="P")
    assert "[https://old.example/@alice @alice@old.example]" in body


texts = st.text(max_size=40) | st.lists(st.sampled_from(INJECTIONS), max_size=4).map("".join)
findings_strategy = st.builds(
    Finding,
    key=texts,
    kind=st.sampled_from(["deleted", "suspended", "inactive", "duplicate", "reverted"]) | texts,
    platform=st.sampled_from(["mastodon", "bluesky", "x"]) | texts,
    handle=texts,
    url=st.none()
    | texts
    | st.text(alphabet="abc:/.@_-~'[]{}|<>&#;=!*()", max_size=20).map(
        lambda tail: "https://example.org/" + tail
    ),
    section=st.none() | texts,
    owner=st.none() | texts,
    since=st.dates(),
    evidence=texts,
    action=texts,
    label=st.none() | texts,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(findings_strategy, min_size=1, max_size=4))
def test_any_finding_renders_inert(findings: list[Finding]) -> None:
    _assert_inert_notice(findings)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_inert_text_is_one_line_of_plain_text(text: str) -> None:
    shown = inert(text)
    assert "\n" not in shown and "\r" not in shown
    assert not re.search(r"[{}\[\]|<>~:'\"]", shown)
    assert "__" not in shown
    assert not shown or shown[0] not in "*#:;=!- +"
    nodes = mwparserfromhell.parse(shown).nodes
    assert all(isinstance(node, Text | HTMLEntity) for node in nodes)
    # Rendered, the entities give back the text (whitespace collapsed, control characters and
    # separators gone, invisible formatting such as bidi overrides removed).
    decoded = mwparserfromhell.parse(shown).strip_code(normalize=True)
    visible = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", text)
    visible = "".join(c for c in visible if unicodedata.category(c) != "Cf")
    assert decoded == " ".join(visible.split())


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_markers_round_trip(kind: str, key: str) -> None:
    item = finding(kind=kind, key=key)
    comment = marker_comment(item.marker)
    assert comment.count("-->") == 1 and comment.endswith(" -->")
    assert "\n" not in comment
    assert reported_markers(f"text {comment} more") == {item.marker}
    (node,) = mwparserfromhell.parse(comment).nodes
    assert isinstance(node, Comment)


def test_reported_markers_reads_a_whole_talk_page() -> None:
    _, body1 = render_notice(
        [finding(), finding(kind="inactive", key="bluesky:x.bsky.social")],
        bot="B",
        run_date=RUN,
        page_title="P",
    )
    _, body2 = render_notice([finding(kind="suspended")], bot="B", run_date=RUN, page_title="P")
    talk = f"== Old ==\n{body1}\n== Newer ==\n{body2}\n<!-- unrelated --> <!-- other-bot:x -->"
    assert reported_markers(talk) == {
        "deleted:mastodon:alice@old.example",
        "inactive:bluesky:x.bsky.social",
        "suspended:mastodon:alice@old.example",
    }
    assert reported_markers("<!--wmsocial-bot:a:b-->") == {"a:b"}
    assert reported_markers("") == set()


def test_notice_orders_most_urgent_first() -> None:
    kinds = ["inactive", "reverted", "duplicate", "invalid", "unreachable", "deactivated"]
    kinds += ["suspended", "deleted", "something-new"]
    findings = [finding(kind=kind, key=f"mastodon:{kind}@x.example") for kind in kinds]
    _, body = render_notice(findings, bot="B", run_date=RUN, page_title="P")
    order = [m.split(":")[0] for m in re.findall(r"wmsocial-bot:(\S+) -->", body)]
    assert order == [
        "deleted",
        "suspended",
        "deactivated",
        "unreachable",
        "invalid",
        "duplicate",
        "reverted",
        "inactive",
        "something-new",
    ]


def test_notice_text() -> None:
    heading, body = render_notice(
        [
            finding(),
            finding(
                kind="inactive",
                url=None,
                section=None,
                owner=None,
                evidence="",
                label=None,
                last_activity=date(2023, 3, 20),
            ),
        ],
        bot="ExampleBot",
        run_date=RUN,
        page_title="Social media",
    )
    assert heading == "Social media accounts that need attention (2026-11-24)"
    lines = body.split("\n")
    assert lines[0].startswith(
        "The bot checked the social media accounts listed on [[:Social media]]"
    )
    assert lines[2] == (
        "* '''Mastodon''' [https://old.example/@alice @alice@old.example] "
        "(shown as “Our Mastodon”; section “Chapters”; owner: Wikimedia Examplia): "
        "deleted; first found by the bot on 2026-11-01. "
        "Evidence: the server answered 404 and WebFinger 410. "
        "Suggested action: Remove the account from the page. "
        "<code>mastodon&#58;alice@old.example</code> "
        "<!-- wmsocial-bot:deleted:mastodon:alice@old.example -->"
    )
    assert lines[3].startswith(
        "* '''Mastodon''' [https://old.example/@alice @alice@old.example]: inactive; "
        "last activity on 2023-03-20 (the platform's date)."
    )
    assert lines[-1] == (
        "If an item is a false positive, add its key (shown in code after it) to the "
        '"ignore" list on [[User:ExampleBot/config.json]] (a JSON page; create it if it does '
        "not exist), for example <code>&#123;&quot;ignore&quot;&#58; "
        "&#91;&quot;mastodon&#58;alice@old.example&quot;&#93;&#125;</code>, or put "
        "<code>&lt;!-- wmsocial-bot&#58; ignore --&gt;</code> on the account's line of "
        "[[:Social media]]; it will not be reported again. ~~~~"
    )


def test_notice_refuses_nothing_and_bad_titles() -> None:
    with pytest.raises(ValueError):
        render_notice([], bot="B", run_date=RUN, page_title="P")
    for title in ["", "P]] [[Category:X", "P|x", "{{x}}", "A\nB"]:
        with pytest.raises(ValueError):
            render_notice([finding()], bot="B", run_date=RUN, page_title=title)
    with pytest.raises(ValueError):
        render_notice([finding()], bot="B]]", run_date=RUN, page_title="P")


def row(**changes: object) -> StatusRow:
    base = StatusRow(
        platform="mastodon",
        handle="alice@old.example",
        url="https://old.example/@alice",
        status="ok",
        last_activity=date(2026, 11, 20),
        since=None,
        verified=True,
        owner="Wikimedia Examplia",
        detail="found; last post 2026-11-20",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_status_page_table() -> None:
    x_detail = "not checked: X has no free API to look accounts up, and x.com answers alike"
    text = render_status_page(
        [row(), row(platform="x", handle="gone", url=None, status="deleted", verified=None,
                    last_activity=None, since=date(2026, 11, 1), owner=None, detail="404"),
         row(platform="x", handle="a", url="https://x.com/a", status="unverifiable",
             verified=None, last_activity=None, since=None, owner=None, detail=x_detail),
         row(platform="x", handle="b", url="https://x.com/b", status="unverifiable",
             verified=None, last_activity=None, since=None, owner=None, detail=x_detail)],
        updated=RUN,
        page_title="Social media",
    )  # fmt: skip
    assert text == (
        "Social media accounts listed on [[:Social media]], as checked by a bot. "
        "Last updated: 2026-11-24. The bot rewrites this page: edit [[:Social media]] instead. "
        "''Last activity'' is the platform's own date (the newest post); ''First seen'' is the "
        "day the bot first found the account in its current status.\n"
        "\n"
        '{| class="wikitable sortable"\n'
        "! Platform !! Account !! Status !! Last activity !! First seen !! Verified !! Owner "
        "!! Detail\n"
        "|-\n"
        "| X\n"
        "| gone\n"
        "| deleted\n"
        "|\n"
        "| 2026-11-01\n"
        "|\n"
        "|\n"
        "| 404\n"
        "|-\n"
        "| X\n"
        "| [https://x.com/a a]\n"
        "| unverifiable\n"
        "|\n"
        "|\n"
        "|\n"
        "|\n"
        "| see note 1 below\n"
        "|-\n"
        "| X\n"
        "| [https://x.com/b b]\n"
        "| unverifiable\n"
        "|\n"
        "|\n"
        "|\n"
        "|\n"
        "| see note 1 below\n"
        "|-\n"
        "| Mastodon\n"
        "| [https://old.example/@alice @alice@old.example]\n"
        "| ok\n"
        "| 2026-11-20\n"
        "|\n"
        "| yes\n"
        "| Wikimedia Examplia\n"
        "| found; last post 2026-11-20\n"
        "|}\n"
        "\n"
        "Note 1: not checked&#58; X has no free API to look accounts up, and x.com answers "
        "alike.\n"
    ), "bad rows first, the shared explanation once"


def test_status_page_is_deterministic() -> None:
    rows = [row(), row(handle="b@x.example", verified=False), row(platform="bluesky", handle="c")]
    first = render_status_page(rows, updated=RUN, page_title="Social media")
    assert render_status_page(list(rows), updated=RUN, page_title="Social media") == first
    assert not re.search(r"\d\d:\d\d", first)  # a date, never a time of day
    assert "| no" in first


@pytest.mark.parametrize("payload", INJECTIONS)
def test_status_page_injection_stays_inert(payload: str) -> None:
    evil = row(
        platform=payload, handle=payload, url=payload, status=payload, owner=payload, detail=payload
    )
    calm_url = "https://example.org/@x" if is_safe_url(payload) else None
    calm = row(platform="p", handle="h", url=calm_url, status="s", owner="o", detail="d")
    text = render_status_page([evil, row()], updated=RUN, page_title="Social media")
    harmless = render_status_page([calm, row()], updated=RUN, page_title="Social media")
    assert _structure(text) == _structure(harmless)
    assert _line_starts(text) == _line_starts(harmless)
    assert "~~~" not in text and "__" not in text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(texts, texts, texts, texts)
def test_status_page_any_text_stays_inert(
    handle: str, status: str, owner: str, detail: str
) -> None:
    evil = row(handle=handle, url=None, status=status, owner=owner, detail=detail)
    calm = row(handle="h", url=None, status="s", owner="o", detail="d")
    text = render_status_page([evil], updated=RUN, page_title="P")
    assert _structure(text) == _structure(render_status_page([calm], updated=RUN, page_title="P"))
    assert "~~~" not in text and "__" not in text


def test_dry_run_diff() -> None:
    assert render_dry_run_diff("a\nb\n", "a\nb\n", "Social media") == ""
    diff = render_dry_run_diff("a\nb\nc\n", "a\nB\nc\n", "Social media")
    assert diff.splitlines() == [
        "--- Social media (current)",
        "+++ Social media (proposed)",
        "@@ -1,3 +1,3 @@",
        " a",
        "-b",
        "+B",
        " c",
    ]


# ---- invisible formatting (issue 12) -------------------------------------------------------

INVISIBLE = (
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # bidi isolates
    "\u200e\u200f\u061c"  # bidi marks
    "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # zero-width characters, soft hyphen
    "\U000e0001\U000e0041"  # tag characters (category Cf too)
    "\u2028\u2029\x1b\x85"  # separators and controls
)


def _invisible_in(text: str) -> set[str]:
    return {c for c in text if unicodedata.category(c) in ("Cf", "Cc", "Zl", "Zp") and c != "\n"}


def test_bidi_from_the_page_never_reaches_the_talk_or_status_page() -> None:
    """A U+202E in a label, section or owner reversed the bot's own text after it."""
    from wmsocial_bot.decide import History, Policy, decide
    from wmsocial_bot.extract import extract_accounts
    from wmsocial_bot.model import CheckResult, Status

    page = (
        "== Chapter \u202eretpahc ==\n"
        '{| class="wikitable"\n! Owner !! Account\n|-\n'
        "| Wiki\u202eikiw\u2066 \u200b || [https://old.example/@a Our \u202e account\u2069]\n"
        "|}\n"
    )
    extraction = extract_accounts(page)
    [account] = extraction.accounts
    assert "\u202e" in (account.label or "") + (account.section or "")  # it is on the page
    found = [CheckResult(account, Status.DELETED, f"gone {INVISIBLE} really")]
    decision = decide(
        found, extraction, History(), Policy(confirmations=1, confirm_days=0), datetime_now()
    )
    assert decision.findings
    _heading, body = render_notice(
        decision.findings, bot="Bot", run_date=RUN, page_title="Social media"
    )
    status = render_status_page(decision.rows, updated=RUN, page_title="Social media")
    assert _invisible_in(body) == set(), body
    assert _invisible_in(status) == set(), status
    assert "retpahc" in body and "gone really" in body.replace("  ", " ")


def datetime_now() -> object:
    from datetime import UTC, datetime

    return datetime(2026, 11, 24, tzinfo=UTC)


@pytest.mark.parametrize("char", list(INVISIBLE))
def test_inert_removes_every_invisible_character(char: str) -> None:
    assert _invisible_in(inert(f"a{char}b")) == set()


def test_the_run_summary_and_the_edit_summary_are_neutral() -> None:
    from wmsocial_bot.notices import neutral
    from wmsocial_bot.run import PageReport

    assert neutral(f"x{INVISIBLE}y") == "x" + " " * 4 + "y"
    report = PageReport("Social \u202emedia")
    report.skipped_writes.append("talk notice: \x1b[31mred\u202e")
    assert all(_invisible_in(line) == set() for line in report.summary_lines())


@pytest.mark.parametrize("handle", ["@0", "0@", "a@0", "a@localhost", "a@10.0.0.1", "@a@b@c.org"])
def test_a_handle_outside_mastodons_grammar_gets_no_link(handle: str) -> None:
    # Found by hypothesis: "@0" became the external link [https://0/@ @0] on the status page.
    text = render_status_page([row(handle=handle, url=None)], updated=RUN, page_title="P")
    assert "[https://" not in text
    assert profile_url("mastodon", handle, None) is None
