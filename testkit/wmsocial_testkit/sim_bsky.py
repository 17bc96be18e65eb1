"""Bluesky for the simulator: the public AppView (XRPC), the PLC directory and the PDS.

Behaviour follows the reference server software, ``@atproto/dev-env`` 0.6.7 (``@atproto/bsky``
0.0.280, ``@atproto/pds`` 0.5.35), which ``tests/contracts`` runs against the same cases as
this simulator: errors are HTTP 400 with an XRPC body; ``getProfiles`` silently leaves out
actors it cannot show (unknown, deleted, taken down, deactivated); a handle whose two-way check
failed shows as ``handle.invalid`` and no longer resolves; a post view's ``indexedAt`` is the
earlier of its ``createdAt`` and its real indexing time, while its record key (a TID) keeps
the moment it was written; deleting an account does not tombstone its DID at PLC, only its
PDS says ``RepoNotFound``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import unquote

from wmsocial_testkit.sim_http import (
    TEXT_TYPE,
    Outcome,
    Response,
    SimRequest,
    json_response,
)
from wmsocial_testkit.sim_scenario import BskyAccount, BskyPost, Scenario, is_did, parse_time

MAX_PROFILES = 25
FEED_FILTERS = frozenset(
    {
        "posts_with_replies",
        "posts_no_replies",
        "posts_with_media",
        "posts_and_author_threads",
        "posts_with_video",
    }
)
_HANDLE_RE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def xrpc_error(error: str, message: str, status: int = 400) -> Response:
    return json_response(status, {"error": error, "message": message})


def fake_cid(*parts: str) -> str:
    """A well-formed CIDv1 (dag-cbor, sha2-256, base32): ``bafyrei...``."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    raw = bytes([0x01, 0x71, 0x12, 0x20]) + digest
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def make_tid(timestamp: str, clock_id: int = 0) -> str:
    """A record key in TID form (13 base32-sortable characters) for a moment."""
    micros = int(parse_time(timestamp).timestamp() * 1_000_000)
    value = (micros << 10) | (clock_id & 0x3FF)
    chars: list[str] = []
    for _ in range(13):
        value, rest = divmod(value, 32)
        chars.append(_TID_ALPHABET[rest])
    return "".join(reversed(chars))


def _multibase_key(did: str) -> str:
    number = int.from_bytes(hashlib.sha256(did.encode()).digest(), "big")
    chars: list[str] = []
    while number and len(chars) < 44:
        number, rest = divmod(number, 58)
        chars.append(_B58[rest])
    return "zQ3sh" + "".join(chars)


# --------------------------------------------------------------------------- views


def _shown_handle(account: BskyAccount) -> str:
    return "handle.invalid" if account.handle_invalid else account.handle


def _labels(account: BskyAccount) -> list[dict[str, Any]]:
    return [
        {
            "src": account.did,
            "uri": f"at://{account.did}/app.bsky.actor.profile/self",
            "cid": fake_cid(account.did, "profile"),
            "val": value,
            "cts": account.created_at,
        }
        for value in account.labels
    ]


def profile_basic(account: BskyAccount) -> dict[str, Any]:
    return {
        "did": account.did,
        "handle": _shown_handle(account),
        "displayName": account.display_name,
        "associated": {"chat": {"allowIncoming": "following"}},
        "viewer": {"muted": False, "blockedBy": False},
        "labels": _labels(account),
        "createdAt": account.created_at,
    }


def profile_detailed(account: BskyAccount) -> dict[str, Any]:
    indexed = account.posts[0].indexed_at if account.posts else account.created_at
    return {
        "did": account.did,
        "handle": _shown_handle(account),
        "displayName": account.display_name,
        "description": account.description,
        "associated": {
            "lists": 0,
            "feedgens": 0,
            "starterPacks": 0,
            "labeler": False,
            "chat": {"allowIncoming": "following"},
        },
        "indexedAt": indexed,
        "createdAt": account.created_at,
        "viewer": {"muted": False, "blockedBy": False},
        "labels": _labels(account),
        "followersCount": account.followers_count,
        "followsCount": account.follows_count,
        "postsCount": account.posts_count,
    }


BYSTANDER_DID = "did:plc:bystanderaaaaaaaaaaaaaaa"


def _bystander() -> dict[str, Any]:
    """The author of the posts that simulated accounts reply to and repost."""
    return {
        "did": BYSTANDER_DID,
        "handle": "bystander.bsky.social",
        "displayName": "Bystander",
        "labels": [],
        "createdAt": "2020-01-01T00:00:00.000Z",
    }


def _bystander_post(moment: str) -> dict[str, Any]:
    uri = f"at://{BYSTANDER_DID}/app.bsky.feed.post/{make_tid(moment)}"
    return {"uri": uri, "cid": fake_cid(uri)}


def _post_body(
    uri: str, author: dict[str, Any], record: dict[str, Any], shown_at: str
) -> dict[str, Any]:
    return {
        "uri": uri,
        "cid": fake_cid(uri),
        "author": author,
        "record": record,
        "replyCount": 0,
        "repostCount": 0,
        "likeCount": 0,
        "quoteCount": 0,
        "indexedAt": shown_at,
        "labels": [],
    }


def _post_view(account: BskyAccount, post: BskyPost, index: int) -> dict[str, Any]:
    """A feed item.  The record key is a TID of the moment the PDS wrote the record
    (``packages/pds`` ``repo/prepare``); the view's ``indexedAt`` is the earlier of that and
    ``createdAt`` (``packages/bsky`` views ``indexedAt()``, post ``sortAt``)."""
    rkey = make_tid(post.indexed_at, index)
    if post.kind == "repost":
        subject = _bystander_post(post.subject_at)
        repost_uri = f"at://{account.did}/app.bsky.feed.repost/{rkey}"
        subject_record = {
            "$type": "app.bsky.feed.post",
            "createdAt": post.subject_at,
            "langs": ["en"],
            "text": "someone else's post",
        }
        return {
            "post": _post_body(subject["uri"], _bystander(), subject_record, post.subject_at),
            "reason": {
                "$type": "app.bsky.feed.defs#reasonRepost",
                "by": profile_basic(account),
                "uri": repost_uri,
                "cid": fake_cid(repost_uri),
                "indexedAt": post.sort_at,
            },
        }
    uri = f"at://{account.did}/app.bsky.feed.post/{rkey}"
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": post.created_at,
        "langs": ["en"],
        "text": post.text,
    }
    if post.kind == "reply":
        parent = _bystander_post(post.subject_at)
        record["reply"] = {"root": parent, "parent": parent}
    return {"post": _post_body(uri, profile_basic(account), record, post.sort_at)}


# --------------------------------------------------------------------------- AppView


def _resolve_actor(scenario: Scenario, actor: str) -> BskyAccount | None:
    if actor.startswith("did:"):
        return scenario.bluesky.get(actor)
    return scenario.bsky_by_handle(actor)


def _valid_actor(actor: str) -> bool:
    return is_did(actor) or _HANDLE_RE.match(actor) is not None


def _get_profile(req: SimRequest, scenario: Scenario) -> Outcome:
    actor = req.param("actor")
    if not actor:
        return xrpc_error("InvalidRequest", 'Error: Params must have the property "actor"')
    if not _valid_actor(actor):
        return xrpc_error("InvalidRequest", "Error: actor must be a valid did or a handle")
    account = _resolve_actor(scenario, actor)
    if account is None or account.state == "deleted":
        return xrpc_error("InvalidRequest", "Profile not found")
    if account.state == "takendown":
        return xrpc_error("AccountTakedown", "Account has been suspended")
    if account.state == "deactivated":
        return xrpc_error("AccountDeactivated", "Account is deactivated")
    return json_response(200, profile_detailed(account))


def _get_profiles(req: SimRequest, scenario: Scenario) -> Outcome:
    actors = req.params.get("actors", [])
    if not actors:
        return xrpc_error("InvalidRequest", 'Error: Params must have the property "actors"')
    if len(actors) > MAX_PROFILES:
        return xrpc_error(
            "InvalidRequest", f"Error: actors must not have more than {MAX_PROFILES} elements"
        )
    for index, actor in enumerate(actors):
        if not _valid_actor(actor):
            return xrpc_error(
                "InvalidRequest", f"Error: actors/{index} must be a valid did or a handle"
            )
    profiles = []
    seen: set[str] = set()
    for actor in actors:
        account = _resolve_actor(scenario, actor)
        if account is None or account.state != "ok" or account.did in seen:
            continue
        seen.add(account.did)
        profiles.append(profile_detailed(account))
    return json_response(200, {"profiles": profiles})


def _get_author_feed(req: SimRequest, scenario: Scenario) -> Outcome:
    actor = req.param("actor")
    if not actor:
        return xrpc_error("InvalidRequest", 'Error: Params must have the property "actor"')
    if not _valid_actor(actor):
        return xrpc_error("InvalidRequest", "Error: actor must be a valid did or a handle")
    filter_name = req.param("filter") or "posts_with_replies"
    if filter_name not in FEED_FILTERS:
        return xrpc_error(
            "InvalidRequest",
            f"Error: filter must be one of ({', '.join(sorted(FEED_FILTERS))})",
        )
    limit_text = req.param("limit") or "50"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        return xrpc_error("InvalidRequest", "Error: limit can not be greater than 100")
    limit = int(limit_text)
    account = _resolve_actor(scenario, actor)
    if account is None or account.state != "ok":
        return xrpc_error("InvalidRequest", "Profile not found")
    # The position in the account's list is the record key's clock id: stable across pages.
    posts = [(i, p) for i, p in enumerate(account.posts) if _in_feed(p, filter_name)]
    cursor = req.param("cursor")
    if cursor:
        posts = [(i, p) for i, p in posts if p.sort_at < cursor]
    page = posts[:limit]
    body: dict[str, Any] = {"feed": [_post_view(account, post, index) for index, post in page]}
    if len(posts) > limit and page:
        body["cursor"] = page[-1][1].sort_at
    return json_response(200, body)


def _in_feed(post: BskyPost, filter_name: str) -> bool:
    """``posts_no_replies`` hides replies; simulated posts carry no media or video."""
    if filter_name in ("posts_with_media", "posts_with_video"):
        return False
    return not (filter_name == "posts_no_replies" and post.kind == "reply")


def _resolve_handle(req: SimRequest, scenario: Scenario) -> Outcome:
    handle = req.param("handle")
    if not handle:
        return xrpc_error("InvalidRequest", 'Error: Params must have the property "handle"')
    if _HANDLE_RE.match(handle) is None:
        return xrpc_error("InvalidRequest", "Error: handle must be a valid handle")
    account = scenario.bsky_by_handle(handle)
    if account is None:
        return xrpc_error("InvalidRequest", "Unable to resolve handle")
    return json_response(200, {"did": account.did})


_XRPC_METHODS = {
    "app.bsky.actor.getProfile": _get_profile,
    "app.bsky.actor.getProfiles": _get_profiles,
    "app.bsky.feed.getAuthorFeed": _get_author_feed,
    "com.atproto.identity.resolveHandle": _resolve_handle,
}


def handle_appview(req: SimRequest, scenario: Scenario) -> Outcome:
    if req.path == "/xrpc/_health":
        return json_response(200, {"version": "0.0.1"})
    if not req.path.startswith("/xrpc/"):
        return Response(404, b"Not Found", [("Content-Type", TEXT_TYPE)])
    method = req.path[len("/xrpc/") :]
    handler = _XRPC_METHODS.get(method)
    if handler is None:
        return xrpc_error("MethodNotImplemented", "Method Not Implemented", 501)
    if req.method not in ("GET", "HEAD"):
        return xrpc_error("InvalidRequest", "Incorrect HTTP method (POST) expected GET", 400)
    return handler(req, scenario)


# --------------------------------------------------------------------------- PLC directory


def did_document(account: BskyAccount) -> dict[str, Any]:
    return {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
            "https://w3id.org/security/suites/secp256k1-2019/v1",
        ],
        "id": account.did,
        "alsoKnownAs": [f"at://{account.handle}"],
        "verificationMethod": [
            {
                "id": f"{account.did}#atproto",
                "type": "Multikey",
                "controller": account.did,
                "publicKeyMultibase": _multibase_key(account.did),
            }
        ],
        "service": [
            {
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": account.pds,
            }
        ],
    }


def handle_plc(req: SimRequest, scenario: Scenario) -> Outcome:
    path = unquote(req.path)
    if path in ("/", "/_health"):
        return json_response(200, {"version": "simulated"})
    did = path.strip("/").split("/", 1)[0]
    if not did.startswith("did:plc:"):
        return json_response(404, {"message": "not found"})
    account = scenario.bluesky.get(did)
    if account is None:
        return json_response(404, {"message": f"DID not registered: {did}"})
    if account.tombstoned:
        return json_response(account.plc_gone_status, {"message": f"DID not available: {did}"})
    if path.rstrip("/") != f"/{did}":
        return json_response(404, {"message": "not found"})
    return json_response(200, did_document(account), "application/did+ld+json; charset=utf-8")


# --------------------------------------------------------------------------- PDS


def handle_pds(req: SimRequest, scenario: Scenario, host: str) -> Outcome | None:
    """``com.atproto.sync.getRepoStatus`` of the accounts whose DID document names this PDS
    (``packages/pds/src/api/com/atproto/sync/getRepoStatus.ts``; ``RepoNotFound`` from
    ``sync/util.ts``)."""
    if req.path == "/xrpc/_health":
        return json_response(200, {"version": "0.4.0"})
    if req.path != "/xrpc/com.atproto.sync.getRepoStatus":
        return None
    did = req.param("did")
    if not did or not is_did(did):
        return xrpc_error("InvalidRequest", 'Error: Params must have the property "did"')
    account = scenario.bluesky.get(did)
    if account is None or account.state == "deleted" or _host_of(account.pds) != host:
        return xrpc_error("RepoNotFound", f"Could not find repo for DID: {did}")
    body: dict[str, Any] = {"did": did, "active": account.state == "ok"}
    if account.state == "ok":
        body["rev"] = make_tid(account.created_at)
    else:
        body["status"] = account.state  # "takendown" or "deactivated"
    return json_response(200, body)


def _host_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0].lower()


def atproto_did(scenario: Scenario, host: str) -> Outcome | None:
    """``https://<handle>/.well-known/atproto-did`` for a simulated host that is a handle."""
    account = scenario.bsky_by_handle(host)
    if account is None:
        return None
    return Response(200, account.did.encode(), [("Content-Type", TEXT_TYPE)])
