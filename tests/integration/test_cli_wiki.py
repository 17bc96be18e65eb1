"""The CLI reading a real page through Pywikibot from the local MediaWiki."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki

pytestmark = pytest.mark.wiki
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "extract" / "meta_social_media.wiki"


def run_cli(local_wiki: LocalWiki, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **local_wiki.env()}
    return subprocess.run(
        [sys.executable, "-m", "wmsocial_bot", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_list_reads_the_page_through_pywikibot(local_wiki: LocalWiki, human: ApiSession) -> None:
    human.edit("Social media", FIXTURE.read_text(encoding="utf-8"))
    done = run_cli(local_wiki, "list", "--page", "Social media", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 38 and rows[0]["handle"] == "wikimediafoundation@wikimedia.social"


def test_missing_page_is_one_clear_line(local_wiki: LocalWiki) -> None:
    done = run_cli(local_wiki, "list", "--page", "No such page here")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "No such page here" in done.stderr


def test_check_a_wiki_page_against_the_simulator(
    local_wiki: LocalWiki, human: ApiSession, sim: Simulator, tmp_path: Path
) -> None:
    human.edit(
        "Checked page",
        "== Accounts ==\n* @alice@social.example\n* https://bsky.app/profile/dan.bsky.social\n",
    )
    config = tmp_path / "config.toml"
    lines = [f'[state]\npath = "{tmp_path / "state.sqlite3"}"\n[endpoints]']
    lines += [f'"{host}" = "{url}"' for host, url in sim.overrides().items()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_cli(
        local_wiki, "check", "--page", "Checked page", "--config", str(config), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    assert [(r["handle"], r["status"]) for r in json.loads(done.stdout)] == [
        ("alice@social.example", "ok"),
        ("dan.bsky.social", "suspended"),
    ]
