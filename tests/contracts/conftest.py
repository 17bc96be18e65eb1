"""The reference Bluesky stack, once per test session (see ``reference_bluesky.py``).

Outside CI it is skipped with the reason when it is not installed; under ``CI=true`` a stack
that cannot start fails the tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from reference_bluesky import ReferenceStack, StackError


@pytest.fixture(scope="session")
def bluesky_stack() -> Iterator[ReferenceStack]:
    stack = ReferenceStack()
    try:
        stack.start()
    except StackError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the reference Bluesky stack did not start (CI=true, so it fails): {exc}")
        pytest.skip(f"the reference Bluesky stack cannot run here: {exc}")
    try:
        yield stack
    finally:
        stack.stop()
