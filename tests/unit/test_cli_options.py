"""The command line's option handling and the wiki's one-line reasons (pure parts, no network)."""

from __future__ import annotations

import socket

import pytest
import requests
from urllib3.connection import HTTPSConnection
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from wmsocial_bot.cli import _hint, build_parser, split_pywikibot_args, unknown_options
from wmsocial_bot.wiki import _why_unreachable


def test_our_short_options_stay_ours_even_repeated() -> None:
    pwb, ours = split_pywikibot_args(["run", "-vv", "-qq", "-v", "-simulate", "-user:Bot"])
    assert ours == ["run", "-vv", "-qq", "-v"]
    assert pwb == ["-simulate", "-user:Bot"]
    args = build_parser().parse_args(ours)
    assert (args.verbose, args.quiet) == (3, 2)


def test_help_is_help() -> None:
    assert split_pywikibot_args(["-help"]) == ([], ["--help"])
    assert split_pywikibot_args(["run", "-help"]) == ([], ["run", "--help"])


@pytest.mark.parametrize(
    ("option", "hint"),
    [("-simulat", "-simulate"), ("-page", "--page"), ("-dryrun", "--dry-run"), ("-lgo", "-log")],
)
def test_unknown_options_get_the_closest_known_one(option: str, hint: str) -> None:
    pwb, _ours = split_pywikibot_args(["run", option])
    assert unknown_options(pwb) == [option]
    assert _hint(option, build_parser()) == f", did you mean {hint}?"


def test_pywikibots_own_options_are_known() -> None:
    options = ["-simulate", "-user:Bot", "-family:meta", "-lang:meta", "-code:meta", "-log"]
    options += ["-site:meta:meta", "-maxlag:5", "-debug:api", "-verbose", "-dir:/tmp", "-nolog"]
    assert unknown_options(options) == []


def test_nothing_close_gets_no_hint() -> None:
    assert _hint("-zzzzzzzz", build_parser()) == ""


def _refused() -> requests.ConnectionError:
    pool_error = MaxRetryError(
        None,  # type: ignore[arg-type]
        "/w/api.php",
        NewConnectionError(
            HTTPSConnection("127.0.0.1", 1), "Failed to establish a new connection: refused"
        ),
    )
    pool_error.reason.__cause__ = ConnectionRefusedError(111, "Connection refused")  # type: ignore[union-attr]
    return requests.ConnectionError(pool_error)


def test_a_host_that_does_not_resolve_is_said_in_a_few_words() -> None:
    """The exception chain requests raises offline (its 300-character repr is not shown)."""
    gaierror = socket.gaierror(-3, "Temporary failure in name resolution")
    resolution = NameResolutionError("meta.wikimedia.org", HTTPSConnection("x"), gaierror)
    error = requests.ConnectionError(MaxRetryError(None, "/w/api.php", resolution))  # type: ignore[arg-type]
    assert len(str(error)) > 150
    why = _why_unreachable(error)
    assert why == "meta.wikimedia.org does not resolve (no network, or no DNS)"


def test_a_refused_connection_is_said_in_a_few_words() -> None:
    assert _why_unreachable(_refused()) == "the connection was refused"


def test_anything_else_is_cut_to_one_short_line() -> None:
    why = _why_unreachable(RuntimeError("x" * 500 + "\n" + "y"))
    assert "\n" not in why and len(why) <= 160
