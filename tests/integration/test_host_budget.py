"""The bot's share of a host's rate-limit budget, with the real Mastodon.py on the simulator.

Mastodon allows anonymous API clients 300 requests per 5 minutes per address (mastodon/mastodon
``config/initializers/rack_attack.rb``, ``throttle_unauthenticated_api``), and every tool on
Toolforge leaves through one address; so by default the bot takes at most a third of what a
host advertises per window, spread evenly over the window.  The windows here are seconds long
(the simulator's ``rate_limit.window_s``) so that the cases run fast.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.decide import next_streak
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Status
from wmsocial_bot.net import Net
from wmsocial_bot.run import PageReport
from wmsocial_bot.state import Streak
from wmsocial_testkit.sim_scenario import live_bluesky
from wmsocial_testkit.simulator import RequestRecord, Simulator

pytestmark = pytest.mark.simulator
HOST = "busy.example"
NOW = datetime.fromisoformat("2026-11-24T00:00:00+00:00")


def scenario(accounts: int, limit: int, window_s: float) -> dict[str, Any]:
    users = {
        f"user{i}": {"state": "ok", "last_status_at": "2026-11-01", "statuses_count": 3}
        for i in range(accounts)
    }
    return {
        "now": "2026-11-24T00:00:00Z",
        "hosts": {
            HOST: {
                "software": "mastodon",
                "accounts": users,
                "latency_ms": 20,
                "rate_limit": {"limit": limit, "window_s": window_s},
            }
        },
    }


def check(sim: Simulator, accounts: int, config: NetworkConfig) -> list[CheckResult]:
    page = "".join(f"* https://{HOST}/@user{i}\n" for i in range(accounts))
    net = Net(config, sim.overrides())
    return check_accounts(extract_accounts(page).accounts, net, now=NOW)


def most_in_one_window(log: list[RequestRecord], window_s: float) -> int:
    """The most requests the simulator counted in one of its windows (as it counts them)."""
    most = count = 0
    start: float | None = None
    for record in sorted(log, key=lambda r: r.started):
        if start is None or record.started >= start + window_s:
            start, count = record.started, 0
        count += 1
        most = max(most, count)
    return most


def test_a_third_of_the_advertised_budget_per_window_spread_evenly() -> None:
    # 30 per 3 s advertised: the bot may use 10 per window; 25 accounts need three windows.
    with Simulator(scenario(25, limit=30, window_s=3.0)) as sim:
        results = check(sim, 25, NetworkConfig(timeout=5.0))
        log = [r for r in sim.log if r.host == HOST]
    assert [r.status for r in results] == [Status.OK] * 25, [r.detail for r in results]
    assert len(log) == 25, "one request per account"
    assert not [r for r in log if r.status == 429], "the share never runs into the limit"
    assert most_in_one_window(log, 3.0) <= 10, "at most a third of 30 in any window"
    starts = sorted(r.started for r in log)
    # Spread, not a burst then a wait: at most the first answers' burst (4 in flight before
    # the host's headers are known) plus a fair part of a window comes within one second.
    busiest = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)
    assert busiest <= 4 + 4, f"{busiest} requests within one second"
    assert starts[-1] - starts[0] >= 2 * 3.0 * 0.8, "25 requests at 10 per 3 s span 2 windows"


def test_the_share_is_configurable() -> None:
    with Simulator(scenario(12, limit=30, window_s=3.0)) as sim:
        results = check(sim, 12, NetworkConfig(timeout=5.0, host_budget_share=0.2))
        log = [r for r in sim.log if r.host == HOST]
    assert all(r.status == Status.OK for r in results)
    assert most_in_one_window(log, 3.0) <= 6, "a fifth of 30 per window"


def test_accounts_beyond_the_share_are_left_for_the_next_run_never_unreachable() -> None:
    # 30 per 60 s: the share (10) spread over a minute is one request every 6 s, longer than
    # the bot may wait (max_wait 1 s): what the first answers did not cover is not checked.
    with Simulator(scenario(12, limit=30, window_s=60.0)) as sim:
        results = check(sim, 12, NetworkConfig(timeout=5.0, max_wait=1.0))
        asked = len([r for r in sim.log if r.host == HOST])
    checked = [r for r in results if r.status == Status.OK]
    left = [r for r in results if r.status != Status.OK]
    assert checked and left, [(r.status, r.detail) for r in results]
    assert asked == len(checked), "an account left for later costs no request"
    for found in left:
        assert found.status == Status.UNVERIFIABLE, found
        assert found.detail.startswith("not checked: the bot's share of busy.example's rate"), (
            found.detail
        )
        assert "left for the next run" in found.detail
        # decide: no evidence, so a streak of bad results is neither started nor broken.
        previous = Streak("deleted", NOW, NOW, 2)
        assert next_streak(previous, found.status, NOW) == previous


def test_a_paced_host_holds_a_few_workers_never_all_of_them() -> None:
    # busy.example is paced by its share (10 per 6 s, about one request a second once its
    # headers are known); other.example answers at once.  The 9 workers (max_connections 1,
    # plus 8) must not all wait on the busy host's accounts while other.example's wait.
    data = scenario(14, limit=30, window_s=6.0)
    data["hosts"]["other.example"] = {
        "software": "mastodon",
        "accounts": {
            f"user{i}": {"state": "ok", "last_status_at": "2026-11-01", "statuses_count": 3}
            for i in range(20)
        },
        "latency_ms": 20,
    }
    links = [
        f"* https://{host}/@user{i}\n"
        for i in range(20)
        for host in (HOST, "other.example")
        if host != HOST or i < 14
    ]
    with Simulator(data) as sim:
        net = Net(NetworkConfig(timeout=5.0, max_connections=1), sim.overrides())
        results = check_accounts(extract_accounts("".join(links)).accounts, net, now=NOW)
        log = sorted(sim.log, key=lambda r: r.started)
    assert all(r.status == Status.OK for r in results), [r.detail for r in results]
    busy = [r.started for r in log if r.host == HOST]
    other = [r.started for r in log if r.host == "other.example"]
    assert len(busy) == 14 and len(other) == 20
    # The busy host's first paced request (its 6th) comes about a second in: every account
    # of the other host is asked before it.
    assert max(other) < busy[5], "other.example waited behind busy.example's pacing"


def test_the_run_summary_counts_the_accounts_left_for_the_next_run() -> None:
    with Simulator(scenario(12, limit=30, window_s=60.0)) as sim:
        results = check(sim, 12, NetworkConfig(timeout=5.0, max_wait=1.0))
    left = sum(1 for r in results if r.status == Status.UNVERIFIABLE)
    assert left, "some accounts must be left for the next run"
    lines = PageReport("Social media", results=results).summary_lines()
    assert f"  not checked: {left} accounts are left for the next run" in "\n".join(lines)


def test_the_public_appview_gets_more_requests_in_flight_than_a_server() -> None:
    # Bluesky's public AppView is cached and has "generous rate-limits" (bsky-docs
    # rate-limits.md): up to 32 in flight there, while a Mastodon server keeps max_per_host.
    data, page = live_bluesky("wide", 64, latency_ms=100)
    with Simulator(data) as sim:
        net = Net(NetworkConfig(timeout=5.0), sim.overrides())
        results = check_accounts(extract_accounts(page).accounts, net, now=NOW)
        most = sim.max_in_flight("public.api.bsky.app")
    assert all(r.status == Status.OK for r in results), [r.detail for r in results][:3]
    assert 4 < most <= 32, most
