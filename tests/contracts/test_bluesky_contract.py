"""The Bluesky contract: one set of cases (``bluesky.json``), two backends, the same verdicts.

The reference backend is the real server software (``@atproto/dev-env`` 0.6.7: PLC, PDS and
AppView on loopback, see ``reference_bluesky.py``); the simulator backend is the project's own
``wmsocial_testkit.sim_bsky``.  Every case is checked twice, as the bot does on two runs:
a first check that knows nothing, then the ``later`` changes, then a second check that knows
the DIDs the first one learned.  Both backends must give the verdicts the case data names, and
below the verdicts, the simulator's servers must answer every state as the reference servers
do, so the fast simulator tests stay honest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
import requests
from contract_backends import BACKENDS

from wmsocial_bot.checkers.bluesky import tid_time
from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult
from wmsocial_bot.net import Net

CASES = json.loads((Path(__file__).with_name("bluesky.json")).read_text(encoding="utf-8"))
STATES = [case["state"] for case in CASES["cases"]]


class Backend(Protocol):
    overrides: dict[str, str]
    urls: dict[str, str]  # appview, plc, pds: where to ask them directly

    def setup(self, states: list[str]) -> dict[str, dict[str, Any]]: ...

    def advance(self) -> None: ...


@dataclass(frozen=True)
class Run:
    """One backend's run of every case: the verdicts of both checks, and its raw answers."""

    first: dict[str, CheckResult]
    second: dict[str, CheckResult]
    facts: dict[str, dict[str, Any]]
    answers: dict[str, dict[str, Any]]


def _check(backend: Backend, links: list[str], known: dict[str, Any]) -> list[CheckResult]:
    net = Net(NetworkConfig(timeout=10.0), backend.overrides)
    page = "".join(f"* {link}\n" for link in links)
    accounts = extract_accounts(page).accounts
    assert len(accounts) == len(links), "every case link is an account link"
    return check_accounts(
        accounts,
        net,
        inactive_days=CASES["inactive_days"],
        known=known,
        now=datetime.now(UTC),
    )


@pytest.fixture(scope="module")
def run_on(request: pytest.FixtureRequest) -> Callable[[str], Run]:
    """Runs every case on a backend, once per module: ``run_on("reference")``."""
    done: dict[str, Run] = {}

    def run(name: str) -> Run:
        if name not in done:
            with BACKENDS[name](request) as backend:
                facts = backend.setup(STATES)
                links = [facts[state]["link"] for state in STATES]
                first = _check(backend, links, {})
                known = {r.account.key: r.learned for r in first if r.learned is not None}
                backend.advance()
                second = _check(backend, links, known)
                answers = {state: probe(backend, facts[state]) for state in STATES}
            done[name] = Run(
                dict(zip(STATES, first, strict=True)),
                dict(zip(STATES, second, strict=True)),
                facts,
                answers,
            )
        return done[name]

    return run


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("case", CASES["cases"], ids=STATES)
def test_bluesky_state_gets_its_verdict(
    case: dict[str, Any], backend: str, run_on: Callable[[str], Run]
) -> None:
    run = run_on(backend)
    state = case["state"]
    first, second, facts = run.first[state], run.second[state], run.facts[state]
    got = (first.status.value, second.status.value)
    want = (case["first"], case["status"])
    assert got == want, (
        f"{backend}: {state} ({case['about']}): got {got}, want {want}\n"
        f"  first:  {first.detail}\n  second: {second.detail}"
    )
    if case.get("successor"):
        assert second.new_handle == facts["new_handle"], second.detail
        assert second.new_url == f"https://bsky.app/profile/{facts['new_handle']}"
    else:
        assert second.new_url is None


@pytest.mark.parametrize("case", CASES["cases"], ids=STATES)
def test_simulator_answers_like_the_reference_stack(
    case: dict[str, Any], run_on: Callable[[str], Run]
) -> None:
    """Below the verdicts: every server's answer about every state, reduced to what a client
    can rely on (status, XRPC error, the kinds of feed items, ...), is the same on both."""
    reference = run_on("reference").answers[case["state"]]
    simulated = run_on("simulator").answers[case["state"]]
    differ = {
        asked: {"reference": reference[asked], "simulator": simulated.get(asked)}
        for asked in reference
        if reference[asked] != simulated.get(asked)
    }
    assert not differ, json.dumps(differ, indent=1)


def probe(backend: Backend, facts: dict[str, Any]) -> dict[str, Any]:
    """The answers of the AppView, PLC and the PDS about one account after the second phase."""
    did, handle = facts["did"], facts.get("handle")
    appview, plc, pds = backend.urls["appview"], backend.urls["plc"], backend.urls["pds"]
    feed = f"{appview}/xrpc/app.bsky.feed.getAuthorFeed?actor={did}&limit=30"
    asked = {
        "getProfile(did)": f"{appview}/xrpc/app.bsky.actor.getProfile?actor={did}",
        "getProfiles(did)": f"{appview}/xrpc/app.bsky.actor.getProfiles?actors={did}",
        "getAuthorFeed": feed,
        "getAuthorFeed(posts_no_replies)": f"{feed}&filter=posts_no_replies",
        "getRepoStatus": f"{pds}/xrpc/com.atproto.sync.getRepoStatus?did={did}",
    }
    if did.startswith("did:plc:"):
        asked["plc"] = f"{plc}/{did}"
    if handle:
        asked["getProfile(handle)"] = f"{appview}/xrpc/app.bsky.actor.getProfile?actor={handle}"
        asked["resolveHandle"] = (
            f"{appview}/xrpc/com.atproto.identity.resolveHandle?handle={handle}"
        )
    return {name: _reduce(name, requests.get(url, timeout=10), did) for name, url in asked.items()}


def _reduce(name: str, response: requests.Response, did: str) -> Any:
    """What a client may rely on in an answer; ids, dates and texts differ between backends."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        if name == "plc":  # {"message": "DID not registered: did:plc:..."}
            return [response.status_code, str(body.get("message", "")).split(":")[0]]
        return [response.status_code, body.get("error")]
    if name.startswith("getProfile("):
        return [200, body["did"] == did, body["handle"] == "handle.invalid", body["postsCount"]]
    if name == "getProfiles(did)":
        return [200, len(body["profiles"])]
    if name.startswith("getAuthorFeed"):
        return [200, [_item_kind(item, did) for item in body["feed"]]]
    if name == "resolveHandle":
        return [200, body["did"] == did]
    if name == "plc":
        return [200, body["id"] == did]
    return [200, body.get("active"), body.get("status")]  # getRepoStatus


def _item_kind(item: dict[str, Any], did: str) -> str:
    """``post``, ``reply`` or ``repost``, marked ``backdated`` when the view's ``indexedAt`` is
    more than a day before the moment in its record key (a backdated ``createdAt``)."""
    reason = item.get("reason")
    if reason:
        return "repost" if reason["by"]["did"] == did else "repost by another"
    post = item["post"]
    kind = "reply" if post["record"].get("reply") else "post"
    written = tid_time(post["uri"].rsplit("/", 1)[1])
    shown = datetime.fromisoformat(post["indexedAt"].replace("Z", "+00:00"))
    if written is not None and (written - shown).days > 1:
        kind += " (backdated)"
    return kind


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_activity_figures_come_with_the_check(backend: str, run_on: Callable[[str], Run]) -> None:
    """The dashboard's figures (docs/dashboard.md) from the answers the check reads anyway:
    ``postsCount`` and ``followersCount`` of the profile, a date per own feed item."""
    reach = run_on(backend).first["alive"].reach
    assert reach is not None, "an account checked alive carries its figures"
    assert reach.posts_total == 1 and reach.followers is not None
    assert reach.post_dates == (datetime.now(UTC).date(),) == (reach.last_post,)


@pytest.mark.parametrize("state", ["alive", "quiet", "replying", "reposting", "backdated"])
def test_simulator_figures_are_the_reference_stacks(
    state: str, run_on: Callable[[str], Run]
) -> None:
    """Replies count in ``postsCount`` and reposts do not, as on the real AppView."""
    assert run_on("simulator").first[state].reach == run_on("reference").first[state].reach
