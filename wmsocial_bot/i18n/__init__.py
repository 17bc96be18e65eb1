"""Pywikibot's script loader imports ``<scripts package>.i18n``; the bot has no messages yet."""
