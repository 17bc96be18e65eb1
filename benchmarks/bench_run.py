"""Benchmark: whole daily runs (``wmsocial-bot run -q``) against the Toolforge job's limits.

    python benchmarks/bench_run.py [--hosts 40] [--per-host 50] [--bluesky 300] [--runs 3]

The benchmark page of ``bench_checks.py`` (2,300 accounts by default: 2,000 on 40 Mastodon
servers, 300 on Bluesky) on a throwaway local MediaWiki, with a status page, and the platform
simulator (answers 200 ms late, at most 4 in flight per host).  Each run is the real CLI in a
process of its own under ``/usr/bin/time -v``: the checks, the state, the page, the talk page
and the status page, as the daily job does; the first run starts with an empty state store,
the later ones keep it.  Printed per run: CPU (user + system), wall time, peak RSS, and the
two as shares of what ``jobs.yaml`` gives the job (``mem: 512Mi``, ``cpu: 0.5``).
Exit 4: the local MediaWiki cannot start (see ``wmsocial_testkit.testwiki``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_checks import page, scenario

from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import LocalWiki, LocalWikiError

JOB_MEM_KB = 512 * 1024  # jobs.yaml: mem: 512Mi
JOB_CPU = 0.5  # jobs.yaml: cpu: 0.5
PAGE = "Social media"


def time_field(report: str, label: str) -> str:
    found = re.search(re.escape(label) + r": (.*)", report)
    if found is None:
        sys.exit(f"/usr/bin/time printed no {label!r}:\n{report[-2000:]}")
    return found.group(1).strip()


def seconds(clock: str) -> float:
    """``h:mm:ss`` or ``m:ss.ss`` as seconds."""
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + float(part)
    return total


def write_config(root: Path, wiki: LocalWiki, overrides: dict[str, str]) -> Path:
    quoted = json.dumps  # a JSON string is a valid TOML basic string
    lines = [
        "[bot]",
        f"contact = {quoted('User:' + wiki.human.name)}",
        "[wiki]",
        f"page = {quoted(PAGE)}",
        f"status_page = {quoted('User:' + wiki.bot.name + '/Status')}",
        "[state]",
        f"path = {quoted(str(root / 'state.sqlite3'))}",
        "[endpoints]",
        *[f"{quoted(host)} = {quoted(url)}" for host, url in sorted(overrides.items())],
    ]
    config = root / "config.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def one_run(config: Path, wiki: LocalWiki, root: Path) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, peak RSS in kB) of one ``wmsocial-bot run -q``."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "wmsocial_bot", "run", "-q"]
    done = subprocess.run(
        [*command, "--config", str(config)],
        env={**os.environ, **wiki.env()},
        capture_output=True,
        text=True,
        cwd=root,
        stdin=subprocess.DEVNULL,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        output = done.stdout[-2000:] + done.stderr[-3000:]
        sys.exit(f"the run failed (exit {done.returncode}):\n{output}")
    report = done.stderr
    cpu = float(time_field(report, "User time (seconds)")) + float(
        time_field(report, "System time (seconds)")
    )
    wall = seconds(time_field(report, "Elapsed (wall clock) time (h:mm:ss or m:ss)"))
    return cpu, wall, int(time_field(report, "Maximum resident set size (kbytes)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--per-host", type=int, default=50)
    parser.add_argument("--bluesky", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    shape = argparse.Namespace(
        hosts=args.hosts, per_host=args.per_host, bluesky=args.bluesky, latency_ms=200, cap=4,
        appview_latency_ms=50, appview_cap=32,
    )
    accounts = args.hosts * args.per_host + args.bluesky
    with tempfile.TemporaryDirectory() as tmp, Simulator(scenario(shape)) as sim:
        root = Path(tmp)
        wiki = LocalWiki(root / "wiki")
        try:
            wiki.start()
        except LocalWikiError as exc:
            print(f"bench_run: the local MediaWiki cannot start: {exc}", file=sys.stderr)
            sys.exit(4)
        try:
            human = wiki.human_session()
            human.edit(PAGE, page(args.hosts, args.per_host, args.bluesky), "benchmark page")
            human.edit(f"User:{wiki.bot.name}/Run", "yes", "allow the bot to edit")
            config = write_config(root, wiki, sim.overrides())
            print(f"== {args.runs} daily runs of {accounts} accounts (wmsocial-bot run -q)")
            for n in range(args.runs):
                cpu, wall, rss = one_run(config, wiki, root)
                print(
                    f"  run {n + 1}: CPU {cpu:.1f} s in {wall:.1f} s of wall time "
                    f"({cpu / wall / JOB_CPU:.2f} of the job's {JOB_CPU} core); "
                    f"peak RSS {rss / 1024:.0f} MiB ({rss / JOB_MEM_KB:.2f} of its 512 MiB)",
                    flush=True,
                )
        finally:
            wiki.stop()


if __name__ == "__main__":
    main()
