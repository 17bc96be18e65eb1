"""The reference Bluesky stack, once per test session (see ``reference_bluesky.py``).

Outside CI it is skipped with the reason when it is not installed; under ``CI=true`` a stack
that cannot start fails the tests (the test kit's ``skip_or_fail``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reference_bluesky import ReferenceStack, StackError

from wmsocial_testkit.fixtures import skip_or_fail


@pytest.fixture(scope="session")
def bluesky_stack() -> Iterator[ReferenceStack]:
    stack = ReferenceStack()
    try:
        stack.start()
    except StackError as exc:
        skip_or_fail(f"the reference Bluesky stack cannot run here: {exc}")
    try:
        yield stack
    finally:
        stack.stop()
