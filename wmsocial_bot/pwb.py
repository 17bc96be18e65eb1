"""Pywikibot's ``scriptspath`` entry point, so that ``pwb wmsocial_bot ...`` finds our script."""

from pathlib import Path

scriptspath = str(Path(__file__).resolve().parent / "pwb_scripts")
