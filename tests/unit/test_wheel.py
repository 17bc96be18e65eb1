"""What ``pip install .`` (and so the Toolforge build, whose requirements.txt ends in ``.``) ships.

The wheel is built from a copy of the repository, offline (``--no-build-isolation``: the venv's
setuptools and wheel), and must hold the bot and nothing of its test kit: no simulator, no test
wiki, no ``wmsocial_testkit``.  A copy, because setuptools reuses a ``build/`` directory in the
source tree, stale files included, and writes its ``*.egg-info`` there.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from wmsocial_testkit.fixtures import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
# Left out of the copy: what a checkout accumulates and the build must not see (the reference
# Bluesky stack's node_modules alone is hundreds of MB).
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
)
TEST_KIT_NAMES = ("wmsocial_testkit", "devtools", "simulator", "sim_", "testwiki")


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if importlib.util.find_spec("wheel") is None:  # setuptools < 70.1 builds wheels with it
        skip_or_fail("the package 'wheel' is not installed here (setup.cfg's test extra has it)")
    tmp = tmp_path_factory.mktemp("wheel")
    source, out = tmp / "repo", tmp / "out"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE, symlinks=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
            str(source),
            "-w",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("wmsocial_bot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_ships_the_bot(wheel_files: list[str]) -> None:
    for module in ("__init__.py", "cli.py", "run.py", "wiki.py", "net.py", "py.typed"):
        assert f"wmsocial_bot/{module}" in wheel_files
    metadata = {name.split("/")[0] for name in wheel_files if ".dist-info/" in name}
    assert len(metadata) == 1 and metadata.pop().startswith("wmsocial_bot-")


def test_the_wheel_ships_nothing_of_the_test_kit(wheel_files: list[str]) -> None:
    shipped = [
        name
        for name in wheel_files
        if any(part in Path(name).name or part in Path(name).parts for part in TEST_KIT_NAMES)
    ]
    assert shipped == [], f"test tooling in the wheel: {shipped}"
    assert {name.split("/", 1)[0] for name in wheel_files if ".dist-info/" not in name} == {
        "wmsocial_bot"
    }


def test_the_bot_never_imports_its_test_kit() -> None:
    """The test kit is not installed on Toolforge: an import of it would fail there."""
    offenders = []
    for path in sorted((REPO / "wmsocial_bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            if any(name.split(".")[0] == "wmsocial_testkit" for name in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
