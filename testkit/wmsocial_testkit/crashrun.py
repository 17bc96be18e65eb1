"""``python -m wmsocial_testkit.crashrun <wmsocial-bot args>``: the bot, killed at a named point.

The crash tests' launcher (docs/faults.md).  ``$WMSOCIAL_BOT_CRASH_AT=<point>[#<n>]`` names
where the process kills itself with SIGKILL, the n-th time (default: the first) it gets
there.  The points are the bot's own audit events (:func:`sys.audit`), which do nothing
unless a hook listens, so the product carries no test code:

* ``checks``, ``after-edit``, ``before-notice``, ``after-notice``: the runner's observer
  (``wmsocial_bot.run`` events, :mod:`wmsocial_bot.runner`);
* ``state-commit``: inside a state transaction just before its COMMIT
  (``wmsocial_bot.state.before-commit``, :mod:`wmsocial_bot.state`).
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

CRASH_AT = "WMSOCIAL_BOT_CRASH_AT"
RUN_EVENT = "wmsocial_bot.run"  # wmsocial_bot.runner.AUDIT_EVENT
COMMIT_EVENT = "wmsocial_bot.state.before-commit"  # wmsocial_bot.state.BEFORE_COMMIT_EVENT


def crash_hook(wanted: str, kill: Callable[[], None]) -> Callable[[str, tuple[Any, ...]], None]:
    """An audit hook that calls ``kill`` the n-th time the point ``wanted`` (``point#n``) is met."""
    point, _, nth = wanted.partition("#")
    seen: Counter[str] = Counter()

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == RUN_EVENT:
            name = args[0]
        elif event == COMMIT_EVENT:
            name = "state-commit"
        else:
            return
        if name != point:
            return
        seen[name] += 1
        if seen[name] == int(nth or 1):
            kill()

    return hook


def main() -> int:
    wanted = os.environ.get(CRASH_AT)
    if wanted:
        sys.addaudithook(crash_hook(wanted, lambda: os.kill(os.getpid(), signal.SIGKILL)))
    from wmsocial_bot.cli import main as bot_main

    return bot_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
