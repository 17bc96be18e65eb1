"""The movement's own servers: facts read from hostile answers, and what a maintainer should see."""

from __future__ import annotations

from typing import Any

import pytest

from wmsocial_bot.servers import (
    ServerFacts,
    changes,
    facts_from,
    parse_version,
    problems,
    security_gap,
)

# The shape of Mastodon's /api/v2/instance (app/serializers/rest/instance_serializer.rb).
INSTANCE: dict[str, Any] = {
    "domain": "wikimedia.social",
    "version": "4.2.8",
    "rules": [{"id": "1", "text": "Be kind", "hint": ""}],
    "contact": {"email": "admin@example.org", "account": {"acct": "admin", "id": "1"}},
    "registrations": {"enabled": True, "approval_required": True, "message": None},
}
OWN_POLICY = {"updated_at": "2023-05-01T00:00:00.000Z", "content": "<p>Our policy</p>"}
DEFAULT_POLICY = {"updated_at": "2022-10-07T00:00:00.000Z", "content": "<p>This privacy...</p>"}


def test_reads_the_facts_mastodon_shows() -> None:
    facts = facts_from("wikimedia.social", INSTANCE, OWN_POLICY)
    assert facts == ServerFacts(
        host="wikimedia.social",
        version="4.2.8",
        rules=1,
        contact_account="admin",
        contact_email=True,
        registrations="approval",
        privacy_policy="own",
        policy_updated="2023-05-01",
    )


def test_flags_what_is_off_and_only_that() -> None:
    empty = {**INSTANCE, "rules": [], "contact": {"email": "", "account": None}}
    found = problems(facts_from("w.example", empty, DEFAULT_POLICY))
    assert any("4.2.10 fixed security issues (2024-07-04" in line for line in found)
    assert "has no server rules" in found
    assert "names no contact account" in found
    assert any("default privacy policy" in line for line in found)
    healthy = {**INSTANCE, "version": "4.2.10+hometown-1.1.1"}
    assert problems(facts_from("w.example", healthy, OWN_POLICY)) == []


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        "x" * 10,
        {"version": 4, "rules": "none", "contact": [], "registrations": 1},
        {"version": "4.2.1" + "\u202e" * 300},
    ],
)
def test_a_hostile_or_missing_answer_is_no_fact_and_no_problem(answer: Any) -> None:
    facts = facts_from("w.example", answer, {"updated_at": 5, "content": None})
    assert facts.rules is None and facts.registrations is None and facts.privacy_policy is None
    assert problems(facts) == []


def test_versions_of_forks_and_builds() -> None:
    assert parse_version("4.2.10+hometown-1.1.1") == (4, 2, 10)
    assert parse_version("4.4.0-beta.1") == (4, 4, 0)
    assert parse_version("2.7.2 (compatible; Pleroma 2.5.0)") is None
    assert security_gap("4.2.9") is not None
    assert security_gap("4.2.10") is None
    assert security_gap("4.5.0") is None  # no knowledge of that line: not flagged


def test_changes_since_the_last_reading() -> None:
    before = facts_from("w.example", INSTANCE, OWN_POLICY)
    after = facts_from("w.example", {**INSTANCE, "rules": []}, OWN_POLICY)
    assert changes(None, after) == []
    assert changes(before, after) == ["number of rules: 1 -> 0"]
    silent = facts_from("w.example", None, None)
    assert changes(before, silent) == []  # a server that did not answer changed nothing
