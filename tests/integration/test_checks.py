"""Account checks with the real Mastodon.py and atproto clients against the platform simulator.

The cases are data: ``tests/scenarios/<scenario>.checks.json`` lists links and the verdict each
must get.  Other tests here cover what a data row cannot: a rename seen on the second run, a
429 that must never become a verdict, flaky hosts, and the private-address guard.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Status
from wmsocial_bot.net import Net
from wmsocial_testkit.fixtures import SCENARIOS
from wmsocial_testkit.simulator import Simulator

pytestmark = pytest.mark.simulator
EXPECTED = json.loads((SCENARIOS / "basic.checks.json").read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(EXPECTED["now"])
VERDICTS = {Status.DELETED, Status.SUSPENDED, Status.DEACTIVATED, Status.MOVED, Status.RENAMED}


def run_checks(sim: Simulator, links: list[str], **kwargs: Any) -> list[CheckResult]:
    net = Net(NetworkConfig(timeout=3.0), sim.overrides())
    page = "\n".join(f"* {link}" for link in links) + "\n"
    accounts = extract_accounts(page).accounts
    assert len(accounts) == len(links), "every link in the case file is an account"
    return check_accounts(accounts, net, now=NOW, inactive_days=EXPECTED["inactive_days"], **kwargs)


def test_every_status_on_every_server_software(sim: Simulator) -> None:
    cases = EXPECTED["cases"]
    results = run_checks(sim, [case["link"] for case in cases])
    problems = []
    for case, found in zip(cases, results, strict=True):
        if found.status.value != case["status"]:
            problems.append(
                f"{case['link']}: {found.status.value} ({found.detail}), want {case['status']}"
            )
        if case.get("new_handle") and found.new_handle != case["new_handle"]:
            problems.append(
                f"{case['link']}: successor {found.new_handle}, want {case['new_handle']}"
            )
        if found.status in (Status.MOVED, Status.RENAMED) and not case.get("new_handle"):
            assert found.new_url is None, f"{case['link']}: no successor may be offered"
        if case.get("detail_contains") and case["detail_contains"] not in found.detail:
            problems.append(
                f"{case['link']}: detail {found.detail!r} lacks {case['detail_contains']!r}"
            )
    assert not problems, "\n".join(problems)


def test_one_request_per_healthy_mastodon_account(sim: Simulator) -> None:
    results = run_checks(
        sim, ["@alice@social.example", "@pat@pleroma.example", "@kai@akkoma.example"]
    )
    assert [r.status for r in results] == [Status.OK] * 3
    # Pleroma's lookup skips the visibility check, so /api/v1/accounts/:id must confirm it.
    assert len(sim.log) == 4
    assert sim.count(host="pleroma.example") == 2


def test_verified_profile_link_and_identity_are_reported(sim: Simulator) -> None:
    (alice,) = run_checks(sim, ["@alice@social.example"])
    assert alice.verified is True
    assert alice.last_activity is not None and alice.last_activity.isoformat() == "2026-06-30"
    assert alice.learned is not None and alice.learned.ident == "1"


def test_bluesky_rename_is_seen_through_the_remembered_did(sim: Simulator) -> None:
    link = "https://bsky.app/profile/alice.bsky.social"
    (first,) = run_checks(sim, [link])
    assert first.status == Status.OK and first.learned is not None
    known = {first.account.key: first.learned}
    sim.update_bluesky(first.learned.ident, handle="alice-new.bsky.social")
    (second,) = run_checks(sim, [link], known=known)
    assert second.status == Status.RENAMED
    assert second.new_url == "https://bsky.app/profile/alice-new.bsky.social"


def test_old_handle_taken_by_another_account_is_never_ok(sim: Simulator) -> None:
    link = "https://bsky.app/profile/alice.bsky.social"
    (first,) = run_checks(sim, [link])
    assert first.learned is not None
    known = {first.account.key: first.learned}
    sim.update_bluesky(first.learned.ident, handle="alice-moved.bsky.social")
    sim.update_bluesky("did:plc:frankaaaaaaaaaaaaaaaaaaa", handle="alice.bsky.social")
    (second,) = run_checks(sim, [link], known=known)
    assert second.status == Status.RENAMED
    assert second.new_handle == "alice-moved.bsky.social"


def _bulk_bluesky(
    sim: Simulator, count: int, last_post_at: str = "2026-11-01T00:00:00Z"
) -> list[str]:
    """``count`` live Bluesky accounts with 5 posts; their links."""
    for n in range(count):
        letters = chr(97 + n // 26) + chr(97 + n % 26)
        sim.update_bluesky(
            f"did:plc:bulk{letters}".ljust(32, "z"),
            handle=f"bulk{n}.bsky.social",
            state="ok",
            posts_count=5,
            last_post_at=last_post_at,
        )
    return [f"https://bsky.app/profile/bulk{n}.bsky.social" for n in range(count)]


def test_bluesky_batches_25_profiles_per_call_and_reads_a_feed_only_when_the_verdict_needs_it(
    sim: Simulator,
) -> None:
    links = _bulk_bluesky(sim, 30)
    first = run_checks(sim, links)
    assert {r.status for r in first} == {Status.OK}
    assert sim.count(path_prefix="/xrpc/app.bsky.actor.getProfiles") == 2
    assert sim.count(path_prefix="/xrpc/app.bsky.feed.getAuthorFeed") == 30
    sim.reset_log()
    known = {r.account.key: r.learned for r in first if r.learned is not None}
    second = run_checks(sim, links, known=known)
    # Seen posting on 2026-11-01, each account cannot be inactive (365 days) before 2027-11-01:
    # the feeds need not be read again while postsCount is the one stored.
    assert {r.status for r in second} == {Status.OK}
    assert sim.count(path_prefix="/xrpc/app.bsky.actor.getProfiles") == 2
    assert sim.count(path_prefix="/xrpc/app.bsky.feed.getAuthorFeed") == 0
    assert [r.last_activity for r in second] == [r.last_activity for r in first]
    assert all("as an earlier run read its feed" in r.detail for r in second)
    assert [r.learned for r in second] == [
        replace(r.learned, seen_at=NOW) for r in first if r.learned is not None
    ]
    assert all(r.reach is not None and r.reach.posts_total == 5 for r in second)


def test_bluesky_feed_is_read_again_when_the_stored_activity_is_too_old_to_decide(
    sim: Simulator,
) -> None:
    [link] = _bulk_bluesky(sim, 1, last_post_at="2025-12-01T00:00:00Z")
    (first,) = run_checks(sim, [link])
    assert first.status is Status.OK and first.learned is not None
    sim.reset_log()
    # A stricter rule (300 days): the stored 2025-12-01 no longer proves the account active.
    net = Net(NetworkConfig(timeout=3.0), sim.overrides())
    [account] = extract_accounts(f"* {link}\n").accounts
    (second,) = check_accounts(
        [account], net, now=NOW, inactive_days=300, known={account.key: first.learned}
    )
    assert sim.count(path_prefix="/xrpc/app.bsky.feed.getAuthorFeed") == 1
    assert second.status is Status.INACTIVE, second.detail


def test_bluesky_feed_is_read_again_when_the_post_count_changed(sim: Simulator) -> None:
    [link] = _bulk_bluesky(sim, 1)
    (first,) = run_checks(sim, [link])
    assert first.learned is not None
    sim.update_bluesky(first.learned.ident, posts_count=6, last_post_at="2026-11-20T00:00:00Z")
    sim.reset_log()
    (second,) = run_checks(sim, [link], known={first.account.key: first.learned})
    assert sim.count(path_prefix="/xrpc/app.bsky.feed.getAuthorFeed") == 1
    assert second.last_activity is not None and second.last_activity.isoformat() == "2026-11-20"
    assert second.reach is not None and second.reach.last_post == second.last_activity


def test_429s_are_paced_and_retried_into_the_true_verdicts(sim: Simulator) -> None:
    sim.update_host("social.example", max_in_flight=1, latency_ms=150)
    names = ("alice", "nobody", "carol", "bob")
    results = run_checks(sim, [f"https://social.example/@{name}" for name in names])
    assert sim.count(host="social.example", status=429) >= 1, "the cap of 1 must have said 429"
    assert [r.status for r in results] == [
        Status.OK,
        Status.DELETED,
        Status.SUSPENDED,
        Status.MOVED,
    ]


def test_429_without_retries_is_never_a_verdict(sim: Simulator) -> None:
    sim.update_host("social.example", max_in_flight=1, latency_ms=150)
    net = Net(NetworkConfig(timeout=3.0, retries=0, max_wait=0.1), sim.overrides())
    page = "".join(f"* https://social.example/@{n}\n" for n in ("alice", "nobody", "carol", "bob"))
    results = check_accounts(extract_accounts(page).accounts, net, now=NOW)
    assert sim.count(host="social.example", status=429) >= 1
    truth = [Status.OK, Status.DELETED, Status.SUSPENDED, Status.MOVED]
    no_verdict = (Status.UNREACHABLE, Status.UNVERIFIABLE)  # e.g. WebFinger was the one refused
    wrong = [
        (r.account.handle, r.status, r.detail)
        for r, want in zip(results, truth, strict=True)
        if r.status not in (want, *no_verdict)
    ]
    assert not wrong, wrong
    refused = [r for r in results if r.status in no_verdict]
    assert refused and all("429" in r.detail or "rate limit" in r.detail for r in refused)


def test_flaky_host_gives_no_contradicting_verdicts(sim: Simulator) -> None:
    sim.update_host(
        "social.example", flaky={"error_rate": 0.5, "seed": 7, "kinds": ["error500", "reset"]}
    )
    links = ["https://social.example/@alice", "https://social.example/@nobody"]
    seen: dict[str, set[Status]] = {link: set() for link in links}
    for _ in range(3):
        for link, found in zip(links, run_checks(sim, links), strict=True):
            seen[link].add(found.status)
    assert seen[links[0]] <= {Status.OK, Status.UNREACHABLE, Status.UNVERIFIABLE}
    assert seen[links[1]] <= {Status.DELETED, Status.UNREACHABLE, Status.UNVERIFIABLE}


def test_server_failures_are_unreachable_not_dead(sim: Simulator) -> None:
    for host, behaviour in (
        ("social.example", "error503"),
        ("pleroma.example", "nonjson"),
        ("akkoma.example", "refuse"),
    ):
        sim.update_host(host, behaviour=behaviour)
    results = run_checks(
        sim, ["@nobody@social.example", "@erin@pleroma.example", "@kai@akkoma.example"]
    )
    assert [r.status for r in results] == [Status.UNREACHABLE] * 3, [r.detail for r in results]


def test_links_to_loopback_are_refused_without_a_request(sim: Simulator) -> None:
    port = sim.port
    links = [f"http://127.0.0.1:{port}/@evil", "https://169.254.169.254/@meta"]
    results = run_checks(sim, links)
    assert [r.status for r in results] == [Status.INVALID, Status.INVALID]
    assert "loopback" in results[0].detail and "metadata" in results[1].detail
    assert len(sim.log) == 0, "the simulator must receive no request"


def test_check_command_prints_json_and_exits_0(sim: Simulator, tmp_path: Path) -> None:
    page = tmp_path / "page.wiki"
    page.write_text("* @alice@social.example\n* https://social.example/@nobody\n", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[state]\npath = "{tmp_path / "state.sqlite3"}"\n', encoding="utf-8")
    endpoints = [
        arg for host, url in sim.overrides().items() for arg in ("--endpoint", f"{host}={url}")
    ]
    command = [
        sys.executable,
        "-m",
        "wmsocial_bot",
        "check",
        "--wikitext",
        str(page),
        "--config",
        str(config),
        "--format",
        "json",
        *endpoints,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["handle"], r["status"]) for r in rows] == [
        ("alice@social.example", "ok"),
        ("nobody@social.example", "deleted"),
    ]
    assert rows[0]["verified"] is True
    assert rows[0]["reach"] == {
        "posts_total": 42,
        "followers": 10,
        "post_dates": [],
        "last_post": "2026-06-30",
    }
    assert rows[1]["reach"] is None
    strict = subprocess.run(
        [*command, "--strict"], capture_output=True, text=True, check=False, timeout=120
    )
    assert strict.returncode == 3
    assert (tmp_path / "state.sqlite3").exists()


def test_broken_handle_of_a_known_did_is_a_broken_link(sim: Simulator) -> None:
    from wmsocial_bot.model import Identity

    did = "did:plc:carolaaaaaaaaaaaaaaaaaaa"
    known = {
        "bluesky:carol.example.org": Identity(
            "bluesky:carol.example.org", "bluesky", did, "carol.example.org"
        )
    }
    (found,) = run_checks(sim, ["https://bsky.app/profile/carol.example.org"], known=known)
    assert found.status == Status.INVALID
    assert "handle.invalid" in found.detail and did in found.detail


def test_plc_failure_is_not_blamed_on_the_appviews_answer(sim: Simulator) -> None:
    # The AppView's "Profile not found" came first; the PLC request failed on its own.
    sim.update_host("plc.directory", behaviour="refuse")
    link = "https://bsky.app/profile/did:plc:goneaaaaaaaaaaaaaaaaaaaa"
    (found,) = run_checks(sim, [link])
    assert found.status == Status.UNREACHABLE
    assert found.detail.startswith("the PLC directory could not be asked")
    assert "BadRequestError" not in found.detail and "Profile not found" not in found.detail


@pytest.mark.parametrize("pds", ["http://127.0.0.1:9", "http://169.254.169.254", "file:///etc"])
def test_pds_named_by_a_did_document_is_asked_only_through_the_guard(
    sim: Simulator, pds: str
) -> None:
    # Anyone can publish a DID document: its PDS address is as untrusted as a link on the page.
    sim.update_bluesky("did:plc:eveaaaaaaaaaaaaaaaaaaaaa", pds=pds)
    (found,) = run_checks(sim, ["https://bsky.app/profile/did:plc:eveaaaaaaaaaaaaaaaaaaaaa"])
    assert found.status == Status.UNVERIFIABLE, found.detail
    assert "could not be asked: refused" in found.detail or "names no PDS" in found.detail
    assert sim.count(path_prefix="/xrpc/com.atproto.sync.getRepoStatus") == 0
