"""Fediverse servers for the simulator: Mastodon, Pleroma, Akkoma, GoToSocial and Misskey.

What each server says follows that server's own source (docs/simulator.md cites repository, path
and version next to each behaviour): the Mastodon REST API subset the bot uses, WebFinger,
nodeinfo, profile pages and ActivityPub actors.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from wmsocial_testkit.sim_http import (
    HTML_TYPE,
    JRD_TYPE,
    Outcome,
    Response,
    SimRequest,
    empty_response,
    html_page,
    html_response,
    json_response,
    sim_url,
)
from wmsocial_testkit.sim_scenario import (
    FediAccount,
    Host,
    Scenario,
    parse_time,
    split_acct,
    stable_number,
)

MASTODON_API = frozenset({"mastodon", "pleroma", "akkoma", "gotosocial"})
PLEROMA_LIKE = frozenset({"pleroma", "akkoma"})
NODEINFO_20 = "http://nodeinfo.diaspora.software/ns/schema/2.0"
NODEINFO_21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"
# Mastodon app/controllers/api/base_controller.rb (require_authenticated_user!) and Pleroma /
# Akkoma account_controller.ex (user_visibility_error) word the same 401 differently.
MASTODON_AUTH_REQUIRED = "This method requires an authenticated user"
AUTH_REQUIRED = "This API requires an authenticated user"
MISSKEY_NO_SUCH_USER = {
    "message": "No such user.",
    "code": "NO_SUCH_USER",
    "id": "4362f8dc-731f-4ad8-a694-be5a88922a24",
    "kind": "client",
}
MISSKEY_UNKNOWN_ENDPOINT = {
    "message": "Unknown API endpoint.",
    "code": "UNKNOWN_API_ENDPOINT",
    "id": "2ca3b769-540a-4f08-9dd5-b5a825b6d0f1",
    "kind": "client",
}
MISSKEY_INVALID_PARAM = {
    "message": "Invalid param.",
    "code": "INVALID_PARAM",
    "id": "3d81ceae-475f-4600-b2a8-2bc116157532",
    "kind": "client",
}

_ACCOUNT_ID_RE = re.compile(r"^/api/v1/accounts/([^/]+)/?$")
_STATUSES_RE = re.compile(r"^/api/v1/accounts/([^/]+)/statuses/?$")
_PROFILE_RE = re.compile(r"^/@([^/@]+)(?:@([^/]+))?(?:/.*)?$")
_ACTOR_RE = re.compile(r"^/users/([^/]+)/?$")
_OUTBOX_RE = re.compile(r"^/users/([^/]+)/outbox/?$")


# --------------------------------------------------------------------------- identity


def not_yet_approved(host: Host, account: FediAccount) -> bool:
    """Mastodon hides a local account pending approval from the lookup and its page
    (lookup_controller.rb and account_owned_concern.rb check_account_approval), not WebFinger."""
    return account.state == "pending" and host.software == "mastodon"


def is_tombstone(owner: Host, account: FediAccount) -> bool:
    """Not a live account: suspended, deleted or deactivated, whatever the server calls it."""
    return account.state in ("suspended", "deleted", "deactivated")


def version_at_least(host: Host, wanted: tuple[int, ...]) -> bool:
    """``host.version`` (``4.7.0``, ``2024.10.1``) is ``wanted`` or later."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", host.version)[: len(wanted)])
    return numbers >= wanted


def deleted_is_gone(host: Host, account: FediAccount) -> bool:
    """Mastodon 4.7+: an owner's deletion is no suspension: lookup 404, WebFinger 410."""
    return (
        account.state == "deleted"
        and host.software == "mastodon"
        and version_at_least(host, (4, 7))
    )


def is_permanent(account: FediAccount) -> bool:
    """A permanent suspension (WebFinger 410); a deletion always is one."""
    return account.permanent or account.state == "deleted"


def hidden_by_pleroma(host: Host, account: FediAccount) -> bool:
    """``User.visible_for`` says not visible: deactivated (also deleted) users on Pleroma/Akkoma."""
    return host.software in PLEROMA_LIKE and is_tombstone(host, account)


def profile_url(owner: Host, account: FediAccount) -> str:
    if owner.software in PLEROMA_LIKE:
        return f"https://{owner.name}/users/{account.username}"
    return f"https://{owner.name}/@{account.username}"


def actor_uri(owner: Host, account: FediAccount) -> str:
    if owner.software == "misskey":
        return f"https://{owner.name}/users/{account.id}"
    return f"https://{owner.name}/users/{account.username}"


def _remote_id(viewer: Host, acct: str) -> str:
    return str(110_000_000_000_000_000 + stable_number(viewer.name, "remote", acct.lower()))


def find_account(scenario: Scenario, acct: str) -> tuple[Host, FediAccount] | None:
    parts = split_acct(acct)
    if parts is None:
        return None
    host = scenario.host_for_domain(parts[1])
    if host is None:
        return None
    account = host.accounts.get(parts[0].lower())
    return None if account is None else (host, account)


def _local_username(host: Host, acct: str) -> str | None:
    """``alice``, ``@alice`` or ``alice@<this domain>`` -> ``alice``; None for remote accts."""
    text = acct.strip().lstrip("@")
    if "@" not in text:
        return text.lower() or None
    user, _, domain = text.partition("@")
    if domain.lower() in (host.domain, host.name):
        return user.lower() or None
    return None


# --------------------------------------------------------------------------- Mastodon entities


def _shortened_link(url: str, *, rel_me: bool = True) -> str:
    """A URL as Mastodon links it (app/lib/text_formatter.rb ``link_to_url``): ``rel`` has
    ``me`` only in profile fields (app/helpers/formatting_helper.rb
    ``account_field_value_format(field, with_rel_me: true)``), not in the bio."""
    match = re.match(r"^(https?://(?:www\.)?)(.*)$", url)
    if match is None:
        return html.escape(url)
    prefix, rest = match.groups()
    shown, hidden = rest[:30], rest[30:]
    rel = "nofollow noopener me" if rel_me else "nofollow noopener"
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="{rel}" '
        f'translate="no"><span class="invisible">{html.escape(prefix)}</span>'
        f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
        f'<span class="invisible">{html.escape(hidden)}</span></a>'
    )


def _field_value(value: str, raw_html: bool) -> str:
    if raw_html:
        return value
    if re.match(r"^https?://\S+$", value):
        return _shortened_link(value)
    return html.escape(value)


_BIO_URL = re.compile(r"https?://[^\s<>\"]+")


def _bio(note: str) -> str:
    """The bio as the API's ``note`` shows a local account's: one paragraph, URLs linked.

    (app/serializers/rest/account_serializer.rb ``note`` -> app/helpers/formatting_helper.rb
    ``account_bio_format`` -> ``TextFormatter``, which links every URL.)
    """
    if not note:
        return ""
    out, last = [], 0
    for match in _BIO_URL.finditer(note):
        out += [
            html.escape(note[last : match.start()]),
            _shortened_link(match.group(0), rel_me=False),
        ]
        last = match.end()
    out.append(html.escape(note[last:]))
    return f"<p>{''.join(out)}</p>"


def _avatar(owner: Host, kind: str) -> str:
    return f"https://{owner.name}/{kind}s/original/missing.png"


def account_entity(
    scenario: Scenario,
    owner: Host,
    account: FediAccount,
    viewer: Host,
    *,
    nested: bool = False,
) -> dict[str, Any]:
    """A Mastodon-API Account as ``viewer`` serves it (``owner`` is the account's home)."""
    local = owner.name == viewer.name
    tomb = is_tombstone(owner, account)
    acct = account.username if local else f"{account.username}@{owner.domain}"
    pleroma_view = viewer.software in PLEROMA_LIKE
    show_tomb = tomb and not pleroma_view
    entity: dict[str, Any] = {
        "id": account.id if local else _remote_id(viewer, acct),
        "username": account.username,
        "acct": acct,
        "display_name": "" if show_tomb else account.display_name,
        "locked": False if show_tomb else account.locked,
        "bot": False if show_tomb else account.bot,
        "discoverable": False if show_tomb else account.discoverable,
        "indexable": False,
        "group": False if show_tomb else account.group,
        "created_at": _midnight(account.created_at),
        "note": "" if show_tomb else _bio(account.note),
        "url": profile_url(owner, account),
        "uri": actor_uri(owner, account),
        "avatar": _avatar(owner, "avatar"),
        "avatar_static": _avatar(owner, "avatar"),
        "header": _avatar(owner, "header"),
        "header_static": _avatar(owner, "header"),
        "followers_count": 0 if show_tomb else account.followers_count,
        "following_count": 0 if show_tomb else account.following_count,
        "statuses_count": 0 if show_tomb else account.statuses_count,
        "last_status_at": None if show_tomb else _date_only(account.last_status_at),
        "hide_collections": None,
        "emojis": [],
        "fields": [] if show_tomb else _fields(viewer, account),
    }
    if local and viewer.software == "mastodon":
        entity["noindex"] = False
        entity["roles"] = []
    if account.moved_to and not nested and not show_tomb and not pleroma_view:
        # Pleroma's and Akkoma's AccountView have no "moved" (views/account_view.ex).
        entity["moved"] = moved_entity(scenario, account.moved_to, viewer)
    if show_tomb:
        entity["suspended"] = True
    if account.state == "limited" and not pleroma_view:
        entity["limited"] = True
    if account.state == "memorial" and not pleroma_view:
        entity["memorial"] = True
    if pleroma_view:
        entity["pleroma"] = {
            "ap_id": actor_uri(owner, account),
            "also_known_as": [],
            "background_image": None,
            "favicon": None,
            "hide_favorites": True,
            "hide_followers": False,
            "hide_followers_count": False,
            "hide_follows": False,
            "hide_follows_count": False,
            "is_confirmed": True,
            "is_suggested": False,
            "relationship": {},
            "skip_thread_containment": False,
            "tags": [],
        }
        if viewer.software == "akkoma":
            entity["akkoma"] = {
                "instance": None,
                "permit_followback": False,
                "status_ttl_days": None,
            }
    return entity


def moved_entity(scenario: Scenario, target_acct: str, viewer: Host) -> dict[str, Any]:
    """The embedded successor: a full Account without its own ``moved`` (never nested)."""
    found = find_account(scenario, target_acct)
    if found is not None:
        owner, target = found
        return account_entity(scenario, owner, target, viewer, nested=True)
    user, domain = split_acct(target_acct) or (target_acct, "unknown.invalid")
    local = domain in (viewer.domain, viewer.name)
    acct = user if local else f"{user}@{domain}"
    return {
        "id": _remote_id(viewer, f"{user}@{domain}"),
        "username": user,
        "acct": acct,
        "display_name": user.capitalize(),
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": False,
        "group": False,
        "created_at": "2023-01-01T00:00:00.000Z",
        "note": "",
        "url": f"https://{domain}/@{user}",
        "uri": f"https://{domain}/users/{user}",
        "avatar": f"https://{viewer.name}/avatars/original/missing.png",
        "avatar_static": f"https://{viewer.name}/avatars/original/missing.png",
        "header": f"https://{viewer.name}/headers/original/missing.png",
        "header_static": f"https://{viewer.name}/headers/original/missing.png",
        "followers_count": 0,
        "following_count": 0,
        "statuses_count": 0,
        "last_status_at": None,
        "hide_collections": None,
        "emojis": [],
        "fields": [],
    }


def _fields(viewer: Host, account: FediAccount) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for field in account.fields:
        item: dict[str, Any] = {"name": field.name, "value": _field_value(field.value, field.html)}
        if viewer.software not in PLEROMA_LIKE:
            item["verified_at"] = field.verified_at
        out.append(item)
    return out


def _date_only(value: str | None) -> str | None:
    """Mastodon gives ``last_status_at`` as a date: ``2026-06-30``."""
    if value is None:
        return None
    return parse_time(value).date().isoformat()


def _midnight(value: str) -> str:
    """``created_at``: Mastodon rounds it down to midnight UTC."""
    return parse_time(value).strftime("%Y-%m-%dT00:00:00.000Z")


def _status_id(created_at: str, index: int) -> str:
    millis = int(parse_time(created_at).timestamp() * 1000)
    return str((millis << 16) + index)


def status_entities(
    scenario: Scenario, host: Host, account: FediAccount, limit: int, max_id: str | None
) -> list[dict[str, Any]]:
    statuses: list[dict[str, Any]] = []
    for index, created in enumerate(account.statuses):
        sid = _status_id(created, index)
        if max_id is not None and max_id.isdigit() and int(sid) >= int(max_id):
            continue
        statuses.append(
            {
                "id": sid,
                "created_at": created,
                "in_reply_to_id": None,
                "in_reply_to_account_id": None,
                "sensitive": False,
                "spoiler_text": "",
                "visibility": "public",
                "language": "en",
                "uri": f"{actor_uri(host, account)}/statuses/{sid}",
                "url": f"{profile_url(host, account)}/{sid}",
                "replies_count": 0,
                "reblogs_count": 0,
                "favourites_count": 0,
                "edited_at": None,
                "content": f"<p>Status {index + 1}</p>",
                "reblog": None,
                "application": None,
                "account": account_entity(scenario, host, account, host),
                "media_attachments": [],
                "mentions": [],
                "tags": [],
                "emojis": [],
                "card": None,
                "poll": None,
            }
        )
        if len(statuses) >= limit:
            break
    return statuses


def instance_version(host: Host) -> str:
    if host.software == "pleroma":
        return f"2.7.2 (compatible; Pleroma {host.version})"
    if host.software == "akkoma":
        return f"2.7.2 (compatible; Akkoma {host.version})"
    return host.version


def instance_v1(host: Host) -> dict[str, Any]:
    return {
        "uri": host.domain,
        "title": host.title,
        "short_description": "",
        "description": "",
        "email": f"admin@{host.domain}",
        "version": instance_version(host),
        "urls": {"streaming_api": f"wss://{host.name}"},
        "stats": {
            "user_count": host.user_count,
            "status_count": host.status_count,
            "domain_count": 1,
        },
        "thumbnail": None,
        "languages": ["en"],
        "registrations": False,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": {
            "accounts": {"max_featured_tags": 10},
            "statuses": {
                "max_characters": 500,
                "max_media_attachments": 4,
                "characters_reserved_per_url": 23,
            },
        },
        "contact_account": None,
        "rules": [],
    }


# Mastodon's app/models/privacy_policy.rb: without a policy of the admin's own,
# PrivacyPolicy.current is the default template with DEFAULT_UPDATED_AT.
DEFAULT_POLICY_UPDATED_AT = "2022-10-07T00:00:00.000Z"
POLICY_UPDATED_AT = "2025-03-01T12:00:00.000Z"


def instance_contact(scenario: Scenario, host: Host) -> dict[str, Any] | None:
    """``contact.account``: the admin-chosen local account (``Setting.site_contact_username``,
    ``REST::InstanceSerializer#contact``), or None."""
    if host.contact_account is None:
        return None
    account = host.accounts.get(host.contact_account.lower())
    if account is not None:
        return account_entity(scenario, host, account, host)
    return {"id": "1", "username": host.contact_account, "acct": host.contact_account}


def instance_v2(host: Host, scenario: Scenario | None = None) -> dict[str, Any]:
    """``GET /api/v2/instance`` as mastodon/mastodon ``app/serializers/rest/instance_serializer.rb``
    (4.x) writes it: rules (``REST::RuleSerializer``: id, text, hint), contact, registrations."""
    contact = instance_contact(scenario, host) if scenario is not None else None
    return {
        "domain": host.domain,
        "title": host.title,
        "version": instance_version(host),
        "source_url": "https://github.com/mastodon/mastodon",
        "description": "",
        "usage": {"users": {"active_month": host.user_count}},
        "thumbnail": {"url": f"https://{host.name}/packs/media/images/preview.png"},
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": f"wss://{host.name}"},
            "accounts": {"max_featured_tags": 10},
            "statuses": {
                "max_characters": 500,
                "max_media_attachments": 4,
                "characters_reserved_per_url": 23,
            },
            "translation": {"enabled": False},
        },
        "registrations": {
            "enabled": host.registrations != "closed",
            "approval_required": host.registrations == "approval",
            "message": None,
        },
        "contact": {"email": f"admin@{host.domain}", "account": contact},
        "rules": [{"id": str(n), "text": text, "hint": ""} for n, text in enumerate(host.rules, 1)],
        "api_versions": {"mastodon": 2},
    }


def privacy_policy(host: Host) -> dict[str, Any]:
    """``GET /api/v1/instance/privacy_policy`` (Mastodon 4.0+,
    ``app/controllers/api/v1/instances/privacy_policies_controller.rb``,
    ``REST::PrivacyPolicySerializer``: updated_at, content as HTML)."""
    if host.privacy_policy is None:
        return {
            "updated_at": DEFAULT_POLICY_UPDATED_AT,
            "content": "<h1>Privacy Policy</h1><p>This is the default template.</p>",
        }
    return {
        "updated_at": POLICY_UPDATED_AT,
        "content": f"<p>{html.escape(host.privacy_policy)}</p>",
    }


# --------------------------------------------------------------------------- Misskey entity


def _misskey_moved(scenario: Scenario, host: Host, acct: str) -> tuple[str, str]:
    """(id, uri) of a move target as Misskey knows it: a remote user with its own id."""
    found = find_account(scenario, acct)
    if found is not None:
        moved_uri = actor_uri(*found)
    else:
        user, domain = split_acct(acct) or (acct, "unknown.invalid")
        moved_uri = f"https://{domain}/users/{user}"
    moved_id = "9" + format(stable_number(host.name, "moved", moved_uri, digits=14), "x")[:9]
    return moved_id, moved_uri


def misskey_user(scenario: Scenario, host: Host, account: FediAccount) -> dict[str, Any]:
    moved_uri = None
    moved_id = None
    if account.moved_to:
        moved_id, moved_uri = _misskey_moved(scenario, host, account.moved_to)
    updated = account.updated_at or account.last_status_at
    return {
        "id": account.id,
        "name": account.display_name,
        "username": account.username,
        "host": None,
        "avatarUrl": f"https://{host.name}/identicon/{account.id}",
        "avatarBlurhash": None,
        "avatarDecorations": [],
        "isBot": account.bot,
        "isCat": False,
        "emojis": {},
        "onlineStatus": "unknown",
        "badgeRoles": [],
        "url": None,
        "uri": None,
        "movedTo": moved_id,
        "alsoKnownAs": None,
        "createdAt": parse_time(account.created_at).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "updatedAt": (parse_time(updated).strftime("%Y-%m-%dT%H:%M:%S.000Z") if updated else None),
        "lastFetchedAt": None,
        "bannerUrl": None,
        "bannerBlurhash": None,
        "isLocked": account.locked,
        "isSilenced": account.state == "limited",
        "isSuspended": account.state == "suspended",
        "description": account.note or None,
        "location": None,
        "birthday": None,
        "lang": None,
        "fields": [{"name": f.name, "value": f.value} for f in account.fields],
        "verifiedLinks": [f.value for f in account.fields if f.verified_at],
        # UserEntityService.ts: a count its owner hides is sent as 0 (followersCount ?? 0);
        # a scenario's -1 (Mastodon's "hidden") stands for followersVisibility "followers".
        "followersCount": max(account.followers_count, 0),
        "followingCount": account.following_count,
        "notesCount": account.statuses_count,
        "pinnedNoteIds": [],
        "pinnedNotes": [],
        "pinnedPageId": None,
        "pinnedPage": None,
        "publicReactions": True,
        "followersVisibility": "public" if account.followers_count >= 0 else "followers",
        "followingVisibility": "public",
        "roles": [],
        "memo": None,
    } | (
        # UserEntityService.ts: 2024.10 sends only movedTo (an id); later versions add the URI.
        {"movedToUri": moved_uri} if version_at_least(host, (2025,)) else {}
    )


def _misskey_remote_user(scenario: Scenario, host: Host, wanted_id: str) -> dict[str, Any] | None:
    """A successor this server knows under its own id (``users/show`` with ``userId``)."""
    for account in host.accounts.values():
        if not account.moved_to:
            continue
        moved_id, moved_uri = _misskey_moved(scenario, host, account.moved_to)
        if moved_id != wanted_id:
            continue
        user, domain = split_acct(account.moved_to) or (account.moved_to, "unknown.invalid")
        found = find_account(scenario, account.moved_to)
        return {
            "id": moved_id,
            "name": found[1].display_name if found else user,
            "username": found[1].username if found else user,
            "host": found[0].domain if found else domain,
            "uri": moved_uri,
            "url": profile_url(*found) if found else f"https://{domain}/@{user}",
            "movedTo": None,
            "isSuspended": False,
            "isSilenced": False,
            "notesCount": found[1].statuses_count if found else 0,
            "updatedAt": None,
            "fields": [],
            "verifiedLinks": [],
        }
    return None


def _misskey_error(status: int, error: dict[str, Any], info: Any = None) -> Response:
    body = dict(error)
    if info is not None:
        body["info"] = info
    return json_response(status, {"error": body})


def _misskey_api(req: SimRequest, scenario: Scenario, host: Host) -> Outcome:
    if req.path.rstrip("/") == "/api/users/show":
        if req.method != "POST":
            return _misskey_error(405, MISSKEY_UNKNOWN_ENDPOINT)
        try:
            params = req.json_body()
        except (ValueError, UnicodeDecodeError):
            return _misskey_error(400, MISSKEY_INVALID_PARAM, {"reason": "body is not JSON"})
        if not isinstance(params, dict):
            return _misskey_error(400, MISSKEY_INVALID_PARAM, {"reason": "body is not an object"})
        if host.visitor_visibility == "none" and "i" not in params:
            # users/show.ts (2025): ugcVisibilityForVisitor 'none' hides every user from visitors.
            return _misskey_error(404, MISSKEY_NO_SUCH_USER)
        account = _misskey_lookup(host, params)
        if isinstance(account, Response):
            return account
        if account is None and isinstance(params.get("userId"), str):
            remote = _misskey_remote_user(scenario, host, params["userId"])
            if remote is not None:
                return json_response(200, remote)
        if account is None or account.state in ("deleted", "deactivated"):
            return _misskey_error(404, MISSKEY_NO_SUCH_USER)
        if account.state == "suspended" and host.hide_suspended:
            return _misskey_error(404, MISSKEY_NO_SUCH_USER)
        return json_response(200, misskey_user(scenario, host, account))
    if req.path.rstrip("/") == "/api/meta":
        return json_response(
            200,
            {
                "name": host.title,
                "version": host.version,
                "uri": f"https://{host.name}",
                "description": None,
                "disableRegistration": True,
            },
        )
    return _misskey_error(404, MISSKEY_UNKNOWN_ENDPOINT)


def _misskey_lookup(host: Host, params: dict[str, Any]) -> FediAccount | Response | None:
    if isinstance(params.get("userId"), str):
        for account in host.accounts.values():
            if account.id == params["userId"]:
                return account
        return None
    username = params.get("username")
    if not isinstance(username, str):
        return _misskey_error(
            400, MISSKEY_INVALID_PARAM, {"reason": "one of userId, userIds, username required"}
        )
    if params.get("host") not in (None, host.domain, host.name):
        # A remote lookup: resolving it needs federation, which the simulator does not do.
        return _misskey_error(
            500,
            {
                "message": "Failed to resolve remote user.",
                "code": "FAILED_TO_RESOLVE_REMOTE_USER",
                "id": "ef7b9be4-9cba-4e6f-ab41-90ed171c7d3c",
                "kind": "server",
            },
        )
    return host.accounts.get(username.lower())


# --------------------------------------------------------------------------- Mastodon API


def _not_found(host: Host) -> Response:
    if host.software in PLEROMA_LIKE:
        return json_response(404, {"error": "Can't find user"})
    return json_response(404, {"error": "Record not found"})


def _account_by_id(host: Host, account_id: str) -> FediAccount | None:
    for account in host.accounts.values():
        if account.id == account_id:
            return account
    return None


def _auth_required(host: Host) -> Response:
    message = MASTODON_AUTH_REQUIRED if host.software == "mastodon" else AUTH_REQUIRED
    return json_response(401, {"error": message})


def _mastodon_api(req: SimRequest, scenario: Scenario, host: Host) -> Outcome:
    """The Mastodon-compatible REST API: the instance routes, then the account routes."""
    instance = _mastodon_instance_routes(req, scenario, host)
    if instance is not None:
        return instance
    refused = _mastodon_account_gate(req, host)
    if refused is not None:
        return refused
    path = req.path
    if path.rstrip("/") == "/api/v1/accounts/lookup":
        return _mastodon_lookup(req, scenario, host)
    match = _STATUSES_RE.match(path)
    if match is not None:
        return _mastodon_statuses(req, scenario, host, unquote(match.group(1)))
    match = _ACCOUNT_ID_RE.match(path)
    if match is not None:
        return _mastodon_account(scenario, host, unquote(match.group(1)))
    return json_response(404, {"error": "Record not found"})


def _mastodon_instance_routes(req: SimRequest, scenario: Scenario, host: Host) -> Response | None:
    """The instance routes (and limited federation's login wall before them); None if not one."""
    path = req.path.rstrip("/")
    if host.behaviour == "limited_federation" and req.header("authorization") is None:
        # Limited-federation mode: every API call needs a login, the instance one too.
        return _auth_required(host)
    if path == "/api/v1/instance":
        return json_response(200, instance_v1(host))
    if path == "/api/v2/instance":
        return json_response(200, instance_v2(host, scenario))
    if path == "/api/v1/instance/privacy_policy":
        if host.software != "mastodon":  # Mastodon's route; the others have none
            return json_response(404, {"error": "Not found"})
        return json_response(200, privacy_policy(host))
    return None


def _mastodon_account_gate(req: SimRequest, host: Host) -> Response | None:
    """The refusal a server gives before reaching an account route, or None to go on."""
    anonymous = req.header("authorization") is None
    if host.behaviour == "anon_api_forbidden" and anonymous:
        return _auth_required(host)
    if host.software == "gotosocial" and anonymous and req.path.startswith("/api/v1/accounts"):
        return json_response(401, {"error": "Unauthorized: token not supplied"})
    if req.method not in ("GET", "HEAD"):
        return json_response(404, {"error": "Record not found"})
    return None


def _mastodon_lookup(req: SimRequest, scenario: Scenario, host: Host) -> Response:
    """``/api/v1/accounts/lookup?acct=``: a local account by its handle."""
    username = _local_username(host, req.param("acct") or "")
    account = host.accounts.get(username) if username else None
    if account is None or deleted_is_gone(host, account) or not_yet_approved(host, account):
        return _not_found(host)
    if host.software == "akkoma" and hidden_by_pleroma(host, account):
        return _not_found(host)  # Akkoma's lookup applies User.visible_for; Pleroma's not
    return json_response(200, account_entity(scenario, host, account, host))


def _mastodon_statuses(req: SimRequest, scenario: Scenario, host: Host, wanted: str) -> Response:
    """``/api/v1/accounts/:id/statuses``: an account's latest posts, newest first."""
    account = _account_by_id(host, wanted)
    if account is None or deleted_is_gone(host, account) or hidden_by_pleroma(host, account):
        return _not_found(host)
    if is_tombstone(host, account):
        return json_response(200, [])
    limit = _int_param(req.param("limit"), 20, 1, 40)
    return json_response(200, status_entities(scenario, host, account, limit, req.param("max_id")))


def _mastodon_account(scenario: Scenario, host: Host, wanted: str) -> Response:
    """``/api/v1/accounts/:id``: a local account, or a remote one known as a successor."""
    account = _account_by_id(host, wanted)
    if account is not None:
        if deleted_is_gone(host, account) or hidden_by_pleroma(host, account):
            return _not_found(host)
        return json_response(200, account_entity(scenario, host, account, host))
    remote = _remote_account_by_id(scenario, host, wanted)
    if remote is not None:
        return json_response(200, remote)
    return _not_found(host)


def _remote_account_by_id(scenario: Scenario, viewer: Host, wanted: str) -> dict[str, Any] | None:
    """Accounts this server knows as the successor of one of its own (``moved``)."""
    for account in viewer.accounts.values():
        if account.moved_to:
            entity = moved_entity(scenario, account.moved_to, viewer)
            if entity["id"] == wanted:
                found = find_account(scenario, account.moved_to)
                if found is not None:
                    return account_entity(scenario, found[0], found[1], viewer)
                return entity
    return None


def _int_param(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        number = default
    return max(low, min(high, number))


# --------------------------------------------------------------------------- well-known, pages


def _webfinger_target(req: SimRequest, host: Host) -> str | Response | None:
    """The local username a WebFinger resource names, None if not ours, or a 400."""
    resource = req.param("resource")
    if not resource:
        return empty_response(400)
    resource = resource.strip()
    if resource.startswith(("https://", "http://")):
        parts = urlsplit(resource)
        if parts.netloc.lower() not in (host.name, host.domain):
            return None
        match = _PROFILE_RE.match(parts.path) or _ACTOR_RE.match(parts.path)
        if match is None:
            return None
        name = match.group(1)
        if host.software == "misskey":
            for account in host.accounts.values():
                if account.id == name:
                    return account.username.lower()
        return name.lower()
    if resource.startswith("acct:"):
        resource = resource[5:]
    if "@" not in resource.lstrip("@"):
        return empty_response(400)
    return _local_username(host, resource)


def _webfinger(req: SimRequest, scenario: Scenario, host: Host) -> Outcome:
    target = _webfinger_target(req, host)
    if isinstance(target, Response):
        return target
    account = host.accounts.get(target) if target else None
    if account is None:
        return empty_response(404)
    if host.software == "misskey":
        # WellKnownServerService.ts queries with isSuspended: false; a deleted row is gone.
        if account.state in ("suspended", "deleted", "deactivated"):
            return empty_response(404)
    elif host.software == "mastodon" and is_tombstone(host, account) and is_permanent(account):
        # well_known/webfinger_controller.rb: 410 when suspended_permanently? (or deleted, 4.7)
        return empty_response(410)
    # Pleroma, Akkoma: no activity check; GoToSocial ignores suspension (wellknown.go).
    subject = f"acct:{account.username}@{host.domain}"
    links: list[dict[str, Any]] = [
        {
            "rel": "http://webfinger.net/rel/profile-page",
            "type": "text/html",
            "href": profile_url(host, account),
        },
        {"rel": "self", "type": "application/activity+json", "href": actor_uri(host, account)},
        {
            "rel": "http://ostatus.org/schema/1.0/subscribe",
            "template": f"https://{host.name}/authorize_interaction?uri={{uri}}",
        },
    ]
    body = {
        "subject": subject,
        "aliases": [profile_url(host, account), actor_uri(host, account)],
        "links": links,
    }
    return json_response(200, body, JRD_TYPE)


def nodeinfo_index(req: SimRequest, scenario: Scenario, host: Host) -> Response:
    suffix = ".json" if host.software in PLEROMA_LIKE else ""
    links = [{"rel": NODEINFO_20, "href": f"https://{host.name}/nodeinfo/2.0{suffix}"}]
    if host.software in PLEROMA_LIKE or host.software == "misskey":
        links.append({"rel": NODEINFO_21, "href": f"https://{host.name}/nodeinfo/2.1{suffix}"})
    for link in links:
        link["href"] = sim_url(link["href"], scenario, req.sim_base)
    return json_response(200, {"links": links})


def nodeinfo_document(host: Host, version: str) -> Response:
    body = {
        "version": version,
        "software": {"name": host.nodeinfo_name, "version": host.version},
        "protocols": ["activitypub"],
        "services": {"outbound": [], "inbound": []},
        "usage": {
            "users": {
                "total": host.user_count,
                "activeMonth": host.user_count,
                "activeHalfyear": host.user_count,
            },
            "localPosts": host.status_count,
        },
        "openRegistrations": False,
        "metadata": {"nodeName": host.title},
    }
    if version == "2.1":
        body["software"]["repository"] = ""  # type: ignore[index]
    content_type = (
        f'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/{version}#"'
        "; charset=utf-8"
    )
    return json_response(200, body, content_type)


def _profile_page(req: SimRequest, scenario: Scenario, host: Host, username: str) -> Outcome:
    account = host.accounts.get(username.lower())
    if host.software == "misskey":
        # Misskey answers every /@user with its web-app shell, also for unknown users.
        title = account.display_name if account and account.state == "ok" else host.title
        return html_response(200, html_page(title, '<div id="misskey_app"></div>'))
    if account is None:
        return html_response(404, html_page("The page you are looking for isn't here."))
    if host.software == "gotosocial":
        return _gotosocial_page(scenario, host, account)
    if not_yet_approved(host, account):
        return html_response(404, html_page("The page you are looking for isn't here."))
    if is_tombstone(host, account) and host.software == "mastodon":
        # app/controllers/concerns/account_owned_concern.rb: 410 permanent, 403 temporary.
        if is_permanent(account):
            return html_response(410, html_page("The page you are looking for isn't here."))
        return html_response(403, html_page("This account has been suspended."))
    uri = actor_uri(host, account)
    head = (
        f'<link href="{html.escape(uri)}" rel="alternate" type="application/activity+json">'
        f'<meta content="{html.escape(account.display_name)} (@{account.username}@{host.domain})"'
        ' property="og:title">'
    )
    body = f'<div id="mastodon" data-props="{{}}"><h1>{html.escape(account.display_name)}</h1>'
    if account.moved_to:
        body += f"<p>{html.escape(account.display_name)} has moved to {account.moved_to}</p>"
    body += "</div>"
    title = f"{account.display_name} (@{account.username}@{host.domain}) - {host.title}"
    return html_response(200, html_page(title, body, head))


def _gotosocial_page(scenario: Scenario, host: Host, account: FediAccount) -> Response:
    """GoToSocial's server-rendered profile (internal/web/profile.go, web/template/profile*.tmpl).

    404 for a suspended account (a deleted one is a suspended stub); a moved account carries
    the "moved-to" notice; the newest public posts are listed with their times.
    """
    if is_tombstone(host, account):
        return html_response(404, html_page("404: Not Found"))
    body = '<main class="profile h-card"><section class="profile-header">'
    if account.moved_to:
        found = find_account(scenario, account.moved_to)
        user, domain = split_acct(account.moved_to) or (account.moved_to, "unknown.invalid")
        target = profile_url(*found) if found is not None else f"https://{domain}/@{user}"
        body += (
            '<div class="moved-to"><b>ℹ️ This account has permanently moved to '
            f'<a href="{html.escape(target)}" class="nounderline" '
            f'rel="nofollow noreferrer noopener" target="_blank">@{html.escape(user)}</a>'
            "</b></div>"
        )
    body += (
        f"<h1>{html.escape(account.display_name)}</h1></section>"
        '<dl id="profile-stats" class="accountstats"><div class="stats-item">'
        '<dt class="postsdt text-cutoff">Posts</dt>'
        f'<dd class="postsdd text-cutoff">{account.statuses_count}</dd></div></dl>'
        '<section class="recent statuses h-feed">'
    )
    for created in sorted(account.statuses, reverse=True)[:20]:
        moment = parse_time(created).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        body += (
            '<article class="status expanded h-entry">'
            f'<time class="dt-published text-cutoff" datetime="{moment}">{moment}</time>'
            "</article>"
        )
    body += "</section></main>"
    title = f"{account.display_name} (@{account.username}@{host.domain}) - {host.title}"
    return html_response(200, html_page(title, body))


def _actor(req: SimRequest, scenario: Scenario, host: Host, name: str) -> Outcome:
    account = host.accounts.get(name.lower())
    if account is None and host.software == "misskey":
        account = _account_by_id(host, name)
    accept = req.header("accept") or ""
    wants_ap = "activity+json" in accept or "ld+json" in accept
    if wants_ap and host.software == "gotosocial":
        # internal/processing/fedi/user.go: AuthenticateFederatedRequest, unsigned -> 401.
        return empty_response(401)
    if (
        account is not None
        and host.software == "misskey"
        and account.state in ("suspended", "deleted", "deactivated")
    ):
        account = None  # ActivityPubServerService.ts: isSuspended: false; a deleted row is gone
    if account is None:
        return (
            json_response(404, {"error": "Record not found"})
            if wants_ap
            else html_response(404, html_page("The page you are looking for isn't here."))
        )
    if not wants_ap:
        location = f"/@{account.username}"
        if scenario.rewrite_links:
            location = f"/{host.name}{location}"
        return Response(302, b"", [("Location", location), ("Content-Type", HTML_TYPE)])
    if is_tombstone(host, account) and is_permanent(account) and host.software == "mastodon":
        return json_response(410, {"error": "Gone"})
    actor: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": actor_uri(host, account),
        "type": "Service" if account.bot else "Group" if account.group else "Person",
        "preferredUsername": account.username,
        "name": account.display_name,
        "summary": account.note,
        "url": profile_url(host, account),
        "inbox": f"{actor_uri(host, account)}/inbox",
        "outbox": f"{actor_uri(host, account)}/outbox",
        "followers": f"{actor_uri(host, account)}/followers",
        "following": f"{actor_uri(host, account)}/following",
        "published": _midnight(account.created_at),
        "manuallyApprovesFollowers": account.locked,
        "discoverable": account.discoverable,
        "attachment": [
            {"type": "PropertyValue", "name": f.name, "value": _field_value(f.value, f.html)}
            for f in account.fields
        ],
    }
    if account.moved_to and host.software != "pleroma":
        # Pleroma's actor has alsoKnownAs but no movedTo (activity_pub/views/user_view.ex).
        found = find_account(scenario, account.moved_to)
        if found is not None:
            actor["movedTo"] = actor_uri(*found)
        else:
            user, domain = split_acct(account.moved_to) or (account.moved_to, "unknown.invalid")
            actor["movedTo"] = f"https://{domain}/users/{user}"
    if is_tombstone(host, account) and host.software == "mastodon":
        actor["suspended"] = True
    if account.state == "memorial":
        actor["memorial"] = True
    return json_response(200, actor, "application/activity+json; charset=utf-8")


def _outbox(req: SimRequest, scenario: Scenario, host: Host, name: str) -> Outcome:
    """Mastodon's outbox (app/controllers/activitypub/outboxes_controller.rb): the collection
    gives ``totalItems`` (the post count) and ``first``; ``?page=true`` lists the newest 20
    public activities, each with its ``published`` time."""
    account = host.accounts.get(name.lower())
    if account is None:
        return json_response(404, {"error": "Record not found"})
    if is_tombstone(host, account) and is_permanent(account) and host.software == "mastodon":
        return json_response(410, {"error": "Gone"})
    actor = actor_uri(host, account)
    outbox = f"{actor}/outbox"
    context = "https://www.w3.org/ns/activitystreams"
    ap_type = "application/activity+json; charset=utf-8"
    if (req.param("page") or "").lower() not in ("true", "1"):
        body: dict[str, Any] = {
            "@context": context,
            "id": outbox,
            "type": "OrderedCollection",
            "totalItems": 0 if is_tombstone(host, account) else account.statuses_count,
            "first": f"{outbox}?page=true",
            "last": f"{outbox}?min_id=0&page=true",
        }
        return json_response(200, body, ap_type)
    items = []
    statuses = [] if is_tombstone(host, account) else sorted(account.statuses, reverse=True)
    for index, created in enumerate(statuses[:20]):
        sid = _status_id(created, index)
        published = parse_time(created).strftime("%Y-%m-%dT%H:%M:%SZ")
        items.append(
            {
                "id": f"{actor}/statuses/{sid}/activity",
                "type": "Create",
                "actor": actor,
                "published": published,
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
                "object": {"id": f"{actor}/statuses/{sid}", "type": "Note", "published": published},
            }
        )
    page = {
        "@context": context,
        "id": f"{outbox}?page=true",
        "type": "OrderedCollectionPage",
        "partOf": outbox,
        "orderedItems": items,
    }
    return json_response(200, page, ap_type)


def _limited_federation(req: SimRequest, scenario: Scenario, host: Host) -> Outcome | None:
    """Mastodon in limited-federation mode: pages send visitors to sign in, actors need a
    signature (authorized fetch is implied); WebFinger and nodeinfo answer as usual."""
    if req.path.rstrip("/") == "/auth/sign_in":
        return html_response(200, html_page(f"Log in - {host.title}", "<form></form>"))
    if req.path.rstrip("/").endswith("/outbox") and _OUTBOX_RE.match(req.path):
        return json_response(401, {"error": "Request not signed"})
    if _PROFILE_RE.match(req.path) is None and _ACTOR_RE.match(req.path) is None:
        return None
    accept = req.header("accept") or ""
    if "activity+json" in accept or "ld+json" in accept:
        return json_response(401, {"error": "Request not signed"})
    location = "/auth/sign_in"
    if scenario.rewrite_links:
        location = f"/{host.name}{location}"
    return Response(302, b"", [("Location", location), ("Content-Type", HTML_TYPE)])


def handle_fedi(req: SimRequest, scenario: Scenario, host: Host) -> Outcome | None:
    """The response of a fediverse host, or None when no route matches."""
    path = req.path
    if path == "/.well-known/webfinger":
        return _webfinger(req, scenario, host)
    if path == "/.well-known/nodeinfo":
        return nodeinfo_index(req, scenario, host)
    nodeinfo = re.match(r"^/nodeinfo/(2\.[01])(\.json)?$", path)
    if nodeinfo is not None:
        return nodeinfo_document(host, nodeinfo.group(1))
    if path.startswith("/api/"):
        if host.software == "misskey":
            return _misskey_api(req, scenario, host)
        return _mastodon_api(req, scenario, host)
    if host.behaviour == "limited_federation":
        limited = _limited_federation(req, scenario, host)
        if limited is not None:
            return limited
    match = _PROFILE_RE.match(path)
    if match is not None:
        if match.group(2) and match.group(2).lower() not in (host.domain, host.name):
            return html_response(404, html_page("The page you are looking for isn't here."))
        return _profile_page(req, scenario, host, unquote(match.group(1)))
    match = _ACTOR_RE.match(path)
    if match is not None:
        return _actor(req, scenario, host, unquote(match.group(1)))
    match = _OUTBOX_RE.match(path)
    if match is not None and host.software in ("mastodon", "pleroma", "akkoma"):
        return _outbox(req, scenario, host, unquote(match.group(1)))
    return None
