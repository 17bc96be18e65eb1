"""Reading the movement's own servers: ``/api/v2/instance`` and the privacy policy.

A thin adapter: Mastodon.py's ``instance_v2()`` (Mastodon.py 2.1 has it), its errors read by
the one adapter that reads them (:func:`wmsocial_bot.checkers.mastodon.call_api`); no release
has a call for the privacy policy, so that one is a plain GET.  Both go through the bot's
network policy (:class:`~wmsocial_bot.net.Net`: the guard, the caps, the deadlines, the host
budget).  What the answers mean is :mod:`wmsocial_bot.servers`' (pure).  Never raises for
what a server does.
"""

from __future__ import annotations

from collections.abc import Sequence

from wmsocial_bot.checkers.mastodon import ApiError, call_api, client_for
from wmsocial_bot.errors import TransportError
from wmsocial_bot.net import Net, transport_errors
from wmsocial_bot.servers import Reading, facts_from, is_mastodon

NOT_MASTODON = "not a Mastodon server"


def read_servers(net: Net, hosts: Sequence[str]) -> list[Reading]:
    """Each host once, in the order given."""
    return [read_server(net, host) for host in hosts]


def read_server(net: Net, host: str) -> Reading:
    """One server's facts, or why there are none (not Mastodon; could not be read)."""
    with net.account_time():
        try:
            instance = call_api(host, lambda: client_for(net, host).instance_v2())
        except TransportError as exc:  # the network, the host or the bot's policy
            return Reading(host, None, f"could not be read this run ({str(exc)[:150]})")
        if isinstance(instance, ApiError):  # an error answer, or not Mastodon's JSON
            code = instance.status
            if code in (404, 410):
                return Reading(host, None, f"{NOT_MASTODON} (no /api/v2/instance)")
            if code in (401, 403):
                return Reading(host, None, f"shows nothing to anonymous callers (HTTP {code})")
            why = f"HTTP {code}" if code else "the answer is not Mastodon's JSON"
            return Reading(host, None, f"could not be read this run ({why})")
        if not is_mastodon(instance):
            return Reading(
                host, None, f"{NOT_MASTODON} (its /api/v2/instance names other software)"
            )
        return Reading(host, facts_from(host, instance, _privacy_policy(net, host)))


def _privacy_policy(net: Net, host: str) -> object:
    """The decoded policy answer, or None (not answered: the fact stays "not shown")."""
    try:
        with transport_errors(host):
            response = net.get(f"https://{host}/api/v1/instance/privacy_policy")
            return response.json() if response.status_code == 200 else None
    except (TransportError, ValueError):
        return None
