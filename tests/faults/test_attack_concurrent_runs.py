"""Attacks on "one run at a time": two runs at once, a killed holder, a talk page posted to
meanwhile, and a state file that cannot be used.

Every case runs real ``wmsocial-bot`` processes against the fault suite's MediaWiki and the
simulator.  Each process talks to the wiki through its own :class:`faults.support.WikiProxy`,
whose log tells whether that process made any wiki request at all; the simulator's log tells
the same for the platforms.

* Two ``run`` processes started together on one state store: one does the work, the other
  exits at once (exit 4) with one line naming the holder, and makes no request.
* A run killed (SIGKILL) on another machine keeps the store until its lease expires, then the
  next run goes ahead.  "Another machine" is a process in its own UTS namespace with another
  host name (``unshare``); a killed run on the same machine is taken over at once, which the
  crash tests (test_fault_crash.py) rely on.
* The talk page is read again right before posting: findings someone else posted since the
  run read it are not posted twice.
* A read-only store (a read-only mount), a full disk (a tiny tmpfs), a damaged file, a file
  that is no database, a directory, a newer schema: exit 2, one line, no traceback, no request
  to the wiki or a platform, and the file unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faults.support import (
    PLAIN_RUN,
    ApiCall,
    CliRun,
    Figures,
    RunOptions,
    Stage,
    SuiteConfig,
    WikiProxy,
    pywikibot_dir_via,
    run_cli,
    state_problems,
    state_rows,
    write_config,
)

from wmsocial_bot.model import Identity
from wmsocial_bot.notices import MARKER_PREFIX, marker_comment, reported_markers
from wmsocial_bot.state import MIGRATIONS, SqliteStore
from wmsocial_testkit.fixtures import skip_or_fail
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki

pytestmark = [pytest.mark.wiki, pytest.mark.simulator, pytest.mark.faults]

PAGE = """== Mastodon ==
* [https://social.example/@alice @alice@social.example]
* [https://social.example/@bob @bob@social.example]
* [https://social.example/@nobody Nobody]
* https://social.example/@carol"""
FIXED = "[https://new.example/@bob @bob@new.example]"
MARKERS = {
    "deleted:mastodon:nobody@social.example",
    "suspended:mastodon:carol@social.example",
}
HEADING = "== Social media accounts that need attention"
EXIT_LEASE_HELD = 4
LEASE_MESSAGE = re.compile(
    r"^wmsocial-bot: error: another run holds the state store (?P<path>\S+) \(host (?P<host>\S+),"
    r" pid (?P<pid>\d+), since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, lease expires "
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); this run did nothing\. .*$"
)
OTHER_HOST = "wmsocial-elsewhere"


class Scene:
    """A page, its talk page, one config and state file, and a proxy per bot process."""

    def __init__(
        self, stage: Stage, *, state: Path | None = None, lease_seconds: int | None = None
    ) -> None:
        self.wiki, self.human, self.sim = stage.wiki, stage.human, stage.sim
        self.title, self.tmp = stage.title, stage.tmp
        self.talk = "Talk:" + self.title
        self.state = state or self.tmp / "state.sqlite3"
        self.config = write_config(
            self.tmp / "config.toml",
            SuiteConfig(
                pages=[self.title],
                state=self.state,
                endpoints=self.sim.overrides(),
                lease_seconds=lease_seconds,
            ),
        )
        self.proxies: list[WikiProxy] = []
        self.human.edit(self.title, PAGE)

    def proxied(self) -> tuple[WikiProxy, Path]:
        """A new proxy to the wiki and a Pywikibot directory that goes through it."""
        proxy = WikiProxy(self.wiki.url).__enter__()
        self.proxies.append(proxy)
        pwb = pywikibot_dir_via(
            self.wiki.pywikibot_dir, self.tmp / f"pwb{len(self.proxies)}", port=proxy.port
        )
        return proxy, pwb

    def run(self, pwb: Path | None = None, *args: str, options: RunOptions = PLAIN_RUN) -> CliRun:
        return run_cli(
            pwb or self.wiki.pywikibot_dir,
            "run",
            "--config",
            str(self.config),
            *args,
            options=options,
        )

    def text(self, title: str) -> str:
        return (self.human.page(title) or ("", 0))[0]

    def bot_edits(self, title: str) -> int:
        data = self.human.get(
            action="query", prop="revisions", titles=title, rvprop="user", rvlimit="max"
        )
        revisions = data["query"]["pages"][0].get("revisions", [])
        return sum(1 for r in revisions if r["user"] == self.wiki.bot.name)

    def done_once(self, figures: Figures, case: str) -> list[str]:
        """Everything the run does, done exactly once: one fix edit, one section, each marker."""
        problems = []
        talk = self.text(self.talk)
        if talk.count(HEADING) != 1:
            figures.duplicate(f"{case}: {talk.count(HEADING)} talk sections")
            problems.append(f"{talk.count(HEADING)} talk sections, want 1")
        for marker in MARKERS:
            if (count := talk.count(MARKER_PREFIX + marker)) != 1:
                problems.append(f"{marker} is on the talk page {count} times")
        if (edits := self.bot_edits(self.title)) != 1:
            figures.duplicate(f"{case}: {edits} bot edits of the page")
            problems.append(f"{edits} bot edits of the page, want 1")
        if FIXED not in self.text(self.title):
            problems.append("the fix is not on the page")
        problems += [f"state: {p}" for p in state_problems(self.state)]
        return problems

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.__exit__(None, None, None)


@pytest.fixture
def scene(stage: Stage) -> Iterator[Scene]:
    made = Scene(stage)
    yield made
    made.close()


def lease_row(state: Path) -> dict[str, Any] | None:
    rows = state_rows(state, "SELECT host, pid, since, expires FROM lease")
    if not rows:
        return None
    host, pid, since, expires = rows[0]
    return {"host": host, "pid": pid, "since": since, "expires": expires}


def one_line_error(run: CliRun) -> str:
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line on stderr:\n{run}"
    assert "Traceback" not in run.stderr and "rollback" not in run.stderr.lower(), run
    return lines[0]


# ---- namespaces: another host name, a read-only mount, a full disk ----------------------------


def _unshare(*flags: str) -> list[str] | None:
    """``unshare`` with these namespaces (and a user namespace when not root), if it works."""
    command = ["unshare", *flags]
    if os.geteuid() != 0:
        command[1:1] = ["--user", "--map-root-user"]
    if shutil.which("unshare") is None:
        return None
    probe = subprocess.run([*command, "true"], capture_output=True, check=False)
    return command if probe.returncode == 0 else None


def namespace(*flags: str, setup: str, after: str = "") -> list[str]:
    """A command prefix that runs ``setup`` in new namespaces, then the command, then ``after``.

    Skipped with the reason when namespaces are not available here, except under CI=true.
    """
    command = _unshare(*flags)
    if command is None:
        reason = f"unshare {' '.join(flags)} is not available here (needs root or user namespaces)"
        skip_or_fail(reason)
    script = f'set -e; {setup}; exec "$@"'
    if after:
        script = f'set -e; {setup}; set +e; "$@"; status=$?; {after}; exit $status'
    return [*command, "sh", "-c", script, "sh"]


def other_host() -> list[str]:
    """Run the bot as if on another machine: its own host name (a UTS namespace)."""
    return namespace("--uts", setup=f"hostname {OTHER_HOST}")


# ---- two runs at once ----------------------------------------------------------------------------


def start_together(scene: Scene, count: int = 2) -> list[tuple[CliRun, WikiProxy]]:
    """``count`` runs of the bot, started at the same moment, each through its own proxy."""
    routes = [scene.proxied() for _ in range(count)]
    gate = threading.Barrier(count)
    results: list[CliRun | None] = [None] * count

    def go(i: int) -> None:
        gate.wait()
        results[i] = scene.run(routes[i][1])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None for r in results)
    return [(r, proxy) for r, (proxy, _pwb) in zip(results, routes, strict=True) if r is not None]


@pytest.mark.parametrize("attempt", range(2))
def test_two_runs_started_together_do_the_work_once(
    scene: Scene, figures: Figures, attempt: int
) -> None:
    figures.fault("two runs started together")
    figures.case("attack: concurrent runs")
    # Slow answers keep the first run busy for seconds: the second cannot arrive after it ended.
    scene.sim.update_host("social.example", latency_ms=300)
    runs = start_together(scene)
    codes = sorted(run.returncode for run, _proxy in runs)
    assert codes == [0, EXIT_LEASE_HELD], "\n".join(str(run) for run, _ in runs)
    _first, (loser, loser_proxy) = sorted(runs, key=lambda item: item[0].returncode)
    match = LEASE_MESSAGE.match(one_line_error(loser))
    assert match, loser.stderr
    assert match["path"] == str(scene.state) and match["host"] == os.uname().nodename
    assert loser_proxy.calls == [], "the second run made wiki requests before it stopped"
    assert loser.stdout == ""
    problems = scene.done_once(figures, f"concurrent runs #{attempt}")
    assert not problems, "\n".join(problems)
    assert lease_row(scene.state) is None, "the first run released its lease at the end"


# ---- a killed holder -------------------------------------------------------------------------


def test_a_killed_run_on_another_machine_blocks_until_its_lease_expires(
    fault_wiki: LocalWiki,
    human: ApiSession,
    sim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
    figures: Figures,
) -> None:
    prefix = other_host()
    scene = Scene(Stage(fault_wiki, human, sim, title, tmp_path), lease_seconds=10)
    try:
        figures.fault("SIGKILL of the lease holder")
        figures.case("attack: a killed run's lease")
        first = scene.run(options=RunOptions(crash_at="checks", prefix=prefix))
        assert first.killed, first
        held = lease_row(scene.state)
        assert held is not None and held["host"] == OTHER_HOST, held

        blocked = scene.run()
        assert blocked.returncode == EXIT_LEASE_HELD, blocked
        match = LEASE_MESSAGE.match(one_line_error(blocked))
        assert match and match["host"] == OTHER_HOST and int(match["pid"]) == held["pid"]
        assert scene.bot_edits(scene.title) == 0 and scene.text(scene.talk) == ""

        expires = datetime.fromisoformat(held["expires"])
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.5)
        after = scene.run()
        assert after.returncode == 0, after
        assert "taking over the lease of a run that ended (it expired)" in after.stderr
        problems = scene.done_once(figures, "after a killed holder")
        assert not problems, "\n".join(problems)
        assert lease_row(scene.state) is None
    finally:
        scene.close()


def test_a_run_that_lost_its_lease_writes_nothing(scene: Scene, figures: Figures) -> None:
    """While the run checks, another machine takes the lease (as after a lease that expired
    because the run's renewals failed): the run must not write to the wiki any more."""
    scene.sim.update_host("social.example", latency_ms=300)
    stolen: list[bool] = []

    def take_the_lease_once_checking() -> bool:
        if not stolen and len(scene.sim.log) >= 1:
            now = datetime.now(UTC)
            with sqlite3.connect(scene.state, timeout=10) as db:
                db.execute(
                    "UPDATE lease SET owner = 'thief', host = ?, pid = 4242, since = ?",
                    (OTHER_HOST, now.isoformat()),
                )
            db.close()
            stolen.append(True)
        return False  # never kill

    figures.fault("lease taken over during the run")
    figures.case("attack: a run that lost its lease")
    done = scene.run(options=RunOptions(kill_when=take_the_lease_once_checking))
    assert stolen, "the run made no platform request: the test did not happen"
    assert done.returncode == 0, done
    assert "lost its lease on the state store to another run" in done.stdout, done
    assert scene.bot_edits(scene.title) == 0, "the page was edited after the lease was lost"
    assert scene.text(scene.talk) == "", "a notice was posted after the lease was lost"
    held = lease_row(scene.state)
    assert held is not None and held["host"] == OTHER_HOST, "the other run's lease was kept"


def test_a_run_stopped_with_sigterm_releases_its_lease(scene: Scene, figures: Figures) -> None:
    """Toolforge stops a job with SIGTERM: the lease goes at once, even seen from another
    machine, instead of blocking runs until it expires."""
    prefix = other_host()
    scene.sim.update_host("social.example", latency_ms=300)
    figures.fault("SIGTERM during the checks")
    figures.case("attack: a run stopped by its job's timeout")
    stopped = scene.run(
        options=RunOptions(
            prefix=prefix,
            kill_when=lambda: len(scene.sim.log) >= 1,
            kill_signal=signal.SIGTERM,
        )
    )
    assert stopped.returncode == 130, stopped
    assert stopped.stderr.strip().splitlines()[-1] == "wmsocial-bot: interrupted", stopped
    assert "Traceback" not in stopped.stderr, stopped
    assert lease_row(scene.state) is None, "the stopped run left its lease behind"
    assert not state_problems(scene.state)
    scene.sim.update_host("social.example", latency_ms=None)
    after = scene.run()  # on this machine: the lease of "another machine" would block it
    assert after.returncode == 0, after
    problems = scene.done_once(figures, "after SIGTERM")
    assert not problems, "\n".join(problems)


# ---- the talk page, read again right before posting ---------------------------------------------


def test_findings_posted_meanwhile_are_not_posted_again(scene: Scene, figures: Figures) -> None:
    """Someone posts the same findings after the run read the talk page, before it posts."""
    proxy, pwb = scene.proxied()
    posted = (
        "== Accounts to look at (another tool) ==\n"
        + "\n".join(f"* {marker} {marker_comment(marker)}" for marker in sorted(MARKERS))
        + "\n~~~~"
    )
    fired: list[str] = []

    def meanwhile(call: ApiCall, proxy: WikiProxy) -> None:
        # The run lists the talk page's archives after reading it: post right then.
        listing = call.params.get("generator") == "allpages" or call.params.get("list") == (
            "allpages"
        )
        if listing and not fired:
            fired.append(call.params.get("gapprefix") or call.params.get("apprefix") or "")
            scene.human.edit(scene.talk, posted, "posting the same findings meanwhile")
        return None

    proxy.rules.append(meanwhile)  # type: ignore[arg-type]
    figures.fault("findings posted between reading and posting")
    figures.case("attack: talk page posted to meanwhile")
    done = scene.run(pwb)
    assert done.returncode == 0, done
    assert fired, "the run never listed the talk page's archives: the test did not happen"
    talk = scene.text(scene.talk)
    for marker in MARKERS:
        count = talk.count(MARKER_PREFIX + marker)
        if count > 1:
            figures.duplicate(f"{marker} posted again {count - 1} time(s)")
        assert count == 1, f"{marker} is on the talk page {count} times:\n{talk}"
    assert scene.bot_edits(scene.talk) == 0, "the bot posted findings already on the talk page"
    assert reported_markers(talk) == MARKERS
    notices = {m for (m,) in state_rows(scene.state, "SELECT marker FROM notices")}
    assert notices >= MARKERS, "the state remembers them as reported"
    again = scene.run(pwb)
    assert again.returncode == 0, again
    assert scene.bot_edits(scene.talk) == 0


# ---- a state store that cannot be used -------------------------------------------------------


def good_store(path: Path) -> str:
    """A sound state store with something in it; its SHA-256."""
    store = SqliteStore(path)
    store.save_identities(
        [Identity(f"mastodon:a{i}@social.example", "mastodon", str(i), f"a{i}") for i in range(200)]
    )
    store.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def broken_state(kind: str, tmp: Path) -> tuple[Path, list[str], str | None]:
    """(state path, command prefix, SHA-256 the file must keep) for one kind of bad store."""
    where = tmp / "state"
    where.mkdir()
    path = where / "state.sqlite3"
    if kind == "directory":
        path.mkdir()
        return path, [], None
    digest = good_store(path)
    if kind == "not a database":
        path.write_bytes(b"This is not a database.\n" * 200)
    elif kind == "damaged":
        data = bytearray(path.read_bytes())
        data[4096 * 3 : 4096 * 3 + 64] = b"\xff" * 64
        path.write_bytes(bytes(data))
    elif kind == "newer schema":
        db = sqlite3.connect(path)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
        db.close()
    elif kind == "read-only":
        if os.geteuid() != 0:  # a plain user: file modes are enough
            path.chmod(0o444)
            where.chmod(0o555)
            return path, [], digest
        # root writes through file modes: a read-only mount, as an NFS export can be
        mounted = shlex.quote(str(where))
        prefix = namespace(
            "--mount",
            setup=f"mount --bind {mounted} {mounted}; mount -o remount,ro,bind {mounted}",
        )
        return path, prefix, digest
    elif kind == "full disk":
        full = tmp / "full"
        full.mkdir()
        target = full / "state.sqlite3"
        mounted, source = shlex.quote(str(full)), shlex.quote(str(path))
        prefix = namespace(
            "--mount",
            setup=(
                f"mount -t tmpfs -o size=256k tmpfs {mounted}; cp {source} {mounted}/; "
                f"cat /dev/zero > {mounted}/filler 2>/dev/null || true"
            ),
            # the tmpfs goes with the namespace: what the file holds is taken inside
            after=f"sha256sum {mounted}/state.sqlite3 > {shlex.quote(str(tmp))}/after",
        )
        return target, prefix, digest
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path, [], digest


STATE_CASES = ["read-only", "full disk", "damaged", "not a database", "directory", "newer schema"]
EXPECTED = {
    "read-only": "is read-only",
    "full disk": "no space left",
    "damaged": "is damaged or not a wmsocial-bot state file",
    "not a database": "is damaged or not a wmsocial-bot state file",
    "directory": "is a directory",
    "newer schema": "newer than this wmsocial-bot knows",
}


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize("kind", STATE_CASES)
def test_a_state_store_that_cannot_be_used_stops_before_any_request(
    fault_wiki: LocalWiki,
    human: ApiSession,
    sim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
    figures: Figures,
    kind: str,
    command: str,
) -> None:
    path, prefix, digest = broken_state(kind, tmp_path)
    scene = Scene(Stage(fault_wiki, human, sim, title, tmp_path), state=path)
    try:
        proxy, pwb = scene.proxied()
        figures.fault(f"state store: {kind}")
        figures.case("attack: bad state store")
        if command == "run":
            done = run_cli(
                pwb, "run", "--config", str(scene.config), options=RunOptions(prefix=prefix)
            )
        else:
            page = tmp_path / "page.wiki"
            page.write_text(PAGE, encoding="utf-8")
            done = run_cli(
                pwb,
                "check",
                "--wikitext",
                str(page),
                "--config",
                str(scene.config),
                options=RunOptions(prefix=prefix),
            )
        assert done.returncode == 2, done
        line = one_line_error(done)
        assert line.startswith("wmsocial-bot: error: state.path: "), line
        assert EXPECTED[kind] in line, line
        assert proxy.calls == [], "a wiki request was made before the state store was checked"
        assert sim.log == [], "a platform was asked before the state store was checked"
        assert scene.bot_edits(scene.title) == 0 and scene.text(scene.talk) == ""
        if kind == "full disk":
            after = (tmp_path / "after").read_text().split()[0]
            assert after == digest, "the state file changed"
        elif digest is not None:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, "the file changed"
            assert not Path(f"{path}-journal").exists()
    finally:
        scene.close()
        path.parent.chmod(0o755)
