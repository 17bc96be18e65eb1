"""Configuration: one TOML file (plus ``--endpoint`` options) -> one frozen :class:`Config`.

Every key is optional and documented in ``docs/configuration.md`` with its default.  Errors
name the key and the problem, and unknown keys are errors too, because a typo in a safety knob
must not silently fall back to a default.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from wmsocial_bot.errors import ConfigError
from wmsocial_bot.servers import SecurityRelease, parse_version

DEFAULT_PATHS = (
    Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    / "wmsocial-bot"
    / "config.toml",
)


@dataclass(frozen=True)
class BotConfig:
    contact: str = ""  # put into the User-Agent, as Wikimedia's policy asks


@dataclass(frozen=True)
class WikiConfig:
    pages: tuple[str, ...] = ("Social media",)
    talk_page: str = ""  # default: the talk page of each page
    status_page: str = ""  # default: none
    run_page: str = ""  # default: User:<bot>/Run
    config_page: str = ""  # default: User:<bot>/config.json


@dataclass(frozen=True)
class PolicyConfig:
    inactive_days: int = 365
    confirmations: int = 3
    confirm_days: int = 7
    outage_share: float = 0.5
    outage_min_accounts: int = 4
    max_fixes_per_run: int = 25
    report_inactive: bool = True


@dataclass(frozen=True)
class DashboardConfig:
    # Verification help: a page a profile field links to is read again at most this often.
    verify_days: int = 7


@dataclass(frozen=True)
class StateConfig:
    path: str = "~/.local/state/wmsocial-bot/state.sqlite3"
    # How long a run's lease on the store lasts without renewal (renewed every third of it):
    # how long a killed run on another machine blocks the next one.
    lease_seconds: int = 900
    # Each run's records (checks, outages, activity figures) are kept this long, then pruned;
    # the dashboard needs 12 weeks and a 30-day trend, so at least 90.
    keep_days: int = 400


@dataclass(frozen=True)
class NetworkConfig:
    timeout: float = 15.0
    max_response_bytes: int = 2_000_000
    max_redirects: int = 5
    max_connections: int = 192  # 40 hosts x 4 in flight, plus the Bluesky AppView
    max_per_host: int = 4
    retries: int = 3
    max_wait: float = 60.0
    # The part of a host's advertised rate-limit budget (per window) this bot may use: every
    # tool on Toolforge leaves through one address, which Mastodon counts as one client.
    host_budget_share: float = 1 / 3
    # Whole-time bounds (``timeout`` is per socket read: a host sending a byte every few
    # seconds never hits it).  The defaults leave the daily job (jobs.yaml: 3600 s) 20 minutes
    # to record the results and write to the wiki after the checks' budget is spent.
    request_deadline: float = 60.0  # one whole answer: connecting, headers and body
    account_deadline: float = 300.0  # every request of one account, waits included
    run_budget: float = 2400.0  # all the checks of one run; the rest is "not checked"


@dataclass(frozen=True)
class ServersConfig:
    """The movement's own fediverse servers, read for the status page (docs/dashboard.md)."""

    # None: the Mastodon servers of the page's accounts, most accounts first; (): none.
    hosts: tuple[str, ...] | None = None
    max_hosts: int = 3  # the default's cap
    # Newer knowledge than the bot's own: replaces its entry for the same Mastodon line.
    security_releases: tuple[SecurityRelease, ...] = ()


@dataclass(frozen=True)
class Config:
    bot: BotConfig = field(default_factory=BotConfig)
    wiki: WikiConfig = field(default_factory=WikiConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    state: StateConfig = field(default_factory=StateConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    servers: ServersConfig = field(default_factory=ServersConfig)
    endpoints: Mapping[str, str] = field(default_factory=dict)
    source: str = "defaults"

    def with_endpoints(self, extra: Mapping[str, str]) -> Config:
        return replace(self, endpoints={**self.endpoints, **extra})

    def with_policy(self, **changes: Any) -> Config:
        return replace(self, policy=replace(self.policy, **changes))


T = TypeVar("T")
Check = Callable[[str, object], Any]

# Characters that must never reach a header, a log line or a page title: C0/C1 controls (CR,
# LF, NUL, ...), bidi and other invisible formatting characters, line and paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _invisible(text: str) -> str | None:
    """A description of the first control or formatting character in ``text``, or None."""
    for position, char in enumerate(text):
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            return f"a control or formatting character (U+{ord(char):04X}) at position {position}"
    return None


def _whole(low: int, high: int) -> Check:
    """A whole number in ``[low, high]``: huge values would spin loops or allocate without end."""

    def check(key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                f"{key}: expected a whole number from {low} to {high}, got {_shown(value)}"
            )
        return value

    return check


def _seconds(high: float, low: float = 0.0) -> Check:
    """A finite number above ``low`` and at most ``high`` (``nan`` and ``inf`` are refused)."""

    def check(key: str, value: object) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not low < value <= high
        ):
            raise ConfigError(
                f"{key}: expected a number above {low:g} and at most {high:g}, got {_shown(value)}"
            )
        return float(value)

    return check


def _shown(value: object) -> str:
    """``value`` for an error message: repr, cut short (a huge number is 4,300 digits)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# The older names, for keys that need no particular upper bound.
_positive_int = _whole(1, 1_000_000)
_non_negative_int = _whole(0, 1_000_000)
_positive_float = _seconds(86_400.0)


def _lease_seconds(key: str, value: object) -> int:
    """At least 1 s, at most 6 h: a longer lease would let one killed run block the next day's."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 6 * 3600:
        raise ConfigError(
            f"{key}: expected a whole number of seconds from 1 to 21600, got {value!r}"
        )
    return value


def _share(key: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= 1
    ):
        raise ConfigError(
            f"{key}: expected a share above 0 and at most 1 (e.g. 0.5), got {_shown(value)}"
        )
    return float(value)


def _string(key: str, value: object) -> str:
    """One line of text: no line breaks, controls or invisible formatting characters."""
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {_shown(value)}")
    problem = _invisible(value)
    if problem:
        raise ConfigError(f"{key}: {problem}; expected one line of plain text")
    if len(value) > 500:
        raise ConfigError(f"{key}: expected at most 500 characters, got {len(value)}")
    return value


def _contact(key: str, value: object) -> str:
    """Goes into every request's User-Agent header, so printable ASCII only (RFC 9110)."""
    text = _string(key, value).strip()
    bad = next((c for c in text if not " " <= c <= "~"), None)
    if bad is not None:
        raise ConfigError(
            f"{key}: the User-Agent takes printable ASCII only, got {bad!r} "
            "(percent-encode a URL, e.g. User:Zo%C3%AB)"
        )
    return text


def _boolean(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {_shown(value)}")
    return value


def _pages(key: str, value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(i, str) and i.strip() for i in items)
    ):
        raise ConfigError(
            f"{key}: expected a page title or a non-empty list of titles, got {_shown(value)}"
        )
    return tuple(_string(key, i).strip() for i in items)


_CHECKS: dict[str, dict[str, Check]] = {
    "bot": {"contact": _contact},
    "wiki": {
        "page": _pages,
        "pages": _pages,
        "talk_page": _string,
        "status_page": _string,
        "run_page": _string,
        "config_page": _string,
    },
    "policy": {
        "inactive_days": _whole(1, 36_500),
        "confirmations": _whole(1, 100),
        "confirm_days": _whole(0, 3_650),
        "outage_share": _share,
        "outage_min_accounts": _whole(1, 100_000),
        "max_fixes_per_run": _whole(0, 1_000),
        "report_inactive": _boolean,
    },
    "state": {"path": _string, "lease_seconds": _lease_seconds, "keep_days": _whole(90, 3650)},
    "dashboard": {"verify_days": _whole(1, 365)},
    "network": {
        "timeout": _seconds(600.0),
        "max_response_bytes": _whole(1_024, 100_000_000),
        "max_redirects": _whole(0, 20),
        "max_connections": _whole(1, 256),
        "max_per_host": _whole(1, 64),
        "retries": _whole(0, 10),
        "max_wait": _seconds(3_600.0),
        "host_budget_share": _share,
        "request_deadline": _seconds(3_600.0),
        "account_deadline": _seconds(86_400.0),
        "run_budget": _seconds(86_400.0),
    },
    "servers": {
        "hosts": lambda key, value: _server_hosts(key, value),
        "max_hosts": _whole(0, 20),
        "security_releases": lambda key, value: _security_releases(key, value),
    },
}
_SECTIONS: dict[str, type] = {
    "bot": BotConfig,
    "wiki": WikiConfig,
    "policy": PolicyConfig,
    "state": StateConfig,
    "network": NetworkConfig,
    "dashboard": DashboardConfig,
    "servers": ServersConfig,
}
# A DNS name (RFC 1123 labels) or an IPv4 address; what a request's host can be.
_HOST_NAME = re.compile(
    r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
    re.IGNORECASE,
)


def _host_problem(host: str) -> str | None:
    """Why ``host`` is not a host name or IP address (IPv6 maybe in brackets), or None."""
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
    except ValueError:
        pass
    else:
        return None
    if not _HOST_NAME.fullmatch(host):
        return "not a host name (letters, digits, hyphens and dots only)"
    return None


def _server_hosts(key: str, value: object) -> tuple[str, ...]:
    """``["wikimedia.social", "wikis.world"]``: host names, at most 20."""
    if not isinstance(value, list) or len(value) > 20:
        raise ConfigError(f"{key}: expected a list of at most 20 host names, got {_shown(value)}")
    hosts = []
    for host in value:
        if not isinstance(host, str) or _host_problem(host.lower()):
            raise ConfigError(
                f'{key}: expected host names such as "wikis.world", got {_shown(host)}'
            )
        hosts.append(host.lower())
    return tuple(dict.fromkeys(hosts))


_RELEASE_KEYS = ("line", "fixed", "published", "source")


def _security_releases(key: str, value: object) -> tuple[SecurityRelease, ...]:
    """``[{line = "4.3", fixed = "4.3.5", published = 2025-03-13, source = "https://..."}]``."""
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a list of tables, got {_shown(value)}")
    releases = []
    for n, item in enumerate(value, 1):
        where = f"{key}[{n}]"
        if not isinstance(item, dict) or set(item) != set(_RELEASE_KEYS):
            raise ConfigError(f"{where}: expected a table with exactly {', '.join(_RELEASE_KEYS)}")
        line, fixed, published = item["line"], item["fixed"], item["published"]
        source = _string(f"{where}.source", item["source"])
        parts = line.split(".") if isinstance(line, str) else []
        version = parse_version(fixed if isinstance(fixed, str) else None)
        if len(parts) != 2 or not all(p.isdigit() and len(p) < 4 for p in parts):
            raise ConfigError(f'{where}.line: expected "MAJOR.MINOR" such as "4.3"')
        if version is None or version[:2] != (int(parts[0]), int(parts[1])):
            raise ConfigError(
                f'{where}.fixed: expected a version of line {line}, such as "{line}.5"'
            )
        if isinstance(published, str):
            try:
                published = date.fromisoformat(published)
            except ValueError:
                published = None
        if not isinstance(published, date) or not source:
            raise ConfigError(f"{where}: expected published = YYYY-MM-DD and a source URL")
        releases.append(SecurityRelease((version[0], version[1]), version, published, source))
    return tuple(releases)


def parse_endpoint(key: str, host: object, base: object) -> tuple[str, str]:
    """Check one ``host = base URL`` override."""
    if not isinstance(host, str) or _host_problem(host):
        raise ConfigError(f'{key}: expected a host name such as "wikis.world", got {_shown(host)}')
    if not isinstance(base, str):
        raise ConfigError(f"{key}.{host}: expected a base URL string, got {_shown(base)}")
    where = f"{key}.{host}"
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: expected an http(s) base URL, got {_shown(base)}")
    if _invisible(base) or any(c.isspace() for c in base):
        raise ConfigError(f"{where}: spaces or control characters in the URL {_shown(base)}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"{where}: the port in {_shown(base)} is not a number from 1 to 65535"
        ) from None
    if port == 0:
        raise ConfigError(f"{where}: the port in {_shown(base)} is not a number from 1 to 65535")
    if parts.username is not None or parts.query or parts.fragment:
        raise ConfigError(
            f"{where}: expected scheme://host[:port][/path], without user, query or fragment; "
            f"got {_shown(base)}"
        )
    problem = _host_problem(parts.hostname or "") if parts.hostname is not None else "no host"
    if problem:
        raise ConfigError(f"{where}: the host of {_shown(base)} is {problem}")
    return host.lower(), base.rstrip("/")


def parse_endpoint_option(option: str) -> tuple[str, str]:
    """``--endpoint HOST=BASEURL``."""
    host, sep, base = option.partition("=")
    if not sep:
        raise ConfigError(f"--endpoint: expected HOST=BASEURL, got {option!r}")
    return parse_endpoint("--endpoint", host.strip(), base.strip())


def config_from_mapping(data: Mapping[str, Any], source: str = "<mapping>") -> Config:
    """Build a Config from parsed TOML (or JSON); every error names the key.

    All problems are collected and raised together, so one round of fixes is enough.
    """
    config = Config(source=source)
    problems: list[str] = []
    for section, values in data.items():
        if section == "endpoints":
            if not isinstance(values, dict):
                problems.append('endpoints: expected a table of "host" = "base url"')
                continue
            endpoints = {}
            for host, base in values.items():
                try:
                    name, url = parse_endpoint("endpoints", host, base)
                except ConfigError as exc:
                    problems.extend(exc.problems)
                    continue
                endpoints[name] = url
            config = replace(config, endpoints=endpoints)
            continue
        if section not in _SECTIONS:
            known = ", ".join(sorted([*_SECTIONS, "endpoints"]))
            problems.append(f"{section}: unknown section (known: {known})")
            continue
        if not isinstance(values, dict):
            problems.append(f"{section}: expected a table")
            continue
        checks = _CHECKS[section]
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if key not in checks:
                problems.append(
                    f"{section}.{key}: unknown key (known: {', '.join(sorted(checks))})"
                )
                continue
            name = "pages" if (section, key) == ("wiki", "page") else key
            try:
                changes[name] = checks[key](f"{section}.{key}", value)
            except ConfigError as exc:
                problems.extend(exc.problems)
        config = replace(config, **{section: replace(getattr(config, section), **changes)})
    if problems:
        raise ConfigError(*problems)
    return config


def load_config(path: Path | None, endpoint_options: Sequence[str] = ()) -> Config:
    """Read ``path`` (or the first default location that exists) and apply ``--endpoint``s.

    Reads files only: call it before any network or wiki work.  Every problem of the file and
    of the options is reported at once, each naming the file and the key.
    """
    if path is None:
        env = os.environ.get("WMSOCIAL_BOT_CONFIG")
        candidates = [Path(env)] if env else [p for p in DEFAULT_PATHS if p.exists()]
        path = candidates[0] if candidates else None
    problems: list[str] = []
    config = Config()
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: a directory, not a config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
        try:
            config = config_from_mapping(data, str(path))
        except ConfigError as exc:
            problems.extend(f"{path}: {problem}" for problem in exc.problems)
    extra = {}
    for option in endpoint_options:
        try:
            host, base = parse_endpoint_option(option)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        extra[host] = base
    if problems:
        raise ConfigError(*problems)
    return config.with_endpoints(extra) if extra else config


def section_defaults() -> dict[str, dict[str, Any]]:
    """Every key and its default, for documentation and ``--help``."""
    return {
        name: {f.name: getattr(cls(), f.name) for f in fields(cls)}
        for name, cls in _SECTIONS.items()
    }
