"""Checks of the platforms without an account API, against the simulator's web pages.

The cases are data: ``tests/scenarios/platforms.checks.json`` lists links and the verdict each
must get from ``tests/scenarios/platforms.json``.  The other tests here hold for every platform
at once: no request at all where a request would prove nothing, refusals (401/403/429/451/999,
challenge pages) never become verdicts, server failures are ``unreachable``, the network guard
makes a link ``invalid``, and hostile bodies are not read.

Every Net here has ``retries=0``: a retried 5xx or 429 would only make the tests slower.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from wmsocial_bot.checkers import youtube
from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Status
from wmsocial_bot.net import Net
from wmsocial_testkit.fixtures import SCENARIOS, scenario_fixtures
from wmsocial_testkit.simulator import Simulator

pytestmark = pytest.mark.simulator
SCENARIO = SCENARIOS / "platforms.json"
EXPECTED = json.loads((SCENARIOS / "platforms.checks.json").read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(EXPECTED["now"])
CASES: list[dict[str, str]] = EXPECTED["cases"]
VERDICTS = {
    Status.DELETED,
    Status.SUSPENDED,
    Status.DEACTIVATED,
    Status.MOVED,
    Status.RENAMED,
    Status.LIMITED,
    Status.INACTIVE,
    Status.OK,
}
# Platforms whose checks make no request at all, and links that stand for them.
NO_REQUEST = [
    "https://x.com/Wikipedia",
    "https://twitter.com/wikimedia/media",
    "https://www.threads.net/@wikipedia",
    "https://www.facebook.com/wikipedia",
    "https://www.facebook.com/profile.php?id=12345",
    "https://www.linkedin.com/company/wikimedia-foundation",
    "https://www.linkedin.com/in/someone",
    "https://whatsapp.com/channel/0029VaABCdefGHIjkl",
    "https://wa.me/15551234567",
    "https://vk.com/wikipedia",
    "https://weibo.com/u/1234567890",
    "https://t.me/+AbCdEfGhIjK",
    "https://t.me/joinchat/AbCdEfGhIjK",
]
# One link per platform that asks the network, each on its own host.
ASKING = [
    "https://www.youtube.com/@wikimedia",
    "https://t.me/wikimedia",
    "https://www.reddit.com/user/alice",
    "https://www.pinterest.com/wikimedia/",
    "https://www.flickr.com/photos/wikimedia/",
    "https://wikimedia.tumblr.com/",
    "https://www.tiktok.com/@wikipedia",
    "https://www.instagram.com/gone/",
]


def accounts_for(links: list[str]) -> list[Any]:
    page = "\n".join(f"* {link}" for link in links) + "\n"
    accounts = extract_accounts(page).accounts
    assert len(accounts) == len(links), "every link is an account"
    return accounts


def run(net: Net, links: list[str]) -> list[CheckResult]:
    return check_accounts(
        accounts_for(links), net, now=NOW, inactive_days=EXPECTED["inactive_days"]
    )


def sim_net(sim: Simulator, **config: Any) -> Net:
    config.setdefault("timeout", 3.0)
    config.setdefault("retries", 0)
    return Net(NetworkConfig(**config), sim.overrides())


platforms_sim, psim = scenario_fixtures(SCENARIO, "psim", "platforms_sim")


def every_host_answers(sim: Simulator, **host: Any) -> None:
    """Replace every host of the scenario with one that answers the same to every path."""
    data = sim.scenario_data
    data["hosts"] = {name: {"software": "web", **host} for name in data["hosts"]}
    sim.load(data)


# --------------------------------------------------------------------------- the case file


def test_every_case_of_the_case_file(psim: Simulator) -> None:
    results = run(sim_net(psim), [case["link"] for case in CASES])
    problems = []
    for case, found in zip(CASES, results, strict=True):
        if found.status.value != case["status"]:
            problems.append(
                f"{case['link']}: {found.status.value} ({found.detail}), want {case['status']}"
            )
        elif case["detail_contains"] not in found.detail:
            problems.append(
                f"{case['link']}: detail {found.detail!r} lacks {case['detail_contains']!r}"
            )
        if "\n" in found.detail or re.search(r"[.!?]\s+[A-Z]", found.detail):
            problems.append(f"{case['link']}: the detail is not one sentence: {found.detail!r}")
        want_last = case.get("last_activity")
        if want_last and found.last_activity != date.fromisoformat(want_last):
            problems.append(
                f"{case['link']}: last activity {found.last_activity}, want {want_last}"
            )
        want_followers = case.get("followers")
        got_followers = found.reach.followers if found.reach else None
        if want_followers is not None and got_followers != want_followers:
            problems.append(f"{case['link']}: followers {got_followers}, want {want_followers}")
        if found.status in (Status.MOVED, Status.RENAMED) or found.new_url is not None:
            problems.append(f"{case['link']}: no successor may be offered ({found.new_url})")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- no request


class RecordingNet(Net):
    """A Net that records every request a checker tries to make."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[str] = []

    def get(self, url: str, **kwargs: Any) -> Any:
        self.asked.append(url)
        return super().get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        self.asked.append(url)
        return super().post(url, **kwargs)

    def requests_session(self) -> Any:
        self.asked.append("requests session")
        return super().requests_session()

    def httpx_transport(self) -> Any:
        self.asked.append("httpx transport")
        return super().httpx_transport()


def test_no_request_where_a_request_would_prove_nothing(psim: Simulator) -> None:
    def no_dns(host: str) -> list[str]:
        raise AssertionError(f"{host} was looked up")

    net = RecordingNet(NetworkConfig(timeout=3.0, retries=0), psim.overrides(), resolver=no_dns)
    results = run(net, NO_REQUEST)
    assert net.asked == []
    assert psim.log == []
    for found in results:
        assert found.status == Status.UNVERIFIABLE, found
        assert found.detail.startswith("not checked: "), found.detail
        assert "would prove nothing" in found.detail or "invite link" in found.detail


def test_asking_platforms_make_one_request_each_when_healthy(psim: Simulator) -> None:
    results = run(sim_net(psim), ASKING)
    assert {r.status for r in results} <= {Status.OK, Status.DELETED}
    # YouTube: page and feed; Telegram: page and preview; the rest one request each.
    assert len(psim.log) == len(ASKING) + 2
    assert psim.count("www.instagram.com") == 1, "Instagram is asked once, redirects not followed"


# --------------------------------------------------------------------------- never a verdict

REFUSALS = {
    "401": {"status": 401, "body": "<html><body>Log in</body></html>"},
    "403": {"status": 403, "body": "<html><body>Blocked</body></html>"},
    "429": {"status": 429, "body": "<html><body>Too Many Requests</body></html>"},
    "451": {"status": 451, "body": "Unavailable For Legal Reasons"},
    "challenge": {
        "status": 403,
        "headers": {"cf-mitigated": "challenge"},
        "body": "<html><head><title>Just a moment...</title></head></html>",
    },
    "challenge-200": {
        "status": 200,
        "headers": {"cf-mitigated": "challenge"},
        "body": "<html><head><title>Just a moment...</title></head></html>",
    },
}


@pytest.mark.parametrize("answer", sorted(REFUSALS))
def test_refusals_and_challenges_are_never_verdicts(psim: Simulator, answer: str) -> None:
    every_host_answers(psim, default_page=REFUSALS[answer])
    results = run(sim_net(psim), ASKING)
    for found in results:
        assert found.status == Status.UNVERIFIABLE, f"{answer}: {found}"
    if answer.startswith("challenge"):
        assert all("challenge" in r.detail for r in results)
    else:
        assert all(f"HTTP {answer}" in r.detail for r in results)


class _Status999(BaseHTTPRequestHandler):
    """LinkedIn-style anti-bot answer; the simulator only speaks statuses 100-599."""

    def do_GET(self) -> None:
        body = b"<html><body>request denied</body></html>"
        self.send_response(999)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def status_999() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status999)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_status_999_is_never_a_verdict(psim: Simulator, status_999: str) -> None:
    overrides = {host: f"{status_999}/{host}" for host in psim.overrides()}
    results = run(Net(NetworkConfig(timeout=3.0, retries=0), overrides), ASKING)
    for found in results:
        assert found.status == Status.UNVERIFIABLE, found
        assert "HTTP 999" in found.detail


@pytest.mark.parametrize("behaviour", ["error500", "error502", "error503", "refuse"])
def test_server_failures_are_unreachable(psim: Simulator, behaviour: str) -> None:
    every_host_answers(psim, behaviour=behaviour)
    for found in run(sim_net(psim), ASKING):
        assert found.status == Status.UNREACHABLE, f"{behaviour}: {found}"


def test_a_timeout_is_unreachable(psim: Simulator) -> None:
    psim.update_host("www.reddit.com", behaviour="timeout", hang_s=2)
    (found,) = run(sim_net(psim, timeout=0.3), ["https://www.reddit.com/user/alice"])
    assert found.status == Status.UNREACHABLE
    assert "timed out" in found.detail


def test_a_redirect_loop_is_unreachable(psim: Simulator) -> None:
    psim.update_host("www.pinterest.com", behaviour="redirect_loop")
    (found,) = run(sim_net(psim), ["https://www.pinterest.com/wikimedia/"])
    assert found.status == Status.UNREACHABLE
    assert "loop" in found.detail


def test_a_link_to_a_private_address_is_invalid() -> None:
    net = Net(NetworkConfig(timeout=3.0, retries=0), {}, resolver=lambda host: ["10.1.2.3"])
    for found in run(net, ASKING):
        assert found.status == Status.INVALID, found
        assert "refused" in found.detail and "private" in found.detail


# --------------------------------------------------------------------------- hostile bodies


def test_an_oversized_feed_is_not_read(psim: Simulator) -> None:
    psim.update_host("www.youtube.com", behaviour="oversized", oversized_bytes=5_000_000)
    link = "https://www.youtube.com/channel/" + "UClive".ljust(24, "x")
    (found,) = run(sim_net(psim), [link])
    assert found.status == Status.UNVERIFIABLE
    assert "not read" in found.detail and "cap" in found.detail


def test_feed_parser_refuses_entities_and_reports_broken_xml() -> None:
    with pytest.raises(ValueError, match="document type"):
        youtube.feed_entries('<!DOCTYPE x [<!ENTITY a "aaaa">]><feed/>')
    with pytest.raises(ValueError, match="well-formed"):
        youtube.feed_entries("<feed><entry>")
    with pytest.raises(ValueError, match="well-formed"):
        youtube.feed_entries("\x00\xff garbage")
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><published>2026-01-02T03:04:05+00:00'
        "</published></entry><entry><published>not a date</published></entry></feed>"
    )
    assert youtube.feed_entries(atom) == (2, [date(2026, 1, 2)])


def test_channel_id_is_read_from_the_canonical_link_in_any_attribute_order() -> None:
    uc = "UC" + "a" * 22
    url = f"https://www.youtube.com/channel/{uc}"
    assert youtube.channel_id_in(f"<link href='{url}' rel=canonical>") == uc
    assert youtube.channel_id_in(f'<LINK href="{url}" REL="canonical">') == uc
    assert youtube.channel_id_in(f'<meta property="og:url" content="{url}">') == uc
    assert youtube.channel_id_in(f'<link rel="alternate" href="{url}">') is None
    assert youtube.channel_id_in(f'<link rel="canonical" href="{url}b">') is None
    assert youtube.channel_id_in("<html>" + "<link " * 10_000) is None
