"""One exception root for the bot.

:class:`UserError` and its children are problems a maintainer can fix (bad config, a missing
page, a broken file): the CLI prints their one-line message and exits non-zero without a
traceback.  Anything else that escapes is a bug and keeps its traceback.
"""


class WmsocialError(Exception):
    """Root of every error the bot raises on purpose."""


class UserError(WmsocialError):
    """A problem in the input or environment, reported as one line, exit status 2.

    (:class:`WikiUnavailable` is one line too, but exit status 1: the run failed.)
    """

    exit_code = 2


class InputError(UserError):
    """Unusable input: a missing file, an empty page, a page with no accounts."""


class ConfigError(UserError):
    """Configuration values are wrong; each problem names its key.

    ``problems`` holds every problem found (one line each), so that one round of fixes is
    enough; ``str()`` joins them into one line.
    """

    def __init__(self, *problems: str) -> None:
        self.problems: tuple[str, ...] = problems or ("bad configuration",)
        super().__init__("; ".join(self.problems))


class WikiError(UserError):
    """The wiki refused or failed an operation (missing page, protection, block, ...)."""


class WikiUnavailable(WikiError):
    """The wiki could not be reached or failed (network, server error): the run failed.

    Still one line without a traceback, but exit status 1, not 2: nothing for the operator to
    fix in the bot's input, and the next run usually works.
    """

    exit_code = 1


class WritesDisabled(WikiError):
    """Writes are switched off (run page, ``{{nobots}}``); nothing was written."""


class TransportError(WmsocialError):
    """A request got no usable answer: the network, the host or the bot's own policy failed it.

    Never evidence about an account.  :mod:`wmsocial_bot.net` maps every failure of requests,
    httpx (and httpcore) and Mastodon.py's transport to one of the classes below
    (:func:`wmsocial_bot.net.as_transport_error`), so that checkers catch only this family; an
    exception outside it is a bug, reported as an internal error (:mod:`wmsocial_bot.checks`).
    """


class NetworkPolicyError(TransportError):
    """Refused: the bot's own network policy refused the request (a private address, a bad
    scheme), for a link on the page or an address a server named."""


class Timeout(TransportError):
    """No answer in time: the socket timed out, or a deadline of the policy passed."""


class TooLarge(TransportError):
    """The answer is larger than ``network.max_response_bytes``; it was not read further."""


class Unreadable(TransportError):
    """The answer cannot be read safely or at all (a compression not asked for, JSON nested too
    deep, a body that is not what the protocol promises)."""


class Throttled(TransportError):
    """The host rate limits us (HTTP 429, or a wait longer than ``network.max_wait``)."""


class Unreachable(TransportError):
    """The host could not be reached, or is given up for the run."""


class ConnectionFailed(Unreachable):
    """The connection failed: refused, reset, no route, a failed name lookup or TLS handshake."""


class RedirectLoop(Unreachable):
    """The host redirects in a loop (more than ``network.max_redirects`` hops)."""


class WriteRefused(WmsocialError):
    """Something from outside failed the write gate (:mod:`wmsocial_bot.gate`): not written.

    The message is the reason, reported with the skipped fix.
    """


class LeaseHeld(UserError):
    """Another run holds the state store's lease: this one did nothing (exit status 4)."""

    exit_code = 4
