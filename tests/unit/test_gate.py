"""The write gate (pure): handle grammars, bot-built links, the proof before saving.

Issue 12, findings 1 and 2: a server's ``acct`` holding wikitext reached a fix label, and a
successor's self-reported ``url`` on another host (a private address, a look-alike host)
became the page's link.  The fault suite replays both against a hostile server and the real
MediaWiki (``tests/faults/test_attack_write_gate.py``); these are the pure parts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wmsocial_bot.decide import History, Policy, decide
from wmsocial_bot.errors import WriteRefused
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.fix import apply_fixes
from wmsocial_bot.gate import (
    bluesky_handle,
    fediverse_handle,
    profile_link,
    prove_only_links_changed,
    public_host,
    verified_successor,
)
from wmsocial_bot.model import CheckResult, Fix, Status

HOSTILE_ACCT = "x@{{Some template}}{{subst:Foo}}~~~~__NOTOC__@new.example"


@pytest.mark.parametrize(
    "host",
    ["new.example", "mastodon.social", "a-b.c0.org", "xn--bcher-kva.example", "x" * 63 + ".org"],
)
def test_public_hosts(host: str) -> None:
    assert public_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "",
        "localhost",
        "intranet",
        "10.0.0.1",
        "127.1",
        "[::1]",
        "new.example:8080",
        "user@new.example",
        "new example.org",
        "New.Example",
        "new.example.",
        ".new.example",
        "-a.example",
        "a-.example",
        "a..example",
        "printer.local",
        "db.internal",
        "x.localhost",
        "1.in-addr.arpa",
        "hidden.onion",
        "bücher.example",
        "new.example\n",
        "a" * 64 + ".org",
        ("a" * 60 + ".") * 5 + "org",
        "{{some template}}.example",
    ],
)
def test_not_public_hosts(host: str) -> None:
    assert not public_host(host)


def test_fediverse_handles_follow_mastodon_grammar() -> None:
    assert fediverse_handle("Bob@New.Example", "old.example") == "bob@new.example"
    assert fediverse_handle("bob", "old.example") == "bob@old.example"
    assert fediverse_handle("a.b-c_d", "old.example") == "a.b-c_d@old.example"
    assert fediverse_handle("a@bücher.example", "old.example") == "a@xn--bcher-kva.example"


@pytest.mark.parametrize(
    "acct",
    [
        HOSTILE_ACCT,
        "x@{{Some template}}",
        "x@new.example@other.example",
        "x y@new.example",
        "x.@new.example",
        ".x@new.example",
        "x@10.0.0.1",
        "x@localhost",
        "x@new.example:8443",
        "x@new.example/path",
        "x\u202e@new.example",
        "x@new.example\n",
        "[[Category:Spam]]@new.example",
        "@new.example",
        "",
        "x" * 65 + "@new.example",
    ],
)
def test_hostile_accts_are_no_fediverse_handles(acct: str) -> None:
    assert fediverse_handle(acct, "old.example") is None


def test_bluesky_handles_follow_the_atproto_syntax() -> None:
    assert bluesky_handle("Alice.Bsky.Social") == "alice.bsky.social"
    for bad in (
        "alice.bsky.social\n",  # atproto's own pattern accepts this one
        "handle.invalid",
        "alice.local",
        "alice.example",
        "alice",
        "al ice.bsky.social",
        "{{x}}.bsky.social",
        "alice.bsky.social\u200b",
        "alice.1bsky",
    ):
        assert bluesky_handle(bad) is None, bad


def test_the_link_is_built_from_the_handle() -> None:
    assert profile_link("mastodon", "bob@new.example") == "https://new.example/@bob"
    assert profile_link("mastodon", "bob@new.example", user="Bob") == "https://new.example/@Bob"
    assert profile_link("mastodon", "bob@new.example", user="eve") == "https://new.example/@bob"
    # The Kelvin sign lowercases to "k": a server's spelling must be the same ASCII letters.
    assert profile_link("mastodon", "k@new.example", user="\u212a") == "https://new.example/@k"
    assert profile_link("bluesky", "a.bsky.social") == "https://bsky.app/profile/a.bsky.social"
    # The web host of a split domain, only when it is a subdomain of the handle's domain.
    assert (
        profile_link("mastodon", "sam@split.example", server="social.split.example")
        == "https://social.split.example/@sam"
    )
    for server in ("evil.example", "split.example.evil.example", "10.0.0.1", "split-example.com"):
        assert (
            profile_link("mastodon", "sam@split.example", server=server)
            == "https://split.example/@sam"
        )


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/@bob",  # a private address the successor reported as its url
        "https://127.0.0.1/@bob",
        "https://new-example.com/@bob",  # a look-alike host
        "https://new.example.evil.example/@bob",
        "https://new.example/@bob?x=1",
        "https://new.example/@bob/123",
        "https://new.example/@eve",
        "http://new.example/@bob",
        "https://new.example/@\u0392ob",
        "https://user@new.example/@bob",
        "https://new.example:8443/@bob",
    ],
)
def test_a_successor_link_must_be_the_one_the_bot_builds(url: str) -> None:
    with pytest.raises(WriteRefused, match=r"not the profile of @bob@new\.example"):
        verified_successor("mastodon", "bob@new.example", url)


def test_a_verified_successor_passes() -> None:
    assert verified_successor("mastodon", "bob@new.example", "https://new.example/@Bob") == (
        "bob@new.example",
        "https://new.example/@Bob",
    )
    with pytest.raises(WriteRefused, match="not a fediverse handle"):
        verified_successor("mastodon", HOSTILE_ACCT.lower(), "https://new.example/@x")
    with pytest.raises(WriteRefused, match="not the profile"):
        verified_successor("bluesky", "a.bsky.social", "https://evil.example/profile/a.bsky.social")


# ---- the proof before saving ----------------------------------------------------------------

OLD = "== Accounts ==\n* [https://old.example/@a Our account @a@old.example] {{flag|en}}\n"


def _ours(url: str) -> bool:
    return url == "https://new.example/@a"


def test_the_intended_change_is_proven() -> None:
    new = OLD.replace("https://old.example/@a", "https://new.example/@a").replace(
        "@a@old.example", "@a@new.example"
    )
    assert prove_only_links_changed(OLD, new, _ours) is None


@pytest.mark.parametrize(
    ("label", "what"),
    [
        ("@a@{{Some template}}", "template"),
        ("@a@new.example [[Category:Spam]]", "wikilink"),
        ("@a@new.example ~~~~", "signature"),
        ("@a__NOTOC__@new.example", "behaviour switch"),
        ("@a@{{subst:x}}", "subst"),
        ("@a@new.example <b>x</b>", "tag"),
        ("@a@new.example &amp;", "entity"),
        ("@a@new.example\u202e", "invisible character"),
        ("@a@new.example ISBN 0123456789", "magic link"),
        ("@a@new.example mailto:x@y.example", "free link"),
        ("@a@new.example '''x'''", "'"),
    ],
)
def test_added_markup_fails_the_proof(label: str, what: str) -> None:
    new = OLD.replace("https://old.example/@a", "https://new.example/@a").replace(
        "@a@old.example", label
    )
    reason = prove_only_links_changed(OLD, new, _ours)
    assert reason is not None and reason.startswith("the edit would add markup")
    assert what in reason


def test_a_link_to_anything_else_fails_the_proof() -> None:
    new = OLD.replace("https://old.example/@a", "https://evil.example/@a")
    assert "would become 'https://evil.example/@a'" in (
        prove_only_links_changed(OLD, new, _ours) or ""
    )


def test_a_new_line_start_fails_the_proof() -> None:
    old = "x [https://old.example/@a a]\n"
    new = "x [https://new.example/@a a]\n"
    assert prove_only_links_changed(old, new, _ours) is None
    assert "a line would start with markup" in (prove_only_links_changed("x\n", "*\n", _ours) or "")
    # A schemeless link at the start of a line may change its first letter.
    assert prove_only_links_changed("old.example/@a\n", "new.example/@a\n", _ours) is None


def test_a_new_free_link_fails_the_proof() -> None:
    old = "Follow @a@old.example there.\n"
    new = "Follow @a@new.example https://evil.example/ there.\n"
    assert "external link" in (prove_only_links_changed(old, new, _ours) or "")


# ---- the gate in the stages --------------------------------------------------------------------


def test_a_hostile_successor_never_reaches_the_page() -> None:
    """On the code before the gate, the label became ``@x@{{Some template}}...``."""
    text = "* [https://old.example/@x @x@old.example]\n"
    fix = Fix("mastodon:x@old.example", "mastodon", "x@old.example", HOSTILE_ACCT.lower(),
              "https://new.example/@x", "moved")  # fmt: skip
    result = apply_fixes(text, [fix])
    assert result.text == text and not result.applied
    assert "not a fediverse handle" in result.skipped[0][1]


def test_a_look_alike_link_never_reaches_the_page() -> None:
    """On the code before the gate, the link became the look-alike host's."""
    text = "* [https://old.example/@x @x@old.example]\n"
    for url in ("https://new-example.com/@x", "https://10.0.0.1/@x"):
        fix = Fix("mastodon:x@old.example", "mastodon", "x@old.example", "x@new.example",
                  url, "moved")  # fmt: skip
        result = apply_fixes(text, [fix])
        assert result.text == text and not result.applied, url


def test_the_proof_stops_a_valid_handle_that_is_markup() -> None:
    """``x__notoc__y`` is a valid Mastodon name, and a behaviour switch in a wiki's text.

    On the code before the proof, the text handle became ``@x__notoc__y@new.example`` and the
    page lost its table of contents.
    """
    text = "== A ==\nFollow @x@old.example there.\n"
    fix = Fix("mastodon:x@old.example", "mastodon", "x@old.example", "x__notoc__y@new.example",
              "https://new.example/@x__notoc__y", "moved")  # fmt: skip
    result = apply_fixes(text, [fix])
    assert result.text == text and not result.applied
    [(_fix, reason)] = result.skipped
    assert reason.startswith("the edit would add markup") and "behaviour switch" in reason


def test_a_removed_line_break_fails_the_proof() -> None:
    assert "number of lines" in (prove_only_links_changed("a\n* b\n", "a* b\n", _ours) or "")


def test_decide_reports_an_unverified_successor_instead_of_fixing() -> None:
    extraction = extract_accounts("* https://old.example/@a\n")
    found = [
        CheckResult(
            extraction.accounts[0],
            Status.MOVED,
            "moved",
            new_url="https://new-example.com/@a",
            new_handle="a@new.example",
        )
    ]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    decision = decide(found, extraction, History(), Policy(confirmations=1, confirm_days=0), now)
    assert decision.fixes == ()
    [finding] = decision.findings
    assert finding.kind == "moved" and "not fixed by the bot" in finding.evidence
