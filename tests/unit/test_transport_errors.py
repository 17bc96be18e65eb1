"""Errors translated at the boundary (issue 14, step 4), without network.

``net`` maps what requests, httpx, httpcore and Mastodon.py raise to one family under the
bot's root exception; checkers see only that family, and anything else they raise is a bug,
which ``checks`` reports as "internal error: <type>" (``unverifiable``, logged with its
traceback), never ``unreachable`` and never a verdict.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import requests
from atproto_client.exceptions import NetworkError
from mastodon.errors import MastodonNetworkError, MastodonRatelimitError

from wmsocial_bot import checks
from wmsocial_bot.checkers import CHECKERS
from wmsocial_bot.checkers.common import CheckContext, FunctionChecker
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.errors import (
    ConnectionFailed,
    NetworkPolicyError,
    RedirectLoop,
    Throttled,
    Timeout,
    TooLarge,
    TransportError,
    Unreachable,
    WmsocialError,
)
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Account, CheckResult, Status
from wmsocial_bot.net import (
    Net,
    RateLimited,
    ResponseTooLarge,
    as_transport_error,
    transport_errors,
)

NOW = datetime(2026, 11, 30, tzinfo=UTC)
CHECKERS_DIR = Path(__file__).resolve().parents[2] / "wmsocial_bot" / "checkers"


def raised(outer: BaseException, inner: BaseException) -> BaseException:
    """``outer`` as a client raises it while handling ``inner`` (``__context__`` set)."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the clients do exactly this
    except BaseException as exc:
        return exc


# ---- the mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "family", "sentence"),
    [
        (requests.ConnectionError("[Errno 111]"), ConnectionFailed, "could not be reached"),
        (requests.ReadTimeout("read timed out"), Timeout, "h.example timed out"),
        (requests.ConnectTimeout("connect timed out"), Timeout, "h.example timed out"),
        (httpx.ConnectTimeout("connect timed out"), Timeout, "h.example timed out"),
        (httpx.ConnectError("refused"), ConnectionFailed, "the connection failed"),
        (requests.TooManyRedirects("30 hops"), RedirectLoop, "redirects in a loop"),
        (httpx.TooManyRedirects("30 hops"), RedirectLoop, "redirects in a loop"),
        (MastodonRatelimitError("Hit rate limit."), Throttled, "HTTP 429"),
        (requests.exceptions.ChunkedEncodingError("cut"), Unreachable, "ChunkedEncodingError"),
    ],
)
def test_client_failures_map_to_the_family(
    failure: BaseException, family: type[TransportError], sentence: str
) -> None:
    found = as_transport_error(failure, "h.example")
    assert isinstance(found, family) and isinstance(found, WmsocialError)
    assert sentence in str(found)


def test_the_policys_own_failures_are_in_the_family_and_stay_client_exceptions() -> None:
    """Raised inside requests' adapter and the httpx transport, they must stay what those
    clients handle; checkers see them as members of the family."""
    too_large = ResponseTooLarge("response exceeds the 10-byte cap")
    assert isinstance(too_large, TooLarge) and isinstance(too_large, requests.RequestException)
    assert as_transport_error(too_large, "h.example") is too_large
    waiting = RateLimited("h.example asks us to wait 99 s (rate limit)")
    assert isinstance(waiting, Throttled) and as_transport_error(waiting, "h") is waiting


def test_wrapped_failures_are_found_through_the_chain() -> None:
    """Mastodon.py wraps the transport's failure in MastodonNetworkError (``__context__``),
    atproto in NetworkError (``from``); the refusal wins wherever it is."""
    cap = ResponseTooLarge("response exceeds the 10-byte cap")
    assert as_transport_error(raised(MastodonNetworkError("Could not complete"), cap), "h") is cap
    timeout = raised(MastodonNetworkError("Could not complete"), requests.ReadTimeout("slow"))
    assert isinstance(as_transport_error(timeout, "h"), Timeout)
    atproto = NetworkError()
    atproto.__cause__ = httpx.ConnectError("refused")
    assert isinstance(as_transport_error(atproto, "h"), ConnectionFailed)
    refusal = NetworkPolicyError("refused to connect to h: loopback address")
    deep = raised(MastodonNetworkError("x"), raised(requests.ConnectionError("y"), refusal))
    assert as_transport_error(deep, "h") is refusal


def test_transport_errors_lets_a_bug_through() -> None:
    with pytest.raises(ConnectionFailed), transport_errors("h.example"):
        raise requests.ConnectionError("refused")
    with pytest.raises(KeyError), transport_errors("h.example"):
        raise KeyError("profiles")  # a bug is no transport failure


# ---- a bug is reported as a bug ----------------------------------------------------------------


def _accounts(link: str) -> list[Account]:
    return list(extract_accounts(f"* {link}\n").accounts)


def _broken_per_account(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    return ctx.check_each(lambda account: {}[account.handle], accounts)


def _broken_checker(accounts: Sequence[Account], ctx: CheckContext) -> list[CheckResult]:
    raise KeyError("a bug before any account")


@pytest.mark.parametrize("broken", [_broken_per_account, _broken_checker])
def test_a_checker_bug_is_reported_as_an_internal_error(
    broken: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(CHECKERS, "tiktok", FunctionChecker("tiktok", broken))  # type: ignore[dict-item,arg-type]
    with caplog.at_level(logging.ERROR):
        [found] = checks.check_accounts(
            _accounts("https://www.tiktok.com/@someone"), Net(NetworkConfig()), now=NOW
        )
    assert found.status == Status.UNVERIFIABLE, found
    assert found.detail.startswith("internal error: KeyError in the tiktok check"), found.detail
    assert not found.status.reported  # never on a talk page
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


class _BuggyTransport(httpx.BaseTransport):
    """An httpx transport with a bug: what atproto's client then raises is no transport failure."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise KeyError("a bug in the transport")


class _BuggyNet(Net):
    def httpx_transport(self) -> httpx.BaseTransport:
        return _BuggyTransport()


def test_a_bug_under_the_bluesky_checker_is_no_unreachable_verdict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before: the Bluesky checker caught every exception and called the account unreachable."""
    with caplog.at_level(logging.ERROR):
        [found] = checks.check_accounts(
            _accounts("https://bsky.app/profile/alice.bsky.social"),
            _BuggyNet(NetworkConfig()),
            now=NOW,
        )
    assert found.status == Status.UNVERIFIABLE, found
    assert "internal error: KeyError" in found.detail, found.detail


# ---- checkers see only the family ------------------------------------------------------------


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.name, ast.parse(p.read_text(encoding="utf-8"))) for p in CHECKERS_DIR.glob("*.py")]


def test_no_checker_imports_requests_or_httpx() -> None:
    clients = {"requests", "httpx", "httpcore", "urllib3"}
    found = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(name, a.name) for a in node.names if a.name.split(".")[0] in clients]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in clients:
                found.append((name, node.module))
    assert found == []


def test_no_checker_catches_every_exception() -> None:
    """Only checks.py turns an unexpected error into a reported bug."""
    broad = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler):
                caught = ast.unparse(node.type) if node.type is not None else "everything"
                if caught in ("everything", "Exception", "BaseException"):
                    broad.append((name, node.lineno, caught))
    assert broad == []
