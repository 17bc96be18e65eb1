#!/usr/bin/env python3
"""Start, stop or use a throwaway local MediaWiki; see testkit/wmsocial_testkit/testwiki.py.

python scripts/testwiki.py start --dir D   # prints JSON; serves until Ctrl-C or `stop --dir D`
python scripts/testwiki.py start --dir D --detach
python scripts/testwiki.py stop --dir D
python scripts/testwiki.py run -- python -m pytest tests/integration -q
"""

import sys
from pathlib import Path

try:
    from wmsocial_testkit.testwiki import main
except ImportError:  # run from a checkout without the test kit installed
    REPO = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(REPO), str(REPO / "testkit")]
    from wmsocial_testkit.testwiki import main

if __name__ == "__main__":
    sys.exit(main())
