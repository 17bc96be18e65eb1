"""wmsocial-bot: keeps Wikimedia pages that list social-media accounts honest."""

__version__ = "0.1.0"
