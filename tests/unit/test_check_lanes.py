"""Per-host lanes: each host gets as many concurrent checks as it may have requests in flight.

The Bluesky AppView takes 32 at a time, a Mastodon server ``max_per_host``; a worker never
waits at a host's gate for a slot another worker holds (the checks of one host share lanes).
No network: the checks here only count who runs at once.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from wmsocial_bot.checkers.common import CheckContext, result
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Account, CheckResult, Status
from wmsocial_bot.net import Net

APPVIEW = "public.api.bsky.app"


def _context(executor: ThreadPoolExecutor) -> CheckContext:
    return CheckContext(Net(NetworkConfig(max_per_host=4)), datetime.now(UTC), 365, {}, executor)


def test_each_host_gets_its_in_flight_limit_of_lanes_and_no_more() -> None:
    page = "".join(f"* https://bsky.app/profile/a{n}.bsky.social\n" for n in range(64)) + "".join(
        f"* https://social.example/@u{n}\n" for n in range(12)
    )
    accounts = extract_accounts(page).accounts
    first_32 = {f"a{n}.bsky.social" for n in range(32)}  # the lanes take them first, together
    everyone_on_the_appview = threading.Barrier(32, timeout=30)  # 32 at once, or it breaks
    lock = threading.Lock()
    running: dict[str, int] = {}
    most: dict[str, int] = {}

    def host_of(account: Account) -> str:
        return APPVIEW if account.platform == "bluesky" else "social.example"

    def check(account: Account) -> CheckResult:
        host = host_of(account)
        with lock:
            running[host] = running.get(host, 0) + 1
            most[host] = max(most.get(host, 0), running[host])
        try:
            if account.handle in first_32:
                everyone_on_the_appview.wait()
            else:
                threading.Event().wait(0.002)
        finally:
            with lock:
                running[host] -= 1
        return result(account, Status.OK, "")

    with ThreadPoolExecutor(200) as executor:
        found = _context(executor).check_each(check, accounts, host_of=host_of)
    assert [r.account for r in found] == list(accounts)
    assert most[APPVIEW] == 32  # the AppView's limit (net.WIDE_HOSTS), not max_per_host
    assert most["social.example"] <= 4


def test_no_accounts_no_lanes() -> None:
    with ThreadPoolExecutor(4) as executor:
        ctx = _context(executor)
        assert ctx.check_each(lambda a: result(a, Status.OK, ""), [], host_of=str) == []
