"""Fediverse contract: every account state on every modelled server software and version.

``tests/scenarios/fediverse.json`` models Mastodon 4.7 and 4.3 (also in limited-federation mode
and with the API closed to anonymous callers), Pleroma, Akkoma, GoToSocial, Misskey and a
Misskey fork, each answering as its own source says (docs/simulator.md cites the files).  The
cases in ``fediverse.checks.json`` give the verdict the bot must reach for each state, with the
source that grounds it.  The first tests check the simulator against those sources; the last
ones run the real checker (Mastodon.py, requests) against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
from mastodon import MastodonNotFoundError, MastodonUnauthorizedError

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Status
from wmsocial_bot.net import Net
from wmsocial_testkit.fixtures import SCENARIOS, mastodon_for
from wmsocial_testkit.simulator import Simulator

pytestmark = pytest.mark.simulator
SCENARIO = SCENARIOS / "fediverse.json"
EXPECTED = json.loads((SCENARIOS / "fediverse.checks.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = EXPECTED["cases"]
DEAD = {Status.DELETED, Status.SUSPENDED, Status.DEACTIVATED}
AP = {"Accept": "application/activity+json"}


@pytest.fixture(scope="module")
def fedi() -> Iterator[Simulator]:
    with Simulator(SCENARIO) as simulator:
        yield simulator
        assert simulator.errors == [], "\n".join(simulator.errors)


def get(sim: Simulator, host: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("allow_redirects", False)
    return requests.get(sim.url_for(host) + path, timeout=5, **kwargs)


def finger(sim: Simulator, host: str, resource: str) -> int:
    return get(sim, host, f"/.well-known/webfinger?resource={resource}").status_code


def users_show(sim: Simulator, server: str, **params: Any) -> requests.Response:
    return requests.post(sim.url_for(server) + "/api/users/show", json=params, timeout=5)


# ----------------------------------------------------------------- the simulator, per source


def test_mastodon_47_deleted_is_lookup_404_and_webfinger_410(fedi: Simulator) -> None:
    api = mastodon_for(fedi, "m47.example")
    with pytest.raises(MastodonNotFoundError) as info:
        api.account_lookup("gone")
    assert info.value.args[3] == "Record not found"
    assert finger(fedi, "m47.example", "acct:gone@m47.example") == 410
    assert finger(fedi, "m47.example", "acct:banned@m47.example") == 410
    assert api.account_lookup("banned").suspended is True
    assert finger(fedi, "m47.example", "acct:paused@m47.example") == 200


def test_mastodon_hides_an_account_pending_approval_from_lookup_not_webfinger(
    fedi: Simulator,
) -> None:
    with pytest.raises(MastodonNotFoundError):
        mastodon_for(fedi, "m47.example").account_lookup("newbie")
    assert finger(fedi, "m47.example", "acct:newbie@m47.example") == 200
    assert get(fedi, "m47.example", "/@newbie").status_code == 404


def test_mastodon_before_47_shows_a_deletion_as_a_permanent_suspension(fedi: Simulator) -> None:
    assert mastodon_for(fedi, "m43.example").account_lookup("gone").suspended is True
    assert finger(fedi, "m43.example", "acct:gone@m43.example") == 410


def test_mastodon_pages_410_permanent_and_403_temporary(fedi: Simulator) -> None:
    assert get(fedi, "noanon.example", "/@banned").status_code == 410
    assert get(fedi, "noanon.example", "/@paused").status_code == 403
    assert get(fedi, "noanon.example", "/@alive").status_code == 200


def test_mastodon_limited_federation_mode_shows_nothing_anonymously(fedi: Simulator) -> None:
    api = mastodon_for(fedi, "lfm.example")
    with pytest.raises(MastodonUnauthorizedError) as info:
        api.account_lookup("alive")
    assert info.value.args[3] == "This method requires an authenticated user"
    with pytest.raises(MastodonUnauthorizedError):
        api.instance_v2()
    page = get(fedi, "lfm.example", "/@mover")
    assert page.status_code == 302 and page.headers["Location"].endswith("/auth/sign_in")
    assert get(fedi, "lfm.example", "/users/mover", headers=AP).status_code == 401
    assert finger(fedi, "lfm.example", "acct:mover@lfm.example") == 200
    assert finger(fedi, "lfm.example", "acct:gone@lfm.example") == 410


def test_mastodon_actor_carries_moved_to_and_suspended(fedi: Simulator) -> None:
    mover = get(fedi, "noanon.example", "/users/mover", headers=AP).json()
    assert mover["movedTo"].endswith("/users/succ")
    assert get(fedi, "noanon.example", "/users/paused", headers=AP).json()["suspended"] is True


def test_mastodon_outbox_gives_the_post_count_and_the_newest_public_posts(
    fedi: Simulator,
) -> None:
    outbox = get(fedi, "noanon.example", "/users/stale/outbox", headers=AP).json()
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 30
    page = get(fedi, "noanon.example", "/users/stale/outbox?page=true", headers=AP).json()
    assert page["orderedItems"][0]["published"] == "2024-02-01T10:00:00Z"
    assert get(fedi, "lfm.example", "/users/stale/outbox", headers=AP).status_code == 401


def test_pleroma_lookup_answers_for_dead_users_but_accounts_id_does_not(fedi: Simulator) -> None:
    api = mastodon_for(fedi, "pleroma.example")
    for name in ("off", "banned", "gone"):
        entity = api.account_lookup(name)
        assert "deactivated" not in entity.pleroma, "shown to privileged viewers only"
        with pytest.raises(MastodonNotFoundError) as info:
            api.account(entity.id)
        assert info.value.args[3] == "Can't find user"
        assert finger(fedi, "pleroma.example", f"acct:{name}@pleroma.example") == 200
    alive = api.account_lookup("alive")
    assert api.account(alive.id).acct == "alive"
    raw = get(fedi, "pleroma.example", "/api/v1/accounts/lookup?acct=alive").json()
    assert all("verified_at" not in field for field in raw["fields"]), "Pleroma never verifies"


def test_akkoma_lookup_hides_dead_users_while_webfinger_answers(fedi: Simulator) -> None:
    api = mastodon_for(fedi, "akkoma.example")
    for name in ("off", "gone"):
        with pytest.raises(MastodonNotFoundError) as info:
            api.account_lookup(name)
        assert info.value.args[3] == "Can't find user"
        assert finger(fedi, "akkoma.example", f"acct:{name}@akkoma.example") == 200
    assert api.account_lookup("alive").akkoma is not None


def test_gotosocial_webfinger_ignores_suspension_and_the_page_is_404(fedi: Simulator) -> None:
    with pytest.raises(MastodonUnauthorizedError):
        mastodon_for(fedi, "gts.example").account_lookup("alive")
    for name in ("banned", "gone"):
        assert finger(fedi, "gts.example", f"acct:{name}@gts.example") == 200
        assert get(fedi, "gts.example", f"/@{name}").status_code == 404
    assert get(fedi, "gts.example", "/users/alive", headers=AP).status_code == 401


def test_gotosocial_page_shows_the_move_and_the_post_times(fedi: Simulator) -> None:
    mover = get(fedi, "gts.example", "/@mover").text
    assert '<div class="moved-to">' in mover and "/@succ" in mover
    stale = get(fedi, "gts.example", "/@stale").text
    assert '<time class="dt-published text-cutoff" datetime="2024-02-01T10:00:00.000Z">' in stale
    assert '<dd class="postsdd text-cutoff">0</dd>' in get(fedi, "gts.example", "/@silent").text


def test_misskey_users_link_is_an_id_resolved_by_users_show(fedi: Simulator) -> None:
    by_id = users_show(fedi, "misskey.example", userId="9alive0001")
    assert by_id.status_code == 200 and by_id.json()["username"] == "alive"
    as_name = users_show(fedi, "misskey.example", username="9alive0001", host=None)
    assert as_name.json()["error"]["code"] == "NO_SUCH_USER"
    page = get(fedi, "misskey.example", "/users/9alive0001")
    assert page.status_code == 302 and page.headers["Location"].endswith("/@alive")
    resource = f"{fedi.url_for('misskey.example')}/users/9alive0001"
    assert finger(fedi, "misskey.example", resource.replace("http://", "https://")) in (200, 404)


def test_misskey_hides_suspended_users_like_missing_ones(fedi: Simulator) -> None:
    for name in ("banned", "gone", "nobody"):
        answer = users_show(fedi, "misskey.example", username=name, host=None)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "NO_SUCH_USER"
        assert finger(fedi, "misskey.example", f"acct:{name}@misskey.example") == 404
    assert get(fedi, "misskey.example", "/users/9banned001").status_code == 404


def test_misskey_2024_names_a_move_only_by_moved_to_id(fedi: Simulator) -> None:
    mover = users_show(fedi, "misskey.example", username="mover", host=None).json()
    assert "movedToUri" not in mover and mover["movedTo"]
    successor = users_show(fedi, "misskey.example", userId=mover["movedTo"]).json()
    assert (successor["username"], successor["host"]) == ("succ", "m47.example")


def test_misskey_2025_adds_moved_to_uri(fedi: Simulator) -> None:
    mover = users_show(fedi, "new.misskey.example", username="mover", host=None).json()
    assert mover["movedToUri"].endswith("/users/succ") and mover["movedTo"]


def test_misskey_can_hide_every_user_from_visitors_but_not_from_webfinger(
    fedi: Simulator,
) -> None:
    answer = users_show(fedi, "closed.misskey.example", username="alive", host=None)
    assert answer.json()["error"]["code"] == "NO_SUCH_USER"
    assert finger(fedi, "closed.misskey.example", "acct:alive@closed.misskey.example") == 200


def test_misskey_fork_reports_its_own_nodeinfo_name(fedi: Simulator) -> None:
    assert mastodon_for(fedi, "sharkey.example").instance_nodeinfo().software.name == "sharkey"


# ----------------------------------------------------------------- the checker, per case


@pytest.fixture(scope="module")
def verdicts(fedi: Simulator) -> dict[str, CheckResult]:
    """All cases checked in one run, as on a wiki page (so per-run memory is exercised)."""
    net = Net(NetworkConfig(timeout=3.0), fedi.overrides())
    page = "".join(f"* {case['link']}\n" for case in CASES)
    accounts = extract_accounts(page).accounts
    assert len(accounts) == len(CASES), "every link in the case file is an account"
    now = datetime.fromisoformat(EXPECTED["now"])
    results = check_accounts(accounts, net, now=now, inactive_days=EXPECTED["inactive_days"])
    return {case["link"]: found for case, found in zip(CASES, results, strict=True)}


@pytest.mark.parametrize("case", CASES, ids=[case["link"] for case in CASES])
def test_contract_case(verdicts: dict[str, CheckResult], case: dict[str, Any]) -> None:
    found = verdicts[case["link"]]
    where = f"{case['software']}, {case['state']}: {found.status.value} ({found.detail})"
    assert found.status.value == case["status"], where
    if case.get("detail_contains"):
        assert case["detail_contains"] in found.detail, where
    if case.get("new_handle"):
        assert found.new_handle == case["new_handle"], where
    elif found.status in (Status.MOVED, Status.RENAMED):
        assert found.new_url is None, f"{where}: no successor may be offered"


def test_no_live_account_is_reported_dead(verdicts: dict[str, CheckResult]) -> None:
    live = ("alive", "moved", "stale", "limited", "never posted")
    wrong = [
        (case["link"], verdicts[case["link"]].status.value)
        for case in CASES
        if case["state"].startswith(live) and verdicts[case["link"]].status in DEAD
    ]
    assert not wrong, wrong


def test_pleroma_and_akkoma_never_say_a_link_is_unverified(
    verdicts: dict[str, CheckResult],
) -> None:
    assert verdicts["https://pleroma.example/@alive"].verified is None
    assert verdicts["https://akkoma.example/@alive"].verified is None
    assert verdicts["https://m47.example/@alive"].verified is True


def test_misskey_shows_posts_and_followers_unless_the_owner_hides_them(fedi: Simulator) -> None:
    """Dashboard figures from users/show (UserEntityService.ts): notesCount and followersCount,
    which a hidden count sends as 0 with followersVisibility other than public."""
    fedi.load(SCENARIO)
    fedi.update_account("misskey.example", "alive", followers_count=40)
    fedi.update_account("misskey.example", "stale", followers_count=-1)
    try:
        net = Net(NetworkConfig(timeout=3.0), fedi.overrides())
        page = "* https://misskey.example/@alive\n* https://misskey.example/@stale\n"
        alive, hidden = check_accounts(extract_accounts(page).accounts, net)
    finally:
        fedi.load(SCENARIO)
    assert alive.reach is not None and hidden.reach is not None
    assert (alive.reach.posts_total, alive.reach.followers) == (12, 40)
    assert (hidden.reach.posts_total, hidden.reach.followers) == (30, None)  # not "0 followers"
