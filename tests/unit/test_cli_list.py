"""``wmsocial-bot list`` as a maintainer uses it: output formats, exit codes, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wmsocial_bot.cli import main, split_pywikibot_args

FIXTURE = Path(__file__).parent.parent / "fixtures" / "extract" / "meta_social_media.wiki"


def test_json_is_one_array_with_every_account(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--wikitext", str(FIXTURE), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == 38
    first = rows[0]
    assert first["platform"] == "mastodon"
    assert first["handle"] == "wikimediafoundation@wikimedia.social"
    assert first["section"] == "Wikimedia Foundation"
    assert first["cells"] == {
        "Platform": "Mastodon",
        "Language": "English",
        "Notes": "Main account",
    }
    text = FIXTURE.read_text(encoding="utf-8")
    start, end = first["span"]
    assert text[start:end] == first["url"]


def test_table_output_and_duplicate_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--wikitext", str(FIXTURE)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].split()[:3] == ["PLATFORM", "HANDLE", "SECTION"]
    assert "x:wikimedia is listed twice: line 23 and line 92" in captured.err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "the page is empty"),
        ("Just text, [[a link]].", "no social-media accounts found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "page.wiki"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "wmsocial_bot", "list", "--wikitext", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_binary_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "page.wiki"
    path.write_bytes(b"\xff\xfe\x00broken")
    assert main(["list", "--wikitext", str(path)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_pywikibot_options_are_set_apart() -> None:
    pwb, ours = split_pywikibot_args(["list", "-simulate", "--page", "X", "-lang:meta", "-v"])
    assert pwb == ["-simulate", "-lang:meta"]
    assert ours == ["list", "--page", "X", "-v"]


def test_pwb_runs_the_same_cli(tmp_path: Path) -> None:
    """``pwb wmsocial_bot list`` finds the script through the ``scriptspath`` entry point."""
    import os
    import shutil

    pwb = shutil.which("pwb", path=str(Path(sys.executable).parent))
    assert pwb is not None, "pywikibot's pwb command is installed with the package"
    env = {**os.environ, "PYWIKIBOT_NO_USER_CONFIG": "2", "PYWIKIBOT_DIR": str(tmp_path)}
    proc = subprocess.run(
        [pwb, "wmsocial_bot", "list", "--wikitext", str(FIXTURE), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 38
