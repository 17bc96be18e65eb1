"""The platform simulator, checked with the real clients: Mastodon.py, atproto, requests, httpx.

These tests prove that what the bot's platform modules will see from the simulator is what
platforms.md says the real services send, including the exceptions the libraries raise.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from atproto_client.exceptions import (
    BadRequestError,
    InvokeTimeoutError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    RequestException,
)
from atproto_client.models import AppBskyActorDefs, AppBskyFeedGetAuthorFeed
from atproto_client.models.common import XrpcError
from atproto_client.models.utils import get_or_create
from atproto_identity.did.resolvers.plc_resolver import DidPlcResolver
from mastodon import (
    MastodonAPIError,
    MastodonBadGatewayError,
    MastodonInternalServerError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServiceUnavailableError,
    MastodonUnauthorizedError,
)

from wmsocial_bot.checkers.bluesky import tid_time
from wmsocial_testkit.fixtures import BASIC, bluesky_client, mastodon_for
from wmsocial_testkit.sim_scenario import ScenarioError
from wmsocial_testkit.simulator import Simulator

pytestmark = pytest.mark.simulator

ALICE = "did:plc:aliceaaaaaaaaaaaaaaaaaaa"
BOB = "did:plc:bobaaaaaaaaaaaaaaaaaaaaa"
CAROL = "did:plc:carolaaaaaaaaaaaaaaaaaaa"
DAN = "did:plc:danaaaaaaaaaaaaaaaaaaaaa"
EVE = "did:plc:eveaaaaaaaaaaaaaaaaaaaaa"
FRANK = "did:plc:frankaaaaaaaaaaaaaaaaaaa"
GONE = "did:plc:goneaaaaaaaaaaaaaaaaaaaa"


def xrpc_error(error: RequestErrorBase) -> XrpcError:
    """The XRPC error body an atproto exception carries (``e.response.content``)."""
    assert error.response is not None
    assert isinstance(error.response.content, XrpcError)
    return error.response.content


def get(sim: Simulator, host: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", 5)
    return requests.get(sim.url_for(host) + path, **kwargs)


# ---------------------------------------------------------------------------- Mastodon


def test_mastodon_lookup_ok_account(sim: Simulator) -> None:
    api = mastodon_for(sim, "social.example")
    alice = api.account_lookup("alice")
    assert alice.id == "1"
    assert alice.acct == "alice"
    assert alice.url == "https://social.example/@alice"
    assert alice.statuses_count == 42
    assert alice.last_status_at.date().isoformat() == "2026-06-30"
    # Mastodon.py fills every attribute the server left out with None.
    assert alice.moved is None and alice.suspended is None and alice.limited is None
    website, wiki = alice.fields
    assert 'href="https://example.org"' in website.value and 'rel="nofollow noopener me"' in (
        website.value
    )
    assert website.verified_at is not None
    assert wiki.verified_at is None
    assert api.account(alice.id).username == "alice"
    assert api.account_lookup("alice@social.example").id == "1"
    newest = api.account_statuses(alice.id, limit=1, exclude_reblogs=True)
    assert len(newest) == 1
    assert newest[0].created_at.isoformat() == "2026-06-30T09:15:00+00:00"
    assert newest[0].account.id == "1"
    assert sim.count("social.example", "/api/v1/accounts") == 4


def test_mastodon_moved_is_embedded_once(sim: Simulator) -> None:
    api = mastodon_for(sim, "social.example")
    bob = api.account_lookup("bob")
    assert bob.moved.acct == "bob@new.example"
    assert bob.moved.url == "https://new.example/@bob"
    assert bob.moved.moved is None
    # The successor's own server knows it as a local, active account.
    new_bob = mastodon_for(sim, "new.example").account_lookup("bob")
    assert new_bob.acct == "bob" and new_bob.id == "99" and new_bob.moved is None
    # And the old server can serve the successor by the id it embedded.
    assert api.account(bob.moved.id).acct == "bob@new.example"


def follow_moves(sim: Simulator, host: str, user: str, max_hops: int = 5) -> list[str]:
    """Follow ``moved`` from server to server, as a checker would (cap hops, stop at loops)."""
    seen = [f"{user}@{host}"]
    for _ in range(max_hops):
        account = mastodon_for(sim, host).account_lookup(user)
        if account.moved is None:
            break
        user, host = account.moved.acct.split("@")
        seen.append(f"{user}@{host}")
        if seen.count(seen[-1]) > 1:
            break
    return seen


def test_mastodon_moved_chains_and_loops(sim: Simulator) -> None:
    assert follow_moves(sim, "social.example", "hop") == [
        "hop@social.example",
        "hop@new.example",
        "hop@pleroma.example",
    ]
    assert follow_moves(sim, "social.example", "loop") == [
        "loop@social.example",
        "loop@new.example",
        "loop@social.example",
    ]


def test_mastodon_suspended_limited_memorial(sim: Simulator) -> None:
    api = mastodon_for(sim, "social.example")
    carol = api.account_lookup("carol")
    assert carol.suspended is True
    assert carol.display_name == "" and carol.fields == [] and carol.statuses_count == 0
    assert carol.last_status_at is None
    assert api.account_statuses(carol.id, limit=1) == []
    assert api.account_lookup("dave").limited is True
    assert api.account_lookup("fay").memorial is True
    # Deleted by the owner (Mastodon has no "deactivated"): the same tombstone.
    assert api.account_lookup("erin").suspended is True
    # Permanently gone: WebFinger 410, profile page 410; temporarily suspended: 200 / 403.
    assert (
        get(
            sim, "social.example", "/.well-known/webfinger?resource=acct:carol@social.example"
        ).status_code
        == 410
    )
    assert (
        get(
            sim, "social.example", "/.well-known/webfinger?resource=acct:gina@social.example"
        ).status_code
        == 200
    )
    assert get(sim, "social.example", "/@carol").status_code == 410
    assert get(sim, "social.example", "/@gina").status_code == 403


def test_mastodon_not_found_and_pleroma_differences(sim: Simulator) -> None:
    with pytest.raises(MastodonNotFoundError) as info:
        mastodon_for(sim, "social.example").account_lookup("nobody")
    assert info.value.args == ("Mastodon API returned error", 404, "Not Found", "Record not found")
    pleroma = mastodon_for(sim, "pleroma.example")
    with pytest.raises(MastodonNotFoundError) as info:
        pleroma.account_lookup("nobody")
    assert info.value.args[3] == "Can't find user"
    # Pleroma's lookup answers for a deactivated user and hides "deactivated" from anonymous
    # callers; /api/v1/accounts/:id applies User.visible_for and says "Can't find user".
    erin = pleroma.account_lookup("erin")
    assert "deactivated" not in erin.pleroma
    assert erin.suspended is None
    with pytest.raises(MastodonNotFoundError) as info:
        pleroma.account(erin.id)
    assert info.value.args[3] == "Can't find user"
    pat = pleroma.account_lookup("pat")
    assert "deactivated" not in pat.pleroma and pleroma.account(pat.id).acct == "pat"
    assert "Pleroma 2.7.0" in pleroma.instance_v1().version
    akkoma = mastodon_for(sim, "akkoma.example")
    assert akkoma.account_lookup("kai").akkoma is not None


def test_gotosocial_needs_a_token_for_lookup(sim: Simulator) -> None:
    api = mastodon_for(sim, "gts.example")
    with pytest.raises(MastodonUnauthorizedError):
        api.account_lookup("gus")
    assert api.instance_v1().version.startswith("0.17.3")
    assert (
        get(sim, "gts.example", "/.well-known/webfinger?resource=acct:gus@gts.example").status_code
        == 200
    )
    assert get(sim, "gts.example", "/@gus").status_code == 200
    assert get(sim, "gts.example", "/@nobody").status_code == 404


def test_anonymous_api_forbidden(sim: Simulator) -> None:
    api = mastodon_for(sim, "locked.example")
    with pytest.raises(MastodonUnauthorizedError) as info:
        api.account_lookup("lou")
    assert info.value.args[3] == "This method requires an authenticated user"  # Mastodon's words
    assert api.instance_v2().domain == "locked.example"
    assert get(sim, "locked.example", "/@lou").status_code == 200


def test_misskey_users_show(sim: Simulator) -> None:
    url = sim.url_for("misskey.example") + "/api/users/show"
    miko = requests.post(url, json={"username": "miko", "host": None}, timeout=5)
    assert miko.status_code == 200
    body = miko.json()
    assert body["id"] == "9abcdefghi" and body["notesCount"] == 99
    assert body["isSuspended"] is False and body["movedTo"] is None
    assert body["updatedAt"] == "2026-10-10T10:10:00.000Z"
    moe = requests.post(url, json={"username": "moe", "host": None}, timeout=5).json()
    # Misskey 2024 names a move only by movedTo, the successor's id on this server.
    assert "movedToUri" not in moe and moe["movedTo"]
    successor = requests.post(url, json={"userId": moe["movedTo"]}, timeout=5).json()
    assert (successor["username"], successor["host"]) == ("bob", "new.example")
    for name in ("nobody", "sus"):  # suspended users are hidden from anonymous callers
        missing = requests.post(url, json={"username": name, "host": None}, timeout=5)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "NO_SUCH_USER"
    sim.update_host("misskey.example", hide_suspended=False)
    sus = requests.post(url, json={"username": "sus", "host": None}, timeout=5).json()
    assert sus["isSuspended"] is True
    # No Mastodon API on Misskey, and its web app answers 200 even for unknown users.
    with pytest.raises(MastodonNotFoundError):
        mastodon_for(sim, "misskey.example").account_lookup("miko")
    assert get(sim, "misskey.example", "/@nobody").status_code == 200
    assert mastodon_for(sim, "misskey.example").instance_nodeinfo().software.name == "misskey"


def test_webfinger(sim: Simulator) -> None:
    found = get(sim, "social.example", "/.well-known/webfinger?resource=acct:alice@social.example")
    assert found.status_code == 200
    assert found.headers["Content-Type"].startswith("application/jrd+json")
    jrd = found.json()
    assert jrd["subject"] == "acct:alice@social.example"
    self_link = next(link for link in jrd["links"] if link["rel"] == "self")
    assert self_link == {
        "rel": "self",
        "type": "application/activity+json",
        "href": "https://social.example/users/alice",
    }
    assert (
        get(
            sim, "social.example", "/.well-known/webfinger?resource=acct:nobody@social.example"
        ).status_code
        == 404
    )
    assert get(sim, "social.example", "/.well-known/webfinger").status_code == 400
    by_url = get(
        sim, "social.example", "/.well-known/webfinger?resource=https://social.example/@alice"
    )
    assert by_url.json()["subject"] == "acct:alice@social.example"


def test_webfinger_on_a_delegating_domain(sim: Simulator) -> None:
    # Handles @sam@handles.example; the server lives on split.example.
    found = get(sim, "handles.example", "/.well-known/webfinger?resource=acct:sam@handles.example")
    assert found.history[0].status_code == 301
    jrd = found.json()
    assert jrd["subject"] == "acct:sam@handles.example"
    self_link = next(link for link in jrd["links"] if link["rel"] == "self")
    assert self_link["href"] == "https://split.example/users/sam"
    sam = mastodon_for(sim, "split.example").account_lookup("sam@handles.example")
    assert sam.acct == "sam" and sam.url == "https://split.example/@sam"


def test_nodeinfo_and_instance(sim: Simulator) -> None:
    api = mastodon_for(sim, "social.example")
    info = api.instance_nodeinfo()
    assert (info.software.name, info.software.version) == ("mastodon", "4.3.0")
    assert mastodon_for(sim, "pleroma.example").instance_nodeinfo().software.name == "pleroma"
    assert api.instance_v1().version == "4.3.0"
    assert api.instance_v2().domain == "social.example"
    index = get(sim, "pleroma.example", "/.well-known/nodeinfo").json()
    assert index["links"][0]["href"].endswith("/pleroma.example/nodeinfo/2.0.json")
    sim.load({**json.loads(BASIC.read_text()), "rewrite_links": False})
    index = get(sim, "social.example", "/.well-known/nodeinfo").json()
    assert index["links"][0]["href"] == "https://social.example/nodeinfo/2.0"


def test_profile_page_and_actor(sim: Simulator) -> None:
    page = get(sim, "social.example", "/@alice")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert get(sim, "social.example", "/@nobody").status_code == 404
    actor = get(
        sim, "social.example", "/users/bob", headers={"Accept": "application/activity+json"}
    ).json()
    assert actor["movedTo"] == "https://new.example/users/bob"
    html_view = get(sim, "social.example", "/users/alice", allow_redirects=False)
    assert html_view.status_code == 302
    assert html_view.headers["Location"] == "/social.example/@alice"


# ---------------------------------------------------------------------------- Bluesky


def test_bluesky_profiles_and_errors(sim: Simulator) -> None:
    client = bluesky_client(sim)
    alice = client.get_profile("alice.bsky.social")
    assert (alice.did, alice.handle, alice.posts_count) == (ALICE, "alice.bsky.social", 10)
    assert client.get_profile(CAROL).handle == "handle.invalid"
    cases = {
        BOB: ("AccountDeactivated", "Account is deactivated"),
        "dan.bsky.social": ("AccountTakedown", "Account has been suspended"),
        EVE: ("InvalidRequest", "Profile not found"),
        "carol.example.org": ("InvalidRequest", "Profile not found"),
        "nobody.bsky.social": ("InvalidRequest", "Profile not found"),
    }
    for actor, (error, message) in cases.items():
        with pytest.raises(BadRequestError) as info:
            client.get_profile(actor)
        content = xrpc_error(info.value)
        assert info.value.response is not None and info.value.response.status_code == 400
        assert (content.error, content.message) == (error, message), actor


def test_bluesky_get_profiles_batch(sim: Simulator) -> None:
    client = bluesky_client(sim)
    actors = [ALICE, "bob.bsky.social", DAN, EVE, CAROL, "nobody.bsky.social", "frank.example.com"]
    result = client.app.bsky.actor.get_profiles({"actors": actors})
    assert [(p.did, p.handle) for p in result.profiles] == [
        (ALICE, "alice.bsky.social"),
        (CAROL, "handle.invalid"),
        (FRANK, "frank.example.com"),
    ]
    # atproto refuses more than 25 actors itself (ModelError); the AppView answers 400.
    too_many = get(
        sim,
        "public.api.bsky.app",
        "/xrpc/app.bsky.actor.getProfiles",
        params={"actors": [ALICE] * 26},
    )
    assert too_many.status_code == 400
    assert too_many.json()["error"] == "InvalidRequest"
    assert sim.log[-1].query.count("actors=") == 26


def test_bluesky_author_feed_and_resolve_handle(sim: Simulator) -> None:
    client = bluesky_client(sim)
    feed = client.get_author_feed(actor="frank.example.com", limit=1, filter="posts_no_replies")
    assert [item.post.indexed_at[:10] for item in feed.feed] == ["2026-11-01"]
    assert feed.cursor is not None
    more = client.get_author_feed(actor=FRANK, limit=5, cursor=feed.cursor)
    assert [item.post.indexed_at[:10] for item in more.feed] == ["2026-10-01", "2020-01-01"]
    # Written on 2026-11-20 with a createdAt of 2020: the view shows (and sorts) the earlier
    # date (packages/bsky views indexedAt()), the record key keeps when it was written.
    backdated = more.feed[-1].post
    assert backdated.record.created_at == "2020-01-01T00:00:00.000Z"
    written = tid_time(backdated.uri.rsplit("/", 1)[1])
    assert written is not None and written.isoformat().startswith("2026-11-20T10:00")
    assert client.com.atproto.identity.resolve_handle({"handle": "alice.bsky.social"}).did == ALICE
    with pytest.raises(BadRequestError) as info:
        client.com.atproto.identity.resolve_handle({"handle": "carol.example.org"})
    assert xrpc_error(info.value).message == "Unable to resolve handle"


def test_bluesky_replies_reposts_and_filters(sim: Simulator) -> None:
    sim.update_bluesky(
        ALICE,
        posts=[
            {"indexed_at": "2026-10-01T00:00:00Z"},
            {"indexed_at": "2026-11-01T00:00:00Z", "kind": "reply"},
            {"indexed_at": "2026-11-02T00:00:00Z", "kind": "repost", "subject_at": "2021-01-01"},
        ],
    )
    client = bluesky_client(sim)
    feed = client.get_author_feed(actor=ALICE, limit=10).feed
    repost, reply, post = feed
    assert repost.reason is not None and repost.reason.indexed_at[:10] == "2026-11-02"
    assert repost.reason.by.did == ALICE and repost.post.author.did != ALICE
    assert repost.post.indexed_at[:10] == "2021-01-01"
    assert reply.reason is None and reply.post.record.reply is not None
    assert post.post.indexed_at[:10] == "2026-10-01"
    hidden = client.get_author_feed(actor=ALICE, limit=10, filter="posts_no_replies").feed
    assert [item.post.uri for item in hidden] == [repost.post.uri, post.post.uri]


def test_bluesky_feed_of_a_deactivated_account_is_profile_not_found(sim: Simulator) -> None:
    with pytest.raises(BadRequestError) as info:
        bluesky_client(sim).get_author_feed(actor=BOB)
    assert xrpc_error(info.value).message == "Profile not found"


def test_bluesky_responses_pass_strict_validation(sim: Simulator) -> None:
    profile = get(sim, "public.api.bsky.app", "/xrpc/app.bsky.actor.getProfile?actor=" + FRANK)
    get_or_create(profile.json(), AppBskyActorDefs.ProfileViewDetailed, strict_string_format=True)
    feed = get(sim, "public.api.bsky.app", "/xrpc/app.bsky.feed.getAuthorFeed?actor=" + FRANK)
    get_or_create(feed.json(), AppBskyFeedGetAuthorFeed.Response, strict_string_format=True)


def test_bluesky_rename_and_handle_reuse(sim: Simulator) -> None:
    client = bluesky_client(sim)
    sim.update_bluesky(ALICE, handle="alice-new.bsky.social")
    assert client.get_profile(ALICE).handle == "alice-new.bsky.social"
    with pytest.raises(BadRequestError):
        client.get_profile("alice.bsky.social")
    sim.update_bluesky(BOB, handle="alice.bsky.social", state="ok")
    assert client.get_profile("alice.bsky.social").did == BOB
    with pytest.raises(ScenarioError, match="already the verified handle"):
        sim.update_bluesky(CAROL, handle="alice.bsky.social", handle_invalid=False)
    assert client.get_profile(CAROL).handle == "handle.invalid"  # the failed edit left no trace


def test_plc_directory(sim: Simulator) -> None:
    plc = sim.url_for("plc.directory")
    resolver = DidPlcResolver(plc_url=plc, timeout=5)
    document = resolver.resolve_without_validation(ALICE)
    assert document is not None and document["alsoKnownAs"] == ["at://alice.bsky.social"]
    assert resolver.resolve_without_validation("did:plc:nobodyaaaaaaaaaaaaaaaaaa") is None
    # Deleting an account does not tombstone its DID: PLC still serves the document.
    assert resolver.resolve_without_validation(EVE) is not None
    missing = requests.get(f"{plc}/did:plc:nobodyaaaaaaaaaaaaaaaaaa", timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"message": "DID not registered: did:plc:nobodyaaaaaaaaaaaaaaaaaa"}
    gone = requests.get(f"{plc}/{GONE}", timeout=5)
    assert (gone.status_code, gone.json()["message"]) == (404, f"DID not available: {GONE}")


def test_pds_repo_status(sim: Simulator) -> None:
    def status(did: str) -> tuple[int, dict[str, object]]:
        path = f"/xrpc/com.atproto.sync.getRepoStatus?did={did}"
        answer = get(sim, "puffball.us-east.host.bsky.network", path)
        return answer.status_code, answer.json()

    assert status(ALICE)[0] == 200 and status(ALICE)[1]["active"] is True
    assert status(BOB) == (200, {"did": BOB, "active": False, "status": "deactivated"})
    assert status(DAN) == (200, {"did": DAN, "active": False, "status": "takendown"})
    assert status(EVE) == (
        400,
        {"error": "RepoNotFound", "message": f"Could not find repo for DID: {EVE}"},
    )


def test_atproto_did_well_known(sim: Simulator) -> None:
    found = get(sim, "frank.example.com", "/.well-known/atproto-did")
    assert (found.status_code, found.text) == (200, FRANK)
    assert get(sim, "web.example", "/.well-known/atproto-did").status_code == 404


# ---------------------------------------------------------------------------- host behaviours


def test_max_in_flight_gives_429_with_headers(sim: Simulator) -> None:
    results: list[str] = []
    clients: list[Any] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        api = mastodon_for(sim, "capped.example")
        clients.append(api)
        barrier.wait()
        try:
            api.account_lookup("cap")
            results.append("ok")
        except MastodonRatelimitError:
            results.append("429")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sim.wait_idle(5.0)  # the server logs a request just after its client has the answer
    assert results.count("ok") >= 2 and results.count("429") >= 1
    assert sim.max_in_flight("capped.example") >= 3
    assert sim.count("capped.example", status=429) == results.count("429")
    assert any(api.ratelimit_remaining == 0 for api in clients)
    assert {r.fault for r in sim.log if r.status == 429} == {"max_in_flight"}
    # The raw 429 as a client sees it.
    barrier2 = threading.Barrier(3)
    seen: list[requests.Response] = []

    def raw() -> None:
        barrier2.wait()
        seen.append(get(sim, "capped.example", "/api/v1/accounts/lookup?acct=cap"))

    threads = [threading.Thread(target=raw) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rejected = [r for r in seen if r.status_code == 429]
    assert rejected
    assert rejected[0].json() == {"error": "Too many requests"}
    assert rejected[0].headers["X-RateLimit-Remaining"] == "0"
    assert rejected[0].headers["X-RateLimit-Reset"].endswith("Z")


def test_rate_limit_budget(sim: Simulator) -> None:
    api = mastodon_for(sim, "budget.example")
    for remaining in (2, 1, 0):
        api.account_lookup("bud")
        assert (api.ratelimit_limit, api.ratelimit_remaining) == (3, remaining)
    with pytest.raises(MastodonRatelimitError):
        api.account_lookup("bud")
    assert api.ratelimit_reset is not None and api.ratelimit_reset > time.time()
    sim.advance(301)
    api.account_lookup("bud")
    # GoToSocial sends the reset as a Unix time.
    first = get(sim, "gts-budget.example", "/api/v1/instance")
    assert first.headers["X-RateLimit-Reset"].isdigit()
    assert get(sim, "gts-budget.example", "/api/v1/instance").status_code == 429
    # Bluesky: ratelimit-* headers, read by atproto's RateLimitExceededError.
    sim.update_host("public.api.bsky.app", rate_limit={"limit": 1, "window_s": 300}, retry_after=7)
    client = bluesky_client(sim)
    client.get_profile(ALICE)
    with pytest.raises(RateLimitExceededError) as info:
        client.get_profile(ALICE)
    assert (info.value.limit, info.value.remaining, info.value.policy) == (1, 0, "1;w=300")
    assert info.value.reset_at is not None and info.value.retry_after == 7.0


def test_refused_connection(sim: Simulator) -> None:
    with pytest.raises(MastodonNetworkError) as info:
        mastodon_for(sim, "down.example").account_lookup("x")
    assert isinstance(info.value.__context__, requests.ConnectionError)
    sim.update_host("public.api.bsky.app", behaviour="refuse")
    with pytest.raises(NetworkError) as atinfo:
        bluesky_client(sim).get_profile(ALICE)
    assert atinfo.value.response is None
    assert sim.log[-1].status is None and sim.log[-1].fault == "refuse"


def test_timeouts(sim: Simulator) -> None:
    with pytest.raises(MastodonNetworkError) as info:
        mastodon_for(sim, "hang.example", timeout=0.3).account_lookup("x")
    assert isinstance(info.value.__context__, requests.Timeout)
    sim.update_host("public.api.bsky.app", behaviour="timeout", hang_s=2)
    with pytest.raises(InvokeTimeoutError):
        bluesky_client(sim, timeout=0.3).get_profile(ALICE)
    assert sim.in_flight("hang.example") == 1  # still hanging on the server side


def test_stop_does_not_wait_for_hanging_handlers() -> None:
    simulator = Simulator({"hosts": {"hang.example": {"behaviour": "timeout", "hang_s": 30}}})
    simulator.start()
    url = simulator.url_for("hang.example") + "/api/v1/instance"
    errors: list[BaseException] = []

    def call() -> None:
        try:
            requests.get(url, timeout=20)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while simulator.in_flight("hang.example") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    began = time.monotonic()
    simulator.stop()
    assert time.monotonic() - began < 2
    thread.join(timeout=5)
    assert errors and isinstance(errors[0], requests.ConnectionError)


def test_server_errors(sim: Simulator) -> None:
    expected = {
        "err500.example": MastodonInternalServerError,
        "err502.example": MastodonBadGatewayError,
        "err503.example": MastodonServiceUnavailableError,
    }
    for host, error in expected.items():
        with pytest.raises(error):
            mastodon_for(sim, host).account_lookup("x")
    assert get(sim, "err503.example", "/").headers["Retry-After"] == "120"
    sim.update_host("public.api.bsky.app", behaviour="error502")
    with pytest.raises(NetworkError):  # atproto treats 502 as a network error
        bluesky_client(sim).get_profile(ALICE)
    sim.update_host("public.api.bsky.app", behaviour="error500")
    with pytest.raises(RequestException) as info:
        bluesky_client(sim).get_profile(ALICE)
    assert info.value.response is not None and info.value.response.status_code == 500


def test_non_json_parked_page(sim: Simulator) -> None:
    with pytest.raises(MastodonAPIError, match="Could not parse response as JSON"):
        mastodon_for(sim, "parked.example").account_lookup("x")


def test_oversized_body_streams(sim: Simulator) -> None:
    with requests.get(
        sim.url_for("huge.example") + "/api/v1/accounts/lookup?acct=x", stream=True, timeout=5
    ) as response:
        assert response.headers["Content-Length"] == "5000000"
        first = next(response.iter_content(65536))
        assert first.startswith(b'{"id":"1"')
    sim.update_host("huge.example", oversized_chunked=True, oversized_bytes=300_000)
    whole = get(sim, "huge.example", "/")
    assert "Content-Length" not in whole.headers and len(whole.content) == 300_000
    assert sim.wait_idle(5)


def test_redirect_loop(sim: Simulator) -> None:
    with pytest.raises(requests.TooManyRedirects):
        get(sim, "loop.example", "/start")
    sim.update_host("public.api.bsky.app", behaviour="redirect_loop")
    # Not an AtProtocolError: httpx's own error escapes the atproto client.
    with pytest.raises(httpx.TooManyRedirects):
        bluesky_client(sim).get_profile(ALICE)


def flaky_run(sim: Simulator, n: int = 12) -> list[str | None]:
    assert sim.wait_idle(5)  # hung requests of an earlier run must not leak into this one
    sim.reset_log()
    for _ in range(n):
        with contextlib.suppress(requests.RequestException):
            get(sim, "flaky.example", "/api/v1/accounts/lookup?acct=flo", timeout=0.25)
    return [r.fault for r in sorted(sim.log, key=lambda r: r.seq)]


def test_flaky_is_deterministic(sim: Simulator) -> None:
    first = flaky_run(sim)
    sim.load(BASIC)
    second = flaky_run(sim)
    assert first == second
    assert any(first) and None in first
    assert {f for f in first if f} <= {"error503", "reset", "timeout", "slow"}
    data = json.loads(BASIC.read_text())
    data["hosts"]["flaky.example"]["flaky"]["seed"] = 2
    sim.load(data)
    assert flaky_run(sim) != first


# ---------------------------------------------------------------------------- pages, log, API


def test_plain_pages(sim: Simulator) -> None:
    reddit = get(sim, "web.example", "/r/banned/about.json")
    assert (reddit.status_code, reddit.json()["reason"]) == (404, "banned")
    assert get(sim, "web.example", "/user/alice/about.json").json()["data"]["name"] == "alice"
    wall = get(sim, "web.example", "/login-wall", allow_redirects=False)
    assert wall.status_code == 302 and wall.headers["Location"] == "/web.example/accounts/login"
    followed = get(sim, "web.example", "/login-wall")
    assert followed.url.endswith("/web.example/accounts/login") and "Log in" in followed.text
    assert get(sim, "web.example", "/challenge").headers["cf-mitigated"] == "challenge"
    assert "Any page" in get(sim, "web.example", "/docs/a/b?c=1").text
    assert get(sim, "web.example", "/missing").status_code == 404
    assert get(sim, "shell.example", "/anything/at/all").status_code == 200
    moved = get(sim, "social.example", "/old-page", allow_redirects=False)
    assert moved.headers["Location"] == sim.url_for("new.example") + "/@bob"
    assert get(sim, "social.example", "/about").text.startswith("<html>")


def test_log_and_control_endpoints(sim: Simulator) -> None:
    get(sim, "social.example", "/api/v1/instance")
    requests.post(
        sim.url_for("misskey.example") + "/api/users/show", json={"username": "miko"}, timeout=5
    )
    unknown = get(sim, "nowhere.example", "/")
    assert unknown.status_code == 421
    log = requests.get(sim.base_url + "/_sim/log", timeout=5).json()
    assert [(r["host"], r["method"], r["path"], r["status"]) for r in log] == [
        ("social.example", "GET", "/api/v1/instance", 200),
        ("misskey.example", "POST", "/api/users/show", 200),
        ("nowhere.example", "GET", "/", 421),
    ]
    assert json.loads(log[1]["body"]) == {"username": "miko"}
    record = sim.log[0]
    assert record.in_flight_host_at_start == 1 and record.ended is not None
    assert record.ended >= record.started
    assert sim.count() == 3 and sim.count("social.example", "/api/") == 1
    assert requests.post(sim.base_url + "/_sim/reset", timeout=5).json() == {"ok": True}
    assert sim.log == [] and sim.count() == 0


def test_update_account_between_runs(sim: Simulator) -> None:
    api = mastodon_for(sim, "social.example")
    assert api.account_lookup("alice").suspended is None
    sim.update_account("social.example", "alice", state="suspended", permanent=True)
    assert api.account_lookup("alice").suspended is True
    sim.update_account("social.example", "alice", state="moved", moved_to="bob@new.example")
    assert api.account_lookup("alice").moved.acct == "bob@new.example"
    sim.remove_account("social.example", "alice")
    with pytest.raises(MastodonNotFoundError):
        api.account_lookup("alice")
    sim.update_account("social.example", "zed", statuses_count=1, last_status_at="2026-11-01")
    assert api.account_lookup("zed").statuses_count == 1
    with pytest.raises(ScenarioError, match=r"accounts\.zed: unknown key 'stat'"):
        sim.update_account("social.example", "zed", stat="ok")
    with pytest.raises(ScenarioError, match="not one of"):
        Simulator({"hosts": {"x.example": {"behaviour": "explode"}}})


def test_two_hundred_concurrent_connections(sim: Simulator) -> None:
    count = 200
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        try:
            barrier.wait()
            conn.request("GET", "/slow.example/api/v1/accounts/lookup?acct=sam")
            status = conn.getresponse().status
        finally:
            conn.close()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * count
    assert sim.max_in_flight("slow.example") >= count // 2


def test_keep_alive(sim: Simulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    for _ in range(3):
        conn.request("GET", "/social.example/api/v1/instance")
        response = conn.getresponse()
        assert response.status == 200
        response.read()
    conn.close()


def test_command_line(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    for command in (
        [sys.executable, "-m", "wmsocial_testkit.simulator", "--scenario", str(BASIC)],
        [sys.executable, str(root / "scripts" / "simulator.py"), "--scenario", str(BASIC)],
    ):
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert process.stdout is not None
            base = process.stdout.readline().strip()
            assert base.startswith("http://127.0.0.1:")
            health = requests.get(base + "/_sim/health", timeout=5).json()
            assert "social.example" in health["hosts"]
            lookup = requests.get(
                base + "/social.example/api/v1/accounts/lookup?acct=alice", timeout=5
            )
            assert lookup.json()["id"] == "1"
        finally:
            process.terminate()
            assert process.wait(timeout=5) == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"hosts": {"a.example": {"sofware": "mastodon"}}}')
    result = subprocess.run(
        [sys.executable, "-m", "wmsocial_testkit.simulator", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2 and "unknown key 'sofware'" in result.stderr


def test_write_config_sends_every_host_to_the_simulator(tmp_path: Path) -> None:
    """Issue 18: one --config FILE instead of one --endpoint per simulated host."""
    config = tmp_path / "sim.toml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wmsocial_testkit.simulator",
            "--scenario",
            str(BASIC),
            "--write-config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        base = process.stdout.readline().strip()
        hosts = requests.get(base + "/_sim/health", timeout=5).json()["hosts"]
        written = config.read_text(encoding="utf-8")
        assert all(f'"{host}" = "{base}/{host}"' in written for host in hosts), written
        page = tmp_path / "page.wiki"
        page.write_text("* https://social.example/@alice\n* https://new.example/@bob\n")
        done = subprocess.run(
            [
                *(sys.executable, "-m", "wmsocial_bot", "check", "--wikitext", str(page)),
                *("--config", str(config), "--format", "json", "-q"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        assert [row["status"] for row in json.loads(done.stdout)] == ["ok", "ok"]
    finally:
        process.terminate()
        process.wait(timeout=5)
