"""The script ``pwb wmsocial_bot ...`` runs: the same CLI as the ``wmsocial-bot`` command.

pwb has already read its global options (-simulate, -user:, ...) into Pywikibot's config.
"""

import sys

from wmsocial_bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
