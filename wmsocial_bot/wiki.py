"""The wiki adapter: the only module of the bot that imports Pywikibot.

Everything that leaves this module is plain data (``str``, ``int``, frozen dataclasses) or one
of the bot's own errors (:mod:`wmsocial_bot.errors`), so the rest of the bot never sees a
Pywikibot object and can be tested without one.

Pywikibot is imported lazily, on first use: importing this module costs nothing, and the
environment (``PYWIKIBOT_DIR``, ``PYWIKIBOT_NO_USER_CONFIG``) can still be prepared before
Pywikibot reads its configuration, which it does exactly once, at import time.

Configuration is Pywikibot's own, unchanged: ``-dir:`` or ``PYWIKIBOT_DIR``, ``user-config.py``,
family files, BotPassword or OAuth; the global options ``-simulate``, ``-user:``, ``-family:``,
``-lang:``/``-code:``, ``-site:``, ``-maxlag:``, ``-log`` ... are handled by
``pywikibot.handle_args``.  Without any ``user-config.py`` the adapter still works, anonymously
and read-only, against ``meta:meta``.

Writes are guarded twice before *every* attempt: the run page (``User:<bot>/Run`` unless
configured; only the text ``yes`` allows edits) and the bot-exclusion templates
(``{{bots}}``/``{{nobots}}``).  Either says no -> :class:`~wmsocial_bot.errors.WritesDisabled`.
Edits are sent with the id of the revision they were computed from (``baserevid``), so a
concurrent edit is never overwritten: on an edit conflict the page is read again and the change
is computed again from the new text.  See ``docs/wiki.md``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from wmsocial_bot.errors import ConfigError, WikiError, WikiUnavailable, WritesDisabled

log = logging.getLogger(__name__)

DEFAULT_FAMILY = "meta"
DEFAULT_LANG = "meta"
RUN_PAGE_YES = "yes"
MAX_REDIRECTS = 5
_BLOCK_CODES = frozenset({"blocked", "autoblocked", "blockedtext", "globalblocking-blocked"})


@dataclass(frozen=True)
class PageRevision:
    """One revision of a page as the bot read it.

    ``title`` is the page actually read (after following redirects); ``timestamp`` is ISO 8601
    in UTC (``2024-05-01T12:00:00Z``); later edits are based on ``revid``.
    """

    title: str
    text: str
    revid: int
    timestamp: str


@dataclass(frozen=True)
class SaveOutcome:
    """What a save did.

    ``changed``: the callable produced different text and an edit was made (or, under
    ``-simulate``, would have been).  ``revid``: the new revision, None when nothing was
    written.  ``attempts``: how often the page was read and the change computed;
    ``conflicts``: how many of those attempts ended in an edit conflict.  ``base_revid``: the
    revision the final change was computed from (None for a page that did not exist).
    """

    title: str
    revid: int | None
    attempts: int
    changed: bool
    simulated: bool
    conflicts: int
    base_revid: int | None = None


class SectionMissing(WikiError):
    """The section to edit is not on the page (anymore); the caller may add a new one."""


# ---- secrets in Pywikibot's logs -------------------------------------------------------------

# Pywikibot's debug log (-debug with -log) records every API request's body, the login's
# lgpassword included, and its error log records a failed request's parameters.  Values of
# parameters and headers that carry credentials are replaced before any handler sees them.
_SECRET = re.compile(
    r"(?P<name>\b[\w-]*(?:password|passwd|secret|token|oauth_[a-z_]+)\b)"
    r"(?P<sep>['\"]?\s*(?:=|:)\s*\[?\s*['\"]?)"
    r"(?P<value>[^&'\"\s,\]}]+)",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(
    r"(?P<head>authorization['\"]?\s*[:=]\s*['\"]?)(?:Bearer|Basic|OAuth|Token)\s[^'\n]*", re.I
)
REDACTED = "<redacted>"


def redact_secrets(text: str) -> str:
    """``text`` with the values of credential parameters and headers replaced."""
    text = _SECRET.sub(lambda m: m.group("name") + m.group("sep") + REDACTED, text)
    return _AUTHORIZATION.sub(lambda m: m.group("head") + REDACTED, text)


class _RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is logging's problem, not ours
            return True
        cleaned = redact_secrets(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_REDACT = _RedactSecrets()


def redact_filter() -> logging.Filter:
    """The filter that removes credentials, for the bot's own log handlers too."""
    return _REDACT


def _redact_pywikibot_logs() -> None:
    """Filter Pywikibot's logger and its handlers (the -log file, the terminal)."""
    logger = logging.getLogger("pywiki")
    for item in (logger, *logger.handlers):
        if _REDACT not in item.filters:
            item.addFilter(_REDACT)


# ---- Pywikibot loading ---------------------------------------------------------------------


def _user_config_findable(config_file: str = "user-config.py") -> bool:
    """Whether Pywikibot's own search (config.get_base_dir) will find a user config file."""
    for arg in sys.argv[1:]:
        if arg.startswith("-config:"):
            config_file = arg.removeprefix("-config:")
            if not config_file.endswith(".py"):
                config_file += ".py"
    for arg in sys.argv[1:]:
        if arg.startswith("-dir:"):
            return (Path(arg.removeprefix("-dir:")).expanduser() / config_file).exists()
    candidates = [os.environ.get("PYWIKIBOT_DIR"), ".", os.environ.get("PYWIKIBOT_DIR_PWB")]
    home = Path.home()
    candidates += [str(home / ".pywikibot")]
    if sys.platform == "win32":  # pragma: no cover
        appdata = home / "AppData" / "Roaming"
        candidates += [str(appdata / "Pywikibot"), str(appdata / "pywikibot")]
    return any(c and (Path(c) / config_file).exists() for c in candidates)


def default_pywikibot_dir() -> Path:
    """Where Pywikibot keeps its files for the bot when the operator chose no directory.

    Next to the bot's state (``$XDG_STATE_HOME/wmsocial-bot``, by default
    ``~/.local/state/wmsocial-bot``): Pywikibot's throttle file, login cookies, API cache and
    ``logs/`` (``commands.log``, and ``-log`` files).  See docs/wiki.md.
    """
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "wmsocial-bot" / "pywikibot"


def _pywikibot_dir_to_force() -> Path | None:
    """The directory Pywikibot must be told about, when its own search would miss it.

    ``PYWIKIBOT_DIR`` without a ``user-config.py`` (anonymous use), or no configuration at all
    (then :func:`default_pywikibot_dir`, created).  Otherwise Pywikibot finds its directory
    itself (``-dir:``, ``PYWIKIBOT_DIR``, the current directory or ``~/.pywikibot`` with a
    ``user-config.py``) and None is returned.
    """
    if any(arg.startswith("-dir:") for arg in sys.argv[1:]):
        return None
    chosen = os.environ.get("PYWIKIBOT_DIR")
    if chosen:
        directory = Path(chosen).expanduser().resolve()
        if not directory.is_dir():
            raise ConfigError(f"PYWIKIBOT_DIR={chosen}: no such directory")
        return None if (directory / "user-config.py").exists() else directory
    if _user_config_findable():
        return None
    directory = default_pywikibot_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create Pywikibot's directory {directory} ({exc.strerror or exc}); "
            "set PYWIKIBOT_DIR to a writable directory"
        ) from None
    return directory


def _pywikibot(args: Sequence[str] = ()) -> ModuleType:
    """Import Pywikibot, preparing its environment first if this is the first import.

    ``-dir:X`` among ``args`` (not only in ``sys.argv``) selects the configuration directory,
    as long as Pywikibot has not been imported yet.
    """
    if "pywikibot" not in sys.modules:
        for arg in args:
            if arg.startswith("-dir:"):
                directory = Path(arg.removeprefix("-dir:")).expanduser().resolve()
                if not (directory / "user-config.py").exists():
                    raise ConfigError(f"-dir:{directory}: no user-config.py in that directory")
                os.environ["PYWIKIBOT_DIR"] = str(directory)
        forced = _pywikibot_dir_to_force()
        if not _user_config_findable():
            # Read-only, anonymous use against meta:meta works without any configuration.
            os.environ.setdefault("PYWIKIBOT_NO_USER_CONFIG", "2")
        if forced is None:
            import pywikibot
        else:
            # Pywikibot's config reads "-dir:" from sys.argv once, at import; it is the only
            # way to give it a directory without a user-config.py (it ignores such a
            # PYWIKIBOT_DIR and then writes throttle.ctrl and logs/ into the current one).
            saved = sys.argv
            sys.argv = [saved[0] if saved else "wmsocial-bot", f"-dir:{forced}", *saved[1:]]
            try:
                import pywikibot
            finally:
                sys.argv = saved

        _redact_pywikibot_logs()
        config = pywikibot.config
        if not (Path(config.base_dir) / config.user_config_file).exists():
            config.family, config.mylang = DEFAULT_FAMILY, DEFAULT_LANG
        return pywikibot
    import pywikibot

    for arg in args:
        if arg.startswith("-dir:"):
            wanted = Path(arg.removeprefix("-dir:")).expanduser().resolve()
            if wanted != Path(pywikibot.config.base_dir).resolve():
                raise ConfigError(
                    f"-dir:{wanted} comes too late: Pywikibot was already loaded from "
                    f"{pywikibot.config.base_dir}"
                )
    return pywikibot


def is_integer_setting(name: str) -> bool:
    """Whether ``-name:number`` sets one of Pywikibot's integer settings (handle_args' rule)."""
    config = _pywikibot().config
    return isinstance(getattr(config, name, None), int)


def _exceptions() -> ModuleType:
    from pywikibot import exceptions

    return exceptions


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: causes, contexts, exceptions among its args, ``.reason``."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner += [a for a in current.args if isinstance(a, BaseException)]
        todo += [i for i in inner if isinstance(i, BaseException)]
    return seen


def _why_unreachable(exc: BaseException) -> str:
    """Why a connection to the wiki failed, in a few words (not a 300-character repr)."""
    names = {type(e).__name__: e for e in _causes(exc)}
    if "NameResolutionError" in names or "gaierror" in names:
        host = getattr(names.get("NameResolutionError"), "_host", None)
        where = f"{host} " if host else "the host name "
        return f"{where}does not resolve (no network, or no DNS)"
    if "ConnectionRefusedError" in names:
        return "the connection was refused"
    if "MaxlagTimeoutError" in names:
        return "the wiki is lagged (maxlag) and Pywikibot's retries ran out"
    if "ApiTimeoutError" in names:  # Pywikibot keeps only its own message; it logged each try
        return "no answer; Pywikibot gave up after its retries (max_retries)"
    if any("Timeout" in name for name in names) or "timeout" in names:
        return "the connection timed out"
    if any("SSL" in name for name in names):
        return "the TLS (https) connection failed"
    if "ServerError" in names:
        return f"the server answered with an error ({_one_line(names['ServerError'], 120)})"
    return _one_line(exc, 160)


def _read_failure(exc: BaseException, what: str) -> WikiError:
    """A wiki that is down or unreachable fails the run (exit 1); a refusal is the operator's."""
    exceptions = _exceptions()
    if isinstance(exc, OSError | exceptions.ServerError | exceptions.ApiTimeoutError):
        return WikiUnavailable(f"{what}: {_why_unreachable(exc)}")
    return WikiError(f"{what}: {_one_line(exc)}")


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ---- the adapter ---------------------------------------------------------------------------


class Wiki:
    """One wiki (a Pywikibot site) and the bot account on it, if any."""

    # How many times an edit is tried while others keep editing the page (edit conflicts).
    max_attempts = 3

    def __init__(self, site: Any, *, run_page: str | None = None) -> None:
        self._site = site
        self._run_page = run_page

    @classmethod
    def from_args(
        cls, args: Sequence[str], *, run_page: str | None = None, login: bool = True
    ) -> tuple[Wiki, list[str]]:
        """Apply Pywikibot's global options in ``args``; return the wiki and the other args.

        Logs in when a username is configured for the site (``usernames`` in user-config.py
        or ``-user:``); otherwise the wiki is used anonymously (read-only in practice).
        Call it once per process: Pywikibot's configuration is global.
        """
        args = list(args)
        pywikibot = _pywikibot(args)
        # handle_args() falls back to sys.argv on an empty list; "-dir:<base>" is a no-op.
        given = args or [f"-dir:{pywikibot.config.base_dir}"]
        exceptions = _exceptions()
        config = pywikibot.config
        try:
            # handle_args() also creates the site, which asks the wiki who we are.
            rest = pywikibot.handle_args(given, do_help=False)
            _redact_pywikibot_logs()  # handle_args() set up the handlers (-log, -debug)
            site = pywikibot.Site()
        except SystemExit as exc:  # handle_args() exits on an unknown family or site
            raise ConfigError(
                f"Pywikibot cannot use the site {config.family}:{config.mylang} (see its "
                "message above; check -family:/-lang:/-site:, the family files, and for OAuth "
                "that pywikibot[mwoauth] is installed)"
            ) from exc
        except exceptions.SiteDefinitionError as exc:
            raise ConfigError(f"Pywikibot cannot use the site: {_one_line(exc)}") from exc
        except (exceptions.Error, OSError) as exc:
            raise WikiUnavailable(
                f"cannot reach {config.family}:{config.mylang}: {_why_unreachable(exc)}"
            ) from exc
        rest = [arg for arg in rest if not arg.startswith("-dir:")]
        wiki = cls(site, run_page=run_page)
        if login and site.username():
            wiki.login()
        return wiki, rest

    # ---- identity ----------------------------------------------------------------------
    @property
    def site_name(self) -> str:
        """``family:code``, e.g. ``meta:meta``."""
        return f"{self._site.family.name}:{self._site.code}"

    @property
    def username(self) -> str | None:
        """The account the bot is logged in as (without any ``@app`` suffix), or None."""
        if not self._site.logged_in():
            return None
        user = self._site.user()
        return str(user) if user else None

    @property
    def simulate(self) -> bool:
        """True under ``-simulate``: Pywikibot blocks every write request."""
        from pywikibot import config

        return bool(config.simulate)

    @property
    def run_page(self) -> str | None:
        if self._run_page is not None:
            return self._run_page
        user = self.username
        return f"User:{user}/Run" if user else None

    def with_run_page(self, title: str) -> Wiki:
        """The same wiki and account with another run page."""
        return type(self)(self._site, run_page=title)

    def login(self) -> None:
        """Log in with the configured account (BotPassword or OAuth); WikiError if it fails."""
        exceptions = _exceptions()
        configured = self._site.username()
        try:
            self._site.login()
        except EOFError as exc:
            raise WikiError(
                f"no password for {configured} on {self.site_name}: add it to the "
                "password_file (BotPassword) or configure OAuth in user-config.py"
            ) from exc
        except (exceptions.Error, OSError) as exc:
            raise _read_failure(exc, f"login to {self.site_name} as {configured} failed") from exc
        if not self._site.logged_in():
            raise WikiError(f"login to {self.site_name} as {configured} failed")

    # ---- reading -----------------------------------------------------------------------
    def _page(self, title: str) -> Any:
        pywikibot = _pywikibot()
        exceptions = _exceptions()
        try:
            page = pywikibot.Page(self._site, title)
            namespace = page.namespace()
        except (exceptions.InvalidTitleError, ValueError) as exc:
            raise WikiError(f"invalid page title {title!r}: {_one_line(exc)}") from exc
        if namespace < 0:
            raise WikiError(f"[[{title}]] is a special page, not a page with text")
        return page

    def _load(
        self,
        title: str,
        *,
        follow_redirects: bool = True,
        allow_missing: bool = False,
        models: tuple[str, ...] = ("wikitext",),
    ) -> tuple[Any, PageRevision | None]:
        """A fresh Page object and its latest revision (None if missing and allowed)."""
        exceptions = _exceptions()
        page = self._page(title)
        seen: list[str] = []
        try:
            while True:
                try:
                    page.get(get_redirect=True)
                except exceptions.NoPageError:
                    if allow_missing:
                        return page, None
                    raise WikiError(
                        f"[[{page.title()}]] does not exist on {self.site_name}"
                    ) from None
                if not (follow_redirects and page.isRedirectPage()):
                    break
                seen.append(page.title())
                if len(seen) > MAX_REDIRECTS:
                    raise WikiError(f"too many redirects: {' -> '.join(seen)}")
                try:
                    target = page.getRedirectTarget()
                except exceptions.CircularRedirectError:
                    raise WikiError(f"[[{page.title()}]] is a circular redirect") from None
                except exceptions.InterwikiRedirectPageError:
                    raise WikiError(f"[[{page.title()}]] redirects to another wiki") from None
                page = self._page(target.title())
            revision = page.latest_revision
            model = revision.get("contentmodel") or page.content_model
        except WikiError:
            raise
        except (exceptions.Error, OSError) as exc:
            raise _read_failure(exc, f"cannot read [[{title}]] on {self.site_name}") from exc
        if model not in models:
            raise WikiError(
                f"[[{page.title()}]] has content model {model!r}, not {' or '.join(models)}; "
                "the bot only reads and edits wikitext pages"
            )
        return page, PageRevision(
            title=page.title(),
            text=str(revision.text),
            revid=int(revision.revid),
            timestamp=revision.timestamp.isoformat(),
        )

    def read(self, title: str, *, models: tuple[str, ...] = ("wikitext",)) -> PageRevision:
        """The latest revision of a page, following redirects.

        A missing page, an invalid title or a content model not in ``models`` (wikitext
        unless told otherwise) raises :class:`WikiError` with a one-line message.
        """
        revision = self._load(title, models=models)[1]
        assert revision is not None
        return revision

    def read_if_exists(
        self, title: str, *, models: tuple[str, ...] = ("wikitext",)
    ) -> PageRevision | None:
        """Like :meth:`read`, but None for a missing page."""
        return self._load(title, allow_missing=True, models=models)[1]

    def talk_title(self, title: str) -> str:
        """The title of the talk page that belongs to ``title`` (``Talk:Social media``)."""
        page = self._page(title)
        if page.isTalkPage():
            return str(page.title())
        return str(page.toggleTalkPage().title())

    def exists(self, title: str) -> bool:
        """Whether the page exists (a redirect counts as existing)."""
        exceptions = _exceptions()
        try:
            return bool(self._page(title).exists())
        except (exceptions.Error, OSError) as exc:
            raise WikiError(f"cannot read [[{title}]]: {_one_line(exc)}") from exc

    # ---- write guards --------------------------------------------------------------------
    def writes_allowed(self) -> tuple[bool, str]:
        """Read the run page now; only the text ``yes`` (whitespace stripped) allows writes.

        The run page is not followed if it is a redirect (a redirect is not ``yes``).
        """
        title = self.run_page
        if title is None:
            return False, "not logged in, so there is no run page (User:<bot>/Run) to check"
        try:
            _page, revision = self._load(title, follow_redirects=False, allow_missing=True)
        except WikiError as exc:
            return False, f"cannot read the run page: {exc}"
        if revision is None:
            return False, (
                f"the run page [[{title}]] does not exist; "
                f"put '{RUN_PAGE_YES}' there to allow edits"
            )
        value = revision.text.strip()
        if value == RUN_PAGE_YES:
            return True, f"the run page [[{title}]] says '{RUN_PAGE_YES}'"
        return False, (
            f"the run page [[{title}]] says {_one_line(value, 60)!r}, not '{RUN_PAGE_YES}'"
        )

    def _guard(self, page: Any, text: str) -> None:
        """Raise WritesDisabled unless the run page and the page's bot templates allow it.

        Under ``-simulate`` the run page is not consulted (nothing can be written), but
        ``{{bots}}``/``{{nobots}}`` still are, so a dry run shows what a real run would do.
        ``text``: the page's text as read, which the edit is based on.  Without ``{{`` it has
        no template, so none that excludes the bot (Pywikibot's ``botMayEdit`` reads only the
        templates of the text); it is not parsed then: for a status page of 2,300 accounts,
        Pywikibot's parse of the whole page took 2 s of CPU and 40 MB.  The caller saves with
        ``force=True`` and the text as the edit's parameter: the check is done, on the text
        the edit is based on.
        """
        if not self.simulate:
            allowed, reason = self.writes_allowed()
            if not allowed:
                raise WritesDisabled(f"writes are disabled: {reason}")
        if "{{" not in text:
            return
        exceptions = _exceptions()
        try:
            may_edit = page.botMayEdit()
        except (exceptions.Error, OSError) as exc:
            raise WikiError(
                f"cannot check the bot templates of [[{page.title()}]]: {_one_line(exc)}"
            ) from exc
        if not may_edit:
            raise WritesDisabled(
                f"[[{page.title()}]] excludes this bot with {{{{bots}}}}/{{{{nobots}}}}"
            )

    def _save_error(self, exc: BaseException, title: str) -> WikiError:
        """Translate a Pywikibot save failure into a one-line WikiError."""
        exceptions = _exceptions()
        if isinstance(exc, exceptions.OtherPageSaveError):
            # Pywikibot wraps any other failure of Page.save() in OtherPageSaveError; a
            # plain-text reason is its own {{bots}}/{{nobots}} refusal.
            if isinstance(exc.reason, BaseException):
                return self._save_error(exc.reason, title)
            return WritesDisabled(f"[[{title}]]: {_one_line(exc.reason)}")
        if isinstance(exc, exceptions.APIError):
            return self._api_save_error(exc, title)
        if isinstance(exc, exceptions.NoUsernameError):
            return WikiError(f"not logged in to {self.site_name}: {_one_line(exc)}")
        return WikiError(f"[[{title}]] {self._refusal(exc)}")

    def _refusal(self, exc: BaseException) -> str:
        """Why the wiki did not take an edit, for the page's own refusals (protection, lists)."""
        exceptions = _exceptions()
        user = self.username or "an anonymous user"
        reasons: tuple[tuple[type[BaseException], Callable[[Any], str]], ...] = (
            # Most specific first: the lock errors are subclasses of one another.
            (
                exceptions.CascadeLockedPageError,
                lambda _e: f"is cascade-protected; {user} may not edit it",
            ),
            (
                exceptions.LockedNoPageError,
                lambda _e: f"is protected against creation; {user} may not create it",
            ),
            (exceptions.LockedPageError, lambda _e: f"is protected; {user} may not edit it"),
            (
                exceptions.SpamblacklistError,
                lambda e: f"not saved: the spam blacklist blocks {getattr(e, 'url', '?')}",
            ),
            (
                exceptions.TitleblacklistError,
                lambda _e: "not saved: the title blacklist forbids it",
            ),
            (
                exceptions.AbuseFilterDisallowedError,
                lambda e: (
                    "not saved: an abuse filter disallowed the edit "
                    f"({_one_line(getattr(e, 'info', ''), 120)})"
                ),
            ),
            (
                exceptions.NoCreateError | exceptions.PageDeletedConflictError,
                lambda _e: "was deleted while the bot was editing it",
            ),
        )
        for kind, reason in reasons:
            if isinstance(exc, kind):
                return reason(exc)
        return f"not saved: {_one_line(exc)}"

    def _api_save_error(self, exc: Any, title: str) -> WikiError:
        """A refusal the API gave as an error code (blocks, read-only wiki, anything else)."""
        user = self.username or "an anonymous user"
        if exc.code in _BLOCK_CODES or "block" in exc.code:
            return WikiError(f"{user} is blocked on {self.site_name}: {_one_line(exc.info, 200)}")
        if exc.code == "readonly":
            return WikiError(f"{self.site_name} is read-only: {_one_line(exc.info, 200)}")
        return WikiError(
            f"{self.site_name} refused the edit of [[{title}]]: "
            f"{exc.code}: {_one_line(exc.info, 200)}"
        )

    # ---- writing -------------------------------------------------------------------------
    def save(
        self,
        title: str,
        change: Callable[[str], str | None],
        summary: str | Callable[[], str],
        *,
        minor: bool = True,
        tags: Sequence[str] = (),
        create: bool = False,
    ) -> SaveOutcome:
        """Read a page, apply ``change`` to its text and save the result.

        ``change(text)`` returns the new text, or None (or the same text) for no edit.  The
        edit is marked as a bot edit (if the account has the bot right), carries ``summary``
        and ``tags`` and is based on the revision that was read, so that MediaWiki reports any
        edit made in between as an edit conflict.  On a conflict the page is read again and
        ``change`` is called again with the new text, up to :attr:`max_attempts` times in all.

        ``create``: a missing page counts as empty text and is created (never re-created over
        a concurrent creation); otherwise a missing page is a WikiError.
        ``summary`` may be a callable, asked after each ``change``: after a conflict the change
        made to the new text can differ, and the summary should say what it really was.
        Redirects are followed; the outcome's ``title`` is the page that was edited.
        """
        max_attempts = self.max_attempts
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        exceptions = _exceptions()
        conflicts = 0
        for attempt in range(1, max_attempts + 1):
            page, revision = self._load(title, allow_missing=create)
            old = revision.text if revision is not None else ""
            new = change(old)
            target = revision.title if revision is not None else page.title()
            if new is None or new == old:
                return SaveOutcome(
                    title=target,
                    revid=None,
                    attempts=attempt,
                    changed=False,
                    simulated=self.simulate,
                    conflicts=conflicts,
                    base_revid=revision.revid if revision else None,
                )
            self._guard(page, old)
            extra: dict[str, Any] = {}
            if revision is not None:
                # Conflicts are detected by revision id, and basetimestamp is left out
                # (None: Pywikibot neither adds its own nor sends it).  With a timestamp,
                # MediaWiki 1.39 misses or suppresses a conflict with an edit made in the
                # same second as the base revision (EditPage's userWasLastToEdit compares
                # "rev_timestamp > basetimestamp") and the other edit is silently lost.
                extra.update(nocreate=True, baserevid=revision.revid, basetimestamp=None)
            else:
                extra.update(createonly=True)
            if tags:
                extra["tags"] = list(tags)
            try:
                # The text as a parameter of the edit, not set on the page: Pywikibot's
                # ``Page.text`` setter checks the bot templates again (T262136), a parse of the
                # whole page that _guard has made needless.
                page.save(
                    text=new,
                    summary=summary() if callable(summary) else summary,
                    minor=minor,
                    bot=True,
                    force=True,  # the bot templates: checked by _guard on the text read
                    watch="nochange",
                    apply_cosmetic_changes=False,
                    quiet=True,
                    **extra,
                )
            except (exceptions.PageCreatedConflictError, exceptions.ArticleExistsConflictError):
                conflicts += 1
                log.info("[[%s]] was created meanwhile (attempt %d)", target, attempt)
                continue
            except exceptions.PageDeletedConflictError as exc:
                raise self._save_error(exc, target) from exc
            except exceptions.EditConflictError:
                conflicts += 1
                log.info("edit conflict on [[%s]] (attempt %d); reading it again", target, attempt)
                continue
            except (exceptions.Error, OSError) as exc:
                raise self._save_error(exc, target) from exc
            simulated = self.simulate
            revid = None if simulated else int(page.latest_revision_id)
            return SaveOutcome(
                title=target,
                revid=revid,
                attempts=attempt,
                changed=True,
                simulated=simulated,
                conflicts=conflicts,
                base_revid=revision.revid if revision else None,
            )
        raise WikiError(
            f"[[{title}]] not saved: {conflicts} edit conflict(s) in {max_attempts} attempt(s); "
            "others keep editing it, try again later"
        )

    def add_section(
        self,
        title: str,
        heading: str,
        text: str,
        summary: str,
        *,
        tags: Sequence[str] = (),
        minor: bool = False,
    ) -> SaveOutcome:
        """Append a new section ``== heading ==`` with ``text`` (``section=new``).

        The page (usually a talk page) is created if needed; redirects are followed.  The
        edit summary is ``/* heading */ summary``: that autocomment is how
        :meth:`edit_own_section` recognises sections the bot started.  Sign ``text`` yourself
        (``~~~~``) if the wiki expects signatures.
        """
        heading = _check_heading(heading)
        exceptions = _exceptions()
        page, revision = self._load(title, allow_missing=True)
        target = revision.title if revision is not None else page.title()
        self._guard(page, revision.text if revision is not None else "")
        extra: dict[str, Any] = {"tags": list(tags)} if tags else {}
        try:
            page.save(
                summary=f"/* {heading} */ {summary}".rstrip(),
                text=text,
                section="new",
                sectiontitle=heading,
                minor=minor,
                bot=True,
                force=True,  # the bot templates: checked by _guard on the text read
                watch="nochange",
                apply_cosmetic_changes=False,
                quiet=True,
                **extra,
            )
        except (exceptions.Error, OSError) as exc:
            raise self._save_error(exc, target) from exc
        simulated = self.simulate
        return SaveOutcome(
            title=target,
            revid=None if simulated else int(page.latest_revision_id),
            attempts=1,
            changed=True,
            simulated=simulated,
            conflicts=0,
            base_revid=revision.revid if revision else None,
        )

    def own_edits(self, title: str) -> list[tuple[int, str, str]]:
        """``(revid, timestamp, summary)`` of each revision of ``title`` this account saved.

        Newest first; empty for a missing page or without a login.  The page history is the
        record that survives a lost or stale state file (a run killed between its edit and
        the state commit): ``run`` reads its own earlier fixes from these summaries.
        """
        user = self.username
        if user is None:
            return []
        exceptions = _exceptions()
        params: dict[str, Any] = {
            "action": "query",
            "prop": "revisions",
            "titles": title,
            "rvprop": "comment|ids|timestamp",
            "rvuser": user,
            "rvlimit": "max",
        }
        found: list[tuple[int, str, str]] = []
        try:
            for _ in range(20):  # at most 20 batches of (up to 5000) revisions
                data = self._site.simple_request(**params).submit()
                for page in data.get("query", {}).get("pages", {}).values():
                    for rev in page.get("revisions", []):
                        found.append(
                            (
                                int(rev["revid"]),
                                str(rev.get("timestamp", "")),
                                str(rev.get("comment", "")),
                            )
                        )
                if "continue" not in data:
                    break
                params.update(data["continue"])
        except (exceptions.Error, OSError) as exc:
            raise WikiError(f"cannot read the history of [[{title}]]: {_one_line(exc)}") from exc
        return found

    def edit_texts(self, revid: int) -> tuple[str, str]:
        """The page text just before revision ``revid`` and at it ("" before a first revision).

        ``run`` compares them with the page as it is now, to tell a human's revert of the
        bot's fix (the fixed lines changed back) from the old link merely added elsewhere.
        """
        exceptions = _exceptions()
        try:
            after = self._revision(revid)
            parent = int(after.get("parentid") or 0)
            before = self._revision(parent) if parent else None
        except (exceptions.Error, OSError) as exc:
            raise WikiError(f"cannot read revision {revid}: {_one_line(exc)}") from exc
        return (_revision_text(before) if before else ""), _revision_text(after)

    def _revision(self, revid: int) -> dict[str, Any]:
        """One revision's ids and main-slot content, through the API."""
        data = self._site.simple_request(
            action="query",
            prop="revisions",
            revids=str(revid),
            rvprop="ids|content",
            rvslots="main",
        ).submit()
        for page in data.get("query", {}).get("pages", {}).values():
            for rev in page.get("revisions", []):
                if int(rev.get("revid", 0)) == revid:
                    return dict(rev)
        raise WikiError(f"revision {revid} cannot be read (deleted or hidden)")

    def subpages(self, title: str, *, limit: int = 100) -> list[str]:
        """Titles of the subpages of ``title`` (``Talk:X/Archive 1``, ...), at most ``limit``."""
        exceptions = _exceptions()
        page = self._page(title)
        prefix = page.title(with_ns=False) + "/"
        try:
            return [
                str(sub.title())
                for sub in self._site.allpages(
                    prefix=prefix, namespace=page.namespace(), total=limit
                )
            ]
        except (exceptions.Error, OSError) as exc:
            raise WikiError(f"cannot list the subpages of [[{title}]]: {_one_line(exc)}") from exc

    def bot_started_section(self, title: str, heading: str) -> bool:
        """Whether this account saved a revision of ``title`` summarised ``/* heading */``.

        :meth:`add_section` always writes that autocomment, so this is True for every section
        the bot added (and stays True after others edit the section).
        """
        user = self.username
        if user is None:
            return False
        heading = _check_heading(heading)
        marker = f"/* {heading} */"
        exceptions = _exceptions()
        params: dict[str, Any] = {
            "action": "query",
            "prop": "revisions",
            "titles": title,
            "rvprop": "comment|ids",
            "rvuser": user,
            "rvlimit": "max",
        }
        try:
            for _ in range(20):  # at most 20 batches of (up to 5000) revisions
                data = self._site.simple_request(**params).submit()
                for page in data.get("query", {}).get("pages", {}).values():
                    for rev in page.get("revisions", []):
                        if str(rev.get("comment", "")).strip().startswith(marker):
                            return True
                if "continue" not in data:
                    break
                params.update(data["continue"])
        except (exceptions.Error, OSError) as exc:
            raise WikiError(f"cannot read the history of [[{title}]]: {_one_line(exc)}") from exc
        return False

    def edit_own_section(
        self,
        title: str,
        heading: str,
        change: Callable[[str], str | None],
        summary: str,
        *,
        minor: bool = True,
        tags: Sequence[str] = (),
    ) -> SaveOutcome:
        """Edit the body of a section the bot started with :meth:`add_section`.

        ``change(body)`` gets the section's text between its heading line and the next
        heading of the same or a higher level (replies included) and returns the new body or
        None.  The heading must occur exactly once on the page (else :class:`SectionMissing`
        or WikiError), and the bot must have started it (:meth:`bot_started_section`), else
        WikiError.  Conflicts are handled as in :meth:`save`.
        """
        heading = _check_heading(heading)
        revision = self.read(title)
        _find_section(revision.text, heading, revision.title)  # fail early if missing
        if not self.bot_started_section(revision.title, heading):
            raise WikiError(
                f"the section '{heading}' on [[{revision.title}]] was not started by "
                f"{self.username or 'this bot'}; not editing it"
            )

        def section_change(text: str) -> str | None:
            start, end = _find_section(text, heading, revision.title)
            body = text[start:end]
            new_body = change(body)
            if new_body is None or new_body == body:
                return None
            if end < len(text) and not new_body.endswith("\n"):
                new_body += "\n"
            return text[:start] + new_body + text[end:]

        return self.save(
            revision.title,
            section_change,
            f"/* {heading} */ {summary}".rstrip(),
            minor=minor,
            tags=tags,
        )


def _revision_text(rev: dict[str, Any]) -> str:
    """The main slot's text of an API revision (``*`` in format 1, ``content`` in 2)."""
    main = rev.get("slots", {}).get("main", rev)
    text = main.get("*", main.get("content"))
    if not isinstance(text, str):
        raise WikiError(f"revision {rev.get('revid')} has no readable text (hidden?)")
    return text


def _check_heading(heading: str) -> str:
    heading = heading.strip()
    if not heading or "\n" in heading or "*/" in heading:
        raise ValueError(f"unusable section heading {heading!r}")
    return heading


def _find_section(text: str, heading: str, title: str) -> tuple[int, int]:
    """``(start, end)`` of the body of the one top-level section titled ``heading``.

    The body starts after the newline that ends the heading line and ends where the next
    heading of the same or a higher level starts (or at the end of the text).
    """
    import mwparserfromhell
    from mwparserfromhell.nodes import Heading

    headings: list[tuple[int, int, int, str]] = []  # start, end, level, title
    position = 0
    for node in mwparserfromhell.parse(text).nodes:
        length = len(str(node))
        if isinstance(node, Heading):
            headings.append((position, position + length, node.level, str(node.title).strip()))
        position += length
    matches = [i for i, h in enumerate(headings) if h[3] == heading]
    if not matches:
        raise SectionMissing(f"[[{title}]] has no section '{heading}'")
    if len(matches) > 1:
        raise WikiError(f"[[{title}]] has {len(matches)} sections '{heading}'; not editing any")
    index = matches[0]
    _start, head_end, level, _title = headings[index]
    start = head_end
    # the rest of the heading line (trailing blanks or comments) and its newline
    newline = text.find("\n", start)
    start = len(text) if newline == -1 else newline + 1
    end = len(text)
    for other_start, _end, other_level, _t in headings[index + 1 :]:
        if other_level <= level:
            end = other_start
            break
    return start, max(start, end)
