"""Attacks through the bot's own inputs: hostile config values, option typos, a missing contact.

Each case runs the real entry point (``python -m wmsocial_bot`` or Pywikibot's ``pwb``) in a
subprocess with its own home, state and working directory, and a loopback listener standing in
for every platform: "nothing happened" is proven by the listener accepting no connection and
by no Pywikibot or state file appearing.  Every child gets an unusable proxy, so no request of
any version of the bot can leave the machine.  No wiki is needed: all of these must stop
before the wiki is contacted (issue 12 findings 6-8, issue 18).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults

PAGE = "== Fediverse ==\n* https://social.example/@someone\n* https://social.example/@someone\n"


class Listener:
    """A loopback TCP port that counts the connections it is offered (and closes them)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A home, a state directory and a working directory, all empty."""
    for name in ("home", "state", "cwd"):
        (tmp_path / name).mkdir()
    (tmp_path / "page.wiki").write_text(PAGE, encoding="utf-8")
    return tmp_path


def bot(
    sandbox: Path,
    *args: str,
    timeout: float = 60,
    command: tuple[str, ...] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, in the sandbox, with no Pywikibot or bot settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYWIKIBOT", "WMSOCIAL", "XDG_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing leaves
    env.update(
        HOME=str(sandbox / "home"),
        XDG_STATE_HOME=str(sandbox / "state"),
        XDG_CONFIG_HOME=str(sandbox / "home" / ".config"),
        HTTP_PROXY=closed,
        HTTPS_PROXY=closed,
        http_proxy=closed,
        https_proxy=closed,
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )
    env.update(extra_env or {})
    return subprocess.run(
        [*(command or (sys.executable, "-m", "wmsocial_bot")), *args],
        cwd=sandbox / "cwd",
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def write_config(
    sandbox: Path, listener: Listener, raw: dict[str, dict[str, str]] | None = None
) -> Path:
    """A working config for ``check``; ``raw`` adds or replaces values (TOML source text)."""
    sections: dict[str, dict[str, str]] = {
        "bot": {"contact": '"User:Tester"'},
        "state": {"path": f'"{sandbox / "state.sqlite3"}"'},
        "network": {"retries": "0", "timeout": "2.0"},
        "endpoints": {'"social.example"': f'"http://127.0.0.1:{listener.port}"'},
    }
    for section, values in (raw or {}).items():
        sections.setdefault(section, {}).update(values)
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in values.items()]
    config = sandbox / "config.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


# ---- hostile config values ----------------------------------------------------------------

HOSTILE = {
    "nan timeout": ("network", "timeout", "nan", "network.timeout"),
    "inf timeout": ("network", "timeout", "inf", "network.timeout"),
    "inf max_wait": ("network", "max_wait", "inf", "network.max_wait"),
    "huge max_connections": ("network", "max_connections", "1000000", "network.max_connections"),
    "huge max_response_bytes": (
        "network", "max_response_bytes", "9223372036854775807", "network.max_response_bytes"
    ),
    "huge retries": ("network", "retries", "1000000", "network.retries"),
    "huge inactive_days": (
        "policy", "inactive_days", "9223372036854775807", "policy.inactive_days"
    ),
    "CR LF in contact": ("bot", "contact", '"me\\r\\nX-Injected: 1"', "bot.contact"),
    "bidi override in contact": ("bot", "contact", '"\\u202eevil"', "bot.contact"),
    "line break in a page title": ("wiki", "page", '"Social\\nmedia"', "wiki.page"),
    "host with a space": ("endpoints", '"bad host"', '"http://127.0.0.1:1"', "endpoints"),
    "port 99999": ("endpoints", '"x.example"', '"http://127.0.0.1:99999"', "endpoints.x.example"),
    "space in a base URL": (
        "endpoints", '"y.example"', '"http://bad host/"', "endpoints.y.example"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_config_values_stop_check_before_any_request(
    case: str, sandbox: Path, listener: Listener
) -> None:
    section, key, value, named = HOSTILE[case]
    config = write_config(sandbox, listener, {section: {key: value}})
    done = bot(sandbox, "check", "--wikitext", str(sandbox / "page.wiki"), "--config", str(config))
    assert done.returncode == 2, done
    errors = [line for line in done.stderr.splitlines() if line.startswith("wmsocial-bot: error:")]
    assert errors and all(named in line for line in errors), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert listener.connections == 0, "a request was made with a broken config"
    assert not (sandbox / "state.sqlite3").exists()


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "garbage"])
def test_ca_certificates_that_cannot_be_read_stop_check_before_any_request(
    variable: str, content: str | None, sandbox: Path, listener: Listener
) -> None:
    """One line naming the variable, exit 2: not a traceback for each HTTPS check."""
    config = write_config(sandbox, listener)
    bundle = sandbox / "bundle.pem"
    if content is not None:
        bundle.write_text(content, encoding="ascii")
    done = bot(
        sandbox, "check", "--wikitext", str(sandbox / "page.wiki"), "--config", str(config),
        extra_env={variable: str(bundle)},
    )  # fmt: skip
    assert done.returncode == 2, done
    errors = [line for line in done.stderr.splitlines() if line.startswith("wmsocial-bot: error:")]
    assert len(errors) == 1 and f"{variable}={bundle}" in errors[0], done.stderr
    assert "CA certificates cannot be read" in errors[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert listener.connections == 0, "a request was made with unreadable certificates"


def test_every_config_problem_is_listed_at_once(sandbox: Path, listener: Listener) -> None:
    config = sandbox / "config.toml"
    config.write_text(
        "[policy]\ninactive_days = -1\noutage_share = nan\n[network]\nmax_per_host = 0\n"
        '[wiki]\npge = "typo"\n',
        encoding="utf-8",
    )
    done = bot(sandbox, "list", "--wikitext", str(sandbox / "page.wiki"), "--config", str(config))
    assert done.returncode == 2
    errors = done.stderr.splitlines()
    for key in ("policy.inactive_days", "policy.outage_share", "network.max_per_host", "wiki.pge"):
        assert sum(key in line for line in errors) == 1, done.stderr
    assert all(line.startswith(f"wmsocial-bot: error: {config}: ") for line in errors)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such config file"),
        ("[policy\n", "not valid TOML"),
        ("[policy]\nunknown_knob = 1\n", "policy.unknown_knob: unknown key"),
        ('[policy]\ninactive_days = "a year"\n', "policy.inactive_days: expected a whole number"),
    ],
    ids=["missing", "broken TOML", "unknown key", "wrong type"],
)
def test_list_honours_config(sandbox: Path, content: str | None, message: str) -> None:
    config = sandbox / "config.toml"
    if content is not None:
        config.write_text(content, encoding="utf-8")
    done = bot(sandbox, "list", "--wikitext", str(sandbox / "page.wiki"), "--config", str(config))
    assert done.returncode == 2, done
    assert message in done.stderr and done.stdout == ""


def test_list_page_reads_the_config_before_the_wiki(sandbox: Path) -> None:
    config = sandbox / "config.toml"
    config.write_text("[policy]\ninactive_days = 0\n", encoding="utf-8")
    done = bot(sandbox, "list", "--page", "Social media", "--config", str(config))
    assert done.returncode == 2 and "policy.inactive_days" in done.stderr, done
    assert files_under(sandbox / "state") == [], "Pywikibot was started before the config"


# ---- option typos -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("run", "-simulat"), "did you mean -simulate?"),
        (("run", "-dry-run"), "did you mean --dry-run?"),
        (("list", "-page", "Social media"), "did you mean --page?"),
        (("check", "--wikitext", "PAGE", "-usr:Bot"), "did you mean -user?"),
    ],
    ids=["-simulat", "-dry-run", "-page", "-usr"],
)
def test_unknown_options_are_refused_with_a_hint(
    sandbox: Path, listener: Listener, args: tuple[str, ...], hint: str
) -> None:
    config = write_config(sandbox, listener)
    args = tuple(str(sandbox / "page.wiki") if a == "PAGE" else a for a in args)
    done = bot(sandbox, *args, "--config", str(config))
    assert done.returncode == 2, done
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("wmsocial-bot: error: unknown option") and hint in last, done.stderr
    assert listener.connections == 0
    assert files_under(sandbox / "state") == [] and files_under(sandbox / "cwd") == []


def test_pywikibot_integer_settings_are_still_accepted(sandbox: Path) -> None:
    done = bot(sandbox, "list", "--wikitext", str(sandbox / "page.wiki"), "-write_maxlag:5")
    assert done.returncode == 0, done
    assert "someone@social.example" in done.stdout


def test_pwb_help_prints_the_help(sandbox: Path) -> None:
    """``pwb wmsocial_bot -help``, through Pywikibot's own wrapper and our scriptspath."""
    pwb = (sys.executable, "-c", "import sys; from pywikibot.scripts.wrapper import run; run()")
    done = bot(sandbox, "wmsocial_bot", "-help", command=pwb)
    assert done.returncode == 0, done
    assert "usage: wmsocial-bot" in done.stdout and "COMMAND" in done.stdout
    assert "list" in done.stdout and "check" in done.stdout and "run" in done.stdout
    assert "error" not in done.stderr


# ---- verbosity ----------------------------------------------------------------------------


def test_quiet_and_verbose_options_change_the_log(sandbox: Path, listener: Listener) -> None:
    config = write_config(sandbox, listener)
    page = str(sandbox / "page.wiki")

    def log(*options: str) -> str:
        done = bot(sandbox, "check", "--wikitext", page, "--config", str(config), *options)
        assert done.returncode == 0, done
        return done.stderr

    default, quiet, very_quiet = log(), log("-q"), log("-qq")
    verbose, very_verbose = log("-v"), log("-vv")
    duplicate = "is listed twice"
    assert "INFO: checking" in default and duplicate in default
    assert "INFO:" not in quiet and duplicate in quiet
    assert duplicate not in very_quiet and "WARNING" not in very_quiet
    assert "DEBUG: config" in verbose and "Starting new HTTP connection" not in verbose
    assert "Starting new HTTP connection" in very_verbose, very_verbose


# ---- a missing contact --------------------------------------------------------------------


def test_run_refuses_to_start_without_a_contact(sandbox: Path, listener: Listener) -> None:
    config = write_config(sandbox, listener)
    config.write_text(config.read_text().replace('contact = "User:Tester"\n', ""), encoding="utf-8")
    done = bot(sandbox, "run", "--config", str(config))
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "bot.contact is not set" in lines[0], done.stderr
    assert "User-Agent" in lines[0]
    assert listener.connections == 0
    assert files_under(sandbox / "state") == [], "the wiki was contacted before the refusal"


def test_a_blank_contact_is_no_contact(sandbox: Path, listener: Listener) -> None:
    config = write_config(sandbox, listener)
    config.write_text(config.read_text().replace('"User:Tester"', '"   "'), encoding="utf-8")
    done = bot(sandbox, "run", "--dry-run", "--config", str(config))
    assert done.returncode == 2 and "bot.contact is not set" in done.stderr, done


# ---- where Pywikibot's files go, and an unreachable wiki ----------------------------------

CLOSED_FAMILY = """from pywikibot import family


class Family(family.SingleSiteFamily):
    name = 'closed'
    domain = '127.0.0.1:{port}'

    def protocol(self, code):
        return 'http'

    def scriptpath(self, code):
        return ''
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("where", ["default directory", "PYWIKIBOT_DIR without user-config"])
def test_pywikibot_files_stay_in_one_place_and_an_unreachable_wiki_is_one_line(
    sandbox: Path, where: str
) -> None:
    """A wiki nobody answers for: exit 1 (the run failed), one short line saying why.

    Pywikibot's files (``logs/commands.log``, ``throttle.ctrl``) go to the bot's Pywikibot
    directory, not into the working directory, and no empty ``~/.pywikibot`` is created.
    """
    if where == "default directory":
        directory = sandbox / "state" / "wmsocial-bot" / "pywikibot"
        command: tuple[str, ...] = (sys.executable, "-m", "wmsocial_bot")
    else:
        directory = sandbox / "pwb"
        command = ("env", f"PYWIKIBOT_DIR={directory}", sys.executable, "-m", "wmsocial_bot")
    (directory / "families").mkdir(parents=True)
    (directory / "families" / "closed_family.py").write_text(
        CLOSED_FAMILY.format(port=closed_port()), encoding="utf-8"
    )
    done = bot(
        sandbox,
        "list", "--page", "Social media", "-family:closed", "-lang:closed", "-max_retries:0",
        command=command,
    )  # fmt: skip
    assert done.returncode == 1, done
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("wmsocial-bot: error: cannot reach closed:closed: "), done.stderr
    assert len(last) < 140 and "HTTPConnectionPool" not in last, last
    assert files_under(sandbox / "cwd") == []
    assert not (sandbox / "home" / ".pywikibot").exists()
    assert (directory / "logs" / "commands.log").exists()
    assert (directory / "throttle.ctrl").exists()


def test_check_without_a_contact_says_so(sandbox: Path, listener: Listener) -> None:
    config = write_config(sandbox, listener)
    config.write_text(config.read_text().replace('contact = "User:Tester"\n', ""), encoding="utf-8")
    done = bot(sandbox, "check", "--wikitext", str(sandbox / "page.wiki"), "--config", str(config))
    assert done.returncode == 0, done
    assert "WARNING: no [bot] contact configured" in done.stderr
