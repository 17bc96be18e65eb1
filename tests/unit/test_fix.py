"""Page fixes: only the targeted link and label characters change, and nothing is lost.

Data-driven: each ``fixtures/fix/NAME.wiki`` has its fixes in ``NAME.fixes.json`` (a list of
:class:`Fix` fields; an optional ``expect_skipped`` says the fix must be skipped, with a
reason containing that text) and the page after the fixes in ``NAME.expected.wiki``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.fix import AppliedFix, FixResult, apply_fixes
from wmsocial_bot.model import Fix, Span

FIXTURES = Path(__file__).parent.parent / "fixtures" / "fix"
PAGES = sorted(p for p in FIXTURES.glob("*.wiki") if not p.name.endswith(".expected.wiki"))


def _load(page: Path) -> tuple[str, list[Fix], dict[str, str]]:
    text = page.read_text(encoding="utf-8")
    raw: list[dict[str, Any]] = json.loads(
        page.with_name(page.stem + ".fixes.json").read_text(encoding="utf-8")
    )
    expect_skipped = {f["old_key"]: f.pop("expect_skipped") for f in raw if "expect_skipped" in f}
    return text, [Fix(**f) for f in raw], expect_skipped


def _changed_only_inside(old: str, new: str, spans: Sequence[Span]) -> None:
    """Everything of ``old`` outside ``spans`` is in ``new``, byte for byte and in order."""
    spans = sorted(spans)
    pieces = []
    prev = 0
    for span in spans:
        pieces.append(re.escape(old[prev : span.start]))
        prev = span.end
    pieces.append(re.escape(old[prev:]))
    match = re.fullmatch("(.*?)".join(pieces), new, re.DOTALL)
    assert match, "text outside the spans changed"
    # The same seen by difflib: with each span (old) and its replacement (new) masked out, the
    # texts are equal; and every line difflib sees changed holds a span.
    masked_old = _mask(old, spans)
    masked_new = _mask(new, [Span(match.start(i), match.end(i)) for i in range(1, len(spans) + 1)])
    opcodes = difflib.SequenceMatcher(None, masked_old, masked_new, autojunk=False).get_opcodes()
    assert [tag for tag, *_ in opcodes] in ([], ["equal"])
    old_lines = old.splitlines(keepends=True)
    starts = [0]
    for line in old_lines:
        starts.append(starts[-1] + len(line))
    lines = difflib.SequenceMatcher(None, old_lines, new.splitlines(keepends=True))
    for tag, i1, i2, _j1, _j2 in lines.get_opcodes():
        if tag != "equal":
            assert any(starts[i1] <= s.start < starts[i2] for s in spans), old_lines[i1:i2]


def _mask(text: str, spans: Sequence[Span]) -> str:
    for span in sorted(spans, reverse=True):
        text = text[: span.start] + "\ue000" + text[span.end :]
    return text


def _all_spans(result: FixResult) -> list[Span]:
    return [span for applied in result.applied for span in applied.spans]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_fixture_gives_expected_page(page: Path) -> None:
    text, fixes, expect_skipped = _load(page)
    expected = page.with_name(page.stem + ".expected.wiki").read_text(encoding="utf-8")
    result = apply_fixes(text, fixes)
    assert result.text == expected
    skipped = {fix.old_key: reason for fix, reason in result.skipped}
    assert set(skipped) == set(expect_skipped), skipped
    for key, words in expect_skipped.items():
        assert words in skipped[key]
    assert {a.fix.old_key for a in result.applied} == {
        f.old_key for f in fixes if f.old_key not in expect_skipped
    }


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_fixture_changes_only_the_targeted_spans(page: Path) -> None:
    text, fixes, _ = _load(page)
    result = apply_fixes(text, fixes)
    _changed_only_inside(text, result.text, _all_spans(result))
    before = extract_accounts(text).accounts
    targets = {f.old_key for f in fixes}
    # Each changed span is a link or text handle of a fixed account, or part of its label.
    allowed = [a.span for a in before if a.key in targets] + [
        a.label_span for a in before if a.key in targets and a.label_span is not None
    ]
    for span in _all_spans(result):
        assert any(a.start <= span.start and span.end <= a.end for a in allowed), span


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_fixture_keeps_every_account_and_is_idempotent(page: Path) -> None:
    text, fixes, _ = _load(page)
    result = apply_fixes(text, fixes)
    after = extract_accounts(result.text).accounts
    assert len(after) == len(extract_accounts(text).accounts)
    assert not {a.fix.old_key for a in result.applied} & {a.key for a in after}
    again = apply_fixes(result.text, fixes)
    assert again.text == result.text
    assert not again.applied


def test_every_place_of_a_duplicate_is_fixed() -> None:
    text = (
        "* [https://old.example/@a @a@old.example]\n"
        "* again: https://old.example/@A and @a@old.example\n"
        "* other: [https://old.example/@b B]\n"
    )
    fix = Fix("mastodon:a@old.example", "mastodon", "a@old.example", "a@new.example",
              "https://new.example/@a", "moved")  # fmt: skip
    result = apply_fixes(text, [fix])
    assert result.text == (
        "* [https://new.example/@a @a@new.example]\n"
        "* again: https://new.example/@a and @a@new.example\n"
        "* other: [https://old.example/@b B]\n"
    )
    (applied,) = result.applied
    assert applied == AppliedFix(fix, applied.spans)
    assert [text[s.start : s.end] for s in applied.spans] == [
        "https://old.example/@a",
        "@a@old.example",  # the label
        "https://old.example/@A",
        "@a@old.example",
    ]
    assert result.summary == "@a@old.example -> @a@new.example (moved)"


def test_summary_joins_applied_fixes() -> None:
    text = "* https://old.example/@a\n* https://bsky.app/profile/old.bsky.social\n"
    fixes = [
        Fix("mastodon:a@old.example", "mastodon", "a@old.example", "a@new.example",
            "https://new.example/@a", "moved"),
        Fix("bluesky:old.bsky.social", "bluesky", "old.bsky.social", "new.bsky.social",
            "https://bsky.app/profile/new.bsky.social", "renamed"),
        Fix("x:gone", "x", "gone", "new", "https://x.com/new", "renamed"),
    ]  # fmt: skip
    result = apply_fixes(text, fixes)
    assert result.summary == (
        "@a@old.example -> @a@new.example (moved); @old.bsky.social -> @new.bsky.social (renamed)"
    )
    assert result.skipped == ((fixes[2], "no longer listed"),)
    assert result.changed


def test_newer_revision_after_an_edit_conflict() -> None:
    """The same fixes on a revision that moved the link: found again, fixed there."""
    fix = Fix("mastodon:a@old.example", "mastodon", "a@old.example", "a@new.example",
              "https://new.example/@a", "moved")  # fmt: skip
    newer = "== Added by someone ==\nText.\n* [https://old.example/@a Our account]\n"
    assert apply_fixes(newer, [fix]).text == newer.replace("old.example", "new.example")
    removed = "== Added by someone ==\nText.\n"
    result = apply_fixes(removed, [fix])
    assert result.text == removed
    assert result.skipped == ((fix, "no longer listed"),)


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("@alice@old.example", "@alice@new.example"),
        ("@Alice@old.example", "@Alice@new.example"),
        ("alice@old.example", "alice@new.example"),
        ("@alice", "@alice"),
        ("alice", "alice"),
        ("Our Mastodon", "Our Mastodon"),
        ("Alice's page", "Alice's page"),
        ("mail alice@old.example.com", "mail alice@old.example.com"),
        ("https://old.example/@alice", "https://new.example/@alice"),
        ("<translate><!--T:1--> @alice@old.example</translate>",
         "<translate><!--T:1--> @alice@new.example</translate>"),
        ("<!-- @alice@old.example --> Alice", "<!-- @alice@old.example --> Alice"),
    ],
)  # fmt: skip
def test_label_changes_only_where_it_shows_the_handle(label: str, shown: str) -> None:
    fix = Fix("mastodon:alice@old.example", "mastodon", "alice@old.example", "alice@new.example",
              "https://new.example/@alice", "moved")  # fmt: skip
    text = f"* [https://old.example/@alice {label}] end\n"
    assert apply_fixes(text, [fix]).text == f"* [https://new.example/@alice {shown}] end\n"


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("@alice@old.example", "@bob@new.example"),
        ("@Alice@Old.Example", "@Bob@new.example"),
        ("@alice", "@bob"),
        ("@ALICE", "@Bob"),
        ("alice", "bob"),
    ],
)
def test_renamed_label_case_style(label: str, shown: str) -> None:
    """Lowercase stays lowercase; otherwise the successor's own spelling, from its URL."""
    fix = Fix("mastodon:alice@old.example", "mastodon", "alice@old.example", "bob@new.example",
              "https://new.example/@Bob", "moved")  # fmt: skip
    text = f"[https://old.example/@alice {label}]"
    assert apply_fixes(text, [fix]).text == f"[https://new.example/@Bob {shown}]"


@pytest.mark.parametrize(
    ("written", "new"),
    [
        ("{{URL|old.example/@a}}", "{{URL|new.example/@b}}"),
        ("{{URL| old.example/@a }}", "{{URL| new.example/@b }}"),
        ("{{URL|https://old.example/@a}}", "{{URL|https://new.example/@b}}"),
        ("{{Plainlink|url=https://old.example/@a|name=@a}}",
         "{{Plainlink|url=https://new.example/@b|name=@a}}"),
        ("[//old.example/@a Mastodon]", "[//new.example/@b Mastodon]"),
        ('[<tvar name="m">https://old.example/@a</tvar> @a@old.example]',
         '[<tvar name="m">https://new.example/@b</tvar> @b@new.example]'),
        ("[<tvar|m>https://old.example/@a</> Mastodon]",
         "[<tvar|m>https://new.example/@b</> Mastodon]"),
        ("acct:a@old.example", "acct:b@new.example"),
        ("@A@old.example", "@b@new.example"),
        ("https://old.example/users/a", "https://new.example/@b"),
    ],
)  # fmt: skip
def test_written_form_is_kept(written: str, new: str) -> None:
    fix = Fix("mastodon:a@old.example", "mastodon", "a@old.example", "b@new.example",
              "https://new.example/@b", "moved")  # fmt: skip
    text = f"* {written} ·\n"
    assert apply_fixes(text, [fix]).text == f"* {new} ·\n"


def test_positional_template_refuses_an_equals_sign() -> None:
    fix = Fix("mastodon:a@old.example", "mastodon", "a@old.example", "b@new.example",
              "https://new.example/@b?x=1", "moved")  # fmt: skip
    text = "{{URL|old.example/@a}}"
    result = apply_fixes(text, [fix])
    assert result.text == text
    assert "is not the profile of @b@new.example" in result.skipped[0][1]  # the write gate


@pytest.mark.parametrize(
    "new_url",
    [
        "https://new.example/@b]] [[Category:X",
        "https://new.example/@b ~~~~",
        "https://new.example/@b<script>",
        "https://new.example/@b/~~~~",
        "https://new.example/__NOTOC__/@b",
        "https://new.example/@b{{subst:x}}",
        "javascript:alert(1)//new.example/@b",
        "",
    ],
)
def test_unsafe_new_urls_are_refused(new_url: str) -> None:
    fix = Fix("mastodon:a@old.example", "mastodon", "a@old.example", "b@new.example",
              new_url, "moved")  # fmt: skip
    text = "* [https://old.example/@a A]\n"
    result = apply_fixes(text, [fix])
    assert result.text == text
    assert not result.applied
    assert len(result.skipped) == 1


def test_text_handle_with_an_unusable_new_handle_is_refused() -> None:
    fix = Fix("mastodon:a@old.example", "mastodon", "a@old.example", "b c@new.example",
              "https://new.example/@b", "moved")  # fmt: skip
    text = "Follow @a@old.example\n"
    result = apply_fixes(text, [fix])
    assert result.text == text
    assert "not a fediverse handle" in result.skipped[0][1]


def test_the_same_account_twice_in_one_batch() -> None:
    fix = Fix("mastodon:a@old.example", "mastodon", "a@old.example", "b@new.example",
              "https://new.example/@b", "moved")  # fmt: skip
    result = apply_fixes("@a@old.example", [fix, fix])
    assert result.text == "@b@new.example"
    assert len(result.applied) == 1
    assert result.skipped == ((fix, "the same account is fixed once per edit"),)


def test_nothing_outside_comments_and_nowiki_is_read() -> None:
    text = "<!-- @a@old.example --><nowiki>https://old.example/@a</nowiki>"
    fix = Fix("mastodon:a@old.example", "mastodon", "a@old.example", "b@new.example",
              "https://new.example/@b", "moved")  # fmt: skip
    result = apply_fixes(text, [fix])
    assert result.text == text
    assert result.skipped == ((fix, "no longer listed"),)


def test_generic_platform_rename() -> None:
    fix = Fix("youtube:@oldchan", "youtube", "@oldchan", "@newchan",
              "https://www.youtube.com/@NewChan", "renamed")  # fmt: skip
    text = "[https://www.youtube.com/@OldChan @OldChan on YouTube]"
    assert apply_fixes(text, [fix]).text == (
        "[https://www.youtube.com/@NewChan @NewChan on YouTube]"
    )


# ----------------------------------------------------------------------------- properties

FRAGMENTS = [
    "{|\n",
    "\n|}\n",
    "\n|-\n",
    "\n| ",
    " || ",
    "\n! ",
    "\n* ",
    "\n: ",
    "\n; ",
    "\n== H ==\n",
    "[[Page]]",
    "{{Template|x=1}}",
    "<translate>",
    "</translate>",
    "<!--T:1-->",
    "<!-- @a@old.example https://old.example/@a -->",
    "<nowiki>@a@old.example</nowiki>",
    "<span>",
    "</span>",
    "'''",
    " label ",
    "\n",
    " ",
    "·",
    ", ",
    "https://x.com/someone",
    "https://wikis.world/@other",
    "@c@other.example",
]
LISTINGS = [
    "[https://old.example/@a @a@old.example]",
    "[https://old.example/@A Our Mastodon]",
    "[https://old.example/@a a]",
    "@a@old.example",
    "acct:a@old.example",
    "https://old.example/@a",
    "{{URL|old.example/@a}}",
    "{{Plainlink|url=https://old.example/@a|name=A}}",
    '[<tvar name="t">https://old.example/@a</tvar> @a]',
    "[<tvar|t>https://old.example/@a</> Mastodon]",
    "[https://bsky.app/profile/old.bsky.social @old.bsky.social]",
    "https://bsky.app/profile/old.bsky.social",
    "[https://bsky.app/profile/Old.bsky.social Bluesky]",
]
PROPERTY_FIXES = [
    Fix("mastodon:a@old.example", "mastodon", "a@old.example", "alicia@new.example",
        "https://new.example/@Alicia", "moved"),
    Fix("bluesky:old.bsky.social", "bluesky", "old.bsky.social", "new.example.org",
        "https://bsky.app/profile/new.example.org", "renamed"),
]  # fmt: skip
pages = st.lists(
    st.sampled_from(FRAGMENTS) | st.sampled_from(LISTINGS) | st.text(max_size=6), max_size=40
).map("".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(pages)
def test_fixes_change_only_targeted_spans_keep_accounts_and_are_idempotent(text: str) -> None:
    before = extract_accounts(text).accounts
    result = apply_fixes(text, PROPERTY_FIXES)
    _changed_only_inside(text, result.text, _all_spans(result))
    targets = {f.old_key for f in PROPERTY_FIXES}
    allowed = [a.span for a in before if a.key in targets] + [
        a.label_span for a in before if a.key in targets and a.label_span is not None
    ]
    for span in _all_spans(result):
        assert any(a.start <= span.start and span.end <= a.end for a in allowed)
    after = extract_accounts(result.text).accounts
    assert len(after) == len(before)
    assert not {a.fix.old_key for a in result.applied} & {a.key for a in after}
    again = apply_fixes(result.text, PROPERTY_FIXES)
    assert again.text == result.text
    assert not again.applied


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.sampled_from(LISTINGS) | st.sampled_from(FRAGMENTS), max_size=30).map("".join))
def test_every_listed_old_account_is_fixed(text: str) -> None:
    """On pages made of clean markup, a listed account is always fixed (never skipped)."""
    keys = {a.key for a in extract_accounts(text).accounts}
    result = apply_fixes(text, PROPERTY_FIXES)
    for fix, reason in result.skipped:
        assert fix.old_key not in keys, reason


def test_a_fix_that_would_change_other_accounts_is_dropped_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The safety net: if reading the result back disagrees, the culprit alone is skipped."""
    import wmsocial_bot.fix as fix_module

    real_problem = fix_module._problem

    def problem(before: Any, text: str, new_text: str, plans: Any) -> str | None:
        if any(plan.fix.reason == "bad" for plan in plans):
            return "the edit would change what else the page lists"
        return real_problem(before, text, new_text, plans)

    monkeypatch.setattr(fix_module, "_problem", problem)
    good = Fix("mastodon:a@old.example", "mastodon", "a@old.example", "a@new.example",
               "https://new.example/@a", "moved")  # fmt: skip
    bad = Fix("mastodon:b@old.example", "mastodon", "b@old.example", "b@new.example",
              "https://new.example/@b", "bad")  # fmt: skip
    text = "* @a@old.example\n* @b@old.example\n"
    result = apply_fixes(text, [bad, good])
    assert result.text == "* @a@new.example\n* @b@old.example\n"
    assert [a.fix for a in result.applied] == [good]
    assert result.skipped == ((bad, "the edit would change what else the page lists"),)
