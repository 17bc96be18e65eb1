"""``scripts/demo`` end to end: the real local MediaWiki, the simulator and two runs of the CLI.

The demo runs as a user would start it (``scripts/demo --once``), minus the install step
(``--no-install``, with this interpreter). Its output must show the first run's fix of the
moved Mastodon link, the talk notice (deleted, suspended), the status page, and the second
run's fix of the renamed Bluesky link; afterwards nothing it started may be left running.

Skipped, with the reason, when the local MediaWiki cannot start (no PHP or MediaWiki), unless
``CI=true``: then it fails, as the other wiki tests do.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from wmsocial_testkit.fixtures import skip_or_fail

pytestmark = [pytest.mark.wiki, pytest.mark.simulator]

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "scripts" / "demo"
EXIT_NO_WIKI = 4
TIMEOUT = 180


@dataclass(frozen=True)
class Finished:
    returncode: int
    output: str
    pid: int  # the demo's process (and process group) id

    def section(self, title_start: str) -> str:
        """The output under the first ``=== <title_start>...`` heading, up to the next one."""
        parts = re.split(r"^=== (.*) ===$", self.output, flags=re.M)
        for title, body in zip(parts[1::2], parts[2::2], strict=True):
            if title.startswith(title_start):
                return body
        raise AssertionError(f"no section {title_start!r} in the demo's output:\n{self.output}")

    def port(self, what: str) -> int:
        match = re.search(rf"{what} at http://127\.0\.0\.1:(\d+)", self.output)
        assert match, f"the demo did not say where the {what} runs:\n{self.output}"
        return int(match.group(1))


def demo_command(*args: str) -> list[str]:
    return [str(DEMO), "--no-install", "--python", sys.executable, *args]


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WMSOCIAL_BOT_CONFIG", None)
    env["NO_COLOR"] = "1"
    return env


def skip_unless_wiki(finished: Finished) -> None:
    if finished.returncode == EXIT_NO_WIKI:
        reason = next(
            (
                line.split("cannot start: ", 1)[1]
                for line in finished.output.splitlines()
                if "cannot start: " in line
            ),
            finished.output[-500:],
        )
        skip_or_fail(f"the local MediaWiki cannot start: {reason}")


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(text: str) -> list[str]:
    """Command lines of the running processes that contain ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def assert_nothing_left(finished: Finished) -> None:
    wiki_port, sim_port = finished.port("local MediaWiki"), finished.port("simulator")
    assert not listening(wiki_port), "the wiki's php -S still answers"
    assert not listening(sim_port), "the simulator still answers"
    assert processes_mentioning(f"127.0.0.1:{wiki_port}") == []
    with pytest.raises(ProcessLookupError):  # nothing left in the demo's process group either
        os.killpg(finished.pid, 0)


@pytest.fixture(scope="module")
def demo_once() -> Finished:
    process = subprocess.Popen(
        demo_command("--once"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=demo_env(),
        start_new_session=True,  # its own process group, to find anything it leaves behind
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"scripts/demo --once did not finish in {TIMEOUT} s:\n{output}")
    finished = Finished(process.returncode, output, process.pid)
    skip_unless_wiki(finished)
    return finished


def test_demo_once_succeeds_and_leaves_nothing_running(demo_once: Finished) -> None:
    assert demo_once.returncode == 0, demo_once.output
    assert "stopped: no wiki server and no simulator left running" in demo_once.output
    assert_nothing_left(demo_once)


def test_first_run_fixes_the_moved_mastodon_link(demo_once: Finished) -> None:
    fix = demo_once.section("First run: the fix")
    assert (
        "-| Mastodon || [https://chapters.social.example/@wikipedia_de "
        "@wikipedia_de@chapters.social.example]"
    ) in fix
    assert "+| Mastodon || [https://wikis.example/@wikipedia_de @wikipedia_de@wikis.example]" in fix
    assert "@wikipedia_de@chapters.social.example -> @wikipedia_de@wikis.example (moved)" in fix
    assert re.search(
        r"http://127\.0\.0\.1:\d+/index\.php\?title=Social_media&diff=\d+&oldid=\d+", fix
    )
    # Only that line changed in the first run.
    assert len(re.findall(r"^[-+]\|", fix, flags=re.M)) == 2


def test_first_run_posts_a_talk_notice_about_deleted_and_suspended_accounts(
    demo_once: Finished,
) -> None:
    notice = demo_once.section("First run: the notice")
    assert "== Social media accounts that need attention" in notice
    assert "<!-- wmsocial-bot:deleted:mastodon:wikimedia_atlantis@mastodon.example -->" in notice
    assert "<!-- wmsocial-bot:suspended:mastodon:wikilovesspam@mastodon.example -->" in notice
    assert "<!-- wmsocial-bot:inactive:mastodon:wikisource@wikis.example -->" in notice
    # the Foundation's Mastodon bio links its Instagram, which the page does not list
    assert "<!-- wmsocial-bot:suggested:instagram:wikimediafoundation -->" in notice
    assert "(UTC)" in notice, "signed"
    assert "Adding the Wikimedia UK account" not in notice, "only the new section is shown"
    assert "/index.php/Talk:Social_media" in notice


def test_status_page_is_shown_with_every_status(demo_once: Finished) -> None:
    status = demo_once.section("First run: the status page")
    assert '{| class="wikitable sortable"' in status
    for word in ("| ok", "| deleted", "| suspended", "| inactive", "| unverifiable"):
        assert word in status, word
    assert "link updated by the bot (moved" in status, "the fixed link, as the page reads now"
    assert "| yes" in status, "the verified Mastodon profile"
    assert "Verification of Mastodon profile links" in status
    assert (
        "has no rel=me link to https&#58;//wikimedia.social.example/@wikimediafoundation" in status
    )
    assert "/index.php/User:WmsocialBot/Status" in status


def test_second_run_fixes_the_renamed_bluesky_link(demo_once: Finished) -> None:
    first = demo_once.section("First run: the fix")
    assert "wikipedia-francophone" not in first, "the rename happens between the runs"
    fix = demo_once.section("Second run: the fix")
    assert "-| Bluesky || [https://bsky.app/profile/wikipedia-fr.bsky.social" in fix
    assert (
        "+| Bluesky || [https://bsky.app/profile/wikipedia-francophone.bsky.social "
        "@wikipedia-francophone.bsky.social]"
    ) in fix
    assert "(renamed)" in fix
    assert "link updated by the bot (renamed" in demo_once.section("Second run: the status page")


def test_status_page_shows_activity_per_owner_verification_and_the_servers(
    demo_once: Finished,
) -> None:
    status = demo_once.section("First run: the status page")
    activity = status.split("== Activity and reach per owner ==", 1)[1]
    assert "| Wikimedia Foundation || " in activity and "90,000 followers" in activity
    # Twelve weeks of earlier checks (the demo's RHYTHM): every week proved, none "·".
    assert (
        "@wikimediafoundation@wikimedia.social.example&#58; last " in activity
        and "30d 4, 90,000 followers (+750), ▅▁█▅▁▅▁▁▅█▁▅" in activity
    )
    assert "* Bluesky&#58; 2 accounts (2 with figures)" in activity
    assert "== Verification of Mastodon profile links ==" in status
    servers = status.split("== The movement&#39;s own servers ==", 1)[1]
    assert "| wikimedia.social.example || Mastodon 4.2.9 || 0 || none || approval" in servers
    assert "has no server rules" in servers and "4.2.10 fixed security issues" in servers
    assert "| chapters.social.example || Mastodon 4.3.0 || 3 || @wikimediauk" in servers


def test_second_run_reports_the_servers_change_once(demo_once: Finished) -> None:
    talk = demo_once.section("Second run: [[Talk:")
    assert talk.count("<!-- wmsocial-bot:") == 1, "one item: the server's change"
    assert "<!-- wmsocial-bot:server-changed:server:wikimedia.social.example%23" in talk
    assert "number of rules&#58; 0 -&gt; 3" in talk
    assert "+| wikimedia.social.example || Mastodon 4.2.9 || 3 || @wikimediafoundation" in (
        demo_once.section("Second run: the status page")
    )


def test_ctrl_c_stops_everything() -> None:
    process = subprocess.Popen(
        demo_command(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=demo_env(),
        start_new_session=True,
        # As a CI wrapper or a shell's background job starts it: SIGINT ignored by inheritance.
        # A terminal's Ctrl-C must stop the demo all the same (issue 18).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        # A terminal's Ctrl-C: SIGINT to the whole foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    finished = Finished(process.returncode, "".join(lines) + rest, process.pid)
    skip_unless_wiki(finished)
    assert finished.returncode == 0, finished.output
    assert "Press Ctrl-C" in finished.output
    assert "stopped: no wiki server and no simulator left running" in finished.output
    assert_nothing_left(finished)


def stub_path(tmp_path: Path, *, uid: int, apt_exit: int) -> str:
    """A PATH with only what the demo's install step needs, ``id``, ``dpkg`` and ``apt-get``
    stubbed: every package missing, ``id -u`` as given, apt-get chatty, no sudo."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "sed", "head", "tail", "date", "env", "cat"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True)
        (bin_dir / tool).symlink_to(found.stdout.strip())
    stubs = {
        "id": f"echo {uid}",
        "dpkg": "exit 1",
        "apt-get": 'for i in $(seq 300); do echo "Unpacking package $i ..."; done\n'
        f'case "$1" in install) echo "apache2 failed!" >&2; exit {apt_exit};; esac',
        "seq": 'i=1; while [ $i -le "$1" ]; do echo $i; i=$((i+1)); done',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text("#!/bin/bash\n" + body + "\n")
        (bin_dir / name).chmod(0o755)
    return str(bin_dir)


def run_install(tmp_path: Path, *, uid: int, apt_exit: int = 0) -> subprocess.CompletedProcess[str]:
    env = {
        **demo_env(),
        "PATH": stub_path(tmp_path, uid=uid, apt_exit=apt_exit),
        "WMSOCIAL_DEMO_LOG": str(tmp_path / "install.log"),
    }
    return subprocess.run(
        [str(DEMO), "--python", sys.executable, "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_install_without_root_or_sudo_says_so_in_one_line(tmp_path: Path) -> None:
    done = run_install(tmp_path, uid=1000)
    assert done.returncode == 5, done.stderr
    (line,) = done.stderr.splitlines()
    assert "needs root or sudo" in line and "mediawiki" in line


def test_install_steps_are_one_line_each_and_logged(tmp_path: Path) -> None:
    done = run_install(tmp_path, uid=0, apt_exit=100)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert re.match(r"demo: apt-get update \.\.\. done \(\d+ s\)$", lines[1]), lines
    assert lines[2].startswith("demo: apt-get install (") and "failed (exit 100)" in lines[2]
    assert "Unpacking package 1 ..." not in done.stderr, "the apt output stays in the log"
    assert "apache2 failed!" in done.stderr, "the end of the log shows why it failed"
    assert len(lines) < 25, lines
    assert str(tmp_path / "install.log") in lines[-1]
    log = (tmp_path / "install.log").read_text()
    assert log.count("Unpacking package") == 600
