"""Pytest fixtures and client helpers for the platform simulator (a plain module; import it).

``tests/`` is not a package, so a test module imports this file with::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from simulator_fixtures import basic_sim, sim, mastodon_for, bluesky_client  # noqa: F401

``basic_sim`` (module scope) serves ``tests/scenarios/basic.json``; ``sim`` hands it out with
the scenario reloaded and the log cleared, so each test starts from the same state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from atproto import Client
from atproto_client.request import Request
from mastodon import Mastodon

from wmsocial_bot.devtools.simulator import Simulator

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
BASIC = SCENARIOS / "basic.json"


def mastodon_for(sim: Simulator, host: str, timeout: float = 5.0) -> Mastodon:
    """A token-less Mastodon.py client for a simulated host, set up as platforms.md says."""
    return Mastodon(
        api_base_url=sim.url_for(host),
        request_timeout=timeout,
        ratelimit_method="throw",
        version_check_mode="none",
    )


def bluesky_client(
    sim: Simulator, host: str = "public.api.bsky.app", timeout: float = 5.0
) -> Client:
    """An atproto Client on the simulated AppView (``/xrpc`` is appended by the library)."""
    return Client(base_url=sim.url_for(host), request=Request(timeout=timeout))


@pytest.fixture(scope="module")
def basic_sim() -> Iterator[Simulator]:
    with Simulator(BASIC) as simulator:
        yield simulator


@pytest.fixture
def sim(basic_sim: Simulator) -> Iterator[Simulator]:
    basic_sim.load(BASIC)
    basic_sim.reset_log()
    yield basic_sim
    assert basic_sim.errors == [], "\n".join(basic_sim.errors)
