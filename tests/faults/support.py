"""Shared helpers of the fault suite (a plain module: ``from faults.support import ...``).

* :data:`FIGURES`: what the suite counted (cases, injected faults, false verdicts, duplicates);
  ``tests/faults/conftest.py`` prints it at the end of the session.
* :class:`Stage`: the fixtures a test's scene is set on (wiki, human, simulator, title, directory),
  as one record (the ``stage`` fixture of ``tests/faults/conftest.py``).
* :func:`write_config`: a test's :class:`SuiteConfig` as a TOML file.
* :func:`run_cli`: one ``wmsocial-bot run`` in a subprocess against the local wiki and the
  simulator, optionally (:class:`RunOptions`) killed with SIGKILL at a named point
  (``WMSOCIAL_BOT_CRASH_AT``, run through the test kit's :mod:`wmsocial_testkit.crashrun`) or
  when a condition becomes true (polled).
* :class:`WikiProxy`: a fault-injecting HTTP proxy in front of the local wiki (edit conflicts,
  maxlag, read-only, ...), with a log of every API call; :func:`pywikibot_dir_via` makes a
  Pywikibot directory whose family points at it.
* :func:`state_problems`: what is wrong with a state store (integrity, torn runs, orphans).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import requests

from wmsocial_bot.state import MIGRATIONS
from wmsocial_testkit.crashrun import CRASH_AT

if TYPE_CHECKING:
    from wmsocial_testkit.simulator import Simulator
    from wmsocial_testkit.testwiki import ApiSession, LocalWiki

# ---- figures ---------------------------------------------------------------------------


@dataclass
class Figures:
    """Counts for the closing note: every fault test adds to them."""

    cases: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    false_verdicts: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def case(self, area: str, n: int = 1) -> None:
        self.cases[area] += n

    def fault(self, kind: str, n: int = 1) -> None:
        self.faults[kind] += n

    def false_verdict(self, what: str) -> None:
        self.false_verdicts.append(what)

    def duplicate(self, what: str) -> None:
        self.duplicates.append(what)

    def lines(self) -> list[str]:
        if not self.cases and not self.faults:
            return []
        lines = [
            f"cases run: {sum(self.cases.values())} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.cases.items()))})",
            f"faults injected: {sum(self.faults.values())} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.faults.items()))})",
            f"false verdicts: {len(self.false_verdicts)}",
            f"duplicates: {len(self.duplicates)}",
        ]
        lines += [f"  false verdict: {what}" for what in self.false_verdicts[:20]]
        lines += [f"  duplicate: {what}" for what in self.duplicates[:20]]
        return lines


FIGURES = Figures()

# ---- a test's scene ---------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """What a test's scene is set on: the wiki, its human, the simulator, a page title of the
    test's own and a directory of its own (one record instead of five fixtures)."""

    wiki: LocalWiki
    human: ApiSession
    sim: Simulator
    title: str
    tmp: Path


# ---- the bot in a subprocess -------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    def __str__(self) -> str:
        return f"exit {self.returncode} after {self.seconds:.1f} s\n{self.stdout}\n{self.stderr}"


@dataclass(frozen=True)
class SuiteConfig:
    """What one test's config says; :func:`write_config` writes it as TOML."""

    pages: Sequence[str]
    state: Path
    endpoints: Mapping[str, str]
    status_page: str = ""
    policy: Mapping[str, object] | None = None
    network: Mapping[str, object] | None = None
    lease_seconds: int | None = None


def write_config(path: Path, config: SuiteConfig) -> Path:
    """A TOML config for one test: act at once (confirmations 1 over 0 days)."""
    policy = {
        "confirmations": 1,
        "confirm_days": 0,
        "outage_min_accounts": 10,
        **(config.policy or {}),
    }
    network = {"timeout": 5.0, **(config.network or {})}
    lease = config.lease_seconds
    lines = [
        "[bot]",
        'contact = "User:Fault suite"',  # run refuses to start without one
        "[wiki]",
        f"pages = {json.dumps(list(config.pages))}",
        f"status_page = {json.dumps(config.status_page)}",
        "[state]",
        f"path = {json.dumps(str(config.state))}",
        *([f"lease_seconds = {lease}"] if lease is not None else []),
        "[policy]",
        *[f"{k} = {json.dumps(v)}" for k, v in policy.items()],
        "[network]",
        *[f"{k} = {json.dumps(v)}" for k, v in network.items()],
        "[endpoints]",
        *[f"{json.dumps(host)} = {json.dumps(url)}" for host, url in config.endpoints.items()],
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class RunOptions:
    """How :func:`run_cli` runs the bot, and whether and when it ends it early.

    ``crash_at`` runs the bot through the crash launcher (``wmsocial_testkit.crashrun``) with that
    point; ``kill_when`` is polled every 5 ms and the process is killed with SIGKILL (or sent
    ``kill_signal``, once) as soon as it returns True.  ``prefix`` runs the bot through another
    command (e.g. ``unshare`` with a shell that sets up a namespace and ``exec "$@"``).
    """

    crash_at: str | None = None
    kill_when: Callable[[], bool] | None = None
    kill_signal: int = signal.SIGKILL
    timeout: float = 120.0
    env: Mapping[str, str] | None = None
    prefix: Sequence[str] = ()


PLAIN_RUN = RunOptions()


def run_cli(pywikibot_dir: Path, *args: str, options: RunOptions = PLAIN_RUN) -> CliRun:
    """``python -m wmsocial_bot <args>`` with Pywikibot pointed at ``pywikibot_dir``."""
    child_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYWIKIBOT", "WMSOCIAL")) or k == "WMSOCIAL_TESTWIKI"
    }
    child_env["PYWIKIBOT_DIR"] = str(pywikibot_dir)
    launch = ["-m", "wmsocial_bot"]
    if options.crash_at:
        child_env[CRASH_AT] = options.crash_at
        launch = ["-m", "wmsocial_testkit.crashrun"]
    child_env.update(options.env or {})
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            [*options.prefix, sys.executable, *launch, *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=child_env,
            text=True,
        )
        try:
            _wait_or_end_early(proc, options, started)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return CliRun(proc.returncode, out.read(), err.read(), seconds)


def _wait_or_end_early(proc: subprocess.Popen[str], options: RunOptions, started: float) -> None:
    """Wait for the bot, signalling it once ``kill_when`` holds; fail after ``timeout``."""
    kill_when = options.kill_when
    while proc.poll() is None:
        if kill_when is not None and kill_when():
            proc.send_signal(options.kill_signal)
            if options.kill_signal == signal.SIGKILL:
                break
            kill_when = None  # let it end by itself
        if time.monotonic() - started > options.timeout:
            proc.kill()
            raise AssertionError(f"the bot did not finish within {options.timeout} s")
        time.sleep(0.005)
    proc.wait(timeout=30)


# ---- the state store -------------------------------------------------------------------


def state_problems(path: Path) -> list[str]:
    """Everything that makes a state store inconsistent; empty when it is sound."""
    if not path.exists():
        return []
    problems = []
    db = sqlite3.connect(path)
    try:
        if (check := db.execute("PRAGMA integrity_check").fetchone()[0]) != "ok":
            problems.append(f"integrity_check: {check}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, len(MIGRATIONS)):
            problems.append(f"schema version {version}, expected {len(MIGRATIONS)}")
        if version < 2:
            return problems
        queries = {
            "a check of a run that is not recorded": (
                "SELECT count(*) FROM checks WHERE run_id NOT IN (SELECT id FROM runs)"
            ),
            "an outage of a run that is not recorded": (
                "SELECT count(*) FROM outages WHERE run_id NOT IN (SELECT id FROM runs)"
            ),
            "a real run without its checks": (
                "SELECT count(*) FROM runs WHERE dry_run = 0 AND id NOT IN "
                "(SELECT run_id FROM checks)"
            ),
            "a streak with no check behind it": (
                "SELECT count(*) FROM streaks s WHERE NOT EXISTS (SELECT 1 FROM checks c "
                "WHERE c.account_key = s.account_key AND c.checked_at = s.last_seen)"
            ),
            "a fix without its edit": (
                "SELECT count(*) FROM fixes f WHERE NOT EXISTS (SELECT 1 FROM edits e "
                "WHERE e.page = f.page AND e.revid IS f.revid)"
            ),
            "a streak counted twice in one run": (
                "SELECT count(*) FROM streaks s WHERE s.count > (SELECT count(*) FROM checks c "
                "WHERE c.account_key = s.account_key)"
            ),
        }
        for what, sql in queries.items():
            if n := db.execute(sql).fetchone()[0]:
                problems.append(f"{n} x {what}")
    finally:
        db.close()
    return problems


def state_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute(sql).fetchall())
    finally:
        db.close()


# ---- a fault-injecting proxy for the wiki ------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """One request that reached the proxy, with its API parameters (first value of each)."""

    method: str
    params: dict[str, str]
    injected: str | None  # the fault the proxy answered with, or None when forwarded

    @property
    def action(self) -> str:
        return self.params.get("action", "")


# A rule sees the call and the proxy; it may act (e.g. edit the page as a human first) and
# returns an injected (name, JSON answer) or None to forward the call.
Rule = Callable[[ApiCall, "WikiProxy"], tuple[str, dict[str, Any]] | None]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-encoding",
    "content-length",
    "host",
    "te",
    "trailer",
    "upgrade",
}


class WikiProxy:
    """``http://127.0.0.1:PORT`` -> the local wiki, with rules that inject faults."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.calls: list[ApiCall] = []
        self._lock = threading.Lock()
        self._http = requests.Session()
        self._http.cookies.set_policy(_NoCookies())  # the client's cookies pass through
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> WikiProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self, injected: str | None = None, **params: str) -> int:
        with self._lock:
            return sum(
                1
                for call in self.calls
                if (injected is None or call.injected == injected)
                and all(call.params.get(k) == v for k, v in params.items())
            )

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        params = {k: v[0] for k, v in parse_qs(urlsplit(handler.path).query).items()}
        if "x-www-form-urlencoded" in (handler.headers.get("Content-Type") or ""):
            params.update({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
        call = ApiCall(handler.command, params, None)
        answer = None
        for rule in list(self.rules):
            answer = rule(call, self)
            if answer is not None:
                break
        if answer is not None:
            name, data = answer
            with self._lock:
                self.calls.append(ApiCall(handler.command, params, name))
            payload = json.dumps(data).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("MediaWiki-API-Error", data.get("error", {}).get("code", ""))
            if "lag" in data.get("error", {}):
                # (Wikimedia also sends Retry-After; left out, Pywikibot would pause for it.)
                handler.send_header("X-Database-Lag", str(data["error"]["lag"]))
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        with self._lock:
            self.calls.append(call)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        response = self._http.request(
            handler.command,
            self.upstream + handler.path,
            data=body or None,
            headers=headers,
            allow_redirects=False,
            timeout=60,
        )
        content = response.content
        handler.send_response(response.status_code)
        for key, value in response.raw.headers.items():
            if key.lower() not in _HOP_BY_HOP:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)


class _NoCookies:
    """A cookie policy that keeps nothing: the proxy must not hold anyone's session."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = False

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


def pywikibot_dir_via(
    source: Path, target: Path, *, port: int, password: str | None = None
) -> Path:
    """A copy of the test wiki's Pywikibot directory that talks to ``port`` instead.

    ``password`` replaces the bot password (a wrong one makes the login fail).  Pywikibot's
    pauses before a retry (maxlag, read-only) are cut to a fraction of a second.
    """
    if target.exists():
        shutil.rmtree(target)
    (target / "families").mkdir(parents=True)
    for name in ("user-config.py", "user-password.py", "families/wmsocialtest_family.py"):
        text = (source / name).read_text(encoding="utf-8")
        text = text.replace(str(source), str(target))
        if name.startswith("families/"):
            text = re.sub(r"domain = '127\.0\.0\.1:\d+'", f"domain = '127.0.0.1:{port}'", text)
        if name == "user-password.py" and password is not None:
            text = re.sub(
                r"BotPassword\(('[^']*'), '[^']*'\)", rf"BotPassword(\1, {password!r})", text
            )
        if name == "user-config.py":
            text += "retry_wait = 0.2\nretry_max = 0.4\n"
        (target / name).write_text(text, encoding="utf-8")
        (target / name).chmod(0o600)
    return target


# ---- rules ---------------------------------------------------------------------------------


def api_error(code: str, info: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "info": info, **extra}, "servedby": "wikiproxy"}
