"""Network chaos on the simulator: whatever the hosts do, no false verdict, no endless run.

The truth is the data of the basic and platforms scenarios (``*.checks.json``: every link and
the status it must get).  ``tests/scenarios/chaos.json`` lists the fault kinds (5xx, resets,
timeouts, slow answers, non-JSON and oversized bodies, redirect loops, 429 storms, flaky
hosts) and seeded runs that give a share of the hosts one of them.  In every run:

* every account ends with a status and a detail;
* the run finishes within the bound;
* an account gets its true status, or ``unreachable``/``unverifiable``: any other status is a
  false verdict (a verdict the platform never gave);
* when a whole host or platform is down, the outage guard holds: nothing is acted on.
"""

from __future__ import annotations

import copy
import json
import random
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from faults.support import Figures

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.decide import History, Policy, decide, scope_of
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Status
from wmsocial_bot.net import Net
from wmsocial_testkit.fixtures import SCENARIOS
from wmsocial_testkit.simulator import Simulator

pytestmark = [pytest.mark.simulator, pytest.mark.faults]

CHAOS = json.loads((SCENARIOS / "chaos.json").read_text(encoding="utf-8"))
NO_EVIDENCE = {Status.UNREACHABLE, Status.UNVERIFIABLE}


def _base() -> tuple[dict[str, Any], list[dict[str, Any]], datetime, int]:
    scenario: dict[str, Any] = {"hosts": {}, "bluesky": {"accounts": {}}}
    for name in CHAOS["base"]:
        data = json.loads((SCENARIOS / name).read_text(encoding="utf-8"))
        assert not set(data["hosts"]) & set(scenario["hosts"]), "base scenarios overlap"
        scenario["hosts"].update(data["hosts"])
        scenario["bluesky"]["accounts"].update(data.get("bluesky", {}).get("accounts", {}))
        scenario["now"] = data["now"]
    scenario["bluesky"]["accounts"].update(CHAOS["extra_scenario"]["bluesky"]["accounts"])
    cases: list[dict[str, Any]] = []
    days = set()
    for name in CHAOS["cases"]:
        data = json.loads((SCENARIOS / name).read_text(encoding="utf-8"))
        cases += data["cases"]
        days.add(data["inactive_days"])
    cases += CHAOS["extra_cases"]
    (inactive_days,) = days
    return scenario, cases, datetime.fromisoformat(scenario["now"]), inactive_days


BASE, CASES, NOW, INACTIVE_DAYS = _base()
PAGE = "".join(f"* {case['link']}\n" for case in CASES)


def chaotic(run: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The base scenario with a seeded share of its hosts given faults; and who got what."""
    scenario = copy.deepcopy(BASE)
    rng = random.Random(run["seed"])
    given = {}
    for index, host in enumerate(sorted(scenario["hosts"])):
        if rng.random() >= run["share"]:
            continue
        kind = rng.choice(run["faults"])
        fault = copy.deepcopy(CHAOS["faults"][kind])
        if "flaky" in fault:
            fault["flaky"]["seed"] = run["seed"] * 1000 + index
        pages = {**scenario["hosts"][host].get("pages", {}), **fault.pop("pages", {})}
        scenario["hosts"][host].update(fault, **({"pages": pages} if pages else {}))
        given[host] = kind
    return scenario, given


def check_page(
    sim: Simulator, links: list[str] | None = None, **network: Any
) -> tuple[list[CheckResult], float]:
    """Check ``links`` (default: every case) through the chaos network config."""
    config = NetworkConfig(**{**CHAOS["network"], **network})
    net = Net(config, sim.overrides())
    accounts = extract_accounts(page_of(links) if links else PAGE).accounts
    assert len(accounts) == len(links or CASES)
    started = time.monotonic()
    results = check_accounts(accounts, net, inactive_days=INACTIVE_DAYS, now=NOW)
    return results, time.monotonic() - started


def page_of(links: list[str]) -> str:
    return "".join(f"* {link}\n" for link in links)


def judge(
    results: list[CheckResult], figures: Figures, run: str, cases: list[dict[str, Any]] = CASES
) -> list[str]:
    """Every account has a status; each is the truth or no evidence.  Returns the problems."""
    problems = []
    assert len(results) == len(cases), "every account ends with a status"
    for case, found in zip(cases, results, strict=True):
        figures.case("network chaos: account checks")
        assert isinstance(found.status, Status) and found.detail.strip(), case["link"]
        truth = Status(case["status"])
        if found.status == truth or found.status in NO_EVIDENCE:
            continue
        what = (
            f"{run}: {case['link']} is {found.status.value} ({found.detail}), truly {truth.value}"
        )
        figures.false_verdict(what)
        problems.append(what)
    return problems


@pytest.fixture(scope="module")
def chaos_sim() -> Any:
    with Simulator(BASE) as simulator:
        yield simulator


def test_the_truth_without_faults(chaos_sim: Simulator, figures: Figures) -> None:
    """The oracle itself: without faults every case gets exactly its status.

    Without retries, as in test_platforms.py: the platforms scenario holds a page that always
    answers 429, and retrying it makes its host pause longer than ``max_wait``.
    """
    chaos_sim.load(BASE)
    results, _ = check_page(chaos_sim, retries=0, timeout=3.0)
    wrong = [
        f"{case['link']}: {found.status.value}, want {case['status']}"
        for case, found in zip(CASES, results, strict=True)
        if found.status.value != case["status"]
    ]
    figures.case("network chaos: account checks", len(results))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("run", CHAOS["runs"], ids=[run["name"] for run in CHAOS["runs"]])
def test_chaos_run(chaos_sim: Simulator, figures: Figures, run: dict[str, Any]) -> None:
    scenario, given = chaotic(run)
    chaos_sim.load(scenario)
    chaos_sim.reset_log()
    for kind in given.values():
        figures.fault(f"host {kind}")
    results, seconds = check_page(chaos_sim)
    problems = judge(results, figures, run["name"])
    assert seconds < CHAOS["bound_s"], f"the checks took {seconds:.1f} s"
    assert not chaos_sim.errors, "\n".join(chaos_sim.errors)
    assert not problems, "\n".join(problems)
    # The hosts really were faulty: the simulator logged the injected faults (slow answers
    # are not faults to the simulator, only late).
    if set(given.values()) - {"slow", "too-slow"}:
        assert any(record.fault or (record.status or 0) >= 429 for record in chaos_sim.log), (
            "no fault was injected"
        )


# ---- the outage guard ------------------------------------------------------------------

DOWN = {
    "5xx": {"behaviour": "error503"},
    "reset": {"behaviour": "refuse"},
    "timeout": {"behaviour": "timeout", "hang_s": 2},
    "parked": {"behaviour": "nonjson"},
    # The one fault that looks like evidence: a server that lost its data answers 404 to
    # everything.  The checks may then say "deleted"; only the outage guard stops a notice.
    "404 everywhere": {"pages": {"/*": {"status": 404, "json": {"error": "Record not found"}}}},
}
SCOPES = {
    "host:social.example": ["social.example"],
    "platform:bluesky": ["public.api.bsky.app", "plc.directory"],
    "platform:youtube": ["www.youtube.com"],
    "platform:reddit": ["www.reddit.com"],
}


@pytest.mark.parametrize("down", sorted(DOWN))
@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_outage_guard_holds_when_a_whole_host_or_platform_is_down(
    chaos_sim: Simulator, figures: Figures, scope: str, down: str
) -> None:
    scenario = copy.deepcopy(BASE)
    for host in SCOPES[scope]:
        scenario["hosts"][host].update(copy.deepcopy(DOWN[down]))
    figures.fault(f"whole {scope.split(':')[0]} down ({down})")
    chaos_sim.load(scenario)
    everything = extract_accounts(PAGE).accounts
    cases = [c for c, a in zip(CASES, everything, strict=True) if scope_of(a) == scope]
    links = [case["link"] for case in cases]
    results, seconds = check_page(chaos_sim, links)
    assert seconds < CHAOS["bound_s"]
    if down != "404 everywhere":
        problems = judge(results, figures, f"{scope} {down}", cases)
        assert not problems, "\n".join(problems)
    # Act at once (1 sighting, 0 days): only the outage guard stands between a bad day and a
    # notice or an edit.
    policy = Policy(confirmations=1, confirm_days=0, outage_min_accounts=4)
    decision = decide(results, extract_accounts(page_of(links)), History(), policy, NOW)
    unique = {r.account.key for r in results if r.account.duplicate_of is None}
    assert len(unique) >= policy.outage_min_accounts
    bad = [r for r in results if r.status in (Status.UNREACHABLE, Status.DELETED)]
    if len(bad) >= len(results) / 2:  # (a parked page is no evidence, so no outage either)
        assert [o.scope for o in decision.outages] == [scope], [r.status.value for r in results]
    truth = {r.account.key: Status(c["status"]) for r, c in zip(results, cases, strict=True)}
    acted = [f"{f.kind}: {f.key}" for f in decision.findings if f.kind != "duplicate"]
    acted += [f"fix: {fix.old_key}" for fix in decision.fixes]
    for what in acted:
        figures.case("outage guard: findings")
        key = what.split(": ", 1)[1]
        if not what.startswith(truth[key].value):
            figures.false_verdict(f"{scope} {down}: {what} during an outage")
    assert not acted, f"acted on during an outage: {acted}"


def test_a_week_of_chaos_with_the_real_policy(chaos_sim: Simulator, figures: Figures) -> None:
    """Daily runs through a week of chaos with the default policy: findings only where true."""
    policy = Policy()
    extraction = extract_accounts(PAGE)
    truth = {a.key: Status(c["status"]) for a, c in zip(extraction.accounts, CASES, strict=True)}
    quick = [run for run in CHAOS["runs"] if run.get("week", True)]
    streaks: dict[str, Any] = {}
    found: dict[str, set[str]] = {}
    for day in range(3):
        run = {**quick[day % len(quick)], "seed": 100 + day}
        scenario, given = chaotic(run)
        chaos_sim.load(scenario)
        figures.fault("host faults over a week", len(given))
        results, _ = check_page(chaos_sim)
        decision = decide(results, extraction, History(streaks), policy, NOW + timedelta(days=day))
        streaks = {**streaks, **decision.streaks}
        for finding in decision.findings:
            found.setdefault(finding.key, set()).add(finding.kind)
        figures.case("network chaos: daily decisions", len(results))
    wrong = [
        f"{key}: {sorted(kinds)}, truly {truth[key].value}"
        for key, kinds in found.items()
        if not kinds <= {truth[key].value, "unreachable", "duplicate"}
    ]
    for what in wrong:
        figures.false_verdict("finding " + what)
    assert not wrong, "\n".join(wrong)
