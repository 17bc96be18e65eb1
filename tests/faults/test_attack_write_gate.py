"""Attacks on the bot's own edits through a hostile fediverse server (issue 12, findings 1, 2).

A small hostile server on loopback plays three fediverse hosts (``old.example``,
``new.example``, ``new-example.com``) through the bot's endpoint overrides.  The page lists
four accounts on ``old.example``:

* ``x``: moved; the ``moved`` account's ``acct`` holds wikitext,
  ``x@{{Attack template}}{{subst:Attack subst}}~~~~__NOTOC__@new.example``.  Everything
  before the last ``@`` is user info in a URL, so the successor lookup really goes to
  ``new.example``, which answers with a live ``x``.
* ``y``: moved to ``y@new.example``, which reports its own ``url`` on a private address.
* ``z``: moved to ``z@new.example``, which reports its own ``url`` on a look-alike host.
* ``t``, written as a text handle: moved to ``t__notoc__x@new.example``, a valid Mastodon
  name that is also a behaviour switch in wikitext; only the proof before saving stops it.
* ``gone``: deleted (404, and WebFinger 404), listed under a heading and a label that hold
  bidi controls (U+202E, U+2066), which reversed the bot's own text in the talk notice.

The checks alone (no wiki) must offer only successors the bot built itself.  Then
``wmsocial-bot run`` runs once in a subprocess against the fault suite's real MediaWiki, which
is the judge: its parse of the page, talk page and status page must show no template,
category, page property (``__NOTOC__``) or link other than the intended targets, and no
revision may hold the hostile text.  On the code before the write gate the page got
``{{Attack template}}`` (and its category), ``__NOTOC__``, the bot's expanded signature, and
links to ``10.0.0.1`` and ``new-example.com``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from faults.support import Figures, SuiteConfig, run_cli, write_config

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Status
from wmsocial_bot.net import Net
from wmsocial_testkit.testwiki import ApiSession, LocalWiki

pytestmark = [pytest.mark.faults]

HOSTILE_ACCT = "x@{{Attack template}}{{subst:Attack subst}}~~~~__NOTOC__@new.example"
PAGE = """== Fediverse \u202e ==
* [https://old.example/@x @x@old.example]
* [https://old.example/@y @y@old.example]
* [https://old.example/@z @z@old.example]
* [https://old.example/@gone Our \u202eaccount\u2066 here]
Also on the fediverse: @t@old.example.
"""
HOSTS = ("old.example", "new.example", "new-example.com")


def _account(user: str, host: str, *, url: str | None = None, **extra: Any) -> dict[str, Any]:
    """A Mastodon API account as a (hostile) server may shape it."""
    return {
        "id": str(abs(hash((user, host))) % 10**12),
        "username": user,
        "acct": user,
        "display_name": user,
        "url": url or f"https://{host}/@{user}",
        "created_at": "2020-01-01T00:00:00.000Z",
        "last_status_at": "2026-11-20",
        "statuses_count": 42,
        "followers_count": 1,
        "following_count": 1,
        "fields": [],
        "emojis": [],
        **extra,
    }


# What each host says about each user name it is asked for.
ANSWERS: dict[tuple[str, str], dict[str, Any]] = {
    ("old.example", "x"): _account(
        "x", "old.example", moved=_account("x", "new.example", acct=HOSTILE_ACCT)
    ),
    ("old.example", "y"): _account(
        "y", "old.example", moved=_account("y", "new.example", acct="y@new.example")
    ),
    ("old.example", "z"): _account(
        "z", "old.example", moved=_account("z", "new.example", acct="z@new.example")
    ),
    ("old.example", "t"): _account(
        "t",
        "old.example",
        moved=_account("t__notoc__x", "new.example", acct="t__notoc__x@new.example"),
    ),
    ("new.example", "x"): _account("x", "new.example"),
    ("new.example", "t__notoc__x"): _account("t__notoc__x", "new.example"),
    ("new.example", "y"): _account("y", "new.example", url="https://10.0.0.1/@y"),
    ("new.example", "z"): _account("z", "new.example", url="https://new-example.com/@z"),
}


class HostileFediverse:
    """Three fediverse hosts on one loopback port: ``/<host>/api/v1/accounts/lookup?acct=``."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                parts = urlsplit(self.path)
                host, _, path = parts.path.lstrip("/").partition("/")
                acct = parse_qs(parts.query).get("acct", [""])[0]
                answer = ANSWERS.get((host, acct)) if path == "api/v1/accounts/lookup" else None
                body = json.dumps(answer or {"error": "Record not found"}).encode()
                self.send_response(200 if answer else 404)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def overrides(self) -> dict[str, str]:
        port = self.server.server_address[1]
        return {host: f"http://127.0.0.1:{port}/{host}" for host in HOSTS}

    def __enter__(self) -> HostileFediverse:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile() -> Iterator[HostileFediverse]:
    with HostileFediverse() as server:
        yield server


def _parse(human: ApiSession, title: str) -> dict[str, Any]:
    """MediaWiki's own reading of a saved page."""
    data = human.get(
        action="parse",
        page=title,
        prop="templates|categories|links|externallinks|properties|text",
        disablelimitreport=1,
    )
    return dict(data["parse"])


def _history(human: ApiSession, title: str) -> list[tuple[str, str]]:
    data = human.get(
        action="query",
        prop="revisions",
        titles=title,
        rvprop="user|content",
        rvslots="main",
        rvlimit="max",
    )
    revisions = data["query"]["pages"][0].get("revisions", [])
    return [(r["user"], r["slots"]["main"]["content"]) for r in revisions]


def test_the_check_offers_only_successors_it_built(hostile: HostileFediverse) -> None:
    """Without the wiki: what the real Mastodon.py path makes of the hostile answers."""
    net = Net(NetworkConfig(timeout=5.0), hostile.overrides(), contact="test")
    results = {r.account.handle: r for r in check_accounts(extract_accounts(PAGE).accounts, net)}
    x, y, z = (results[f"{user}@old.example"] for user in "xyz")
    assert x.status == Status.MOVED and (x.new_url, x.new_handle) == (None, None), x
    assert "not a fediverse handle" in x.detail
    assert (y.new_handle, y.new_url) == ("y@new.example", "https://new.example/@y"), y
    assert (z.new_handle, z.new_url) == ("z@new.example", "https://new.example/@z"), z


@pytest.mark.wiki
def test_a_hostile_successor_cannot_inject_markup_or_swap_links(
    fault_wiki: LocalWiki,
    human: ApiSession,
    writes_on: str,
    title: str,
    tmp_path: Path,
    hostile: HostileFediverse,
    figures: Figures,
) -> None:
    bot = fault_wiki.bot.name
    talk, status = f"Talk:{title}", f"{title}/Status"
    human.edit("Template:Attack template", "ATTACKED[[Category:Attacked by a server]]")
    human.edit("Template:Attack subst", "SUBSTITUTED")
    human.edit(title, PAGE)
    config = write_config(
        tmp_path / "config.toml",
        SuiteConfig(
            pages=[title],
            state=tmp_path / "state.sqlite3",
            endpoints=hostile.overrides(),
            status_page=status,
        ),
    )

    done = run_cli(fault_wiki.pywikibot_dir, "run", "--config", str(config))
    figures.case("attacks: write gate")
    figures.fault("hostile successor", 3)
    assert done.returncode == 0, done
    assert (
        "fix skipped: @t@old.example -> @t__notoc__x@new.example (moved): the edit would "
        "add markup" in done.stdout
    ), done.stdout
    assert any("lookup?acct=x" in r for r in hostile.requests), hostile.requests

    # The page: the intended links only, the bot's own links built from the handles.
    page = _parse(human, title)
    assert page["templates"] == [], page["templates"]
    assert page["categories"] == [], page["categories"]
    assert not page.get("properties"), page["properties"]  # no __NOTOC__
    assert page["links"] == [], page["links"]  # no signature, no wikilink
    assert set(page["externallinks"]) == {
        "https://old.example/@x",  # the hostile move is reported, not made
        "https://new.example/@y",
        "https://new.example/@z",
        "https://old.example/@gone",
    }, page["externallinks"]
    assert "ATTACKED" not in page["text"] and "SUBSTITUTED" not in page["text"]
    assert "10.0.0.1" not in page["text"] and "new-example.com" not in page["text"]
    text = human.page(title)
    assert text is not None
    fixed = PAGE.replace("old.example/@y @y@old.example", "new.example/@y @y@new.example")
    fixed = fixed.replace("old.example/@z @z@old.example", "new.example/@z @z@new.example")
    assert text[0] == fixed.rstrip("\n")  # byte-minimal: only the two links and labels
    # No revision by the bot ever held the hostile text (subst: and ~~~~ expand on save).
    for user, content in _history(human, title):
        if user == bot:
            for piece in ("{{", "~~~", "__NOTOC__", "SUBSTITUTED", f"[[User:{bot}", "10.0.0.1"):
                assert piece not in content, (piece, content)

    # The talk notice and the status page quote the hostile answer as inert text.
    notice = _parse(human, talk)
    assert notice["templates"] == [] and notice["categories"] == [], notice
    assert not notice.get("properties"), notice["properties"]
    assert "ATTACKED" not in notice["text"] and "SUBSTITUTED" not in notice["text"]
    talk_text = (human.page(talk) or ("", 0))[0]
    assert "moved:mastodon:x@old.example" in talk_text
    assert "deleted:mastodon:gone@old.example" in talk_text
    assert "\u202e" in text[0]  # MediaWiki kept it on the page ...
    for shown in (talk_text, (human.page(status) or ("", 0))[0], notice["text"]):
        assert not {c for c in shown if c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067"}
    dashboard = _parse(human, status)
    assert dashboard["templates"] == [] and dashboard["categories"] == [], dashboard
    assert not dashboard.get("properties"), dashboard["properties"]
    assert not {u for u in dashboard["externallinks"] if "10.0.0.1" in u or "new-example" in u}
