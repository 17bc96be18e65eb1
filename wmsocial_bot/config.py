"""Configuration: one TOML file (plus ``--endpoint`` options) -> one frozen :class:`Config`.

Every key is optional and documented in ``docs/configuration.md`` with its default.  Errors
name the key and the problem, and unknown keys are errors too, because a typo in a safety knob
must not silently fall back to a default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from wmsocial_bot.errors import ConfigError

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
class StateConfig:
    path: str = "~/.local/state/wmsocial-bot/state.sqlite3"
    # How long a run's lease on the store lasts without renewal (renewed every third of it):
    # how long a killed run on another machine blocks the next one.
    lease_seconds: int = 900


@dataclass(frozen=True)
class NetworkConfig:
    timeout: float = 15.0
    max_response_bytes: int = 2_000_000
    max_redirects: int = 5
    max_connections: int = 32
    max_per_host: int = 4
    retries: int = 3
    max_wait: float = 60.0


@dataclass(frozen=True)
class Config:
    bot: BotConfig = field(default_factory=BotConfig)
    wiki: WikiConfig = field(default_factory=WikiConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    state: StateConfig = field(default_factory=StateConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    endpoints: Mapping[str, str] = field(default_factory=dict)
    source: str = "defaults"

    def with_endpoints(self, extra: Mapping[str, str]) -> Config:
        return replace(self, endpoints={**self.endpoints, **extra})

    def with_policy(self, **changes: Any) -> Config:
        return replace(self, policy=replace(self.policy, **changes))


T = TypeVar("T")


def _positive_int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}: expected a whole number of at least 1, got {value!r}")
    return value


def _non_negative_int(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: expected a whole number of at least 0, got {value!r}")
    return value


def _positive_float(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{key}: expected a number above 0, got {value!r}")
    return float(value)


def _lease_seconds(key: str, value: object) -> int:
    """At least 1 s, at most 6 h: a longer lease would let one killed run block the next day's."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 6 * 3600:
        raise ConfigError(
            f"{key}: expected a whole number of seconds from 1 to 21600, got {value!r}"
        )
    return value


def _share(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigError(f"{key}: expected a share between 0 and 1 (e.g. 0.5), got {value!r}")
    return float(value)


def _string(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def _boolean(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def _pages(key: str, value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(i, str) and i.strip() for i in items)
    ):
        raise ConfigError(
            f"{key}: expected a page title or a non-empty list of titles, got {value!r}"
        )
    return tuple(i.strip() for i in items)


_CHECKS: dict[str, dict[str, Callable[[str, object], Any]]] = {
    "bot": {"contact": _string},
    "wiki": {
        "page": _pages,
        "pages": _pages,
        "talk_page": _string,
        "status_page": _string,
        "run_page": _string,
        "config_page": _string,
    },
    "policy": {
        "inactive_days": _positive_int,
        "confirmations": _positive_int,
        "confirm_days": _non_negative_int,
        "outage_share": _share,
        "outage_min_accounts": _positive_int,
        "max_fixes_per_run": _non_negative_int,
        "report_inactive": _boolean,
    },
    "state": {"path": _string, "lease_seconds": _lease_seconds},
    "network": {
        "timeout": _positive_float,
        "max_response_bytes": _positive_int,
        "max_redirects": _non_negative_int,
        "max_connections": _positive_int,
        "max_per_host": _positive_int,
        "retries": _non_negative_int,
        "max_wait": _positive_float,
    },
}
_SECTIONS: dict[str, type] = {
    "bot": BotConfig,
    "wiki": WikiConfig,
    "policy": PolicyConfig,
    "state": StateConfig,
    "network": NetworkConfig,
}


def parse_endpoint(key: str, host: object, base: object) -> tuple[str, str]:
    """Check one ``host = base URL`` override."""
    if not isinstance(host, str) or not host or "/" in host or host != host.strip():
        raise ConfigError(f'{key}: expected a host name such as "wikis.world", got {host!r}')
    if not isinstance(base, str):
        raise ConfigError(f"{key}.{host}: expected a base URL string, got {base!r}")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key}.{host}: expected an http(s) base URL, got {base!r}")
    return host.lower(), base.rstrip("/")


def parse_endpoint_option(option: str) -> tuple[str, str]:
    """``--endpoint HOST=BASEURL``."""
    host, sep, base = option.partition("=")
    if not sep:
        raise ConfigError(f"--endpoint: expected HOST=BASEURL, got {option!r}")
    return parse_endpoint("--endpoint", host.strip(), base.strip())


def config_from_mapping(data: Mapping[str, Any], source: str = "<mapping>") -> Config:
    """Build a Config from parsed TOML; every error names the key."""
    config = Config(source=source)
    for section, values in data.items():
        if section == "endpoints":
            if not isinstance(values, dict):
                raise ConfigError('endpoints: expected a table of "host" = "base url"')
            endpoints = dict(parse_endpoint("endpoints", h, b) for h, b in values.items())
            config = replace(config, endpoints=endpoints)
            continue
        if section not in _SECTIONS:
            known = ", ".join(sorted([*_SECTIONS, "endpoints"]))
            raise ConfigError(f"{section}: unknown section (known: {known})")
        if not isinstance(values, dict):
            raise ConfigError(f"{section}: expected a table")
        checks = _CHECKS[section]
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if key not in checks:
                raise ConfigError(
                    f"{section}.{key}: unknown key (known: {', '.join(sorted(checks))})"
                )
            name = "pages" if (section, key) == ("wiki", "page") else key
            changes[name] = checks[key](f"{section}.{key}", value)
        config = replace(config, **{section: replace(getattr(config, section), **changes)})
    return config


def load_config(path: Path | None, endpoint_options: Sequence[str] = ()) -> Config:
    """Read ``path`` (or the first default location that exists) and apply ``--endpoint``s."""
    if path is None:
        env = os.environ.get("WMSOCIAL_BOT_CONFIG")
        candidates = [Path(env)] if env else [p for p in DEFAULT_PATHS if p.exists()]
        path = candidates[0] if candidates else None
    if path is None:
        config = Config()
    else:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        config = config_from_mapping(data, str(path))
    extra = dict(parse_endpoint_option(option) for option in endpoint_options)
    return config.with_endpoints(extra) if extra else config


def section_defaults() -> dict[str, dict[str, Any]]:
    """Every key and its default, for documentation and ``--help``."""
    return {
        name: {f.name: getattr(cls(), f.name) for f in fields(cls)}
        for name, cls in _SECTIONS.items()
    }
