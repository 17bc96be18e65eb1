#!/usr/bin/env python3
"""Start, stop or use a throwaway local MediaWiki; see wmsocial_bot/devtools/testwiki.py.

python scripts/testwiki.py start --dir D   # prints JSON; serves until Ctrl-C or `stop --dir D`
python scripts/testwiki.py start --dir D --detach
python scripts/testwiki.py stop --dir D
python scripts/testwiki.py run -- python -m pytest tests/integration -q
"""

import sys
from pathlib import Path

try:
    from wmsocial_bot.devtools.testwiki import main
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from wmsocial_bot.devtools.testwiki import main

if __name__ == "__main__":
    sys.exit(main())
