"""What the chaos runs found, one fault at a time (each failed before its fix).

* A 429 storm cost (requests x retries x Retry-After): a host that answers only 429 is now
  given up after ``THROTTLED_AFTER`` refusals in a row, and one that answers mostly 429 (a
  squall; chaos.json's "429 storms" run) after twice as many in all (``net.py``).
* A parked page (HTTP 200, not the platform's) on Pinterest, Flickr or Tumblr made a gone
  profile ``ok`` (``checkers/common.py``).
* A Misskey server whose nodeinfo failed once was asked the WebFinger-and-page fallback, which
  called a moved account ``ok`` (``checkers/mastodon.py``).
* A Telegram channel whose preview failed, and a Bluesky account whose feed failed, were
  ``ok`` without a date: an inactive account looked alive (``telegram.py``, ``bluesky.py``).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
import requests
from faults.support import Figures

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Status
from wmsocial_bot.net import THROTTLED_AFTER, Net
from wmsocial_testkit.simulator import Simulator

pytestmark = [pytest.mark.simulator, pytest.mark.faults]
NOW = datetime.fromisoformat("2026-11-24T00:00:00+00:00")
NO_EVIDENCE = {Status.UNREACHABLE, Status.UNVERIFIABLE}


def check(sim: Simulator, links: list[str], **network: Any) -> list[CheckResult]:
    net = Net(NetworkConfig(**{"timeout": 3.0, **network}), sim.overrides())
    accounts = extract_accounts("".join(f"* {link}\n" for link in links)).accounts
    assert len(accounts) == len(links)
    return check_accounts(accounts, net, now=NOW, inactive_days=365)


def test_a_429_storm_costs_a_bounded_time(sim: Simulator, figures: Figures) -> None:
    sim.update_host("social.example", flaky={"error_rate": 1.0, "kinds": ["ratelimit"]})
    sim.update_host("social.example", retry_after=1)
    links = [f"https://social.example/@user{n}" for n in range(30)]
    started = time.monotonic()
    results = check(sim, links, retries=3, max_per_host=2)
    seconds = time.monotonic() - started
    figures.fault("429 storm", sim.count("social.example"))
    figures.case("regressions", len(results))
    assert {r.status for r in results} <= NO_EVIDENCE
    # Before: 30 accounts x 4 attempts, one second apart on a host throttled to one request
    # at a time -- about two minutes.  Now the host is given up after THROTTLED_AFTER 429s.
    assert sim.count("social.example") <= THROTTLED_AFTER + 2
    assert seconds < THROTTLED_AFTER * 1.5 + 5
    assert any("429" in r.detail or "rate" in r.detail for r in results)


def test_a_429_now_and_then_is_still_retried_into_the_truth(
    sim: Simulator, figures: Figures
) -> None:
    sim.update_host("social.example", max_in_flight=1, latency_ms=100)
    results = check(sim, [f"https://social.example/@{n}" for n in ("alice", "nobody", "bob")])
    figures.case("regressions", len(results))
    assert [r.status for r in results] == [Status.OK, Status.DELETED, Status.MOVED]


PARKED = "<html><body><h1>This domain may be for sale!</h1></body></html>"


@pytest.mark.parametrize(
    ("host", "link"),
    [
        ("www.pinterest.com", "https://www.pinterest.com/gonepin/"),
        ("www.flickr.com", "https://www.flickr.com/photos/nosuchuser"),
        ("gone.tumblr.com", "https://gone.tumblr.com/"),
    ],
)
def test_a_parked_page_is_not_a_live_profile(
    sim: Simulator, figures: Figures, host: str, link: str
) -> None:
    sim.update_host(host, software="web", default_page=PARKED)
    (found,) = check(sim, [link])
    figures.fault("parked page")
    figures.case("regressions")
    assert found.status == Status.UNVERIFIABLE, found.detail
    assert "names neither" in found.detail


def test_a_live_profile_page_is_still_ok(sim: Simulator, figures: Figures) -> None:
    sim.update_host(
        "www.flickr.com",
        software="web",
        pages={"/photos/12345678@N05/": "<html><title>Someone | Flickr</title></html>"},
    )
    (found,) = check(sim, ["https://www.flickr.com/photos/12345678@N05/"])
    figures.case("regressions")
    assert found.status == Status.OK, found.detail


def test_misskey_with_a_failing_nodeinfo_is_never_ok(sim: Simulator, figures: Figures) -> None:
    sim.update_host(
        "misskey.example",
        pages={"/.well-known/nodeinfo": {"status": 503, "body": "<html>503</html>"}},
    )
    results = check(sim, ["https://misskey.example/@moe", "https://misskey.example/@miko"])
    figures.fault("nodeinfo 503")
    figures.case("regressions", len(results))
    assert {r.status for r in results} <= NO_EVIDENCE, [r.detail for r in results]
    assert "nodeinfo could not be read" in results[0].detail


def test_telegram_preview_failing_is_not_ok(sim: Simulator, figures: Figures) -> None:
    sim.load(
        {
            "now": "2026-11-24T00:00:00Z",
            "hosts": {
                "t.me": {
                    "software": "web",
                    "pages": {
                        "/oldnews": '<div class="tgme_page"><div class="tgme_page_title">'
                        "Old news</div></div>",
                        "/s/oldnews": {"status": 502, "body": "<html>502</html>"},
                    },
                }
            },
        }
    )
    (found,) = check(sim, ["https://t.me/s/oldnews"], retries=0)
    figures.fault("preview 502")
    figures.case("regressions")
    assert found.status == Status.UNVERIFIABLE, found.detail
    assert "last post is unknown" in found.detail


def test_bluesky_feed_failing_is_not_ok(sim: Simulator, figures: Figures) -> None:
    did = "did:plc:dormantaaaaaaaaaaaaaaaaa"
    sim.update_bluesky(
        did, handle="dormant.bsky.social", posts_count=3, last_post_at="2023-01-05T10:00:00Z"
    )
    link = "https://bsky.app/profile/dormant.bsky.social"
    (healthy,) = check(sim, [link], retries=0)
    assert healthy.status == Status.INACTIVE, healthy.detail
    sim.update_host(
        "public.api.bsky.app",
        pages={"/xrpc/app.bsky.feed.getAuthorFeed": {"status": 502, "body": "<html>502</html>"}},
    )
    (found,) = check(sim, [link], retries=0)
    figures.fault("feed 502")
    figures.case("regressions", 2)
    assert found.status == Status.UNVERIFIABLE, found.detail
    assert found.learned is not None and found.learned.ident == did


@pytest.mark.parametrize(
    "feed",
    [
        {"feed": [{"post": "not a post view"}]},
        {"feed": [{"post": {"uri": "at://x/app.bsky.feed.post/3k", "author": {"did": 7}}}]},
        {"feed": [{"post": {}, "reason": {"$type": "app.bsky.feed.defs#reasonRepost"}}]},
        {"feed": "none"},
        {"cursor": "x"},
    ],
    ids=["post-not-an-object", "post-without-date", "repost-without-reposter", "feed-not-a-list",
         "no-feed"],
)  # fmt: skip
def test_bluesky_feed_not_shaped_like_the_lexicon_is_not_ok(
    sim: Simulator, figures: Figures, feed: dict[str, object]
) -> None:
    """The feed is read as plain JSON (not through atproto's models, for CPU): an item that
    the lexicon's ``#feedViewPost`` would refuse makes the last post unknown, never "ok"."""
    sim.update_bluesky(
        "did:plc:dormantaaaaaaaaaaaaaaaaa",
        handle="dormant.bsky.social",
        posts_count=3,
        last_post_at="2023-01-05T10:00:00Z",
    )
    sim.update_host(
        "public.api.bsky.app", pages={"/xrpc/app.bsky.feed.getAuthorFeed": {"json": feed}}
    )
    (found,) = check(sim, ["https://bsky.app/profile/dormant.bsky.social"], retries=0)
    figures.fault("feed not shaped like the lexicon")
    figures.case("regressions")
    assert found.status == Status.UNVERIFIABLE, found.detail
    assert "its feed could not be read" in found.detail


def test_a_garbled_rate_limit_reset_does_not_make_an_account_look_throttled(
    sim: Simulator, figures: Figures
) -> None:
    """Mastodon.py's own rate-limit bookkeeping parsed ``X-RateLimit-Reset`` and raised its
    429 error when it could not: a server's garbled header made a live account unreachable.
    The network policy reads the header itself (``net.rate_limit_hints``), leniently."""
    base = sim.overrides()["social.example"]
    body = requests.get(f"{base}/api/v1/accounts/lookup?acct=alice", timeout=10).json()
    sim.update_host(
        "social.example",
        pages={"/api/v1/accounts/lookup": {"json": body, "headers": {"X-RateLimit-Reset": "soon"}}},
    )
    (found,) = check(sim, ["https://social.example/@alice"], retries=0)
    figures.fault("garbled rate-limit reset")
    figures.case("regressions")
    assert found.status == Status.OK, found.detail
