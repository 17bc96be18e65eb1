"""The network policy's pure parts: overrides and the private-address guard (no network)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.errors import NetworkPolicyError
from wmsocial_bot.net import OFFLINE, Net, advertised_limit, refusal_reason


def net(**resolved: list[str]) -> Net:
    return Net(
        NetworkConfig(),
        {"wikis.world": "http://127.0.0.1:8765/wikis.world"},
        contact="User:Example",
        resolver=lambda host: resolved.get(host.replace(".", "_"), ["93.184.216.34"]),
    )


def test_overrides_rewrite_and_are_trusted() -> None:
    target = net().target("https://wikis.world/api/v1/accounts/lookup?acct=a")
    assert target.url == "http://127.0.0.1:8765/wikis.world/api/v1/accounts/lookup?acct=a"
    assert target.trusted and target.host == "wikis.world"
    again = net().target("http://127.0.0.1:8765/wikis.world/@a")  # a relative redirect
    assert again.trusted and again.host == "wikis.world"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/@a", "loopback"),
        ("http://[::1]/@a", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://169.254.10.10/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://sneaky.example/", "loopback"),  # a name that resolves to loopback
        ("file:///etc/passwd", "file scheme"),
        ("gopher://x.example/", "gopher scheme"),
    ],
)
def test_private_and_odd_targets_are_refused(url: str, reason: str) -> None:
    with pytest.raises(NetworkPolicyError, match=reason):
        net(sneaky_example=["127.0.0.1"]).target(url)


def test_public_addresses_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OFFLINE)  # as in production
    assert refusal_reason("93.184.216.34") is None
    assert refusal_reason("2606:2800:220:1:248:1893:25c8:1946") is None
    target = net().target("https://mastodon.example/@a")
    assert not target.trusted and target.url == "https://mastodon.example/@a"


def test_user_agent_names_bot_contact_and_library() -> None:
    ua = net().user_agent("Mastodon.py", "2.3.3")
    assert ua.startswith("wmsocial-bot/") and "(User:Example)" in ua
    assert ua.endswith("Mastodon.py/2.3.3")


# --------------------------------------------------------------------------- bodies


def test_json_depth_counts_structure_not_brackets_in_strings() -> None:
    from wmsocial_bot.net import json_too_deep

    assert json_too_deep(b"[" * 101 + b"]" * 101)
    assert json_too_deep(b' \n{"a":' * 101 + b"1" + b"}" * 101)
    assert not json_too_deep(b"[" * 100 + b"]" * 100)
    assert not json_too_deep(b'["' + b"[" * 5000 + b'"]')  # brackets inside a string
    assert not json_too_deep(b'["\\"' + b"[" * 5000 + b'"]')  # an escaped quote first
    assert not json_too_deep(b"<html>" + b"[" * 5000)  # not JSON: the parser refuses it anyway


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_tricky_text = st.text(alphabet='[]{}"\\/ax\n', max_size=8)
_json_documents = st.recursive(
    st.none() | st.integers() | _tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_tricky_text, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(_json_documents, st.integers(min_value=0, max_value=12), st.sampled_from([0, 1, 2]))
def test_json_depth_is_the_parsers_depth(value: object, limit: int, indent: int) -> None:
    """The bytes-method depth agrees with the real nesting, whatever the strings hold
    (brackets, quotes, backslashes) and however the document is spaced."""
    from wmsocial_bot.net import json_too_deep

    body = json.dumps(value, indent=indent or None).encode()
    assert json_too_deep(body, limit) == (_depth(value) > limit), body


def test_json_depth_of_deep_nesting_in_a_list_of_siblings() -> None:
    from wmsocial_bot.net import json_too_deep

    body = b"[" + b"[]," * 500 + b"[" * 101 + b"]" * 101 + b"]"
    assert json_too_deep(body)
    assert not json_too_deep(b"[" + b"[]," * 500 + b"[" * 98 + b"]" * 98 + b"]")


def test_codings_the_cap_cannot_bound_are_refused() -> None:
    from wmsocial_bot.net import UnreadableAnswer, content_codings

    assert content_codings("", "h") == []
    assert content_codings("identity, GZIP", "h") == ["gzip"]
    assert content_codings("utf-8", "h") == []  # unknown: left as it is, as both clients do
    for header in ("br", "zstd", "gzip, zstd", "gzip, gzip"):
        with pytest.raises(UnreadableAnswer, match="could not be read"):
            content_codings(header, "h")


@pytest.mark.parametrize("wbits", [31, 15, -15])  # gzip, zlib deflate, raw deflate
def test_the_decoder_stops_at_the_cap(wbits: int) -> None:
    import zlib

    from wmsocial_bot.net import ResponseTooLarge, _BoundedDecoder

    coding = "gzip" if wbits == 31 else "deflate"
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    data = packer.compress(b"x" * 5000) + packer.flush()
    assert _BoundedDecoder(coding, 5000, "h").feed(data) == b"x" * 5000
    with pytest.raises(ResponseTooLarge):
        _BoundedDecoder(coding, 4999, "h").feed(data)


def test_advertised_limit_reads_mastodon_and_ietf_headers() -> None:
    # Mastodon (app/controllers/concerns/api/rate_limit_headers.rb) and Bluesky (IETF draft).
    assert advertised_limit({"x-ratelimit-limit": "300"}) == (300, None)
    assert advertised_limit({"ratelimit-limit": "3000", "ratelimit-policy": "3000;w=300"}) == (
        3000,
        300.0,
    )
    assert advertised_limit({"x-ratelimit-limit": "many"}) == (None, None)
    assert advertised_limit({"x-ratelimit-limit": "0"}) == (None, None)


def test_the_share_holds_across_our_window_boundary() -> None:
    """Two requests late in our window and two early in the next make four in one host window.

    Our window's end comes from the host's whole-second ``Date``, and some servers start a
    window at the first request after the last one ended: the share must hold in any
    window-long span, not only in our own windows.
    """
    policy = net()
    gate = policy._gate("busy.example")
    gate.budget, gate.period, gate.window_end = 2, 10.0, 10.0
    for started in (9.0, 9.5):
        assert policy._share_delay(gate, started) <= 0
        policy._take_share(gate, started)
    assert policy._share_delay(gate, 9.6) > 0, "the share of this window is spent"
    # Our next window begins at 10.0; its first request must wait until a whole period (and a
    # tenth) has passed since the first of the two before it.
    assert policy._share_delay(gate, 10.1) == pytest.approx(9.0 + 11.0 - 10.1)
    assert policy._share_delay(gate, 20.0) <= 0


def test_offline_refuses_every_host_without_an_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test kit sets it for every test session (and the demo for its runs): no test or demo
    # request may reach a real server, even one a scenario forgot to route to the simulator.
    assert os.environ.get(OFFLINE), "the test kit's pytest plugin sets $WMSOCIAL_BOT_OFFLINE"
    net = Net(
        NetworkConfig(),
        {"sim.example": "http://127.0.0.1:9"},
        resolver=lambda host: ["93.184.216.34"],
    )
    assert net.target("https://sim.example/api").url == "http://127.0.0.1:9/api"
    with pytest.raises(NetworkPolicyError, match="offline"):
        net.target("https://forgotten.example/page")
    monkeypatch.delenv(OFFLINE)
    online = Net(NetworkConfig(), resolver=lambda host: ["93.184.216.34"])
    assert online.target("https://forgotten.example/page").address == "93.184.216.34"


class _Reply:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.closed = False

    def close(self) -> None:
        self.closed = True


# (what each try gives, retries allowed) -> (what the exchange ends with, tries sent, retries)
RETRY_CASES = [
    (["200"], 3, ("200", 1, 0)),
    (["404"], 3, ("404", 1, 0)),
    (["503", "503", "200"], 3, ("200", 3, 2)),
    (["503", "502", "503", "503", "200"], 2, ("503", 3, 2)),
    (["reset", "200"], 1, ("200", 2, 1)),
    (["reset", "reset", "reset"], 2, ("reset", 3, 2)),
    (["bug", "200"], 3, ("bug", 1, 0)),
    (["503"], 0, ("503", 1, 0)),
    (["reset"], 0, ("reset", 1, 0)),
]


@pytest.mark.parametrize(("tries", "retries", "expected"), RETRY_CASES)
def test_the_first_try_and_the_retries(
    tries: list[str], retries: int, expected: tuple[str, int, int]
) -> None:
    """The first try is made without tenacity; a try to be retried is replayed to tenacity, so
    that what is retried, how often, and which answer or error ends it stay tenacity's."""
    import requests

    net = Net(NetworkConfig(retries=retries))
    net.sleep = lambda _seconds: None
    sent: list[_Reply] = []

    def send_once() -> _Reply:
        outcome = tries[len(sent)]
        sent.append(_Reply(int(outcome) if outcome.isdigit() else 0))
        if outcome == "reset":
            raise requests.ConnectionError("connection reset")
        if outcome == "bug":
            raise ValueError("not the network's fault")
        return sent[-1]

    end, count, retried = expected
    if end.isdigit():
        reply = net.exchange("h.example", send_once)
        assert reply.status_code == int(end)
        assert reply is sent[-1] and not reply.closed
        answered = [r for r, outcome in zip(sent[:-1], tries, strict=False) if outcome.isdigit()]
        assert all(earlier.closed for earlier in answered)  # each retried answer let go
    else:
        error = requests.ConnectionError if end == "reset" else ValueError
        with pytest.raises(error):
            net.exchange("h.example", send_once)
    assert len(sent) == count
    assert net.stats["retries"] == retried
    assert net.stats["requests"] == count
