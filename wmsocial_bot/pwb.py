"""Pywikibot's ``scriptspath`` entry point, so that ``pwb wmsocial_bot ...`` finds our script.

Pywikibot (9.4+) looks for ``<scriptspath>/<name>.py`` and imports ``<scriptspath stem>.i18n``,
so the path is this package's own directory and the script is ``wmsocial_bot.py`` in it.
"""

from pathlib import Path

scriptspath = Path(__file__).resolve().parent
