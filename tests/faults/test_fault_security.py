"""Security: no request to loopback, private, link-local or metadata addresses, and no secret
in any output.

The simulator listens on loopback, so it is the target: every hostile URL below would reach
it (or another private address) without the guard, and ``sim.log`` must show no request.
Hostile URLs come as literal IPs (in every form the C library accepts), as host names that
resolve there (``Net(resolver=...)``), through a redirect from a trusted host, through a
nodeinfo link, and by DNS rebinding (the name resolves to a public address when checked, and
to loopback when the connection is made).

Secrets: the CLI runs with the test wiki's real bot password, with ``-vv`` and Pywikibot's
``-log -debug -verbose``, after a fresh login; the password must appear nowhere: stdout,
stderr, the state store, and every file in the Pywikibot directory (logs, caches, cookies)
except the password file itself.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import urllib3
from faults.support import Figures, SuiteConfig, pywikibot_dir_via, run_cli, write_config

from wmsocial_bot import net as net_module
from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.errors import NetworkPolicyError
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import Status
from wmsocial_bot.net import OFFLINE, Net
from wmsocial_bot.wiki import REDACTED, redact_secrets
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki
from wmsocial_testkit.tls import TlsServer, certificates

pytestmark = [pytest.mark.simulator, pytest.mark.faults]
# "The public Internet" of these tests: a loopback address the guard is told to accept, on
# which nothing listens (the simulator binds 127.0.0.1).  No test sends a packet off the
# machine, and a connection that goes where the guard looked fails at once.
PUBLIC = "127.0.0.2"
RESOLVES = {
    "evil.example": ["127.0.0.1"],
    "v6.example": ["::1"],
    "meta.example": ["169.254.169.254"],
    "private.example": ["10.0.0.7"],
    "mixed.example": [PUBLIC, "192.168.1.20"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "zero.example": ["0.0.0.0"],
}


def fake_dns(host: str) -> list[str]:
    """A resolver for the tests: the table above; any other name is public."""
    return RESOLVES.get(host, [PUBLIC])


def rebinding_dns(host: str) -> list[str]:
    """DNS rebinding: 'localhost' is public to the guard; the system still says 127.0.0.1."""
    return [PUBLIC]


@pytest.fixture(autouse=True)
def fake_public(monkeypatch: pytest.MonkeyPatch) -> None:
    real = net_module.refusal_reason
    monkeypatch.setattr(
        net_module, "refusal_reason", lambda address: None if address == PUBLIC else real(address)
    )


def make_net(sim: Simulator, resolver: Any = fake_dns) -> Net:
    return Net(NetworkConfig(timeout=2.0, retries=0), sim.overrides(), resolver=resolver)


HOSTILE = [
    "http://127.0.0.1:{port}/evil.example/@x",
    "http://127.0.0.3:{port}/evil.example/@x",
    "http://localhost:{port}/evil.example/@x",
    "http://LOCALHOST.:{port}/evil.example/@x",
    "http://127.1:{port}/evil.example/@x",
    "http://2130706433:{port}/evil.example/@x",
    "http://0x7f000001:{port}/evil.example/@x",
    "http://0177.0.0.1:{port}/evil.example/@x",
    "http://[::1]:{port}/evil.example/@x",
    "http://[::ffff:127.0.0.1]:{port}/evil.example/@x",
    "http://0.0.0.0:{port}/evil.example/@x",
    "http://[::]:{port}/evil.example/@x",
    "http://evil.example:{port}/x",
    "http://v6.example:{port}/x",
    "http://mapped.example:{port}/x",
    "http://zero.example:{port}/x",
    "http://mixed.example:{port}/x",
    "http://social.example@127.0.0.1:{port}/evil.example/x",
    "http://127.0.0.1:{port}\\@public.example/evil.example/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://meta.example/latest/meta-data/",
    "http://10.0.0.7/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://private.example/",
    "http://[fe80::1%25eth0]/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/_x",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_urls_are_refused_before_any_request(
    sim: Simulator, figures: Figures, template: str
) -> None:
    url = template.format(port=sim.port)
    net = make_net(sim)
    figures.fault("hostile URL")
    figures.case("security: hostile URLs", 2)
    with pytest.raises((NetworkPolicyError, requests.RequestException, ValueError)):
        net.get(url)
    with (
        httpx.Client(transport=net.httpx_transport()) as client,
        pytest.raises((NetworkPolicyError, httpx.HTTPError, httpx.InvalidURL, ValueError)),
    ):
        client.get(url)
    assert sim.log == [], f"{url} reached the simulator"


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/evil.example/x",
        "http://localhost:{port}/evil.example/x",
        "http://2130706433:{port}/evil.example/x",
        "http://[::1]:{port}/evil.example/x",
        "http://evil.example:{port}/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/admin",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_from_a_trusted_host_to_a_private_address_is_not_followed(
    sim: Simulator, figures: Figures, location: str
) -> None:
    target = location.format(port=sim.port)
    sim.update_host("web.example", pages={"/go": {"redirect": target}})
    net = make_net(sim)
    figures.fault("redirect to a private address")
    figures.case("security: redirects", 2)
    with pytest.raises((NetworkPolicyError, requests.RequestException)):
        net.get(sim.url_for("web.example") + "/go")
    with (
        httpx.Client(transport=net.httpx_transport(), follow_redirects=True) as client,
        pytest.raises((NetworkPolicyError, httpx.HTTPError)),
    ):
        client.get(sim.url_for("web.example") + "/go")
    assert [(r.host, r.path) for r in sim.log] == [("web.example", "/go")] * 2


def test_dns_rebinding_cannot_reach_loopback(
    sim: Simulator, figures: Figures, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard is told 'localhost' is public; the connection must use that answer too."""
    monkeypatch.delenv(OFFLINE)  # the fake DNS plays the Internet: let the guard's answer stand
    sim.update_host(
        "web.example", pages={"/go": {"redirect": f"http://localhost:{sim.port}/evil.example/x"}}
    )
    net = make_net(sim, resolver=rebinding_dns)
    figures.fault("DNS rebinding", 3)
    figures.case("security: DNS rebinding", 3)
    for send in (
        lambda: net.get(f"http://localhost:{sim.port}/evil.example/x"),
        lambda: net.get(sim.url_for("web.example") + "/go"),
        lambda: httpx.Client(transport=net.httpx_transport()).get(
            f"http://localhost:{sim.port}/evil.example/x"
        ),
    ):
        with pytest.raises((requests.RequestException, httpx.HTTPError)):
            send()
    assert all(r.host == "web.example" for r in sim.log), [(r.host, r.path) for r in sim.log]


def test_checks_never_fetch_a_private_address(sim: Simulator, figures: Figures) -> None:
    """Links on the page, a profile redirect and a nodeinfo link, through the real checkers."""
    port = sim.port
    sim.update_host(
        "www.pinterest.com",
        software="web",
        pages={"/evilpin/": {"redirect": f"http://127.0.0.1:{port}/evil.example/pin"}},
    )
    sim.update_host(
        "social.example",
        pages={
            "/api/v1/accounts/lookup": {"status": 404, "json": {"error": "no such API"}},
            "/.well-known/nodeinfo": {
                "json": {
                    "links": [
                        {
                            "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                            "href": f"http://127.0.0.1:{port}/evil.example/nodeinfo/2.0",
                        }
                    ]
                }
            },
        },
    )
    links = [
        f"http://127.0.0.1:{port}/@evil",
        "https://169.254.169.254/@meta",
        "https://10.0.0.7/@private",
        "https://evil.example/@resolves",
        "https://meta.example/@resolves",
        "@someone@evil.example",
        "https://www.pinterest.com/evilpin/",
        "https://social.example/@alice",
    ]
    page = "".join(f"* {link}\n" for link in links)
    accounts = extract_accounts(page).accounts
    assert len(accounts) == len(links)
    results = check_accounts(accounts, make_net(sim), now=dt.datetime.now(dt.UTC))
    figures.fault("hostile link on the page", len(links))
    figures.case("security: checks", len(links))
    statuses = [r.status for r in results]
    assert statuses[:6] == [Status.INVALID] * 6, [r.detail for r in results]
    assert statuses[6] in (Status.INVALID, Status.UNREACHABLE), results[6].detail
    assert statuses[7] in (Status.UNREACHABLE, Status.UNVERIFIABLE, Status.OK), results[7].detail
    assert {r.host for r in sim.log} <= {"www.pinterest.com", "social.example"}, [
        (r.host, r.path) for r in sim.log
    ]


# ---- pinning keeps TLS working: the name is still what is verified ----------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[TlsServer, Path]]:
    ca, cert, key = certificates(tmp_path, "pinned.example")
    server = TlsServer(cert, key)
    try:
        yield server, ca
    finally:
        server.close()


def test_pinned_https_still_verifies_the_name(
    tls_server: tuple[TlsServer, Path], monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    server, ca = tls_server
    # Loopback plays the public Internet here: the guard lets 127.0.0.1 pass for this test.
    monkeypatch.setattr(net_module, "refusal_reason", lambda address: None)
    monkeypatch.delenv(OFFLINE)
    names = {"pinned.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]}
    net = Net(NetworkConfig(timeout=5.0, retries=0), resolver=lambda host: names[host])
    url = f"https://pinned.example:{server.port}/x"
    assert net.get(url, verify=str(ca)).text == "pinned"
    transport = net.httpx_transport()
    transport.inner = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(ca)))  # type: ignore[attr-defined]
    with httpx.Client(transport=transport) as client:
        assert client.get(url).text == "pinned"
    assert server.seen == [("pinned.example", f"pinned.example:{server.port}")] * 2
    # The certificate is checked against the name, not the pinned address: a name the
    # certificate does not hold fails, as it would without pinning.
    with pytest.raises(requests.exceptions.SSLError):
        net.get(f"https://other.example:{server.port}/x", verify=str(ca))
    figures.case("security: TLS pinning", 3)


def test_the_httpx_path_verifies_with_the_certificates_httpx_is_told_to_trust(
    tls_server: tuple[TlsServer, Path], monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    """atproto's path reads ``SSL_CERT_FILE`` as httpx does, also when its TLS context is
    made once per process: a CA trusted only through it is trusted, and no longer once unset."""
    server, ca = tls_server
    monkeypatch.setattr(net_module, "refusal_reason", lambda address: None)
    monkeypatch.delenv(OFFLINE)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    net = Net(NetworkConfig(timeout=5.0, retries=0), resolver=lambda host: ["127.0.0.1"])
    url = f"https://pinned.example:{server.port}/x"
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    for _ in range(2):  # the second transport reuses the context
        with httpx.Client(transport=net.httpx_transport()) as client:
            assert client.get(url).text == "pinned"
    monkeypatch.delenv("SSL_CERT_FILE")
    with httpx.Client(transport=net.httpx_transport()) as client, pytest.raises(httpx.ConnectError):
        client.get(url)  # certifi's CAs do not include the test's
    figures.case("security: TLS trust settings", 3)


def test_the_requests_path_trusts_the_bundle_the_environment_names(
    tls_server: tuple[TlsServer, Path], monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    """Mastodon.py's path reads ``REQUESTS_CA_BUNDLE`` as requests does, also with its one
    shared TLS context: a CA trusted only through it is trusted, and no longer once unset."""
    server, ca = tls_server
    monkeypatch.setattr(net_module, "refusal_reason", lambda address: None)
    monkeypatch.delenv(OFFLINE)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    url = f"https://pinned.example:{server.port}/x"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    for _ in range(2):  # a second session reuses the context
        net = Net(NetworkConfig(timeout=5.0, retries=0), resolver=lambda host: ["127.0.0.1"])
        assert net.get(url).text == "pinned"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    net = Net(NetworkConfig(timeout=5.0, retries=0), resolver=lambda host: ["127.0.0.1"])
    with pytest.raises(requests.exceptions.SSLError):
        net.get(url)  # certifi's CAs do not include the test's
    figures.case("security: TLS trust settings", 3)


def test_a_bundle_given_for_one_request_is_trusted_for_that_request_only(
    tls_server: tuple[TlsServer, Path], monkeypatch: pytest.MonkeyPatch, figures: Figures
) -> None:
    """The shared context is never handed another bundle: after a request that trusts the
    test CA explicitly, the next one (the usual trust, on the same session and host) does not."""
    server, ca = tls_server
    monkeypatch.setattr(net_module, "refusal_reason", lambda address: None)
    monkeypatch.delenv(OFFLINE)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    net = Net(NetworkConfig(timeout=5.0, retries=0), resolver=lambda host: ["127.0.0.1"])
    url = f"https://pinned.example:{server.port}/x"
    with pytest.raises(requests.exceptions.SSLError):
        net.get(url)
    assert net.get(url, verify=str(ca)).text == "pinned"
    with pytest.raises(requests.exceptions.SSLError):
        net.get(f"https://pinned.example:{server.port}/y")
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        assert net.get(url, verify=False).text == "pinned"
    with pytest.raises(requests.exceptions.SSLError):
        net.get(f"https://pinned.example:{server.port}/z")  # verify=False did not stick either
    figures.case("security: TLS trust settings", 3)


# ---- secrets -------------------------------------------------------------------------------


def test_credentials_are_redacted_from_pywikibot_log_lines(figures: Figures) -> None:
    lines = {
        "Body: 'action=login&lgname=Bot%40app&lgpassword=s3cr3tpass&format=json'": "s3cr3tpass",
        "query=\n{'lgpassword': ['s3cr3tpass'], 'action': ['login']}": "s3cr3tpass",
        "Headers: {'Authorization': 'OAuth oauth_consumer_key=\"ck123\", "
        'oauth_token="at456", oauth_signature="sig789"\'}': "ck123",
        "Authorization: Bearer tok.en.value": "tok.en.value",
        "{'consumer_secret': 'cs987', 'access_secret': 'as654'}": "cs987",
    }
    for line, secret in lines.items():
        figures.case("security: redaction")
        cleaned = redact_secrets(line)
        assert secret not in cleaned and REDACTED in cleaned, cleaned
    assert "as654" not in redact_secrets("{'consumer_secret': 'cs987', 'access_secret': 'as654'}")
    harmless = "password_file = user-password.py; 3 tokens; the token is fine"
    assert redact_secrets(harmless) == harmless


PAGE = "* https://social.example/@bob\n* https://social.example/@nobody\n"


def _everything_written(*roots: Path) -> Iterator[tuple[Path, bytes]]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and path.name not in ("user-password.py", "user-config.py"):
                yield path, path.read_bytes()


@pytest.mark.wiki
def test_the_bot_password_appears_nowhere(
    fault_wiki: LocalWiki,
    human: ApiSession,
    sim: Simulator,
    writes_on: str,
    title: str,
    tmp_path: Path,
    figures: Figures,
) -> None:
    human.edit(title, PAGE)
    secret = fault_wiki.bot.password
    assert len(secret) >= 16
    pwb = pywikibot_dir_via(
        fault_wiki.pywikibot_dir, tmp_path / "pwb", port=fault_wiki.port
    )  # a copy: its logs and caches are this test's alone
    config = write_config(
        tmp_path / "config.toml",
        SuiteConfig(
            pages=[title],
            state=tmp_path / "state.sqlite3",
            endpoints=sim.overrides(),
            status_page=title + "/Status",
        ),
    )
    outputs = []
    for options in (["-vv"], ["-vv", "-log", "-debug", "-verbose"]):
        for cookie in pwb.glob("*.lwp"):
            cookie.unlink()  # a fresh login each time: the password is sent
        done = run_cli(pwb, "run", "--config", str(config), *options)
        assert done.returncode == 0, done
        outputs += [done.stdout, done.stderr]
        figures.case("security: secrets")
    assert any(
        "lgpassword" in text
        for _path, raw in _everything_written(pwb)
        for text in [raw.decode("utf-8", "replace")]
    ), "the debug log saw the login"
    assert not [i for i, text in enumerate(outputs) if secret in text]
    leaks = [
        str(path) for path, raw in _everything_written(pwb, tmp_path) if secret.encode() in raw
    ]
    assert leaks == [], f"the bot password is in {leaks}"
    # A failed login does not echo the password it tried either.
    wrong = "Wrong-" + secret[::-1]
    bad = pywikibot_dir_via(
        fault_wiki.pywikibot_dir, tmp_path / "bad", port=fault_wiki.port, password=wrong
    )
    done = run_cli(bad, "run", "--config", str(config), "-vv", "-log", "-debug")
    figures.fault("wrong bot password")
    figures.case("security: secrets")
    assert done.returncode != 0
    assert wrong not in done.stdout + done.stderr
    leaks = [str(path) for path, raw in _everything_written(bad) if wrong.encode() in raw]
    assert leaks == [], f"the wrong password is in {leaks}"


@pytest.mark.wiki
def test_oauth_tokens_appear_nowhere(
    fault_wiki: LocalWiki, sim: Simulator, title: str, tmp_path: Path, figures: Figures
) -> None:
    """OAuth configured (four made-up tokens) in Pywikibot's config: none is ever shown."""
    tokens = ["ck-" + "1a" * 8, "cs-" + "2b" * 16, "ak-" + "3c" * 8, "as-" + "4d" * 16]
    pwb = pywikibot_dir_via(fault_wiki.pywikibot_dir, tmp_path / "pwb", port=fault_wiki.port)
    config_py = pwb / "user-config.py"
    config_py.write_text(
        config_py.read_text(encoding="utf-8").replace("password_file = ", "_unused = ")
        + f"authenticate['127.0.0.1:{fault_wiki.port}'] = {tuple(tokens)!r}\n",
        encoding="utf-8",
    )
    config = write_config(
        tmp_path / "config.toml",
        SuiteConfig(
            pages=[title],
            state=tmp_path / "state.sqlite3",
            endpoints=sim.overrides(),
        ),
    )
    done = run_cli(pwb, "run", "--config", str(config), "-vv", "-log", "-debug", "-verbose")
    figures.case("security: secrets")
    assert done.returncode == 2, done  # no requests_oauthlib here: a clear one-line error
    assert "OAuth" in done.stderr.splitlines()[-3] or "OAuth" in done.stderr, done
    text = done.stdout + done.stderr
    written = b"".join(raw for _path, raw in _everything_written(pwb, tmp_path))
    assert not [t for t in tokens if t in text or t.encode() in written], done
