"""Every example in the README runs, so that the README cannot drift from the code (issue 18).

Each command line in the README's indented blocks is either run here, offline (the platform
simulator on loopback), or listed in ``ELSEWHERE`` with the test or the CI step that runs it,
or why nothing can.  A new example in neither place fails
:func:`test_every_readme_command_is_accounted_for`.  Also: the synopsis is compared with the
parser, the "Look first" commands run against the local MediaWiki, the on-wiki config example
is accepted, and the module table names every module.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from wmsocial_bot.config import Config
from wmsocial_bot.run import read_onwiki_config
from wmsocial_testkit.fixtures import skip_or_fail
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
COMMAND_START = ("git ", "scripts/", "bash ", "wmsocial-bot ", "python", ".venv/bin/")
SIMULATOR = "python -m wmsocial_testkit.simulator"
# This checkout's bot and test kit, for the commands run as subprocesses (the benchmarks and the
# README's simulator command import the test kit).
CHECKOUT_PATH = os.pathsep.join([str(REPO), str(REPO / "testkit")])
CHECK_EXAMPLE = "wmsocial-bot check --wikitext"
HELP = "wmsocial-bot [COMMAND] "
# Examples run elsewhere, and where (or why not at all).
ELSEWHERE = {
    "git clone <the repository's URL> wmsocial-bot && cd wmsocial-bot": (
        "needs the network and the repository's address; CI itself starts from a fresh clone"
    ),
    "scripts/demo --once": "tests/integration/test_demo.py (with --no-install: no root here)",
    "bash .ci/run": "what CI runs",
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' -e testkit": (
        ".ci/run does the same"
    ),
    ".venv/bin/python -m pytest": ".ci/run runs the suite",
    ".venv/bin/ruff check . && .venv/bin/mypy": ".ci/run runs both",
}
BENCHMARKS = {
    ".venv/bin/python benchmarks/bench_extract.py": ["--rows", "300", "--repeat", "1"],
    ".venv/bin/python benchmarks/bench_checks.py": [
        *("--hosts", "2", "--per-host", "3", "--bluesky", "4"),
        *("--latency-ms", "1", "--sequential-sample", "2"),
    ],
    ".venv/bin/python benchmarks/bench_tls.py": ["--connections", "2"],
    ".venv/bin/python benchmarks/bench_run.py": [
        *("--hosts", "2", "--per-host", "3", "--bluesky", "4", "--runs", "1"),
    ],
}
NO_WIKI = 4  # bench_run.py's exit status when the local MediaWiki cannot start


def code_lines() -> Iterator[str]:
    """Every line of the README's indented code blocks, comments after two spaces dropped."""
    previous_blank = True
    in_block = False
    for line in README.splitlines():
        if line.startswith("    ") and (previous_blank or in_block):
            in_block = True
            yield re.sub(r"\s{2,}# .*$", "", line[4:]).rstrip()
        elif line.strip():
            in_block = False
        previous_blank = not line.strip()


def commands() -> list[str]:
    """The example commands: code lines that start a command and are not the synopsis."""
    return [
        line
        for line in code_lines()
        if line.startswith(COMMAND_START) and not re.match(r"wmsocial-bot \w+\s+\[", line)
    ]


def synopsis() -> dict[str, str]:
    """``{command: its synopsis}`` from the README's "Commands" block (continuations joined)."""
    found: dict[str, str] = {}
    current = None
    for line in code_lines():
        match = re.match(r"wmsocial-bot (\w+)\s+(\[.*)", line)
        if match:
            current = match.group(1)
            found[current] = match.group(2)
        elif current and line.startswith(" ") and line.strip().startswith("["):
            found[current] += " " + line.strip()
        else:
            current = None
    return found


def cli(*args: str) -> list[str]:
    """``wmsocial-bot ARGS`` as this interpreter runs it (this checkout's code)."""
    return [sys.executable, "-m", "wmsocial_bot", *args]


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """No config or state of the machine's user: a fresh home."""
    env = dict(os.environ)
    env.pop("WMSOCIAL_BOT_CONFIG", None)
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [CHECKOUT_PATH, env.get("PYTHONPATH")]))
    return env


def test_every_readme_command_is_accounted_for() -> None:
    here = {line for line in commands() if line.startswith((SIMULATOR, CHECK_EXAMPLE, HELP))}
    assert len(here) == 3, "run by test_simulator_example_runs and test_help_example_runs"
    accounted = here | set(ELSEWHERE) | set(BENCHMARKS)
    assert set(commands()) <= accounted, set(commands()) - accounted
    assert accounted <= set(commands()), f"no longer in the README: {accounted - set(commands())}"


@pytest.mark.parametrize("command", ["list", "check", "run", "report"])
def test_synopsis_matches_the_parser(command: str) -> None:
    written = synopsis()[command]
    usage = subprocess.run(
        cli(command, "--help"), capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n\n", 1)[0]
    options = {o for o in re.findall(r"(?<![\w-])--?[a-z][a-z-]*", usage)} - {"-h"}
    # -vv and -qq are -v and -q given twice (counted options)
    written_options = {
        re.sub(r"^-(\w)\1+$", r"-\1", o) for o in re.findall(r"(?<![\w-])--?[a-z][a-z-]*", written)
    }
    assert written_options == options, (written, usage)
    choices = re.search(r"--format \{([a-z,]+)\}", usage)
    if choices:
        assert f"--format {choices.group(1).replace(',', '|')}" in written


def test_help_example_runs() -> None:
    """``wmsocial-bot [COMMAND] --help  # also -help``: for the program and each command."""
    (line,) = (c for c in commands() if c.startswith(HELP))
    assert line == HELP + "--help"
    for command in ([], ["list"], ["check"], ["run"]):
        for flag in ("--help", "-help"):
            done = subprocess.run(cli(*command, flag), capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and done.stdout.startswith("usage: wmsocial-bot"), (
                command,
                flag,
                done.stderr,
            )


def test_simulator_example_runs(tmp_path: Path) -> None:
    simulator, check = (line for line in commands() if line.startswith((SIMULATOR, CHECK_EXAMPLE)))
    (tmp_path / "tests").symlink_to(REPO / "tests")  # the example's paths are the repository's
    with socket.socket() as probe:  # the README's port may be taken: any free one will do
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    args = [port if a == "8765" else a for a in shlex.split(simulator.removesuffix("&"))]
    assert args[:3] == ["python", "-m", "wmsocial_testkit.simulator"]
    env = isolated_env(tmp_path)
    server = subprocess.Popen(
        [sys.executable, *args[1:]],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"http://127.0.0.1:{port}"
        check_args = shlex.split(check)
        done = subprocess.run(
            cli(*check_args[1:], "--format", "json", "-q"),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        statuses = {row["handle"]: row["status"] for row in json.loads(done.stdout)}
        assert statuses == {
            "alice@social.example": "ok",
            "bob@social.example": "moved",
            "carol@social.example": "suspended",
            "nobody@social.example": "deleted",
            "dan.bsky.social": "suspended",
        }
        table = subprocess.run(
            cli(*check_args[1:]), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert table.returncode == 0 and "WebFinger answers 404" in table.stdout, table.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.wiki
def test_look_first_examples_run_on_the_local_wiki(
    local_wiki: LocalWiki, human: ApiSession, sim: Simulator, tmp_path: Path
) -> None:
    """ "Look first": list, check and run --dry-run, on a local "Social media" page."""
    examples = re.findall(r"`(wmsocial-bot (?:list|check|run)\b[^`]*)`", README)
    assert examples == [
        "wmsocial-bot list",
        'wmsocial-bot check --page "Social media"',
        "wmsocial-bot run --dry-run",
    ]
    page = (REPO / "tests" / "fixtures" / "simulator-page.wiki").read_text(encoding="utf-8")
    human.edit("Social media", page)
    before = human.revision("Social media")
    config = tmp_path / "config.toml"
    lines = [
        '[bot]\ncontact = "https://example.org/contact"',
        '[wiki]\npage = "Social media"',
        f"[state]\npath = {json.dumps(str(tmp_path / 'state.sqlite3'))}",
        "[endpoints]",
        *[f"{json.dumps(host)} = {json.dumps(url)}" for host, url in sim.overrides().items()],
    ]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**isolated_env(tmp_path), **local_wiki.env(), "WMSOCIAL_BOT_CONFIG": str(config)}
    out = []
    for example in examples:
        done = subprocess.run(
            cli(*shlex.split(example)[1:]),
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, (example, done.stderr)
        out.append(done.stdout)
    listed, checked, dry_run = out
    assert "alice@social.example" in listed
    assert "deleted" in checked and "suspended" in checked
    assert "[[Social media]]: 5 accounts" in dry_run
    assert "waiting for confirmation: mastodon:nobody@social.example" in dry_run, "3 sightings"
    assert human.revision("Social media") == before, "--dry-run writes nothing"


def test_the_module_table_names_every_module() -> None:
    """The README's architecture table lists each module of the package, and no gone one."""
    package = REPO / "wmsocial_bot"
    modules = {
        path.name + ("/" if path.is_dir() else "")
        for path in package.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    named = set()
    for row in re.findall(r"^\| (`wmsocial_bot/[^|]*)\|", README, flags=re.M):
        for name in re.findall(r"`([^`]+)`", row):
            named.add(name.removeprefix("wmsocial_bot/"))
    assert modules <= named, f"not in the README's module table: {sorted(modules - named)}"
    assert named <= modules, f"in the table but not in the package: {sorted(named - modules)}"


def test_onwiki_config_example_is_accepted() -> None:
    lines = list(code_lines())
    start = next(i for i, line in enumerate(lines) if line.startswith('{"ignore"'))
    text = "\n".join(lines[start : start + 2])

    class Page:
        """The config page as the wiki adapter returns it (only ``read_if_exists`` is used)."""

        def read_if_exists(self, title: str, **_: object) -> SimpleNamespace:
            return SimpleNamespace(text=text)

    config, onwiki = read_onwiki_config(Page(), "User:WmsocialBot/config.json", Config())  # type: ignore[arg-type]
    assert onwiki.problem is None
    assert config.policy.inactive_days == 730
    assert onwiki.policy.ignore == {"mastodon:someone@example.social", "x:example"}


@pytest.mark.parametrize("command", sorted(BENCHMARKS))
def test_benchmark_examples_run(command: str) -> None:
    """The benchmark commands, on a small size: they run; their timings are not judged here."""
    script = REPO / command.split()[1]
    done = subprocess.run(
        [sys.executable, str(script), *BENCHMARKS[command]],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": CHECKOUT_PATH},
        stdin=subprocess.DEVNULL,
    )
    if done.returncode == NO_WIKI and "MediaWiki cannot start" in done.stderr:
        skip_or_fail(done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, done.stderr[-2000:]
