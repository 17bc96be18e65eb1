"""The Mastodon lookup answered as plain JSON: the same facts as Mastodon.py's typed answer,
without the typed-object conversion that cost more CPU than the rest of an account's check.

``checkers.mastodon.account_lookup`` calls Mastodon.py's private ``__api_request`` with
``return_response_object=True`` and ``override_type=dict``.  The first test pins that: it
fails loudly when a Mastodon.py release changes it (the bot then falls back to the public,
slower ``account_lookup``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
import requests
from mastodon import MastodonNotFoundError

from wmsocial_bot.checkers.mastodon import _raw_lookup_supported, account_lookup
from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Status
from wmsocial_bot.net import Net
from wmsocial_testkit.fixtures import SCENARIOS, mastodon_for
from wmsocial_testkit.simulator import Simulator

pytestmark = pytest.mark.simulator
HOST = "m47.example"


@pytest.fixture(scope="module")
def fedi() -> Iterator[Simulator]:
    with Simulator(SCENARIOS / "fediverse.json") as simulator:
        yield simulator
        assert simulator.errors == [], "\n".join(simulator.errors)


def test_this_mastodon_py_has_the_private_request_the_fast_lookup_uses() -> None:
    assert _raw_lookup_supported(), (
        "Mastodon.py's __api_request(method, endpoint, params, do_ratelimiting=..., "
        "return_response_object=..., override_type=...) changed: "
        "the account lookup falls back to the typed answer (about 0.85 ms more CPU per account)"
    )


def test_the_lookup_is_the_servers_own_json_with_the_facts_of_the_typed_answer(
    fedi: Simulator,
) -> None:
    client = mastodon_for(fedi, HOST)
    raw = account_lookup(client, "alive")
    typed = client.account_lookup("alive")
    served = requests.get(
        fedi.url_for(HOST) + "/api/v1/accounts/lookup", params={"acct": "alive"}, timeout=5
    ).json()
    assert type(raw) is dict
    assert raw == served
    assert raw["acct"] == typed.acct and raw["statuses_count"] == typed.statuses_count
    assert raw["last_status_at"] == "2026-10-01" and typed.last_status_at.date().isoformat() == (
        "2026-10-01"
    )
    assert [f["value"] for f in raw["fields"]] == [f.value for f in typed.fields]


def test_an_unknown_account_raises_as_the_public_call_does(fedi: Simulator) -> None:
    with pytest.raises(MastodonNotFoundError):
        account_lookup(mastodon_for(fedi, HOST), "nobody-at-all")


def test_a_check_through_the_plain_answer_reads_activity_and_fields(fedi: Simulator) -> None:
    net = Net(NetworkConfig(timeout=3.0), fedi.overrides())
    [account] = extract_accounts(f"* https://{HOST}/@alive\n").accounts
    [found] = check_accounts([account], net, now=datetime(2026, 11, 1))
    assert found.status is Status.OK, found.detail
    assert found.last_activity is not None and found.last_activity.isoformat() == "2026-10-01"
    assert found.reach is not None and found.reach.posts_total == 12
    assert found.verified is True
    assert found.learned is not None and found.learned.posts_count == 12
