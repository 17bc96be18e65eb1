"""The Toolforge deployment files: jobs.yaml, Procfile, requirements.txt, .python-version.

PyYAML is not a dependency of the bot, so ``jobs.yaml`` is read by a small parser of the one
layout it uses (a list of flat mappings of scalars) that refuses anything else; where PyYAML
happens to be installed, the two must agree.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from wmsocial_testkit.fixtures import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
Scalar = str | int | float | bool | None

# ---- reading the files --------------------------------------------------------------------

_YAML_INDICATORS = tuple("@`*&!|>%{[]},?:#'\"")


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg", encoding="utf-8")
    return parser


def install_requires() -> list[Requirement]:
    lines = setup_cfg()["options"]["install_requires"].strip().splitlines()
    return [Requirement(line.strip()) for line in lines if line.strip()]


def extra_test_requirements() -> set[str]:
    section = setup_cfg()["options.extras_require"]
    lines = section.get("test", "").strip().splitlines()
    return {canonicalize_name(Requirement(line.strip()).name) for line in lines if line.strip()}


def pins() -> tuple[dict[str, Version], list[str]]:
    """requirements.txt: ``{name: pinned version}`` and the other (non-pin) lines."""
    pinned: dict[str, Version] = {}
    others: list[str] = []
    text = (REPO / "requirements.txt").read_text(encoding="utf-8")
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;=<>!~]+)", line)
        if match is None:
            others.append(line)
            continue
        name = canonicalize_name(match.group(1))
        assert name not in pinned, f"requirements.txt pins {name} twice"
        pinned[name] = Version(match.group(2))
    return pinned, others


def procfile() -> dict[str, str]:
    processes = {}
    for raw in (REPO / "Procfile").read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        match = re.fullmatch(r"([A-Za-z0-9_-]+):\s*(\S.*)", raw)
        assert match, f"Procfile: not 'name: command': {raw!r}"
        assert match.group(1) not in processes, f"Procfile: {match.group(1)} twice"
        processes[match.group(1)] = match.group(2).strip()
    return processes


# ---- jobs.yaml ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jobs() -> list[dict[str, Scalar]]:
    data = yaml.safe_load((REPO / "jobs.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, list), "jobs.yaml is a list of jobs"
    return data


def test_jobs_yaml_has_one_daily_job_that_mails_on_failure(jobs: list[dict[str, Scalar]]) -> None:
    assert len(jobs) == 1
    (job,) = jobs
    assert job["name"] == "wmsocial-bot"
    assert job["schedule"] == "@daily", "the macro, so Toolforge spreads the load"
    assert job["emails"] == "onfailure"
    timeout = job["timeout"]
    assert isinstance(timeout, int) and 0 < timeout < 24 * 3600, "ends before the next run"
    assert job["mount"] == "all", "user-config.py, the config and the state are on NFS"
    assert job.get("retry", 0) == 0
    # The keys `toolforge jobs load` reads for a scheduled job (toolforge-jobs-api's
    # NewScheduledJob; the CLI's loader: filelog-stdout, filelog-stderr, no-filelog). A plain
    # "filelog" is not one of them: the framework warns and ignores it.
    known = {
        "name", "command", "image", "schedule", "emails", "retry", "timeout", "mem", "cpu",
        "mount", "filelog-stdout", "filelog-stderr", "no-filelog",
    }  # fmt: skip
    assert set(job) <= known, f"keys the jobs framework does not read: {set(job) - known}"


def test_jobs_yaml_sets_measured_resources(jobs: list[dict[str, Scalar]]) -> None:
    """cpu and mem are set, and fit the figures measured in docs/toolforge.md."""
    (job,) = jobs
    mem = re.fullmatch(r"(\d+)(Mi|Gi)", str(job["mem"]))
    assert mem, f"mem: {job['mem']!r} (e.g. 256Mi)"
    mebibytes = int(mem.group(1)) * (1024 if mem.group(2) == "Gi" else 1)
    docs = (REPO / "docs" / "toolforge.md").read_text(encoding="utf-8")
    peak = re.search(r"peak RSS of (\d+) MiB", docs)
    assert peak, "docs/toolforge.md states the measured peak RSS"
    assert mebibytes >= 2 * int(peak.group(1)), "at least twice the measured peak"
    cpu = float(str(job["cpu"]))
    assert 0.1 <= cpu <= 1, "a share of one core: the run waits on the network"


def test_jobs_yaml_runs_the_build_service_image_and_a_procfile_process(
    jobs: list[dict[str, Scalar]],
) -> None:
    (job,) = jobs
    image = str(job["image"])
    assert re.fullmatch(r"tool-([a-z0-9][a-z0-9-]*)/tool-\1:latest", image), image
    command = str(job["command"]).split()
    assert command[0] == "launcher" and len(command) == 2
    assert procfile()[command[1]] == "wmsocial-bot run"


# ---- Procfile ---------------------------------------------------------------------------------


def test_procfile_commands_are_the_bots_console_script() -> None:
    scripts = {
        line.split("=", 1)[0].strip()
        for line in setup_cfg()["options.entry_points"]["console_scripts"].strip().splitlines()
    }
    processes = procfile()
    assert processes["run"] == "wmsocial-bot run"
    assert processes["dryrun"] == "wmsocial-bot run --dry-run"
    for command in processes.values():
        assert command.split()[0] in scripts


# ---- requirements.txt -----------------------------------------------------------------------


def test_requirements_pin_every_runtime_dependency_of_setup_cfg() -> None:
    pinned, others = pins()
    for requirement in install_requires():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"requirements.txt does not pin {requirement.name} (==)"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{name}=={pinned[name]} does not satisfy setup.cfg's {requirement}"
        )
    assert others == ["."], "only pins, and '.' (the bot itself) as the buildpack needs it"


def test_requirements_hold_no_test_tools() -> None:
    pinned, _ = pins()
    tools = extra_test_requirements() - {canonicalize_name(r.name) for r in install_requires()}
    assert not tools & set(pinned), f"test tools pinned: {sorted(tools & set(pinned))}"


def test_requirements_are_a_closed_set() -> None:
    """Each pinned package that is installed at that version has its own dependencies pinned.

    Where the installed version differs (a venv with newer packages), its metadata says
    nothing about the pinned one, and that package is not checked.
    """
    pinned, _ = pins()
    checked = 0
    for name, version in pinned.items():
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if Version(dist.version) != version:
            continue
        checked += 1
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue  # an extra, or another platform
            dependency = canonicalize_name(requirement.name)
            assert dependency in pinned, f"{name} needs {requirement}, which is not pinned"
            assert requirement.specifier.contains(pinned[dependency], prereleases=True), (
                f"{name} needs {requirement}; the pin is {pinned[dependency]}"
            )
    if checked == 0:
        skip_or_fail("no pinned version is installed here (CI installs requirements.txt)")


# ---- .python-version --------------------------------------------------------------------------


def test_python_version_matches_python_requires() -> None:
    text = (REPO / ".python-version").read_text(encoding="utf-8")
    assert re.fullmatch(r"3\.\d+\n?", text), f".python-version: {text!r}"
    version = text.strip()
    requires = SpecifierSet(setup_cfg()["options"]["python_requires"])
    assert requires.contains(version + ".0")
    lowest = re.search(r">=\s*(\d+\.\d+)", str(requires))
    assert lowest and lowest.group(1) == version, "the oldest Python the bot supports"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["mypy"]["python_version"] == version
