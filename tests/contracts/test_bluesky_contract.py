"""The Bluesky contract: one set of cases (``bluesky.json``), two backends, the same verdicts.

The reference backend is the real server software (``@atproto/dev-env`` 0.6.7: PLC, PDS and
AppView on loopback, see ``reference_bluesky.py``); the simulator backend is the project's own
``wmsocial_bot.devtools.sim_bsky``.  Every case is checked twice, as the bot does on two runs:
a first check that knows nothing, then the ``later`` changes, then a second check that knows
the DIDs the first one learned.  Both backends must give the verdicts the case data names, so
the fast simulator tests stay honest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
from contract_backends import BACKENDS

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult
from wmsocial_bot.net import Net

CASES = json.loads((Path(__file__).with_name("bluesky.json")).read_text(encoding="utf-8"))
STATES = [case["state"] for case in CASES["cases"]]


class Backend(Protocol):
    overrides: dict[str, str]

    def setup(self, states: list[str]) -> dict[str, dict[str, Any]]: ...

    def advance(self) -> None: ...


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


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def verdicts(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, Any]]]:
    """Both checks of every case on one backend: {state: (first, second, account facts)}."""
    with BACKENDS[request.param](request) as backend:
        accounts = backend.setup(STATES)
        links = [accounts[state]["link"] for state in STATES]
        first = _check(backend, links, {})
        known = {r.account.key: r.learned for r in first if r.learned is not None}
        backend.advance()
        second = _check(backend, links, known)
    yield (
        request.param,
        {
            state: (one, two, accounts[state])
            for state, one, two in zip(STATES, first, second, strict=True)
        },
    )


@pytest.mark.parametrize("case", CASES["cases"], ids=STATES)
def test_bluesky_state_gets_its_verdict(
    case: dict[str, Any], verdicts: tuple[str, dict[str, Any]]
) -> None:
    backend, found = verdicts
    first, second, facts = found[case["state"]]
    got = (first.status.value, second.status.value)
    want = (case["first"], case["status"])
    assert got == want, (
        f"{backend}: {case['state']} ({case['about']}): got {got}, want {want}\n"
        f"  first:  {first.detail}\n  second: {second.detail}"
    )
    if case.get("successor"):
        assert second.new_handle == facts["new_handle"], second.detail
        assert second.new_url == f"https://bsky.app/profile/{facts['new_handle']}"
    else:
        assert second.new_url is None
