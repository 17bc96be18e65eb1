"""The pure stages load no I/O library: identify apart from check (issue 14, step 1).

``extract``, ``decide``, ``fix`` and ``notices`` see platforms only through the identify layer;
importing one of them must not load an HTTP client, a platform client, the state store's
database or Pywikibot.  Each import runs in a fresh interpreter, so that nothing another test
imported counts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

IO_LIBRARIES = (
    "requests",
    "httpx",
    "tenacity",
    "atproto",
    "atproto_client",
    "mastodon",
    "sqlite3",
    "pywikibot",
)


@pytest.mark.parametrize(
    "module",
    [
        "wmsocial_bot.extract",
        "wmsocial_bot.decide",
        "wmsocial_bot.fix",
        "wmsocial_bot.notices",
        # the other pure stages: the plan of writes, the dashboard, the pure explainers
        "wmsocial_bot.plan",
        "wmsocial_bot.dashboard",
        "wmsocial_bot.gate",
        "wmsocial_bot.relme",
        "wmsocial_bot.servers",
        "wmsocial_bot.profiles",
    ],
)
def test_pure_stage_loads_no_io_library(module: str) -> None:
    code = (
        f"import json, sys, {module}\n"
        f"print(json.dumps(sorted(m for m in {list(IO_LIBRARIES)!r} if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == [], f"importing {module} loads {done.stdout.strip()}"


def test_identify_layer_loads_no_io_library() -> None:
    code = (
        "import json, sys, wmsocial_bot.identify\n"
        f"print(json.dumps(sorted(m for m in {list(IO_LIBRARIES)!r} if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []


def test_platform_list_exists_once() -> None:
    """Every platform has one record, and exactly those with no checker say why not."""
    from wmsocial_bot.checkers import CHECKERS
    from wmsocial_bot.identify import BY_NAME, PLATFORMS

    assert len(BY_NAME) == len(PLATFORMS)
    assert set(CHECKERS) <= set(BY_NAME)
    for platform in PLATFORMS:
        assert (platform.unasked is None) == (platform.name in CHECKERS), platform.name
