"""The crash tests' launcher (``wmsocial_testkit.crashrun``): its hook, and the bot's events.

The product holds no crash code: the runner and the state store raise audit events, which the
launcher's hook turns into a SIGKILL at the named point (tests/faults/test_fault_crash.py).
"""

from __future__ import annotations

import subprocess
import sys

from wmsocial_bot.runner import AUDIT_EVENT
from wmsocial_bot.state import BEFORE_COMMIT_EVENT
from wmsocial_testkit.crashrun import COMMIT_EVENT, RUN_EVENT, crash_hook


def test_the_launcher_listens_to_the_events_the_bot_raises() -> None:
    assert (RUN_EVENT, COMMIT_EVENT) == (AUDIT_EVENT, BEFORE_COMMIT_EVENT)


def test_the_hook_kills_at_the_nth_time_the_named_point_is_met() -> None:
    kills: list[int] = []
    hook = crash_hook("state-commit#2", lambda: kills.append(1))
    hook("open", ("file",))
    hook(RUN_EVENT, ("checks",))
    hook(COMMIT_EVENT, ())
    assert kills == []
    hook(COMMIT_EVENT, ())
    assert kills == [1]
    hook(COMMIT_EVENT, ())
    assert kills == [1], "only the n-th time"
    after_edit: list[int] = []
    crash_hook("after-edit", lambda: after_edit.append(1))(RUN_EVENT, ("after-edit",))
    assert after_edit == [1], "no #n: the first time"


def test_a_new_store_raises_the_before_commit_event_of_its_migration() -> None:
    code = (
        "import sys\n"
        "from wmsocial_testkit.crashrun import crash_hook\n"
        "sys.addaudithook(crash_hook('state-commit', lambda: sys.exit(42)))\n"
        "from wmsocial_bot.state import SqliteStore\n"
        "SqliteStore(':memory:')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 42, done.stderr
