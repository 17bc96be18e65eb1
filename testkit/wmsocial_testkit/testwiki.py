"""A throwaway local MediaWiki for tests, demos and manual trials.

It uses the MediaWiki that Debian installs (``apt-get install mediawiki php-cli php-sqlite3
php-intl php-mbstring php-xml``; MediaWiki 1.39 in ``/usr/share/mediawiki``), an SQLite
database in a directory of its own and PHP's built-in web server on ``127.0.0.1``.  Nothing is
installed system-wide and nothing keeps running after :meth:`LocalWiki.stop`.

What a started wiki has:

* ``Admin``, a sysop and bureaucrat with an ordinary password: the "human" who makes
  concurrent edits, protects pages and blocks users through the raw API (:class:`ApiSession`);
* ``WmsocialBot``, in the ``bot`` group, with a bot password (app id ``wmsocial``; grants
  ``basic,highvolume,editpage,createeditmovepage``, as asked for on Meta);
* a Pywikibot configuration directory for the bot (family file, ``user-config.py`` with
  ``put_throttle = 0``, a 0600 password file): point ``PYWIKIBOT_DIR`` at it;
* the change tag ``wmsocial-bot``, ``Template:Bots`` and ``Template:Nobots``;
* SpamBlacklist loaded with only the local ``MediaWiki:Spam-blacklist`` page as a source;
* ``$wgDiff3`` switched off, so that *every* concurrent edit is an edit conflict (Meta would
  merge edits to different parts of a page; tests need the conflict path to happen for real).

Python use::

    with LocalWiki() as wiki:            # a temporary directory, removed on stop
        os.environ["PYWIKIBOT_DIR"] = str(wiki.pywikibot_dir)
        wiki.human_session().edit("Sandbox", "text")

Command line (``python scripts/testwiki.py`` or ``python -m wmsocial_testkit.testwiki``)::

    start [--dir D] [--port P] [--detach]   print JSON; serve until Ctrl-C / SIGTERM / stop
    stop --dir D                            stop a wiki started with --dir D
    info --dir D                            print the JSON again
    run [--dir D] -- COMMAND ...            start, run COMMAND with PYWIKIBOT_DIR and
                                            WMSOCIAL_TESTWIKI set, stop, exit with its status
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

MEDIAWIKI_DIR = Path(os.environ.get("WMSOCIAL_MEDIAWIKI_DIR", "/usr/share/mediawiki"))
STATE_FILE = "testwiki.json"
FAMILY = "wmsocialtest"
BOT_APP = "wmsocial"
BOT_GRANTS = "basic,highvolume,editpage,createeditmovepage"
CHANGE_TAG = "wmsocial-bot"
INSTALL_HINT = (
    "install it with: apt-get install -y --no-install-recommends "
    "mediawiki php-cli php-sqlite3 php-intl php-mbstring php-xml"
)


class LocalWikiError(RuntimeError):
    """The local wiki could not be installed or started (or an API call to it failed)."""


@dataclass(frozen=True)
class Account:
    """A user of the local wiki.  ``login_name`` is what goes to ``action=login``."""

    name: str
    password: str
    login_name: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child before exec: ask Linux for SIGTERM when the parent exits (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as php -S does
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class ApiSession:
    """A logged-in ``requests`` session against the local wiki's ``api.php``.

    This is the "other user" of the tests: it edits, protects and blocks without Pywikibot.
    """

    def __init__(self, api: str, user: str, password: str, *, timeout: float = 30) -> None:
        self.api = api
        self.user = user
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "wmsocial-bot-testwiki/0 (local test wiki)"
        token = self.get(action="query", meta="tokens", type="login")["query"]["tokens"][
            "logintoken"
        ]
        result = self.post(action="login", lgname=user, lgpassword=password, lgtoken=token)
        if result.get("login", {}).get("result") != "Success":
            raise LocalWikiError(f"login as {user} failed: {result}")
        self._csrf: str | None = None

    def _check(self, data: dict[str, Any]) -> dict[str, Any]:
        if "error" in data:
            err = data["error"]
            raise LocalWikiError(f"API error {err.get('code')}: {err.get('info')}")
        return data

    def get(self, **params: Any) -> dict[str, Any]:
        params.setdefault("format", "json")
        params.setdefault("formatversion", "2")
        response = self.http.get(self.api, params=params, timeout=self.timeout)
        response.raise_for_status()
        return self._check(response.json())

    def post(self, **params: Any) -> dict[str, Any]:
        params.setdefault("format", "json")
        params.setdefault("formatversion", "2")
        response = self.http.post(self.api, data=params, timeout=self.timeout)
        response.raise_for_status()
        return self._check(response.json())

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            tokens = self.get(action="query", meta="tokens")["query"]["tokens"]
            self._csrf = str(tokens["csrftoken"])
        return self._csrf

    def write(self, **params: Any) -> dict[str, Any]:
        """POST a write action with the CSRF token."""
        return self.post(token=self.csrf, **params)

    def edit(self, title: str, text: str, summary: str = "test edit", **extra: Any) -> int:
        """Replace a page's text (creating it if needed); return the new revision id.

        A null edit (same text) returns the current revision id.
        """
        result = self.write(action="edit", title=title, text=text, summary=summary, **extra)["edit"]
        if result.get("result") != "Success":
            raise LocalWikiError(f"edit of {title!r} failed: {result}")
        if result.get("nochange"):
            return self.revision(title)[1]
        return int(result["newrevid"])

    def page(self, title: str) -> tuple[str, int] | None:
        """``(text, revid)`` of a page's latest revision, or None if it does not exist."""
        data = self.get(
            action="query",
            prop="revisions",
            titles=title,
            rvprop="content|ids",
            rvslots="main",
        )
        page = data["query"]["pages"][0]
        if page.get("missing") or page.get("invalid"):
            return None
        rev = page["revisions"][0]
        return str(rev["slots"]["main"]["content"]), int(rev["revid"])

    def revision(self, title: str) -> tuple[str, int]:
        found = self.page(title)
        if found is None:
            raise LocalWikiError(f"page {title!r} does not exist")
        return found

    def protect(self, title: str, level: str = "sysop") -> None:
        """Protect a page for editing (``level`` '' removes the protection)."""
        protections = f"edit={level}|move={level}" if level else "edit=all|move=all"
        self.write(action="protect", title=title, protections=protections, reason="test")

    def block(self, user: str) -> None:
        self.write(action="block", user=user, expiry="infinite", reason="test", noautoblock=1)

    def unblock(self, user: str) -> None:
        self.write(action="unblock", user=user, reason="test")

    def delete(self, title: str) -> None:
        self.write(action="delete", title=title, reason="test")

    def create_tag(self, tag: str) -> None:
        with contextlib.suppress(LocalWikiError):  # already defined
            self.write(action="managetags", operation="create", tag=tag, reason="test")


@dataclass(frozen=True)
class WikiSetup:
    """How a :class:`LocalWiki` is installed and started, when the defaults do not fit."""

    mediawiki_dir: str | os.PathLike[str] = MEDIAWIKI_DIR
    php: str = "php"
    bot_name: str = "WmsocialBot"
    human_name: str = "Admin"
    start_timeout: float = 30.0


DEFAULT_SETUP = WikiSetup()


class LocalWiki:
    """One throwaway MediaWiki: install once into ``root``, serve it with ``php -S``.

    ``root`` None means a fresh temporary directory that :meth:`stop` removes; an existing
    ``root`` that already holds an installed wiki is reused (same users and passwords).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        port: int = 0,
        setup: WikiSetup = DEFAULT_SETUP,
        die_with_parent: bool = True,
    ) -> None:
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="testwiki-"))
        self.requested_port = port
        self.port = port
        self.mediawiki_dir = Path(setup.mediawiki_dir)
        self.php = setup.php
        self.bot_name = setup.bot_name
        self.human_name = setup.human_name
        self.start_timeout = setup.start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.bot = Account(setup.bot_name, "", "")
        self.human = Account(setup.human_name, "", "")
        self._log: Any = None
        self.supervisor_pid: int | None = None  # set by the CLI's foreground ``start``
        # Linux: the PHP server gets SIGTERM when this process dies, even by SIGKILL, so a
        # killed test run leaves nothing behind.  ``start --detach`` turns it off.
        self.die_with_parent = die_with_parent

    # ---- paths and addresses -------------------------------------------------------------
    @property
    def mw_dir(self) -> Path:
        return self.root / "mw"

    @property
    def local_settings(self) -> Path:
        return self.mw_dir / "LocalSettings.php"

    @property
    def pywikibot_dir(self) -> Path:
        return self.root / "pywikibot"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api.php"

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def info(self) -> dict[str, Any]:
        """What a script needs to use the wiki, as plain JSON-able data."""
        return {
            "url": self.url,
            "api": self.api,
            "port": self.port,
            "dir": str(self.root),
            "pywikibot_dir": str(self.pywikibot_dir),
            "family": FAMILY,
            "site": f"{FAMILY}:{FAMILY}",
            "change_tag": CHANGE_TAG,
            "users": {
                "bot": {
                    "name": self.bot.name,
                    "login_name": self.bot.login_name,
                    "password": self.bot.password,
                    "grants": BOT_GRANTS.split(","),
                },
                "human": {
                    "name": self.human.name,
                    "login_name": self.human.login_name,
                    "password": self.human.password,
                },
            },
            "pid": self.process.pid if self.process is not None else None,
        }

    # ---- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> LocalWiki:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalWiki:
        if self.running:
            return self
        try:
            self._check_prerequisites()
            self.root.mkdir(parents=True, exist_ok=True)
            state = self._read_state()
            if self.port == 0:
                old_port = int(state["port"]) if state and state.get("port") else 0
                self.port = old_port if old_port and _port_free(old_port) else free_port()
            if state is None:
                self._install()
            else:
                users = state["users"]
                keys = ("name", "password", "login_name")
                self.bot = Account(**{k: users["bot"][k] for k in keys})
                self.human = Account(**{k: users["human"][k] for k in keys})
            for attempt in range(3):
                self._write_runtime_config()
                if self._serve():
                    break
                if self.requested_port or attempt == 2:
                    raise LocalWikiError(
                        f"php -S on port {self.port} did not start; see {self.root / 'php.log'}"
                    )
                self.port = free_port()
            if state is None:
                self._seed()
            self._write_state()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the PHP server (and remove the directory if it was a temporary one)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        elif self.state_file.exists():
            self._write_state()

    def detach(self) -> None:
        """Leave the server running after this process exits (``stop --dir`` ends it)."""
        atexit.unregister(self.stop)
        self._own_root = False
        self.process = None

    # ---- helpers for tests ---------------------------------------------------------------
    def human_session(self) -> ApiSession:
        return ApiSession(self.api, self.human.login_name, self.human.password)

    def bot_session(self) -> ApiSession:
        """The bot's own raw-API session (bot password), for checks outside Pywikibot."""
        return ApiSession(self.api, self.bot.login_name, self.bot.password)

    def env(self) -> dict[str, str]:
        """Environment variables that point Pywikibot and scripts at this wiki."""
        return {
            "PYWIKIBOT_DIR": str(self.pywikibot_dir),
            "WMSOCIAL_TESTWIKI": str(self.state_file),
        }

    # ---- internals -----------------------------------------------------------------------
    def _check_prerequisites(self) -> None:
        if shutil.which(self.php) is None:
            raise LocalWikiError(f"no '{self.php}' executable; {INSTALL_HINT}")
        if not (self.mediawiki_dir / "maintenance" / "install.php").exists():
            raise LocalWikiError(f"no MediaWiki in {self.mediawiki_dir}; {INSTALL_HINT}")
        probe = subprocess.run(
            [
                self.php,
                "-r",
                "exit(extension_loaded('pdo_sqlite') && "
                "extension_loaded('intl') && extension_loaded('mbstring') ? 0 : 1);",
            ],
            capture_output=True,
            check=False,
        )
        if probe.returncode != 0:
            raise LocalWikiError(f"PHP lacks pdo_sqlite, intl or mbstring; {INSTALL_HINT}")

    def _php(self, *args: str) -> str:
        env = dict(os.environ, MW_CONFIG_FILE=str(self.local_settings))
        done = subprocess.run(
            [self.php, *args],
            cwd=self.mediawiki_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise LocalWikiError(
                f"{' '.join(args[:1])} failed ({done.returncode}): "
                f"{(done.stdout + done.stderr).strip()[-2000:]}"
            )
        return done.stdout

    def _install(self) -> None:
        if self.mw_dir.exists():  # an install that never finished: start again
            shutil.rmtree(self.mw_dir)
        data = self.mw_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        human_password = "Human-" + secrets.token_hex(12)
        self._php(
            "maintenance/install.php",
            "--dbtype=sqlite",
            f"--dbpath={data}",
            "--dbname=wiki",
            f"--confpath={self.mw_dir}",
            f"--server={self.url}",
            "--scriptpath=",
            f"--pass={human_password}",
            "Test Meta",
            self.human_name,
        )
        with self.local_settings.open("a") as fh:
            fh.write(
                "\n# Added by wmsocial_testkit.testwiki\n"
                "require __DIR__ . '/wmsocial-settings.php';\n"
            )
        self._write_runtime_config()
        bot_user_password = "Bot-" + secrets.token_hex(12)
        self._php("maintenance/createAndPromote.php", "--bot", self.bot_name, bot_user_password)
        bot_password = secrets.token_hex(16)  # 32 characters of [0-9a-f], as MediaWiki makes
        self._php(
            "maintenance/createBotPassword.php",
            f"--grants={BOT_GRANTS}",
            f"--appid={BOT_APP}",
            self.bot_name,
            bot_password,
        )
        self.bot = Account(self.bot_name, bot_password, f"{self.bot_name}@{BOT_APP}")
        self.human = Account(self.human_name, human_password, self.human_name)

    def _write_runtime_config(self) -> None:
        """The parts that depend on the port: MediaWiki overrides and Pywikibot's config."""
        spam_blacklist = self.mediawiki_dir / "extensions-core/SpamBlacklist/extension.json"
        # ParserFunctions (#if, #ifeq, ...), as on Meta: the templates the extraction oracle
        # installs (tests/integration/test_extract_oracle.py) need it.
        parser_functions = self.mediawiki_dir / "extensions-core/ParserFunctions/extension.json"
        settings = f"""<?php
// Generated by wmsocial_testkit.testwiki on every start; do not edit.
$wgServer = 'http://127.0.0.1:{self.port}';
$wgCanonicalServer = $wgServer;
$wgSessionCacheType = CACHE_DB;
$wgRateLimits = [];
$wgPasswordAttemptThrottle = [];
$wgDiff3 = false;              // no server-side merge: every concurrent edit conflicts
$wgEnableEmail = false;
$wgJobRunRate = 0;
$wgShowExceptionDetails = true;
$wgGroupPermissions['bot']['noratelimit'] = true;
wfLoadExtension( 'SpamBlacklist', '{spam_blacklist}' );
wfLoadExtension( 'ParserFunctions', '{parser_functions}' );
$wgBlacklistSettings = [ 'spam' => [ 'files' => [] ], 'email' => [ 'files' => [] ] ];
"""
        (self.mw_dir / "wmsocial-settings.php").write_text(settings)

        pwb = self.pywikibot_dir
        (pwb / "families").mkdir(parents=True, exist_ok=True)
        family_file = pwb / "families" / f"{FAMILY}_family.py"
        family_file.write_text(
            f'''"""Family file for the local test wiki at {self.url} (generated)."""

from pywikibot import family


class Family(family.SingleSiteFamily):
    name = {FAMILY!r}
    domain = '127.0.0.1:{self.port}'

    def protocol(self, code):
        return 'http'

    def scriptpath(self, code):
        return ''
'''
        )
        password_file = pwb / "user-password.py"
        if self.bot.password:
            password_file.write_text(
                f"({self.bot.name!r}, BotPassword({BOT_APP!r}, {self.bot.password!r}))\n"
            )
            password_file.chmod(0o600)
        (pwb / "user-config.py").write_text(
            f"""# Pywikibot configuration for the local test wiki (generated; do not edit).
family = {FAMILY!r}
mylang = {FAMILY!r}
family_files[{FAMILY!r}] = {str(family_file)!r}
usernames[{FAMILY!r}][{FAMILY!r}] = {self.bot.name!r}
password_file = {str(password_file)!r}
put_throttle = 0
minthrottle = 0
max_retries = 2
retry_wait = 1
retry_max = 2
socket_timeout = (5, 60)
user_agent_description = 'wmsocial-bot tests'
"""
        )
        (pwb / "user-config.py").chmod(0o600)

    def _serve(self) -> bool:
        """Launch ``php -S`` and wait for api.php; False if the server died (port taken)."""
        env = dict(os.environ, MW_CONFIG_FILE=str(self.local_settings))
        env.pop("PHP_CLI_SERVER_WORKERS", None)  # one worker: requests are serialised
        if self._log is None:
            self._log = (self.root / "php.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.php,
                "-S",
                f"127.0.0.1:{self.port}",
                "-t",
                str(self.mediawiki_dir),
                "-d",
                "opcache.enable_cli=1",
                "-d",
                "display_errors=stderr",
            ],
            cwd=self.mediawiki_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            try:
                response = requests.get(
                    self.api,
                    params={"action": "query", "meta": "siteinfo", "format": "json"},
                    timeout=5,
                )
                if response.ok and "query" in response.json():
                    return True
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.05)
        raise LocalWikiError(
            f"{self.api} did not answer within {self.start_timeout} s; see {self.root / 'php.log'}"
        )

    def _seed(self) -> None:
        human = self.human_session()
        human.create_tag(CHANGE_TAG)
        human.edit("Template:Bots", "<!-- bot exclusion template, as on Meta -->")
        human.edit("Template:Nobots", "<!-- bot exclusion template, as on Meta -->")

    def _read_state(self) -> dict[str, Any] | None:
        if not self.state_file.exists() or not self.local_settings.exists():
            return None
        state: dict[str, Any] = json.loads(self.state_file.read_text())
        return state

    def _write_state(self) -> None:
        data = self.info()
        data["supervisor_pid"] = self.supervisor_pid if self.process is not None else None
        self.state_file.write_text(json.dumps(data, indent=2) + "\n")
        self.state_file.chmod(0o600)


# ---- command line ----------------------------------------------------------------------------


def _alive(pid: int | None, marker: str) -> bool:
    """True if ``pid`` runs and (where /proc exists) its command line contains ``marker``."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return marker in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
    return True


def stop_dir(root: Path) -> bool:
    """Stop whatever serves the wiki in ``root``; True if something was stopped."""
    state_file = root / STATE_FILE
    if not state_file.exists():
        return False
    state = json.loads(state_file.read_text())
    stopped = False
    supervisor = state.get("supervisor_pid")
    if supervisor and supervisor != os.getpid() and _alive(supervisor, "testwiki"):
        os.kill(supervisor, signal.SIGTERM)
        stopped = True
        for _ in range(100):
            if not _alive(supervisor, "testwiki"):
                break
            time.sleep(0.05)
    pid = state.get("pid")
    if pid and _alive(pid, f"127.0.0.1:{state.get('port')}"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        stopped = True
        for _ in range(100):
            if not _alive(pid, "php"):
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    state["pid"] = None
    state["supervisor_pid"] = None
    state_file.write_text(json.dumps(state, indent=2) + "\n")
    return stopped


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testwiki", description="A throwaway local MediaWiki for wmsocial-bot."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="install if needed, serve, print JSON")
    p_start.add_argument("--dir", type=Path, help="keep the wiki here (default: temporary)")
    p_start.add_argument("--port", type=int, default=0, help="default: a free port")
    p_start.add_argument(
        "--detach", action="store_true", help="print JSON and return; 'stop --dir' ends it"
    )
    p_stop = sub.add_parser("stop", help="stop the wiki served from --dir")
    p_stop.add_argument("--dir", type=Path, required=True)
    p_info = sub.add_parser("info", help="print the JSON of the wiki in --dir")
    p_info.add_argument("--dir", type=Path, required=True)
    p_run = sub.add_parser("run", help="start, run a command against the wiki, stop")
    p_run.add_argument("--dir", type=Path)
    p_run.add_argument("--port", type=int, default=0)
    p_run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "stop":
        stopped = stop_dir(args.dir)
        print("stopped" if stopped else "not running")
        return 0
    if args.command == "info":
        return _print_info(args.dir)
    if args.command == "start" and args.detach and args.dir is None:
        parser.error("--detach needs --dir (to stop it later)")
    wiki = _start_wiki(args)
    if wiki is None:
        return 1
    if args.command == "run":
        return _run_command(parser, wiki, args.cmd)
    return _serve(wiki, detach=args.detach)


def _print_info(root: Path) -> int:
    """``info``: the JSON a started wiki wrote, again."""
    state_file = root / STATE_FILE
    if not state_file.exists():
        print(f"no test wiki in {root}", file=sys.stderr)
        return 1
    print(state_file.read_text(), end="")
    return 0


def _start_wiki(args: argparse.Namespace) -> LocalWiki | None:
    """``start`` and ``run``: a started wiki, or None after saying on stderr why not."""
    if args.dir is not None and _alive(_state_pid(args.dir), "php"):
        print(f"a test wiki is already running from {args.dir}", file=sys.stderr)
        return None
    wiki = LocalWiki(args.dir, port=args.port, die_with_parent=not getattr(args, "detach", False))
    if args.command == "start" and not args.detach:
        wiki.supervisor_pid = os.getpid()
    try:
        wiki.start()
    except LocalWikiError as exc:
        print(f"testwiki: {exc}", file=sys.stderr)
        return None
    return wiki


def _run_command(parser: argparse.ArgumentParser, wiki: LocalWiki, cmd: list[str]) -> int:
    """``run``: the command's exit status; the wiki stops whatever happens."""
    cmd = cmd[1:] if cmd[:1] == ["--"] else cmd
    if not cmd:
        wiki.stop()
        parser.error("run needs a command after --")
    try:
        return subprocess.call(cmd, env=dict(os.environ, **wiki.env()))
    finally:
        wiki.stop()


def _serve(wiki: LocalWiki, *, detach: bool) -> int:
    """``start``: print the JSON, then hand the server over (``--detach``) or serve until told."""
    print(json.dumps(wiki.info(), indent=2), flush=True)
    if detach:
        wiki.detach()
        return 0
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while wiki.running:
            time.sleep(0.5)
        print("testwiki: php server exited", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        wiki.stop()


def _state_pid(root: Path) -> int | None:
    state_file = root / STATE_FILE
    if not state_file.exists():
        return None
    pid = json.loads(state_file.read_text()).get("pid")
    return int(pid) if pid else None


if __name__ == "__main__":
    sys.exit(main())
