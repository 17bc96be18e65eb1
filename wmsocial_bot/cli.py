"""Command-line interface: argument parsing and output only.

Exit codes: 0 the run completed (whatever it found); 1 the run itself failed (a bug, or the
wiki could not be reached or failed: :class:`~wmsocial_bot.errors.WikiUnavailable`); 2
something for the operator to fix (bad arguments, config, file, a missing page, a refused
login, no contact for ``run``, an unusable state file); 3 ``--strict`` and stale findings; 4
another run holds the state store (``LeaseHeld``).
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wmsocial_bot import __version__, dashboard, output
from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import Config, load_config
from wmsocial_bot.errors import ConfigError, InputError, LeaseHeld, UserError
from wmsocial_bot.extract import Extraction, extract_accounts
from wmsocial_bot.net import Net
from wmsocial_bot.state import SqliteStore

log = logging.getLogger("wmsocial_bot")

EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR, EXIT_STRICT = 0, 1, 2, 3
EXIT_LEASE_HELD = LeaseHeld.exit_code  # 4
# Pywikibot's global options (pywikibot.bot.handle_args and its _GLOBAL_HELP, Pywikibot 11.x).
# Its "-v" is ours (the bot's own log); its longer "-verbose" stays Pywikibot's.
PYWIKIBOT_OPTIONS = frozenset(
    {
        "help", "dir", "config", "site", "family", "code", "lang", "user", "putthrottle",
        "pt", "log", "nolog", "cosmeticchanges", "cc", "simulate", "debug", "verbose",
        "daemonize", "maxlag",
    }
)  # fmt: skip
# Anything shaped like one: a dash and a word (-simulate, -user:Bot, -simulat, -page).
_SINGLE_DASH_WORD = re.compile(r"^-(?P<name>[A-Za-z][\w-]*)(?::(?P<value>.*))?$", re.DOTALL)
# Our own short options, also repeated (-vv, -qq).
_OUR_SHORT = re.compile(r"^-(h|v+|q+)$")


def split_pywikibot_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate Pywikibot-shaped options (``-word``) from ours, so both go in any order.

    ``-help`` becomes ``--help``, as in Pywikibot's own scripts.  Which of the ``-word``
    options Pywikibot really knows is :func:`unknown_options`' job.
    """
    pwb: list[str] = []
    ours: list[str] = []
    for arg in argv:
        if arg == "-help":
            ours.append("--help")
        elif _SINGLE_DASH_WORD.match(arg) and not _OUR_SHORT.match(arg):
            pwb.append(arg)
        else:
            ours.append(arg)
    return pwb, ours


def unknown_options(pywikibot_args: Sequence[str]) -> list[str]:
    """The ``-word`` options that Pywikibot does not know either (they would be dropped).

    Besides its named options, Pywikibot takes ``-name:number`` for any of its integer
    settings (``-step:50``, ``-write_maxlag:5``); only then is Pywikibot's config consulted.
    """
    unknown = []
    for arg in pywikibot_args:
        match = _SINGLE_DASH_WORD.match(arg)
        assert match is not None
        name, value = match.group("name"), match.group("value")
        if name in PYWIKIBOT_OPTIONS:
            continue
        if value and value.strip().lstrip("-").isdigit():
            from wmsocial_bot.wiki import is_integer_setting

            if is_integer_setting(name):
                continue
        unknown.append(arg)
    return unknown


def _hint(option: str, parser: argparse.ArgumentParser) -> str:
    """``, did you mean -simulate?`` for a mistyped option, as Pywikibot's pwb does for scripts."""
    ours = [
        flag
        for action in _all_actions(parser)
        for flag in action.option_strings
        if flag.startswith("--")
    ]
    candidates = {flag.lstrip("-"): flag for flag in ours}
    candidates.update({name: f"-{name}" for name in PYWIKIBOT_OPTIONS})
    name = option.lstrip("-").partition(":")[0]
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f", did you mean {candidates[close[0]]}?" if close else ""


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    actions = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                actions.extend(sub._actions)
    return actions


def build_parser() -> argparse.ArgumentParser:
    """``list``, ``check`` and ``run`` share their options; each has its own ``--help``."""
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="TOML config file (default: $WMSOCIAL_BOT_CONFIG, else "
        "~/.config/wmsocial-bot/config.toml if it exists); see docs/configuration.md",
    )
    shared.add_argument(
        "--endpoint",
        metavar="HOST=BASEURL",
        action="append",
        default=[],
        help="send requests for https://HOST/... to BASEURL/... (repeatable; overrides the config)",
    )
    shared.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log: -v the bot's debug log, -vv also every HTTP connection and request",
    )
    shared.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="less log: -q warnings and errors only (no progress), -qq errors only",
    )

    reading = argparse.ArgumentParser(add_help=False)
    source = reading.add_mutually_exclusive_group()
    source.add_argument(
        "--page", metavar="TITLE", help="read this wiki page (default: [wiki] page, on meta:meta)"
    )
    source.add_argument("--wikitext", metavar="FILE", type=Path, help="read wikitext from a file")
    reading.add_argument(
        "--format",
        choices=("table", "json", "wikitext"),
        default="table",
        help="table (coloured on a terminal), json (one array), or wikitext (a sortable table "
        "to paste on a wiki); default: table",
    )

    parser = argparse.ArgumentParser(
        prog="wmsocial-bot",
        description="Keep wiki pages that list social-media accounts honest.",
        epilog="Pywikibot's global options (-simulate, -user:, -family:, -code:/-lang:, -site:, "
        "-maxlag:, -log, -debug, -verbose, -dir:, -config:, and -NAME:NUMBER for its integer "
        "settings) are accepted anywhere on the command line; any other -word is refused. "
        "-help is --help. Exit codes: "
        f"{EXIT_OK} the run completed, {EXIT_FAILED} it failed (the wiki could not be reached "
        f"or failed, or a bug), {EXIT_USER_ERROR} something to fix (arguments, config, a file, "
        f"a missing page, a refused login, no contact for run, an unusable state file), "
        f"{EXIT_STRICT} check --strict found stale accounts, {EXIT_LEASE_HELD} another run "
        "holds the state store.",
    )
    parser.add_argument("--version", action="version", version=f"wmsocial-bot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "list",
        parents=[reading, shared],
        help="list every social-media account a page lists",
        description="Print every social-media account the page lists, with where it is: "
        "platform, canonical handle, the link as written, section, line, table cells and the "
        "exact source span. Makes no network request except reading --page.",
    )
    check = sub.add_parser(
        "check",
        parents=[reading, shared],
        help="check every account against its platform",
        description="Check every account the page lists against its platform and print what "
        "happened to each, with the evidence. Writes nothing to the wiki; remembers learned "
        "identities (Bluesky DIDs, Mastodon ids) in the state store.",
    )
    check.add_argument(
        "--strict",
        action="store_true",
        help=f"exit with {EXIT_STRICT} when any account is stale "
        "(inactive, moved, renamed, limited, suspended, deactivated, deleted, invalid)",
    )
    run = sub.add_parser(
        "run",
        parents=[shared],
        help="check, fix moved and renamed links, and post one talk-page notice",
        description="The bot's job: check every account on the configured pages (or --page), "
        "fix moved and renamed links in one byte-minimal edit, post one talk-page section about "
        "new findings that need a human, and update the status page. Writes only while the run "
        "page says 'yes'.",
    )
    run.add_argument("--page", metavar="TITLE", help="this page instead of [wiki] page(s)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the page diff and the talk text instead of saving; record nothing "
        "(-simulate does the same)",
    )
    sub.add_parser(
        "report",
        parents=[reading, shared],
        help="activity and reach per owner, from the state store (no platform requests)",
        description="One row per owner (the table row's owner cell, else its section) and a "
        "column per platform: last post, posts in 30 days, followers and their change, and a "
        "12-week sparkline of weekly posts. Reads only the state store that run fills at each "
        "check, and --page or --wikitext for the owners; makes no platform request. "
        "docs/dashboard.md says what each figure means.",
    )
    return parser


def read_config(args: argparse.Namespace) -> Config:
    """The config (file and --endpoint), read before any network or wiki work."""
    config = load_config(args.config, args.endpoint)
    log.debug("config: %s; endpoints: %s", config.source, ", ".join(config.endpoints) or "none")
    return config


def load_source(
    args: argparse.Namespace, pywikibot_args: list[str], config: Config
) -> tuple[str, str]:
    """The page text and a name for it, from --wikitext or --page (default: [wiki] page)."""
    if args.wikitext is not None:
        path: Path = args.wikitext
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    from wmsocial_bot.wiki import Wiki  # only now: --wikitext needs no Pywikibot

    wiki, _rest = Wiki.from_args(pywikibot_args)
    title = args.page or config.wiki.pages[0]
    revision = wiki.read(title)
    return revision.text, revision.title


def read_accounts(
    args: argparse.Namespace, pywikibot_args: list[str], config: Config
) -> tuple[Extraction, str]:
    text, name = load_source(args, pywikibot_args, config)
    if not text.strip():
        raise InputError(f"{name}: the page is empty")
    extraction = extract_accounts(text)
    if not extraction.accounts:
        raise InputError(f"{name}: no social-media accounts found")
    for first, later in extraction.duplicates:
        log.warning(
            "%s:%s is listed twice: line %d and line %d",
            later.platform,
            later.handle,
            first.line,
            later.line,
        )
    return extraction, name


def cmd_list(args: argparse.Namespace, pywikibot_args: list[str]) -> int:
    config = read_config(args)  # first: a bad config stops it before the wiki is read
    extraction, _name = read_accounts(args, pywikibot_args, config)
    rows = [account.to_json() for account in extraction.accounts]
    for row in rows:
        row["dup"] = "dup" if "duplicate_of" in row else ""
    show(args.format, rows, ("platform", "handle", "section", "line", "dup", "url"), checked=False)
    return EXIT_OK


def show(fmt: str, rows: list[dict[str, Any]], columns: tuple[str, ...], *, checked: bool) -> None:
    if fmt == "json":
        for row in rows:
            row.pop("dup", None)
        print(output.as_json(rows))
    elif fmt == "wikitext":
        print(output.wikitable(rows, checked=checked))
    else:
        print(
            output.table(
                rows,
                columns,
                colour=output.use_colour(sys.stdout),
                width=output.terminal_width(sys.stdout),
                shrink="detail",
            )
        )


def cmd_check(args: argparse.Namespace, pywikibot_args: list[str]) -> int:
    config = read_config(args)
    if not config.bot.contact:  # run refuses; a first look by hand may go on, but is told
        log.warning(
            "no [bot] contact configured: platform requests say 'contact unset' "
            "(Wikimedia's User-Agent policy asks for one; run refuses to start without it)"
        )
    # The state store first: a store that cannot be used is found before any network work.
    # check takes no lease: it only adds identities, in one short transaction of its own.
    store = SqliteStore(config.state.path)
    try:
        store.check_writable()
        extraction, name = read_accounts(args, pywikibot_args, config)
        net = Net(config.network, config.endpoints, contact=config.bot.contact)
        known = store.identities()
        log.info("checking %d accounts from %s", len(extraction.unique), name)
        results = check_accounts(
            extraction.accounts,
            net,
            inactive_days=config.policy.inactive_days,
            known=known,
            progress=output.Progress(len(extraction.unique)) if args.quiet == 0 else None,
        )
        store.save_identities(r.learned for r in results if r.learned is not None)
    finally:
        store.close()
    rows = [r.to_json() for r in results]
    columns = ("platform", "handle", "status", "last_activity", "detail", "new_url")
    show(args.format, rows, columns, checked=True)
    stale = [r for r in results if r.status.stale]
    if args.strict and stale:
        return EXIT_STRICT
    return EXIT_OK


def cmd_report(args: argparse.Namespace, pywikibot_args: list[str]) -> int:
    from wmsocial_bot.run import gather_reach

    config = read_config(args)
    store = SqliteStore(config.state.path)  # found unusable before the page is read
    try:
        extraction, _name = read_accounts(args, pywikibot_args, config)
        history = gather_reach(store, extraction)  # with a renamed account's earlier handle
    finally:
        store.close()
    now = datetime.now(UTC)
    rows = dashboard.owner_rows(extraction.accounts, history, now)
    if args.format == "json":
        print(output.as_json(dashboard.as_json(rows)))
    elif args.format == "wikitext":
        print(dashboard.as_wikitext(rows, now=now))
    else:
        table_rows, columns = dashboard.as_table_rows(rows)
        print(output.table(table_rows, columns))
        print("\n".join(["", *dashboard.summary_lines(rows)]))
    return EXIT_OK


def is_dry_run(args: argparse.Namespace, pywikibot_args: Sequence[str]) -> bool:
    """``--dry-run`` or Pywikibot's ``-simulate`` (known before Pywikibot is set up)."""
    return bool(args.dry_run) or any(
        arg == "-simulate" or arg.startswith("-simulate:") for arg in pywikibot_args
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def cmd_run(args: argparse.Namespace, pywikibot_args: list[str]) -> int:
    config = read_config(args)
    if not config.bot.contact:
        raise ConfigError(
            f"bot.contact is not set ({_config_name(config)}): Wikimedia's User-Agent policy "
            "asks every bot for a way to reach its operator; set [bot] contact to your wiki "
            "user page or e-mail address (docs/configuration.md)"
        )
    # Toolforge stops a job with SIGTERM (its timeout, `toolforge jobs delete`): unwind as on
    # Ctrl-C, so that an open state transaction rolls back and the lease is released now,
    # not when it expires.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    from wmsocial_bot.run import RunOptions, run_bot
    from wmsocial_bot.wiki import Wiki

    # The state store and the lease before any network work (Pywikibot's site and login are
    # network work too): a second run, or a store that cannot be used, stops here.  A dry
    # run writes nothing to the store, so it needs neither the lease nor a writable store.
    store = SqliteStore(config.state.path)
    try:
        if not is_dry_run(args, pywikibot_args):
            store.acquire_lease(config.state.lease_seconds)  # first: a loser writes nothing
            store.check_writable()
        wiki, _rest = Wiki.from_args(pywikibot_args, run_page=config.wiki.run_page or None)
        pages = [args.page] if args.page else list(config.wiki.pages)
        reports = run_bot(
            wiki, config, store, pages=pages, options=RunOptions(dry_run=args.dry_run)
        )
    finally:
        store.close()
    for report in reports:
        for line in report.summary_lines():
            print(line)
    return EXIT_OK


def _config_name(config: Config) -> str:
    return "no config file" if config.source == "defaults" else f"config: {config.source}"


COMMANDS = {"list": cmd_list, "check": cmd_check, "run": cmd_run, "report": cmd_report}


# -vv: also the HTTP libraries' own debug log (each connection and request line).
_LIBRARY_LOGGERS = ("urllib3", "requests", "httpx", "httpcore", "mastodon", "atproto")


def setup_logging(verbose: int = 0, quiet: int = 0) -> None:
    """The bot's log on the current stderr; calling it again replaces the earlier setup.

    Default: info and above.  ``-q`` warnings, ``-qq`` errors only; ``-v`` the bot's debug
    log, ``-vv`` also the HTTP libraries' (credentials redacted, as in Pywikibot's logs).
    """
    from wmsocial_bot.wiki import redact_filter  # cheap: Pywikibot itself is not imported

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(redact_filter())
    level = {0: logging.INFO, 1: logging.WARNING}.get(quiet, logging.ERROR)
    if verbose:
        level = logging.DEBUG
    for name in ("wmsocial_bot", *_LIBRARY_LOGGERS):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "_wmsocial_bot", False)]:
            logger.removeHandler(old)
    handler._wmsocial_bot = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if verbose >= 2:
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
            logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    pywikibot_args, ours = split_pywikibot_args(sys.argv[1:] if argv is None else argv)
    try:
        unknown = unknown_options(pywikibot_args)
    except UserError as exc:
        print(f"wmsocial-bot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if unknown:  # before anything else: "-simulat" must not run for real
        parser.error(
            "; ".join(f"unknown option {arg}{_hint(arg, parser)}" for arg in unknown)
            + " (see wmsocial-bot --help for ours and Pywikibot's)"
        )
    args = parser.parse_args(ours)
    setup_logging(args.verbose, args.quiet)
    try:
        return COMMANDS[args.command](args, pywikibot_args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"wmsocial-bot: error: {problem}", file=sys.stderr)
        return exc.exit_code
    except UserError as exc:
        print(f"wmsocial-bot: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("wmsocial-bot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
