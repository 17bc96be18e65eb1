"""Attacks on time and memory: decompression bombs, deeply nested JSON (and slow hosts).

Every case has its own small hostile server on loopback (:class:`Hostile`); the bot reaches it
through endpoint overrides, on both client paths: Mastodon.py and the bot's own requests
(requests/urllib3) and atproto (httpx), the Bluesky AppView and the PLC directory.

* A decompression bomb (gzip or deflate; zstd, which the bot never asks for) is refused at the
  size cap counted on the *decoded* body, and a 1 GiB bomb keeps the whole ``check`` process
  under 300 MB peak RSS (the subprocess's own high-water mark, VmHWM).
* Both clients ask only for ``gzip, deflate``: the compressions whose decoding is capped.
* JSON nested deeper than any real answer is a clear non-verdict ("could not be read"), never
  an internal error with a ``RecursionError`` traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from faults.support import Figures, RunOptions, SuiteConfig, run_cli, state_rows, write_config

from wmsocial_bot.checks import check_accounts
from wmsocial_bot.config import NetworkConfig
from wmsocial_bot.extract import extract_accounts
from wmsocial_bot.model import CheckResult, Status
from wmsocial_bot.net import NOT_CHECKED, Net
from wmsocial_bot.notices import reported_markers
from wmsocial_testkit.fixtures import SCENARIOS
from wmsocial_testkit.simulator import Simulator
from wmsocial_testkit.testwiki import ApiSession, LocalWiki

pytestmark = pytest.mark.faults
NOW = datetime.fromisoformat("2026-11-24T00:00:00+00:00")
NO_VERDICT = {Status.UNREACHABLE, Status.UNVERIFIABLE}
CAP = 2_000_000  # the default max_response_bytes
MASTODON = "https://social.hostile/@alice"
BSKY_HANDLE = "https://bsky.app/profile/alice.hostile.example"
BSKY_DID = "https://bsky.app/profile/did:plc:abcdefghijklmnopqrstuvwx"
NOT_FOUND = json.dumps({"error": "InvalidRequest", "message": "Profile not found"}).encode()

SLOW_SECONDS = 120  # how long a slowloris answer trickles (the bot before: as long as that)
Answer = tuple[int, dict[str, str], bytes]  # status, headers, body
Route = Callable[[str], Answer | None]  # path -> answer (None: 404)


class Hostile:
    """A loopback HTTP server: ``/<host>/<path>`` is answered by ``routes[host](path)``.

    ``seen`` records (host, path, Accept-Encoding) of every request.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str, str]] = []
        self.slow: dict[str, str] = {}  # host -> "headers" | "body": trickled a byte a second
        self.stop = threading.Event()
        self.server = _HostileServer(self)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def overrides(self) -> dict[str, str]:
        return {
            host: f"{self.base}/{host}"
            for host in ("social.hostile", "public.api.bsky.app", "plc.directory")
        }

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


class _HostileServer(ThreadingHTTPServer):
    """The server of one :class:`Hostile`, which its handler answers from."""

    daemon_threads = True

    def __init__(self, hostile: Hostile) -> None:
        super().__init__(("127.0.0.1", 0), _HostileHandler)
        self.hostile = hostile

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-answer is what these tests expect


class _HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HostileServer

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.answer()

    def answer(self) -> None:
        hostile = self.server.hostile
        _, host, rest = self.path.split("/", 2)
        hostile.seen.append((host, "/" + rest, self.headers.get("Accept-Encoding", "")))
        if host in hostile.slow:
            self.trickle(hostile.slow[host])
            return
        route = hostile.routes.get(host)
        found = route("/" + rest) if route else None
        status, headers, body = found or (404, {}, b'{"error":"Record not found"}')
        self.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        for name, value in headers.items():
            self.send_header(name, value)
        chunked = headers.get("Transfer-Encoding") == "chunked"
        if not chunked:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with suppress(BrokenPipeError, ConnectionResetError):  # the bot hung up at its cap
            self.send_body(body, chunked=chunked)

    def send_body(self, body: bytes, *, chunked: bool) -> None:
        if not chunked:
            self.wfile.write(body)
            return
        for start in range(0, len(body), 16384):
            piece = body[start : start + 16384]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def trickle(self, part: str) -> None:
        """A slowloris: one byte a second (under any read timeout), for two minutes."""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += b"Content-Length: 100000\r\n\r\n"
        if part == "body":
            self.wfile.write(head)
            head = b"[" + b" " * 100000
        with suppress(OSError):
            for byte in head[:SLOW_SECONDS]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if self.server.hostile.stop.wait(1.0):
                    break
        self.close_connection = True


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    try:
        yield server
    finally:
        server.close()


@cache
def bomb(encoding: str, mebibytes: int) -> bytes:
    """``mebibytes`` MiB of zeros, compressed (about a thousand to one)."""
    if encoding == "zstd":
        zstandard = pytest.importorskip("zstandard")
        return bytes(zstandard.ZstdCompressor().compress(b"\0" * (mebibytes << 20)))
    wbits = {"gzip": 31, "deflate": 15}[encoding]
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = b"\0" * (1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(mebibytes)) + packer.flush()


def serve(hostile: Hostile, target: str, answer: Answer) -> list[str]:
    """Route ``answer`` to ``target`` (fediverse, appview, plc); the links to check."""
    if target == "fediverse":
        hostile.routes["social.hostile"] = lambda path: answer if "lookup" in path else None
        return [MASTODON]
    if target == "appview":
        hostile.routes["public.api.bsky.app"] = lambda path: answer
        return [BSKY_HANDLE]
    # The PLC directory is asked about a DID the AppView does not know.

    def appview(path: str) -> Answer:
        if "getProfiles" in path:
            return 200, {}, b'{"profiles": []}'
        return 400, {}, NOT_FOUND

    hostile.routes["public.api.bsky.app"] = appview
    hostile.routes["plc.directory"] = lambda path: answer
    return [BSKY_DID]


def check(hostile: Hostile, links: list[str]) -> list[CheckResult]:
    net = Net(NetworkConfig(timeout=5.0, retries=0), hostile.overrides())
    accounts = extract_accounts("".join(f"* {link}\n" for link in links)).accounts
    return check_accounts(accounts, net, now=NOW)


TARGETS = ["fediverse", "appview", "plc"]


# --------------------------------------------------------------------------- bombs


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_bomb_is_refused_at_the_cap_on_its_decoded_size(
    hostile: Hostile, figures: Figures, target: str, encoding: str, framing: str
) -> None:
    """20 MiB of decoded zeros (ten times the cap) in about 20 kB: refused, never read whole."""
    headers = {"Content-Encoding": encoding}
    if framing == "chunked":
        headers["Transfer-Encoding"] = "chunked"
    links = serve(hostile, target, (200, headers, bomb(encoding, 20)))
    [found] = check(hostile, links)
    figures.fault(f"{encoding} bomb")
    figures.case("attacks")
    assert found.status in NO_VERDICT, found
    assert f"exceeds the {CAP}-byte cap" in found.detail, found


def test_an_unasked_for_zstd_bomb_is_refused(hostile: Hostile, figures: Figures) -> None:
    """httpx decodes zstd, unbounded, whenever zstandard is installed; the bot never asks."""
    links = serve(hostile, "appview", (200, {"Content-Encoding": "zstd"}, bomb("zstd", 20)))
    [found] = check(hostile, links)
    figures.fault("zstd bomb")
    figures.case("attacks")
    assert found.status in NO_VERDICT, found
    assert "compressed with zstd, which was not asked for" in found.detail, found


def test_both_clients_ask_only_for_the_compressions_the_cap_bounds(hostile: Hostile) -> None:
    links = serve(hostile, "plc", (404, {}, b'{"message": "DID not registered"}'))
    check(hostile, [MASTODON, *links])
    asked = {(host, encoding) for host, _path, encoding in hostile.seen}
    assert {host for host, _ in asked} >= {"social.hostile", "public.api.bsky.app", "plc.directory"}
    assert {encoding for _, encoding in asked} == {"gzip, deflate"}, asked


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_gigabyte_bomb_keeps_the_process_under_300_mb(
    hostile: Hostile, tmp_path: Path, figures: Figures, target: str, encoding: str
) -> None:
    """``wmsocial-bot check`` in a subprocess; its own peak RSS (VmHWM)."""
    links = serve(hostile, target, (200, {"Content-Encoding": encoding}, bomb(encoding, 1024)))
    page = tmp_path / "page.wiki"
    page.write_text("".join(f"* {link}\n" for link in links), encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[state]\npath = "{tmp_path / "state.sqlite3"}"\n[network]\ntimeout = 10.0\nretries = 0\n',
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "wmsocial_bot", "check", "--wikitext", str(page)]
    command += ["--config", str(config), "--format", "json"]
    for host, base in hostile.overrides().items():
        command += ["--endpoint", f"{host}={base}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WMSOCIAL")}
    code, out, err, peak_mb = run_measured(command, env, tmp_path)
    assert code == 0, err
    [found] = json.loads(out)
    figures.fault(f"{encoding} bomb (1 GiB)")
    figures.case("attacks")
    print(f"peak RSS with a 1 GiB {encoding} bomb via {target}: {peak_mb:.0f} MB")
    assert found["status"] in {s.value for s in NO_VERDICT}, found
    assert "cap" in found["detail"], found
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB"


# Runs ``python -m wmsocial_bot ARGS`` and writes the process's own peak RSS (VmHWM) on the
# way out.  The kernel's rusage is no measure here: the child is (v)forked from pytest, and at
# its exec the kernel carries the pytest process's high-water mark into the child's ru_maxrss,
# so a large test process would be charged to the bot.  VmHWM belongs to the bot's own memory.
_PEAK_WRAPPER = """
import os, runpy, sys
sys.argv = ["wmsocial_bot", *sys.argv[1:]]
try:
    runpy.run_module("wmsocial_bot", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status", encoding="ascii") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["WMSOCIAL_TEST_PEAK_FILE"], "w", encoding="ascii") as out:
        out.write(peak)
"""


def run_measured(
    command: list[str], env: dict[str, str], tmp_path: Path
) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, peak RSS in MB) of ``python -m wmsocial_bot ARGS``."""
    assert command[1:3] == ["-m", "wmsocial_bot"], command
    peak_path, out_path, err_path = (tmp_path / n for n in ("peak", "stdout", "stderr"))
    env = {**env, "WMSOCIAL_TEST_PEAK_FILE": str(peak_path)}
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.run(
            [command[0], "-c", _PEAK_WRAPPER, *command[3:]],
            stdout=out,
            stderr=err,
            env=env,
            check=False,
        )
    text = out_path.read_text(encoding="utf-8"), err_path.read_text(encoding="utf-8")
    peak_kib = int(peak_path.read_text(encoding="ascii"))
    return proc.returncode, text[0], text[1], peak_kib / 1024


# --------------------------------------------------------------------------- nested JSON

NESTED = b"[" * 50_000 + b"]" * 50_000


@pytest.mark.parametrize(
    ("target", "status"),
    [("fediverse", 404), ("fediverse", 200), ("appview", 200), ("appview", 400)],
)
def test_deeply_nested_json_is_a_clear_non_verdict(
    hostile: Hostile, figures: Figures, target: str, status: int
) -> None:
    """Before: Mastodon.py's error path raised RecursionError (an internal error) and atproto
    failed with "recursion limit exceeded"; now the answer "could not be read"."""
    links = serve(hostile, target, (status, {}, NESTED))
    [found] = check(hostile, links)
    figures.fault("nested JSON")
    figures.case("attacks")
    assert found.status in NO_VERDICT, found
    assert "internal error" not in found.detail
    assert "could not be read: its JSON is nested more than" in found.detail, found


def test_nested_json_in_webfinger_is_no_internal_error(hostile: Hostile, figures: Figures) -> None:
    def server(path: str) -> Answer | None:
        if "lookup" in path:
            return 404, {}, b'{"error": "Record not found"}'
        if "webfinger" in path:
            return 200, {}, NESTED
        return None

    hostile.routes["social.hostile"] = server
    [found] = check(hostile, [MASTODON])
    figures.fault("nested JSON")
    figures.case("attacks")
    assert found.status in NO_VERDICT, found
    assert "internal error" not in found.detail, found
    assert "could not be read" in found.detail, found


# --------------------------------------------------------------------------- bounds


def traced_peak_mb(action: Callable[[], object]) -> float:
    """The peak of Python's own allocations (tracemalloc) while ``action`` runs, in MB."""
    import tracemalloc

    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("target", ["fediverse", "appview"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_bomb_never_holds_more_than_a_few_caps(
    hostile: Hostile, target: str, encoding: str
) -> None:
    """Decoded a bounded piece at a time: with urllib3 < 2.6.0, one 64 KiB read of a bomb became
    some 64 MB before the cap could be checked (setup.cfg's lower bound)."""
    links = serve(hostile, target, (200, {"Content-Encoding": encoding}, bomb(encoding, 256)))
    found: list[CheckResult] = []
    peak = traced_peak_mb(lambda: found.extend(check(hostile, links)))
    assert "cap" in found[0].detail, found
    assert peak < 4 * CAP / 1e6, f"{peak:.0f} MB traced at the peak"


ACCOUNT = {
    "id": "1",
    "username": "alice",
    "acct": "alice",
    "url": "https://social.hostile/@alice",
    "statuses_count": 10,
    "last_status_at": "2026-11-20",
    "fields": [],
}


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_compressed_answer_is_read_whole(hostile: Hostile, framing: str) -> None:
    """The honest case: a gzip'd (and chunked) account is read to its end and judged."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = packer.compress(json.dumps(ACCOUNT).encode() + b" " * 200_000) + packer.flush()
    headers = {"Content-Encoding": "gzip"}
    if framing == "chunked":
        headers["Transfer-Encoding"] = "chunked"
    hostile.routes["social.hostile"] = lambda path: (
        (200, headers, body) if "lookup" in path else None
    )
    [found] = check(hostile, [MASTODON])
    assert found.status == Status.OK, found


# --------------------------------------------------------------------------- slow hosts

TRUTH = json.loads((SCENARIOS / "basic.checks.json").read_text(encoding="utf-8"))


def check_timed(
    links: list[str], overrides: dict[str, str], **network: float
) -> tuple[list[CheckResult], float]:
    """The checks of ``links`` with the per-read timeout at 2 s, and how long they took."""
    net = Net(NetworkConfig(**{"timeout": 2.0, **network}), overrides)  # type: ignore[arg-type]
    accounts = extract_accounts("".join(f"* {link}\n" for link in links)).accounts
    assert len(accounts) == len(links)
    started = time.monotonic()
    results = check_accounts(
        accounts, net, now=datetime.fromisoformat(TRUTH["now"]), inactive_days=365
    )
    return results, time.monotonic() - started


def wrong_verdicts(results: list[CheckResult], *, not_checked_ok: bool = False) -> list[str]:
    """The basic scenario's accounts whose result is not their true status."""
    problems = []
    for case, found in zip(TRUTH["cases"], results, strict=False):
        if found.status.value == case["status"]:
            continue
        if not_checked_ok and (found.status, found.detail) == (Status.UNVERIFIABLE, NOT_CHECKED):
            continue
        problems.append(f"{case['link']}: {found.status.value} ({found.detail})")
    return problems


@pytest.mark.simulator
@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_slowloris_fediverse_host_is_unreachable_and_the_rest_keep_their_truth(
    sim: Simulator, hostile: Hostile, figures: Figures, part: str
) -> None:
    """One byte a second never trips the 2 s read timeout; the 3 s whole-answer deadline does.

    Before: each of its requests took as long as the server liked (here two minutes, times
    the retries), and the run with it."""
    hostile.slow["social.slow"] = part
    slow = [f"https://social.slow/@user{n}" for n in range(6)]
    links = [case["link"] for case in TRUTH["cases"]] + slow
    overrides = {**sim.overrides(), "social.slow": f"{hostile.base}/social.slow"}
    results, seconds = check_timed(links, overrides, request_deadline=3.0, run_budget=60.0)
    figures.fault("slowloris", len(slow))
    figures.case("attacks", len(results))
    print(f"slowloris ({part}): the checks took {seconds:.1f} s (run budget 60 s)")
    assert not wrong_verdicts(results), wrong_verdicts(results)
    held = results[len(TRUTH["cases"]) :]
    assert {r.status for r in held} == {Status.UNREACHABLE}, held
    timed_out = [r for r in held if "social.slow timed out after 3 s" in r.detail]
    assert timed_out, held
    assert all(r in timed_out or "not asked again in this run" in r.detail for r in held), held
    assert seconds < 20


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_slowloris_appview_is_unreachable_on_the_httpx_path(
    hostile: Hostile, figures: Figures, part: str
) -> None:
    hostile.slow["public.api.bsky.app"] = part
    links = [BSKY_HANDLE, "https://bsky.app/profile/bob.hostile.example"]
    results, seconds = check_timed(
        links, hostile.overrides(), request_deadline=3.0, run_budget=60.0
    )
    figures.fault("slowloris", 1)
    figures.case("attacks", len(results))
    print(f"slow AppView ({part}): the checks took {seconds:.1f} s")
    for found in results:
        assert found.status == Status.UNREACHABLE, found
        assert "timed out after 3 s" in found.detail, found
    assert seconds < 10


@pytest.mark.simulator
def test_when_the_run_budget_runs_out_the_rest_is_not_checked(
    sim: Simulator, hostile: Hostile, figures: Figures
) -> None:
    """Twelve slow hosts, each with a whole-answer deadline longer than the run's budget."""
    slow_hosts = [f"slow{n}.example" for n in range(12)]
    for host in slow_hosts:
        hostile.slow[host] = "headers"
    links = [case["link"] for case in TRUTH["cases"]] + [f"https://{h}/@a" for h in slow_hosts]
    overrides = {**sim.overrides(), **{h: f"{hostile.base}/{h}" for h in slow_hosts}}
    results, seconds = check_timed(links, overrides, request_deadline=60.0, run_budget=5.0)
    figures.fault("slowloris", len(slow_hosts))
    figures.case("attacks", len(results))
    print(f"run budget 5 s: the checks took {seconds:.1f} s")
    assert seconds < 5.0 + 2.0
    problems = wrong_verdicts(results, not_checked_ok=True)
    assert not problems, problems
    for found in results[len(TRUTH["cases"]) :]:
        assert (found.status, found.detail) == (Status.UNVERIFIABLE, NOT_CHECKED), found


@pytest.mark.wiki
@pytest.mark.simulator
def test_a_run_held_by_slow_hosts_records_and_posts_within_its_budget(
    fault_wiki: LocalWiki,
    human: ApiSession,
    writes_on: str,
    sim: Simulator,
    hostile: Hostile,
    title: str,
    tmp_path: Path,
    figures: Figures,
) -> None:
    """``wmsocial-bot run`` against the local MediaWiki, six slowloris hosts on the page.

    Before: the run waited as long as the slow hosts trickled (the daily job was killed before
    it recorded or posted anything). Now the checks stop at the run's budget, the slow hosts'
    accounts are "not checked", and the dead account found in time is recorded and posted."""
    slow_hosts = [f"slow{n}.example" for n in range(6)]
    for host in slow_hosts:
        hostile.slow[host] = "headers"
    links = ["https://social.example/@alice", "https://social.example/@nobody"]
    links += [f"https://{host}/@a" for host in slow_hosts]
    human.edit(title, "".join(f"* {link}\n" for link in links))
    state = tmp_path / "state.sqlite3"
    budget = 8.0
    config = write_config(
        tmp_path / "config.toml",
        SuiteConfig(
            pages=[title],
            state=state,
            endpoints={**sim.overrides(), **{h: f"{hostile.base}/{h}" for h in slow_hosts}},
            network={"request_deadline": 60.0, "run_budget": budget},
        ),
    )
    done = run_cli(
        fault_wiki.pywikibot_dir, "run", "--config", str(config), options=RunOptions(timeout=100)
    )
    figures.fault("slowloris", len(slow_hosts))
    figures.case("attacks", len(links))
    print(f"run with six slowloris hosts: {done.seconds:.1f} s in all (checks' budget {budget} s)")
    assert done.returncode == 0, done
    assert f"{NOT_CHECKED} for 6 accounts" in done.stdout, done
    talk = human.page("Talk:" + title)
    assert talk is not None, "the talk notice was not posted"
    assert "deleted:mastodon:nobody@social.example" in reported_markers(talk[0])
    recorded = dict(state_rows(state, "SELECT account_key, status FROM checks"))
    assert recorded["mastodon:alice@social.example"] == "ok"
    assert recorded["mastodon:nobody@social.example"] == "deleted"
    for host in slow_hosts:
        assert recorded[f"mastodon:a@{host}"] == "unverifiable"
    # The budget bounds the checks; the rest is the wiki's part (login, reads, two writes).
    assert done.seconds < budget + 40, done


def test_an_account_whose_requests_take_too_long_in_all_is_unreachable(
    hostile: Hostile, figures: Figures
) -> None:
    """The whole-answer deadline is generous (60 s); the account's own (4 s) ends it."""
    hostile.slow["social.hostile"] = "body"
    results, seconds = check_timed(
        [MASTODON], hostile.overrides(), request_deadline=60.0, account_deadline=4.0
    )
    figures.fault("slowloris")
    figures.case("attacks")
    [found] = results
    assert found.status == Status.UNREACHABLE, found
    assert "timed out after 4 s: the checks of one account may take at most 4 s" in found.detail
    assert seconds < 4.0 + 2.0
