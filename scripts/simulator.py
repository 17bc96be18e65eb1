#!/usr/bin/env python3
"""Run the platform simulator: ``scripts/simulator.py --scenario FILE [--port N]``.

A thin wrapper around :func:`wmsocial_testkit.simulator.main`; see docs/simulator.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout: its bot and its test kit (testkit/), installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testkit"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wmsocial_testkit.simulator import main

if __name__ == "__main__":
    sys.exit(main())
