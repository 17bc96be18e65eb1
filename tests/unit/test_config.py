"""Configuration errors name the key; defaults are what the docs say."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from wmsocial_bot.config import Config, config_from_mapping, load_config, parse_endpoint_option
from wmsocial_bot.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"policy": {"inactive_days": "x"}}, "policy.inactive_days: expected a whole number"),
        ({"policy": {"inactive_days": 0}}, "policy.inactive_days"),
        ({"policy": {"outage_share": 2}}, "policy.outage_share: expected a share"),
        ({"wiki": {"pge": "x"}}, "wiki.pge: unknown key"),
        ({"wiki": {"pages": []}}, "wiki.pages: expected a page title"),
        ({"nonsense": {}}, "nonsense: unknown section"),
        ({"endpoints": {"wikis.world": "ftp://x"}}, "endpoints.wikis.world: expected an http(s)"),
        ({"endpoints": {"a/b": "http://x"}}, "endpoints: expected a host name"),
        ({"network": {"timeout": -1}}, "network.timeout: expected a number above 0"),
        ({"policy": {"report_inactive": "yes"}}, "policy.report_inactive: expected true or false"),
        ({"state": {"keep_days": 30}}, "state.keep_days"),  # the dashboard needs 12 weeks
    ],
)
def test_errors_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_mapping(data)


def test_file_and_command_line_endpoints(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[policy]\ninactive_days = 30\n[wiki]\npage = "Other"\n'
        '[endpoints]\n"Wikis.World" = "http://127.0.0.1:9/wikis.world/"\n',
        encoding="utf-8",
    )
    config = load_config(path, ["bsky.app=http://127.0.0.1:9/bsky"])
    assert config.policy.inactive_days == 30
    assert config.wiki.pages == ("Other",)
    assert config.endpoints == {
        "wikis.world": "http://127.0.0.1:9/wikis.world",
        "bsky.app": "http://127.0.0.1:9/bsky",
    }


def test_broken_toml_and_missing_file_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="HOST=BASEURL"):
        parse_endpoint_option("no-equals-sign")


def test_documented_defaults_match_the_code() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    defaults = Config()
    for section in ("policy", "network"):
        for key, value in vars(getattr(defaults, section)).items():
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            assert f"{key} = {shown}" in docs, f"[{section}] {key} = {shown} is not documented"
    assert f'path = "{defaults.state.path}"' in docs


# ---- hostile values (issue 12 finding 6): bounded, finite, one line, named -------------------

HUGE = 2**63 - 1


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"network": {"timeout": float("nan")}}, "network.timeout"),
        ({"network": {"timeout": float("inf")}}, "network.timeout"),
        ({"network": {"max_wait": float("-inf")}}, "network.max_wait"),
        ({"policy": {"outage_share": float("nan")}}, "policy.outage_share"),
        ({"network": {"max_connections": 10**6}}, "network.max_connections"),
        ({"network": {"max_per_host": HUGE}}, "network.max_per_host"),
        ({"network": {"max_response_bytes": HUGE}}, "network.max_response_bytes"),
        ({"network": {"max_redirects": 10**9}}, "network.max_redirects"),
        ({"network": {"retries": 10**9}}, "network.retries"),
        ({"policy": {"inactive_days": HUGE}}, "policy.inactive_days"),
        ({"policy": {"confirmations": 10**9}}, "policy.confirmations"),
        ({"policy": {"max_fixes_per_run": 10**9}}, "policy.max_fixes_per_run"),
        ({"policy": {"confirmations": True}}, "policy.confirmations"),
        ({"bot": {"contact": "me\r\nX-Injected: 1"}}, "bot.contact"),
        ({"bot": {"contact": "\u202eevil"}}, "bot.contact"),
        ({"bot": {"contact": "User:Zoë"}}, "bot.contact"),
        ({"wiki": {"page": "Social\nmedia"}}, "wiki.page"),
        ({"wiki": {"talk_page": "Talk:x\x00"}}, "wiki.talk_page"),
        ({"state": {"path": "/tmp/x\n.sqlite3"}}, "state.path"),
        ({"endpoints": {"bad host": "http://127.0.0.1:1"}}, "endpoints"),
        ({"endpoints": {"x.example": "http://127.0.0.1:99999"}}, "endpoints.x.example"),
        ({"endpoints": {"x.example": "http://127.0.0.1:0"}}, "endpoints.x.example"),
        ({"endpoints": {"x.example": "http://bad host/"}}, "endpoints.x.example"),
        ({"endpoints": {"x.example": "http://user:pw@127.0.0.1/"}}, "endpoints.x.example"),
    ],
)
def test_hostile_values_are_refused_by_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(data)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{key}:") or problem.startswith(f"{key} "), problem
    assert "\n" not in problem and "\r" not in problem and len(problem) < 200


def test_limits_themselves_are_accepted() -> None:
    config = config_from_mapping(
        {
            "network": {"timeout": 600, "max_connections": 256, "max_per_host": 64},
            "policy": {"inactive_days": 36_500, "outage_share": 1},
            "bot": {"contact": "https://meta.wikimedia.org/wiki/User:Zo%C3%AB"},
            "endpoints": {"[::1]": "http://[::1]:65535/x", "a-b.example": "https://a-b.example"},
        }
    )
    assert config.network.timeout == 600.0 and config.network.max_connections == 256
    assert config.endpoints["[::1]"] == "http://[::1]:65535/x"


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[policy]\ninactive_days = 0\noutage_share = nan\n[network]\ntimeout = inf\n"
        '[bot]\ncontact = "a\\nb"\n[nonsense]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, ["bad"])
    problems = caught.value.problems
    keys = ["policy.inactive_days", "policy.outage_share", "network.timeout", "bot.contact"]
    for key in [*keys, "nonsense: unknown section"]:
        assert sum(f"{path}: {key}" in p for p in problems) == 1, problems
    assert any(p.startswith("--endpoint: expected HOST=BASEURL") for p in problems)
    assert len(problems) == 6


@dataclass(frozen=True)
class _Page:
    title: str
    text: str


class _OneJsonPage:
    """A wiki with one page, for the pure parsing of the on-wiki config (no Pywikibot)."""

    username = "Bot"
    simulate = False

    def __init__(self, text: str) -> None:
        self.text = text

    def read_if_exists(self, title: str, *, models: tuple[str, ...] = ()) -> _Page:
        return _Page(title, self.text)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ('{"policy": {"inactive_days": 1e999}}', ["policy.inactive_days"]),
        ('{"policy": {"outage_share": NaN}}', ["policy.outage_share"]),
        (
            '{"policy": {"confirmations": 100000000000000000000, "confirm_days": -1}}',
            ["policy.confirmations", "policy.confirm_days"],
        ),
        ('{"policy": {"max_fixes_per_run": 1000000000}}', ["policy.max_fixes_per_run"]),
    ],
)
def test_onwiki_config_hostile_values_are_refused_by_key(text: str, keys: list[str]) -> None:
    from wmsocial_bot.run import read_onwiki_config

    config, onwiki = read_onwiki_config(_OneJsonPage(text), "User:Bot/config.json", Config())  # type: ignore[arg-type]
    assert onwiki.problem is not None and "making no edits" in onwiki.problem
    for key in keys:
        assert key in onwiki.problem, onwiki.problem
    assert config == Config(), "the file's settings stay as they were"
