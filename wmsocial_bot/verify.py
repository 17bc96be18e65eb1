"""Verification help: read the pages that unverified Mastodon profile fields link to, bounded.

Pure parts (:func:`pages_wanted`, :func:`field_checks`) decide which pages to read and explain
each field with :mod:`wmsocial_bot.relme`; :func:`fetch_pages` is the thin adapter that reads
them through :class:`~wmsocial_bot.net.Net` (private-address guard, size cap, deadlines), as
Mastodon's ``VerifyLinkService`` does: ``GET`` with ``Accept: text/html``.

Bounds: only fields that are not verified and hold a URL Mastodon would try; at most
:data:`PAGES_PER_ACCOUNT` pages per account per run; a page read less than ``verify_days``
ago is taken from the state store, not read again.  An account without such a field costs
no request at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from wmsocial_bot.errors import NetworkPolicyError, TransportError
from wmsocial_bot.identify import mastodon
from wmsocial_bot.model import Account, CheckResult, FieldCheck, RelMePage, Status
from wmsocial_bot.net import Net, transport_errors
from wmsocial_bot.relme import FieldLink, explain_seen, field_url, rel_me_links, url_problem

PAGES_PER_ACCOUNT = 3
MAX_REL_ME = 20
MAX_HREF = 2_000
# A field worth explaining: a link, or text that looks like an address ("example.org/x").
_LOOKS_LIKE_ADDRESS = re.compile(r"(?:https?://|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b)", re.I)
Fetcher = Callable[[Sequence[str], datetime], list[RelMePage]]


def _explained_fields(result: CheckResult) -> list[FieldLink]:
    """The fields of an ok Mastodon account worth a verdict: verified ones and address-like."""
    profile = result.profile
    if (
        result.account.platform != mastodon.NAME
        or result.status != Status.OK
        or result.account.duplicate_of is not None
        or profile is None
        or profile.url is None
    ):
        return []
    return [f for f in profile.fields if f.verified or _LOOKS_LIKE_ADDRESS.search(f.value_html)]


def _target(field: FieldLink) -> str | None:
    """The URL Mastodon would fetch for an unverified field, or None (nothing to read)."""
    if field.verified:
        return None
    url, _why = field_url(field.value_html)
    return url if url is not None and url_problem(url) is None else None


def pages_wanted(
    results: Sequence[CheckResult],
    cached: Mapping[str, RelMePage],
    now: datetime,
    verify_days: int,
) -> list[str]:
    """The pages to read in this run: unverified fields' URLs not read within ``verify_days``."""
    fresh_after = now - timedelta(days=verify_days)
    wanted: list[str] = []
    for result in results:
        taken = 0
        for field in _explained_fields(result):
            url = _target(field)
            if url is None or url in wanted:
                continue
            page = cached.get(url)
            if page is not None and page.fetched_at > fresh_after:
                continue
            if taken == PAGES_PER_ACCOUNT:
                break
            wanted.append(url)
            taken += 1
    return wanted


def field_checks(
    results: Sequence[CheckResult],
    pages: Mapping[str, RelMePage],
    owner_of: Callable[[Account], str | None],
) -> list[FieldCheck]:
    """Every explained field of every ok Mastodon account, with its verdict, in page order."""
    checks: list[FieldCheck] = []
    for result in results:
        account = result.account
        profile = result.profile
        for field in _explained_fields(result):
            assert profile is not None and profile.url is not None
            url = _target(field)
            page = pages.get(url) if url is not None else None
            seen = None if page is None or page.status is None else (page.status, page.rel_me)
            verdict = explain_seen(field, profile.url, seen)
            if page is not None and page.status is None and page.problem:
                verdict = replace(
                    verdict,
                    message=f"{url} could not be read ({page.problem}), so the bot cannot tell",
                )
            checks.append(
                FieldCheck(
                    account.key,
                    account.platform,
                    account.handle,
                    account.url,
                    owner_of(account),
                    verdict,
                )
            )
    return checks


def read_page(get: Callable[[str], tuple[int, str]], url: str, now: datetime) -> RelMePage:
    """One page as :class:`RelMePage`: its status and rel=me hrefs (``get`` may raise)."""
    status, html = get(url)
    links = tuple(
        (href or "").replace("\n", "").replace("\r", "")[:MAX_HREF]
        for href in rel_me_links(html)[:MAX_REL_ME]
    )
    return RelMePage(url, now, status, links if status == 200 else ())


def fetch_pages(net: Net, urls: Sequence[str], now: datetime) -> list[RelMePage]:
    """Read ``urls`` through the network policy; a page that cannot be read says why."""

    def get(url: str) -> tuple[int, str]:
        with transport_errors(urlsplit(url).hostname or ""):
            response = net.get(url, headers={"Accept": "text/html"})
            return response.status_code, response.text

    pages = []
    for url in urls:
        try:
            pages.append(read_page(get, url, now))
        except NetworkPolicyError as exc:
            pages.append(RelMePage(url, now, None, problem=f"refused: {str(exc)[:160]}"))
        except TransportError as exc:  # timeout, too large, unreachable: no verdict
            pages.append(RelMePage(url, now, None, problem=f"{type(exc).__name__}: {exc}"[:160]))
    return pages
