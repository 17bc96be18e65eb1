"""Allow ``python -m wmsocial_bot``."""

import sys

from wmsocial_bot.cli import main

sys.exit(main())
