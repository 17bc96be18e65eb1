"""Byte-minimal page fixes: point the links of a moved or renamed account at its successor.

Pure: a function of the page text and the fixes.  The accounts are read again from the text
itself, so that after an edit conflict the same fixes can be applied to the newer revision.
Only the characters of a link (the URL or the text handle as written) and, where the label
shows the old handle, those characters of the label change; everything else on the page stays
byte-identical, comments and ``<nowiki>`` included.

Rules (tested in ``tests/unit/test_fix.py``):

* Every place that lists the old account changes, duplicates too; a fix is all or nothing.
* The written form is kept: a URL becomes ``fix.new_url`` (schemeless stays schemeless,
  protocol-relative stays protocol-relative); a Bluesky profile URL or ``at://`` URI keeps
  everything but the handle; a text handle ``@user@host`` (or ``acct:user@host``) becomes
  ``@newuser@newhost``; a Bluesky handle written as text whose context gives its platform
  (``Bluesky: name.bsky.social``, a Bluesky column, ``at://name``) becomes the new handle,
  with or without its ``@`` as written.
* A label changes only where it shows the old handle: ``@user@host``, ``user@host``,
  ``@user``, ``@handle.bsky.social``, ``handle.bsky.social``, the bare name when it is the
  whole label, or the account's URL when it is the whole label.  "Our Mastodon" stays.
  Translation markup and comments inside a label are left alone.
* Case: a name that only changes host keeps its written case; a name written in lowercase
  stays lowercase; otherwise the successor's own spelling (from its URL) is used.
* A fix is skipped, with the reason, when the account is no longer listed, when its successor
  is already listed on the page (the page may record the move on purpose, and a duplicate
  is for a human to sort out; unless the bot's own earlier fix put it there and the old link
  was added again elsewhere), when the successor or its link fails the write gate
  (:func:`wmsocial_bot.gate.verified_successor`), when the edit would change what else the
  page lists, or when it would add markup (:func:`wmsocial_bot.gate.prove_only_links_changed`).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from wmsocial_bot import gate
from wmsocial_bot.errors import WriteRefused
from wmsocial_bot.extract import extract_accounts, hidden_ranges
from wmsocial_bot.identify import BY_NAME, HandleForm, Platform, identify_url
from wmsocial_bot.model import Account, Fix, Span

# A new URL goes into wikitext verbatim: anything that could end the link, start markup or be
# rewritten on save (signatures, magic words) is refused rather than escaped.
_SAFE_URL = re.compile(r"(?:https?:)?//[A-Za-z0-9\-._~:/?#@!$&*+,;=%()]+")
_MAGIC = re.compile(r"~~|__[A-Za-z]+__")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_TEXT_HANDLE = re.compile(r"(?P<prefix>@|acct:)(?P<user>[^@]+)@(?P<host>.+)", re.IGNORECASE)
# Token edges, as for text handles: not inside a word, an e-mail address, a URL or a domain.
_BEFORE = r"(?<![\w@/.:\-])"
_AFTER = r"(?![@\w\-]|\.[A-Za-z0-9])"


@dataclass(frozen=True)
class AppliedFix:
    """A fix that was made, and the places it changed (offsets in the original text)."""

    fix: Fix
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class FixResult:
    """The new page text, what changed, and what was left alone and why."""

    text: str
    applied: tuple[AppliedFix, ...]
    skipped: tuple[tuple[Fix, str], ...]

    @property
    def summary(self) -> str:
        """The edit summary: one ``old -> new (reason)`` per applied fix."""
        return "; ".join(a.fix.summary for a in self.applied)

    @property
    def changed(self) -> bool:
        return bool(self.applied)


class _Refused(Exception):
    """A fix that cannot be made safely; the message is the reason given to the caller."""


@dataclass(frozen=True)
class _Plan:
    """The edits one fix makes, and the key each changed place will have afterwards."""

    fix: Fix
    edits: tuple[tuple[Span, str], ...]
    new_keys: dict[Span, str]  # account span -> its key after the fix


def apply_fixes(text: str, fixes: Sequence[Fix]) -> FixResult:
    """Apply ``fixes`` to ``text``, changing only the targeted link and label characters.

    The result is checked before it is returned: read again, every account is still listed, in
    the same order, and only the fixed places name another account; and the new text differs
    from the old only in link targets and labels, with no markup added (the write gate's
    proof).  Should that ever fail, each fix is tried on its own and the ones that fail are
    skipped with the reason, so that one odd link cannot block the rest.
    """
    accounts = extract_accounts(text).accounts
    plans, skipped = _plan_all(text, accounts, fixes)
    new_text = _edit(text, [e for plan in plans for e in plan.edits])
    if plans and _problem(accounts, text, new_text, plans) is not None:
        plans, skipped = _one_by_one(text, accounts, fixes)
        new_text = _edit(text, [e for plan in plans for e in plan.edits])
        together = _problem(accounts, text, new_text, plans) if plans else None
        if together is not None:  # each fix alone passes, together they do not: none
            skipped += [(plan.fix, together) for plan in plans]
            plans, new_text = [], text
    order = {id(fix): i for i, fix in enumerate(fixes)}
    applied = tuple(
        AppliedFix(plan.fix, tuple(sorted(span for span, _ in plan.edits))) for plan in plans
    )
    skipped.sort(key=lambda item: order[id(item[0])])
    return FixResult(new_text, applied, tuple(skipped))


def _one_by_one(
    text: str, accounts: Sequence[Account], fixes: Sequence[Fix]
) -> tuple[list[_Plan], list[tuple[Fix, str]]]:
    """Slow path: keep only the fixes whose edit, made alone, verifies."""
    plans, skipped = _plan_all(text, accounts, fixes)
    kept = []
    for plan in plans:
        problem = _problem(accounts, text, _edit(text, list(plan.edits)), [plan])
        if problem is None:
            kept.append(plan)
        else:
            skipped.append((plan.fix, problem))
    return kept, skipped


def _plan_all(
    text: str, accounts: Sequence[Account], fixes: Sequence[Fix]
) -> tuple[list[_Plan], list[tuple[Fix, str]]]:
    by_key: dict[str, list[Account]] = {}
    for account in accounts:
        by_key.setdefault(account.key, []).append(account)
    hidden = hidden_ranges(text)
    link_spans = [a.span for a in accounts]
    taken: list[Span] = []  # edits accepted so far, to refuse overlaps
    claimed: dict[str, str] = {}  # new key -> old key of the fix that introduces it
    plans: list[_Plan] = []
    skipped: list[tuple[Fix, str]] = []
    done: set[str] = set()
    for fix in fixes:
        try:
            if fix.old_key in done:
                raise _Refused("the same account is fixed once per edit")
            places = by_key.get(fix.old_key)
            if not places:
                raise _Refused("no longer listed")
            plan = _plan(text, fix, places, hidden, link_spans)
            targets = {f"{fix.platform}:{fix.new_handle}", *plan.new_keys.values()}
            targets.discard(fix.old_key)  # a DID link keeps its key: only its label changes
            for target in sorted(targets):
                if target in by_key and not fix.successor_listed_by_bot:
                    line = by_key[target][0].line
                    raise _Refused(
                        f"the new account is already listed (line {line}); a duplicate is "
                        "left to a human"
                    )
                if target in claimed:
                    raise _Refused(f"another fix already points {claimed[target]} at it")
            spans = [span for span, _ in plan.edits]
            if any(_overlaps(span, other) for span in spans for other in taken):
                raise _Refused("overlaps another fix")
        except _Refused as refusal:
            skipped.append((fix, str(refusal)))
            continue
        done.add(fix.old_key)
        taken.extend(spans)
        claimed.update(dict.fromkeys(targets, fix.old_key))
        plans.append(plan)
    return plans, skipped


def _plan(
    text: str, fix: Fix, places: Sequence[Account], hidden: list[Span], link_spans: list[Span]
) -> _Plan:
    """Every edit of one fix, or :class:`_Refused`."""
    try:
        gate.verified_successor(fix.platform, fix.new_handle, fix.new_url)
    except WriteRefused as refusal:
        raise _Refused(str(refusal)) from None
    edits: list[tuple[Span, str]] = []
    new_keys: dict[Span, str] = {}
    for account in places:
        written = text[account.span.start : account.span.end]
        if _did_link(account, fix):
            # The link names the DID and stays; only a label showing the old handle changes.
            new_keys[account.span] = fix.old_key
            shown = _record(fix).label_handle(account.label)
            if account.label_span is not None and shown not in (None, fix.new_handle):
                shown_fix = dataclasses.replace(fix, old_handle=str(shown))
                edits.extend(_label_edits(text, account, shown_fix, hidden, link_spans))
            continue
        if account.url is None and account.source == "context":
            new, key = _new_context_handle(written, fix)
        elif account.url is None:
            new, key = _new_text_handle(written, fix)
        else:
            new, key = _new_link(written, fix, _in_positional_param(text, account))
        if key == fix.old_key:
            raise _Refused(f"the new link still names {fix.old_key}")
        new_keys[account.span] = key
        if new != written:
            edits.append((account.span, new))
        if account.label_span is not None:
            edits.extend(_label_edits(text, account, fix, hidden, link_spans))
    if not edits:
        raise _Refused("nothing to change")
    ordered = sorted(span for span, _ in edits)
    if any(a.end > b.start for a, b in itertools.pairwise(ordered)):
        raise _Refused("two places of the account overlap")
    return _Plan(fix, tuple(edits), new_keys)


def _record(fix: Fix) -> Platform:
    """The platform record of ``fix``; a name the registry does not know is a plain one."""
    return BY_NAME.get(fix.platform) or Platform(
        fix.platform, fix.platform, frozenset(), lambda _parts: None
    )


def _did_link(account: Account, fix: Fix) -> bool:
    """A link by a stable id (``bsky.app/profile/did:plc:...``): a rename does not break it."""
    return account.url is not None and _record(fix).is_stable_id(account.handle)


# ----------------------------------------------------------------------------- links


def _new_link(written: str, fix: Fix, positional: bool) -> tuple[str, str]:
    """The successor's link in the written link's form, and the account key it names."""
    new = _successor_url(written, fix)
    if not _SAFE_URL.fullmatch(_absolute(new)):
        raise _Refused(f"the new link {new!r} is not a plain profile URL")
    if _MAGIC.search(new):
        raise _Refused(f"the new link {new!r} holds wiki markup (~~ or a magic word)")
    if positional and "=" in new:
        raise _Refused(f"the new link {new!r} has '=', which would break its template")
    if new.endswith((".", ",", ";", ":", "!", "?", ")")):
        raise _Refused(f"the new link {new!r} ends in punctuation a wiki would leave out")
    found = identify_url(_absolute(new))
    if found is None or found.platform != fix.platform:
        raise _Refused(f"the new link {new!r} is not a {fix.platform} profile")
    if found.handle != fix.new_handle and not _same_user(fix, found.handle):
        raise _Refused(f"the new link {new!r} names {found.handle}, not {fix.new_handle}")
    return new, f"{found.platform}:{found.handle}"


def _absolute(url: str) -> str:
    """``url`` with a scheme: protocol-relative and schemeless links are read as https."""
    if url.startswith("//"):
        return "https:" + url
    return url if _SCHEME.match(url) else "https://" + url


def _same_user(fix: Fix, handle: str) -> bool:
    """A fediverse handle on its own domain (user@example.org) shown by its web host, which
    the write gate allows only on a subdomain of that domain (social.example.org)."""
    user, _, host = handle.partition("@")
    new_user, _, new_host = fix.new_handle.partition("@")
    return (
        _record(fix).handle_form is HandleForm.FEDIVERSE
        and user == new_user
        and host.endswith("." + new_host)
    )


def _successor_url(written: str, fix: Fix) -> str:
    relink = _record(fix).relink
    in_place = relink(written, fix.new_handle) if relink is not None else None
    if in_place is not None:
        return in_place
    new = fix.new_url.strip()
    if not new:
        raise _Refused("the fix has no new URL")
    rest = new.split("//", 1)[1] if "//" in new else new
    if written.startswith("//"):
        return "//" + rest
    if not _SCHEME.match(written):
        return rest  # {{URL|wikis.world/@x}}: the template adds the scheme
    return new


def _in_positional_param(text: str, account: Account) -> bool:
    """True for ``{{URL|link}}``, where an ``=`` in the link would make it a named parameter."""
    if account.source != "template":
        return False
    bar = text.rfind("|", 0, account.span.start)
    return bar >= 0 and "=" not in text[bar + 1 : account.span.start]


def _new_context_handle(written: str, fix: Fix) -> tuple[str, str]:
    """A domain handle whose platform its context gives (``Bluesky: name.bsky.social``, a
    Bluesky column, ``at://name``): the new handle, written the same way."""
    record = _record(fix)
    if (
        record.handle_form is not HandleForm.DOMAIN
        or record.is_stable_id(fix.new_handle)
        or record.relink is None
        or record.read_text is None
    ):
        raise _Refused(f"cannot rewrite the {fix.platform} handle {written!r} written as text")
    relinked = record.relink(written, fix.new_handle) if written.startswith("at://") else None
    new = relinked or ("@" if written.startswith("@") else "") + fix.new_handle
    found = record.read_text(new)
    if found != fix.new_handle:
        raise _Refused(f"the new handle {new!r} does not name {fix.new_handle}")
    return new, f"{record.name}:{found}"


def _new_text_handle(written: str, fix: Fix) -> tuple[str, str]:
    """``@user@host`` -> ``@newuser@newhost``, keeping ``acct:`` and the case style."""
    match = _TEXT_HANDLE.fullmatch(written)
    record = _record(fix)
    if (
        record.handle_form is not HandleForm.FEDIVERSE
        or record.read_text is None
        or match is None
        or "@" not in fix.new_handle
    ):
        raise _Refused(f"cannot rewrite the text handle {written!r}")
    new = match["prefix"] + _fediverse_shown(fix, match["user"], match["host"])
    found = record.read_text(new)
    if found is None:
        raise _Refused(f"the new handle {new!r} is not a fediverse handle")
    key = f"{record.name}:{found}"
    if key != f"{fix.platform}:{fix.new_handle}":
        raise _Refused(f"the new handle {new!r} does not name {fix.new_handle}")
    return new, key


# ----------------------------------------------------------------------------- case


def _styled(written: str, new: str) -> str:
    """The new name in the written name's case style (see the module docstring)."""
    if written.lower() == new.lower():
        return written
    if written == written.lower():
        return new.lower()
    return new


def _spelled(fix: Fix, name: str) -> str:
    """``name`` as the successor's own URL spells it (Mastodon keeps a username's case)."""
    found = re.search(r"(?<=[/@])" + re.escape(name) + r"(?=$|[/?#@])", fix.new_url, re.IGNORECASE)
    return found.group(0) if found else name


def _fediverse_shown(fix: Fix, written_user: str, written_host: str) -> str:
    user, _, host = fix.new_handle.partition("@")
    shown_user = _styled(written_user, _spelled(fix, user))
    shown_host = written_host if written_host.lower() == host else host
    return f"{shown_user}@{shown_host}"


def _shown_name(fix: Fix, written: str) -> str:
    """The new handle (without a leading ``@``) for a label that showed ``written``."""
    if _record(fix).handle_form is HandleForm.DOMAIN:
        return fix.new_handle
    handle = fix.new_handle.removeprefix("@")
    name = handle.rsplit("/", 1)[-1]
    return _styled(written, handle[: len(handle) - len(name)] + _spelled(fix, name))


# ----------------------------------------------------------------------------- labels


def _label_edits(
    text: str, account: Account, fix: Fix, hidden: list[Span], link_spans: list[Span]
) -> list[tuple[Span, str]]:
    """Where the label shows the old handle, the successor's; other label text stays."""
    assert account.label_span is not None
    start = account.label_span.start
    label = text[start : account.label_span.end]
    stripped = label.strip()
    if not stripped:
        return []
    lead = start + label.index(stripped)
    whole = Span(lead, lead + len(stripped))
    shown_url = _label_url(stripped, fix)
    if shown_url is not None:
        if shown_url == stripped or any(_overlaps(whole, other) for other in link_spans):
            return []
        return [(whole, shown_url)]
    edits = []
    for match in _label_pattern(fix).finditer(label):
        span = Span(start + match.start(), start + match.end())
        if any(_overlaps(span, other) for other in hidden) or any(
            _overlaps(span, other) for other in link_spans
        ):
            continue  # a comment, <nowiki> or another link inside the label
        if match.groupdict().get("bare") is not None and span != whole:
            continue  # a bare name counts only as the whole label
        new = _label_replacement(match, fix)
        if new != match.group(0):
            edits.append((span, new))
    return edits


def _label_url(label: str, fix: Fix) -> str | None:
    """The new URL when the whole label is the account's own URL, in the label's form."""
    if " " in label or "/" not in label:
        return None
    found = identify_url(_absolute(label))
    if found is None or f"{found.platform}:{found.handle}" != fix.old_key:
        return None
    try:
        return _new_link(label, fix, positional=False)[0]
    except _Refused:
        return None


def _label_pattern(fix: Fix) -> re.Pattern[str]:
    """Forms of the old handle a label may show, as one pattern with named groups.

    ``at`` is the written ``@`` (or ``acct:``); ``user``/``host`` a full fediverse handle;
    ``short`` a fediverse ``@user``; ``name`` any other handle written with ``@`` or dots;
    ``bare`` a bare name, which counts only when it is the whole label.
    """
    old = fix.old_handle
    form = _record(fix).handle_form
    if form is HandleForm.FEDIVERSE and "@" in old:
        user, _, host = (re.escape(part) for part in old.partition("@"))
        body = (
            rf"(?P<at>@|acct:)?(?P<user>{user})@(?P<host>{host})"
            rf"|@(?P<short>{user})|(?P<bare>{user})"
        )
    elif form is HandleForm.DOMAIN:
        body = rf"(?P<at>@)?(?P<name>{re.escape(old)})"
    elif old.startswith("@"):
        body = rf"(?P<at>@)(?P<name>{re.escape(old[1:])})"
    else:
        body = rf"(?P<at>@)(?P<name>{re.escape(old)})|(?P<bare>{re.escape(old)})"
    return re.compile(rf"{_BEFORE}(?:{body}){_AFTER}", re.IGNORECASE)


def _label_replacement(match: re.Match[str], fix: Fix) -> str:
    groups = match.groupdict()
    new_user = fix.new_handle.partition("@")[0]
    if groups.get("user") is not None:
        return (groups["at"] or "") + _fediverse_shown(fix, groups["user"], groups["host"])
    if groups.get("short") is not None:
        return "@" + _styled(groups["short"], _spelled(fix, new_user))
    if groups.get("bare") is not None:
        if _record(fix).handle_form is HandleForm.FEDIVERSE:
            return _styled(groups["bare"], _spelled(fix, new_user))
        return _shown_name(fix, groups["bare"])
    return (groups.get("at") or "") + _shown_name(fix, groups["name"])


# ----------------------------------------------------------------------------- edits


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def _edit(text: str, edits: list[tuple[Span, str]]) -> str:
    """Replace each span, right to left so that earlier offsets stay valid."""
    ordered = sorted(edits, key=lambda edit: edit[0], reverse=True)
    pieces = []
    end = len(text)
    for span, new in ordered:
        assert span.end <= end, f"overlapping edits at {span}"
        pieces += [text[span.end : end], new]
        end = span.start
    pieces.append(text[:end])
    return "".join(reversed(pieces))


def _problem(
    before: Sequence[Account], text: str, new_text: str, plans: Sequence[_Plan]
) -> str | None:
    """Why ``new_text`` must not be saved, or None.

    It must list the same accounts in the same order, but for the fixed places, and differ
    from ``text`` only in link targets and labels (the write gate's proof), every changed
    link naming one of the fixes' successors.
    """
    new_keys: dict[Span, str] = {}
    for plan in plans:
        new_keys.update(plan.new_keys)
    expected = [new_keys.get(a.span, a.key) for a in before]
    if [a.key for a in extract_accounts(new_text).accounts] != expected:
        return "the edit would change what else the page lists"
    intended = {f"{p.fix.platform}:{p.fix.new_handle}" for p in plans}
    intended.update(key for plan in plans for key in plan.new_keys.values())
    return gate.prove_only_links_changed(text, new_text, lambda url: _key_of(url) in intended)


def _key_of(url: str) -> str | None:
    found = identify_url(_absolute(url))
    return f"{found.platform}:{found.handle}" if found else None
