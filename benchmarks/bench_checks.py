"""Benchmark: the check stage on the platform simulator, against an ideal client.

    python benchmarks/bench_checks.py [--hosts 40] [--per-host 50] [--bluesky 300]
                                      [--latency-ms 200] [--cap 4]
                                      [--appview-latency-ms 50] [--appview-cap 32]
                                      [--sequential-sample 100] [--large]
                                      [--budget-accounts 200] [--budget-window-s 5]

The simulator runs in its own process (so the bot's peak memory is measured alone): every
Mastodon host answers after ``--latency-ms`` and says 429 to more than ``--cap`` requests in
flight; the Bluesky AppView after ``--appview-latency-ms``, with ``--appview-cap``.  Two runs are
made with the default configuration and the state kept between them, as on Toolforge; each is
compared with an ideal client measured in the same run (plain threads, exactly the minimal
requests, every host's cap filled all the time).  Then a plain sequential check of a sample,
and the budget case: one host advertising 300 requests per ``--budget-window-s`` (Mastodon's
300 per 5 minutes, with time scaled down) and ``--budget-accounts`` accounts, where the bot
must never use more than its share (``[network] host_budget_share``, a third) of any window.
``--large`` then checks 20,000 Mastodon accounts on 400 hosts (plus 3,000 Bluesky) too, and
compares the wall time per account of the two sizes (linear growth is a ratio near 1).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from wmsocial_bot.checks import check_accounts, ready_for_checks
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Identity
from wmsocial_bot.net import Net

APPVIEW = "public.api.bsky.app"


def did(n: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return (
        "did:plc:bench"
        + letters[n // 676 % 26]
        + letters[n // 26 % 26]
        + letters[n % 26]
        + "a" * 16
    )


def scenario(args: argparse.Namespace) -> dict[str, Any]:
    hosts, per_host, bluesky = args.hosts, args.per_host, args.bluesky
    common = {"latency_ms": args.latency_ms, "max_in_flight": args.cap}
    appview = {"latency_ms": args.appview_latency_ms, "max_in_flight": args.appview_cap}
    data: dict[str, Any] = {"now": "2026-11-24T00:00:00Z", "hosts": {}, "bluesky": {"accounts": {}}}
    for h in range(hosts):
        accounts = {
            f"user{i}": {"state": "ok", "last_status_at": "2026-11-01", "statuses_count": 10}
            for i in range(per_host)
        }
        data["hosts"][f"host{h:02d}.example"] = {
            "software": "mastodon",
            "accounts": accounts,
            **common,
        }
    data["hosts"][APPVIEW] = {"software": "bluesky-appview", **appview}
    data["hosts"]["plc.directory"] = {"software": "plc", **appview}
    for n in range(bluesky):
        data["bluesky"]["accounts"][did(n)] = {
            "handle": f"bench{n}.bsky.social",
            "state": "ok",
            "posts_count": 5,
            "last_post_at": "2026-11-01T00:00:00Z",
        }
    return data


def page(hosts: int, per_host: int, bluesky: int) -> str:
    lines = ["== Mastodon =="]
    lines += [
        f"* https://host{h:02d}.example/@user{i}" for h in range(hosts) for i in range(per_host)
    ]
    lines += ["== Bluesky =="]
    lines += [f"* https://bsky.app/profile/bench{n}.bsky.social" for n in range(bluesky)]
    return "\n".join(lines) + "\n"


def log_of(base: str) -> list[dict[str, Any]]:
    return requests.get(base + "/_sim/log", timeout=30).json()  # type: ignore[no-any-return]


def reset(base: str) -> None:
    requests.post(base + "/_sim/reset", timeout=30)


def ideal_client(base: str, hosts: dict[str, list[str]], caps: dict[str, int]) -> float:
    """Wall time of the minimal requests sent by plain threads, each host's cap always full."""
    lanes: list[list[str]] = []
    for host, paths in hosts.items():
        cap = caps[host]
        lanes += [[f"{base}/{host}{p}" for p in paths[i::cap]] for i in range(cap)]

    def drive(urls: list[str]) -> None:
        with requests.Session() as session:
            session.trust_env = False  # as the bot's: no proxy, .netrc or CA lookups per request
            for url in urls:
                session.get(url, timeout=60).close()

    threads = [threading.Thread(target=drive, args=(lane,)) for lane in lanes if lane]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - t0


def minimal_requests(args: argparse.Namespace, *, feeds: bool = True) -> dict[str, list[str]]:
    """The requests a perfect checker needs: one lookup per Mastodon account; on Bluesky, one
    getProfiles per 25 accounts and, on a first run, every account's feed (on a second run the
    stored last activity settles every verdict: docs/platforms.md, Bluesky)."""
    out = {
        f"host{h:02d}.example": [
            f"/api/v1/accounts/lookup?acct=user{i}" for i in range(args.per_host)
        ]
        for h in range(args.hosts)
    }
    dids = [did(n) for n in range(args.bluesky)]
    out[APPVIEW] = [
        "/xrpc/app.bsky.actor.getProfiles?" + "&".join(f"actors={d}" for d in dids[i : i + 25])
        for i in range(0, len(dids), 25)
    ]
    if feeds:
        out[APPVIEW] += [f"/xrpc/app.bsky.feed.getAuthorFeed?actor={d}&limit=30" for d in dids]
    return out


def start_simulator(data: dict[str, Any], tmp: str) -> tuple[subprocess.Popen[str], str]:
    path = Path(tmp) / f"bench{len(list(Path(tmp).iterdir()))}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "-m", "wmsocial_testkit.simulator", "--scenario", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its list of hosts
        text=True,
    )
    assert server.stdout is not None
    base = server.stdout.readline().strip()
    if not base:  # it printed no URL: it did not start
        server.wait()
        sys.exit(
            f"the simulator did not start (exit {server.returncode}); the test kit must be "
            "importable: pip install -e testkit (README, Development)"
        )
    return server, base


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--per-host", type=int, default=50)
    parser.add_argument("--bluesky", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--cap", type=int, default=4)
    parser.add_argument("--appview-latency-ms", type=int, default=50)
    parser.add_argument("--appview-cap", type=int, default=32)
    parser.add_argument("--sequential-sample", type=int, default=100)
    parser.add_argument("--budget-accounts", type=int, default=200)
    parser.add_argument("--budget-window-s", type=float, default=5.0)
    parser.add_argument(
        "--large", action="store_true", help="20,000 Mastodon accounts on 400 hosts, 3,000 Bluesky"
    )
    args = parser.parse_args()
    sizes = [argparse.Namespace(**vars(args))]
    if args.large:
        # The default size first, in the same process and run, as the yardstick of linearity.
        sizes[0].sequential_sample = 0
        sizes.append(argparse.Namespace(**vars(args)))
        sizes[1].hosts, sizes[1].per_host, sizes[1].bluesky = 400, 50, 3000
    with tempfile.TemporaryDirectory() as tmp:
        per_account: list[float] = []
        for size in sizes:
            data = scenario(size)
            server, base = start_simulator(data, tmp)
            try:
                per_account.append(run(size, base, data))
            finally:
                server.terminate()
                server.wait(timeout=10)
        if args.large:
            small, large = sizes
            n_small = small.hosts * small.per_host + small.bluesky
            n_large = large.hosts * large.per_host + large.bluesky
            print(
                f"linearity: first run's wall time per account {per_account[1] * 1000:.2f} ms "
                f"for {n_large} accounts vs {per_account[0] * 1000:.2f} ms for {n_small}: "
                f"{per_account[1] / per_account[0]:.2f} (goal about 1: time grows linearly with "
                f"the work)"
            )
        if args.budget_accounts:
            budget = budget_scenario(args.budget_accounts, args.budget_window_s)
            server, base = start_simulator(budget, tmp)
            try:
                budget_case(args, base, budget)
            finally:
                server.terminate()
                server.wait(timeout=10)


def run(args: argparse.Namespace, base: str, data: dict[str, Any]) -> float:
    """Both runs against their ideal clients; returns the first run's wall time per account."""
    overrides = {host: f"{base}/{host}" for host in data["hosts"]}
    accounts = extract_accounts(page(args.hosts, args.per_host, args.bluesky)).accounts
    n_mastodon = args.hosts * args.per_host
    n_bluesky = args.bluesky
    caps = {host: args.cap for host in minimal_requests(args)} | {APPVIEW: args.appview_cap}

    if "mastodon" not in sys.modules:  # --large: the default size did it already
        cpu0 = time.process_time()
        ready_for_checks()  # the first check of a process would otherwise
        print(
            "once per process, not per account: importing atproto and Mastodon.py, loading "
            "the CA certificates and setting the process's objects apart from the garbage "
            "collector (ready_for_checks), "
            f"{time.process_time() - cpu0:.2f} s of CPU (outside the figures below)"
        )
    known: dict[str, Identity] = {}
    first_wall = 0.0
    for label in ("first run", "second run (state kept)"):
        reset(base)
        ideal_cpu0 = time.process_time()
        minimal = minimal_requests(args, feeds=label == "first run")
        ideal = ideal_client(base, minimal, caps)
        ideal_cpu = time.process_time() - ideal_cpu0
        reset(base)
        net = Net(NetworkConfig(), overrides)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        results = check_accounts(accounts, net, known=known)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        known = {r.account.key: r.learned for r in results if r.learned is not None}
        log = log_of(base)
        statuses = Counter(r.status.value for r in results)
        per_host = Counter(entry["host"] for entry in log)
        mastodon_requests = sum(n for host, n in per_host.items() if host.startswith("host"))
        bluesky_requests = per_host[APPVIEW] + per_host["plc.directory"]
        too_many = [e for e in log if e["status"] == 429]
        first_seen: dict[str, float] = {}
        for entry in log:
            first_seen.setdefault(entry["host"], entry["started"])
        late = [e for e in too_many if e["started"] - first_seen[e["host"]] > 1.0]
        print(
            f"== {label}: {len(accounts)} accounts ({n_mastodon} Mastodon on {args.hosts} hosts, "
            f"{args.latency_ms} ms, cap {args.cap}; {n_bluesky} Bluesky, AppView "
            f"{args.appview_latency_ms} ms, cap {args.appview_cap}), default configuration"
        )
        print(f"  verdicts: {dict(statuses)}")
        per_account = wall / len(accounts) * 1000
        print(f"  check stage wall time: {wall:.2f} s ({per_account:.2f} ms per account)")
        print(
            f"  ideal client in the same run: {ideal:.2f} s (the minimal requests, every "
            f"host's cap always full)"
        )
        print(f"  ratio to ideal: {wall / ideal:.2f} (goal <= 1.3)")
        print(
            f"  CPU of the bot process: {cpu:.1f} s, {cpu / len(accounts) * 1000:.2f} ms per "
            f"account (goal <= 1 ms); the ideal client (plain requests, no checks): "
            f"{ideal_cpu / len(accounts) * 1000:.2f} ms, so {cpu / ideal_cpu:.2f} times its CPU"
        )
        if label == "first run":
            first_wall = wall
        print(f"  requests per Mastodon account: {mastodon_requests / n_mastodon:.3f} (goal 1.0)")
        if n_bluesky:
            goal = "<= 1.05" if label == "first run" else "<= 0.1: the stored activity decides"
            print(
                f"  requests per Bluesky account: {bluesky_requests / n_bluesky:.3f} (goal {goal})"
            )
        print(
            f"  429s received: {len(too_many)}; after the first second on a host: {len(late)} "
            f"(goal 0); net stats: {dict(net.stats)}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the bot process (max RSS): {peak:.0f} MB (goal < 300 MB)")

    per_account_wall = first_wall / len(accounts)
    if not args.sequential_sample:
        return per_account_wall
    sample = accounts[: args.sequential_sample // 2] + accounts[-(args.sequential_sample // 2) :]
    reset(base)
    sequential_net = Net(NetworkConfig(max_connections=1, max_per_host=1), overrides)
    t0 = time.perf_counter()
    check_accounts(sample, sequential_net)
    took = time.perf_counter() - t0
    scaled = took / len(sample) * len(accounts)
    print(
        f"plain sequential check: {took:.2f} s for {len(sample)} accounts, so about {scaled:.0f} s "
        f"for all {len(accounts)} ({scaled / max(first_wall, 1e-9):.0f}x the bot's first run)"
    )
    return per_account_wall


BUDGET_HOST = "busy.example"
BUDGET_LIMIT = 300  # Mastodon's anonymous API: 300 requests per 5 minutes per address


def budget_scenario(accounts: int, window_s: float) -> dict[str, Any]:
    users = {
        f"user{i}": {"state": "ok", "last_status_at": "2026-11-01", "statuses_count": 10}
        for i in range(accounts)
    }
    host = {
        "software": "mastodon",
        "accounts": users,
        "latency_ms": 20,
        "rate_limit": {"limit": BUDGET_LIMIT, "window_s": window_s},
    }
    return {"hosts": {BUDGET_HOST: host}}


def budget_case(args: argparse.Namespace, base: str, data: dict[str, Any]) -> None:
    """One host advertising 300 per window: the bot's most in any window vs its share."""
    config = NetworkConfig()
    share = math.floor(BUDGET_LIMIT * config.host_budget_share + 1e-9)
    n = args.budget_accounts
    text = "".join(f"* https://{BUDGET_HOST}/@user{i}\n" for i in range(n))
    accounts = extract_accounts(text).accounts
    net = Net(config, {BUDGET_HOST: f"{base}/{BUDGET_HOST}"})
    t0 = time.perf_counter()
    results = check_accounts(accounts, net)
    wall = time.perf_counter() - t0
    log = sorted((e for e in log_of(base) if e["host"] == BUDGET_HOST), key=lambda e: e["started"])
    most = count = 0
    start: float | None = None
    for entry in log:  # the simulator's windows: each starts at the first request after the last
        if start is None or entry["started"] >= start + args.budget_window_s:
            start, count = entry["started"], 0
        count += 1
        most = max(most, count)
    print(
        f"== budget: {n} accounts on one host advertising {BUDGET_LIMIT} requests per "
        f"{args.budget_window_s:g} s (Mastodon's 300 per 5 minutes, time scaled down)"
    )
    print(f"  verdicts: {dict(Counter(r.status.value for r in results))} in {wall:.1f} s")
    print(
        f"  most requests in one window: {most} (share {share}, a third of {BUDGET_LIMIT}; "
        f"goal <= {share}); 429s: {sum(1 for e in log if e['status'] == 429)} (goal 0)"
    )


if __name__ == "__main__":
    main()
