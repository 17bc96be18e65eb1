"""One exception root for the bot.

:class:`UserError` and its children are problems a maintainer can fix (bad config, a missing
page, a broken file): the CLI prints their one-line message and exits non-zero without a
traceback.  Anything else that escapes is a bug and keeps its traceback.
"""


class WmsocialError(Exception):
    """Root of every error the bot raises on purpose."""


class UserError(WmsocialError):
    """A problem in the input or environment, reported as one line, exit status 2."""

    exit_code = 2


class InputError(UserError):
    """Unusable input: a missing file, an empty page, a page with no accounts."""


class ConfigError(UserError):
    """A configuration value is wrong; the message names the key."""


class WikiError(UserError):
    """The wiki refused or failed an operation (missing page, protection, block, ...)."""


class WritesDisabled(WikiError):
    """Writes are switched off (run page, ``{{nobots}}``); nothing was written."""


class NetworkPolicyError(WmsocialError):
    """A request was refused by the bot's own network policy (for example a private address)."""


class WriteRefused(WmsocialError):
    """Something from outside failed the write gate (:mod:`wmsocial_bot.gate`): not written.

    The message is the reason, reported with the skipped fix.
    """


class LeaseHeld(UserError):
    """Another run holds the state store's lease: this one did nothing (exit status 4)."""

    exit_code = 4
